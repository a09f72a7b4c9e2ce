"""nextsm explain on the 2021 winning protomodel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli

WINNER = Path(__file__).parents[2] / "examples" / "winner-2021.json"


@pytest.mark.database
def test_explain_json(database_path):
    out = CliRunner().invoke(cli, ["explain", str(WINNER), "--database", str(database_path), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["K"] == pytest.approx(data["llr"] + 2 * data["log_prior"])
    assert data["combination"]
    # at its published κ the winner is excluded by both critics; the walker caps μ̂ below the limits, so at μ̂
    # (where K is judged) both let it pass
    assert {c["critic"]: c["passed"] for c in data["critics_at_kappa"]} == {"fast": False, "slow": False}
    assert {c["critic"]: c["passed"] for c in data["critics"]} == {"fast": True, "slow": True}
    assert data["mu_hat"] <= data["mu_max"] < 1.0
    assert set(data["particle_contributions"]) == {"1000006", "1000001"}
    assert set(data["analysis_contributions"]) == {c["analysis"] for c in data["combination"]}


@pytest.mark.database
def test_explain_table(database_path):
    out = CliRunner().invoke(cli, ["explain", str(WINNER), "--database", str(database_path), "--no-contributions"])
    assert out.exit_code == 0, out.output
    assert "K = " in out.output
    assert "fast critic at the model's κ (μ = 1): FAIL" in out.output
    assert "slow critic at μ̂: pass" in out.output
    assert "CMS-SUS-20-002" in out.output



class _CapturedError(Exception):
    """Raised by the stand-in of `explain` with the predictor the command built."""


@pytest.mark.database
@pytest.mark.parametrize("likelihood", ["best-sr", "surrogates"])
def test_explain_uses_the_walkers_likelihoods(database_path, monkeypatch, likelihood):
    """`--likelihood surrogates` hands `explain` a predictor as `nextsm walk --likelihood surrogates` builds it
    (surrogates on, the database files open for the fall-back to pyhf)."""
    import nextsm.machine.explain

    def capture(model, predictor, combinability, **kwargs):
        raise _CapturedError(predictor.surrogates, predictor.source is not None)

    monkeypatch.setattr(nextsm.machine.explain, "explain", capture)
    out = CliRunner().invoke(cli, ["explain", str(WINNER), "--database", str(database_path), "--likelihood",
                                   likelihood])
    assert isinstance(out.exception, _CapturedError)
    assert out.exception.args == ((True, True) if likelihood == "surrogates" else (False, False))
