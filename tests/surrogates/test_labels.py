"""Training sets: the sampling strategy, exact labels from pyhf, resumable generation."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.surrogates.labels import (
    VARIANTS,
    SamplingSettings,
    TrainingSetError,
    generate_labels,
    labels,
    load_labels,
    sample_signals,
)


def test_sampling_is_reproducible_and_covers_the_targets():
    b, db = np.array([10.0, 3.0, 0.5, 40.0]), np.array([2.0, 1.0, 0.3, 5.0])
    s = sample_signals(4000, b, db, np.random.default_rng(3))
    np.testing.assert_array_equal(s, sample_signals(4000, b, db, np.random.default_rng(3)))
    assert s.shape == (4000, 4)
    assert np.all(s >= 0)
    nonzero = np.count_nonzero(s, axis=1)
    settings = SamplingSettings()
    assert np.mean(nonzero == 0) == pytest.approx(settings.p_zero, abs=0.01)
    assert np.mean((nonzero >= 1) & (nonzero <= 3)) > 0.4  # sparse shapes
    assert np.mean(nonzero == 4) > 0.4  # dense shapes
    t = np.sum(s**2 / (b + db**2), axis=1)  # the approximate expected q the amplitudes were set by
    assert np.mean(t[nonzero > 0] < 10) == pytest.approx(settings.p_low, abs=0.03)
    assert t.max() <= settings.t_max * (1 + 1e-9)
    # the first hypotheses do not depend on how many are drawn (a training set can grow)
    np.testing.assert_array_equal(sample_signals(10, b, db, np.random.default_rng(3)), s[:10])


@pytest.mark.database
def test_labels_match_direct_fits_and_generation_resumes(tmp_path, database, database_source):
    from nextsm.likelihoods.histfactory import HistFactoryModel

    analysis = database.analysis("ATLAS-SUSY-2018-04-eff")
    file = next(iter(analysis.info.json_files))
    out = tmp_path / "set"
    first = generate_labels(out, analysis, file, n=2, seed=2, chunk_size=1, backend="numpy")
    assert first.signals.shape == (2, 2)
    assert first.labels.shape == (2, len(VARIANTS))
    model = HistFactoryModel.from_analysis(analysis, file, database_source)
    np.testing.assert_allclose(labels(model, first.signals[:1]), first.labels[:1], rtol=1e-6, atol=1e-6)
    s = first.signals[1:2]
    direct = 2 * (model.nll(1.0, s, data="apriori") - model.nll(0.0, s, data="apriori"))
    assert first.labels[1, 1] == pytest.approx(direct[0], rel=1e-6, abs=1e-6)
    # a killed run loses at most the unfinished chunk: delete one, run again, get the same set
    (out / "labels-0001.npy").unlink()
    assert len(load_labels(out).signals) == 1
    again = generate_labels(out, analysis, file, n=2, seed=2, chunk_size=1, backend="numpy")
    np.testing.assert_allclose(again.labels, first.labels, rtol=1e-6, atol=1e-6)
    with pytest.raises(TrainingSetError, match="seed"):
        generate_labels(out, analysis, file, n=2, seed=3, chunk_size=1, backend="numpy")


def _label_set(seed: int, n: int, **meta_changes):
    from nextsm.surrogates.labels import LabelSet

    rng = np.random.default_rng(seed)
    meta = {"format": "nextsm-labels-1", "analysis": "A", "file": "w.json", "workspace_sha256": "ab" * 32,
            "regions": ["SR1", "SR2"], "variants": list(VARIANTS), "sampling": {"p_zero": 0.02}, "n": n,
            "seed": seed, "chunk_size": 10}
    meta.update(meta_changes)
    baseline = (np.ones((4, 2)), np.full((4, 2), 2.0))
    return LabelSet(rng.uniform(size=(n, 2)), rng.uniform(size=(n, 4)), meta, baseline)


def test_merging_training_sets_pools_them_in_order_and_records_the_seeds():
    from nextsm.surrogates.labels import merge_label_sets

    a, b = _label_set(1, 5), _label_set(2, 3, chunk_size=100)  # the chunking may differ
    merged = merge_label_sets([a, b])
    np.testing.assert_array_equal(merged.signals, np.concatenate([a.signals, b.signals]))
    np.testing.assert_array_equal(merged.labels, np.concatenate([a.labels, b.labels]))
    assert merged.meta["n"] == 8
    assert merged.meta["seed"] == [1, 2]
    assert merged.baseline is a.baseline
    assert merge_label_sets([a]) is a


@pytest.mark.parametrize(("field", "value"), [("workspace_sha256", "cd" * 32), ("regions", ["SR1", "SR3"]),
                                          ("sampling", {"p_zero": 0.1}), ("file", "other.json")])
def test_merging_refuses_training_sets_of_another_workspace_or_sampling(field, value):
    from nextsm.surrogates.labels import merge_label_sets

    with pytest.raises(TrainingSetError, match=f"second: manifest field '{field}'.*first has"):
        merge_label_sets([_label_set(1, 5), _label_set(2, 3, **{field: value})], ["first", "second"])


def test_merging_refuses_a_different_or_missing_baseline():
    import dataclasses

    from nextsm.surrogates.labels import merge_label_sets

    a = _label_set(1, 5)
    # two background-only fits of one workspace agree only to their tolerance: that is allowed
    close = dataclasses.replace(_label_set(2, 3), baseline=(np.ones((4, 2)), np.full((4, 2), 2.0 * (1 + 5e-6))))
    assert merge_label_sets([a, close]).baseline is a.baseline
    other = dataclasses.replace(_label_set(2, 3), baseline=(np.ones((4, 2)), np.full((4, 2), 2.0 * (1 + 1e-3))))
    with pytest.raises(TrainingSetError, match=r"second: baseline\.npz differs from first"):
        merge_label_sets([a, other], ["first", "second"])
    with pytest.raises(TrainingSetError, match=r"baseline\.npz differs"):
        merge_label_sets([a, dataclasses.replace(other, baseline=None)])
    with pytest.raises(TrainingSetError, match="no training sets"):
        merge_label_sets([])


def test_merging_refuses_two_sets_drawn_with_the_same_seed():
    from nextsm.surrogates.labels import merge_label_sets

    with pytest.raises(TrainingSetError, match="third: manifest field 'seed' is 1, as in first"):
        merge_label_sets([_label_set(1, 5), _label_set(2, 3), _label_set(1, 4)], ["first", "second", "third"])


def test_label_archive_round_trip_redraws_the_hypotheses(tmp_path, database):
    from nextsm.surrogates.archive import pack_labels, unpack_labels

    analysis = database.analysis("ATLAS-SUSY-2018-04-eff")
    file = next(iter(analysis.info.json_files))
    folder = tmp_path / "set"
    full = generate_labels(folder, analysis, file, n=3, seed=5, chunk_size=1, backend="numpy")
    (folder / "labels-0001.npy").unlink()  # an unfinished run: chunks 0 and 2 only
    archive = pack_labels(folder, tmp_path / "set.npz")
    restored = unpack_labels(archive, tmp_path / "again", database.path)
    assert not (tmp_path / "again" / "labels-0001.npy").exists()
    np.testing.assert_array_equal(restored.signals, full.signals[[0, 2]])
    np.testing.assert_array_equal(restored.labels, full.labels[[0, 2]])
    assert restored.meta == full.meta
    # the rebuilt folder resumes like the original
    resumed = generate_labels(tmp_path / "again", analysis, file, n=3, seed=5, chunk_size=1, backend="numpy")
    np.testing.assert_allclose(resumed.labels, full.labels, rtol=1e-6, atol=1e-6)
    # unpacking into a folder of another set is refused, naming the field
    other = tmp_path / "other"
    generate_labels(other, analysis, file, n=1, seed=6, chunk_size=1, backend="numpy")
    with pytest.raises(TrainingSetError, match="field 'n'"):
        unpack_labels(archive, other, database.path)


def test_label_archive_refuses_hypotheses_that_do_not_match_its_digest(tmp_path, database):
    from nextsm.surrogates.archive import pack_labels, unpack_labels

    analysis = database.analysis("ATLAS-SUSY-2018-04-eff")
    file = next(iter(analysis.info.json_files))
    folder = tmp_path / "set"
    generate_labels(folder, analysis, file, n=1, seed=5, chunk_size=1, backend="numpy")
    archive = pack_labels(folder, tmp_path / "set.npz")
    with np.load(archive) as arrays:
        tampered = {k: arrays[k] for k in arrays.files}
    tampered["signals_sha256"] = np.array("0" * 64)
    np.savez(tmp_path / "bad.npz", **tampered)
    with pytest.raises(TrainingSetError, match="signals_sha256"):
        unpack_labels(tmp_path / "bad.npz", tmp_path / "again", database.path)
    assert not (tmp_path / "again").exists()  # nothing written
    np.savez(tmp_path / "empty.npz", x=np.zeros(1))
    with pytest.raises(TrainingSetError, match="not a label archive"):
        unpack_labels(tmp_path / "empty.npz", tmp_path / "again", database.path)
