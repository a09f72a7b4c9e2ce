"""The walkers' likelihood choice: recorded with the run, checked on resumption, refused if unknown."""

from __future__ import annotations

import pytest

from nextsm.machine.run import LIKELIHOODS, RunError, prepare, run_walkers


def test_a_run_resumes_only_with_its_likelihood(tmp_path):
    folder = tmp_path / "run"
    settings = {"walkers": 1, "steps": 5, "seed": 1, "rule": "rjmcmc", "likelihood": "surrogates",
                "database": str(tmp_path / "nowhere")}
    prepare(folder, settings, False)
    with pytest.raises(RunError, match="likelihood='surrogates'"):
        prepare(folder, {**settings, "likelihood": "best-sr"}, True)
    prepare(folder, settings, True)


def test_unknown_likelihood_is_refused(tmp_path):
    assert LIKELIHOODS == ("best-sr", "surrogates")
    with pytest.raises(RunError, match="parameter 'likelihood'"):
        run_walkers(str(tmp_path), [0], 1, 1, likelihood="pyhf")
