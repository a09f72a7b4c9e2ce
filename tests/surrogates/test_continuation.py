"""The continuation pass lowers labels stuck on a higher branch of a multi-minimum profile, and only lowers."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli
from nextsm.surrogates.continuation import ContinuationResult, write_continued
from nextsm.surrogates.labels import FORMAT, TrainingSetError, load_labels

#: along s = (s_1, 15.2) of ATLAS-SUSY-2018-04, pyhf's suggested start finds the upper branch below s_1 ≈ 2.7
#: (docs/surrogates.md): q_obs = 12.38 at s_1 = 2.5, but 10.87 from the optimum at s_1 = 2.9
LINE = np.array([[2.5, 15.2], [2.9, 15.2]])


def _folder(tmp_path: Path, signals: np.ndarray, labels: np.ndarray, chunk: int) -> Path:
    folder = tmp_path / "set"
    folder.mkdir()
    np.save(folder / "signals.npy", signals)
    for k in range(0, len(signals), chunk):
        np.save(folder / f"labels-{k // chunk:04d}.npy", labels[k:k + chunk])
    manifest = {"format": FORMAT, "analysis": "ATLAS-SUSY-2018-04-eff", "file": "SRcombined.json",
                "workspace_sha256": "0" * 64, "n": len(signals), "seed": 0, "chunk_size": chunk,
                "regions": ["SRs", "SRm"], "sampling": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_write_continued_replaces_one_column_and_records_the_pass(tmp_path):
    rng = np.random.default_rng(0)
    signals, labels = rng.uniform(0, 5, (7, 2)), rng.uniform(0, 20, (7, 4))
    source = _folder(tmp_path, signals, labels, chunk=3)
    new_q = labels[:, 0] - 1.0
    result = ContinuationResult(new_q, 7, 1.0, 35, 0, 1)
    out = write_continued(source, tmp_path / "new", "observed", result, {"neighbours": 4, "sweeps": 1})
    loaded = load_labels(out)
    np.testing.assert_array_equal(loaded.labels[:, 0], new_q)
    np.testing.assert_array_equal(loaded.labels[:, 1:], labels[:, 1:])
    np.testing.assert_array_equal(load_labels(source).labels, labels)  # the source is untouched
    (entry,) = loaded.meta["continuation"]
    assert (entry["variant"], entry["neighbours"], entry["improved"]) == ("observed", 4, 7)
    with pytest.raises(TrainingSetError, match="not empty"):
        write_continued(source, out, "observed", result, {})
    with pytest.raises(TrainingSetError, match="new folder"):
        write_continued(source, source, "observed", result, {})


@pytest.mark.database
@pytest.mark.validation
def test_continuation_finds_the_lower_branch_of_2018_04(tmp_path, database_path):
    pytest.importorskip("jax")
    from nextsm.database import DatabaseSource, load_database
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.surrogates.labels import labels

    db = load_database(database_path)
    with DatabaseSource(db.path) as source:
        model = HistFactoryModel.from_analysis(db.analysis("ATLAS-SUSY-2018-04-eff"), "SRcombined.json", source,
                                               backend="jax")
    q = labels(model, LINE)
    assert q[0, 0] == pytest.approx(12.38, abs=0.02)  # the upper branch, from pyhf's start
    folder = _folder(tmp_path, LINE, q, chunk=2)
    result = CliRunner().invoke(cli, ["surrogate", "continue", str(folder), "--out", str(tmp_path / "cont"),
                                      "--neighbours", "1", "--database", str(database_path)])
    assert result.exit_code == 0, result.output
    assert "1 of 2 labels lowered" in result.output
    new = load_labels(tmp_path / "cont").labels
    assert new[0, 0] == pytest.approx(10.87, abs=0.02)
    assert new[1, 0] == pytest.approx(q[1, 0], abs=1e-6)
    np.testing.assert_array_equal(new[:, 1:], q[:, 1:])


class _TwoBranches:
    """A stand-in model: −ln L = s₀ + s₁ − 0.5 b, where the branch b = 1 is found from pyhf's start only for
    s₀ > 2.7 and otherwise only from a start on that branch (the 2018-04 situation, in one number)."""

    n_regions = 2

    def nll(self, mu, signal, *, data="observed"):
        return np.zeros(np.atleast_2d(signal).shape[0])

    def evaluation_scope(self):
        return contextlib.nullcontext()

    def profile_fit(self, signal, *, data="observed", start=None):
        branch = 1.0 if (start is not None and start[0] == 1.0) or signal[0] > 2.7 else 0.0
        return float(signal[0] + signal[1] - 0.5 * branch), np.array([branch])


def test_continuation_resumes_from_its_checkpoint(tmp_path):
    from nextsm.surrogates.continuation import continue_labels

    signals = np.column_stack([np.linspace(0.5, 4.0, 15), np.full(15, 1.0)])
    q = 2.0 * signals.sum(axis=1) - 2.0 * (signals[:, 0] > 2.7) * 0.5
    whole = continue_labels(_TwoBranches(), signals, q, "observed", neighbours=2, sweeps=20)
    np.testing.assert_allclose(whole.q, 2.0 * signals.sum(axis=1) - 1.0)  # every label on the lower branch
    assert whole.improved == np.sum(signals[:, 0] <= 2.7)

    class StoppedError(Exception):
        pass

    calls = {"n": 0}

    def interrupt(k):
        calls["n"] += k
        if calls["n"] == 23:
            raise StoppedError

    path = tmp_path / "state.npz"
    with pytest.raises(StoppedError):
        continue_labels(_TwoBranches(), signals, q, "observed", neighbours=2, sweeps=20, checkpoint=path, every=5,
                        progress=interrupt)
    assert path.exists()
    resumed = continue_labels(_TwoBranches(), signals, q, "observed", neighbours=2, sweeps=20, checkpoint=path,
                              every=5)
    np.testing.assert_array_equal(resumed.q, whole.q)
    assert (resumed.fits, resumed.sweeps, resumed.improved) == (whole.fits, whole.sweeps, whole.improved)
    with pytest.raises(TrainingSetError, match="checkpoint of another"):
        continue_labels(_TwoBranches(), signals, q + 1.0, "observed", neighbours=2, checkpoint=path)
