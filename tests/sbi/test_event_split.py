"""Event index of the training rows and the event-level validation split (rows that share events stay together)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from nextsm.sbi.component_regression import component_training_set
from nextsm.sbi.errors import EstimatorFormatError, SBIError
from nextsm.sbi.io import load_training_set, save_training_set
from nextsm.sbi.sampling import (
    TrainingSet,
    ratio_training_set,
    score_training_set,
    weighted_ratio_set,
)
from nextsm.sbi.training import TrainConfig, train_estimator, validation_split


@pytest.fixture(scope="module")
def few_events(toy):
    """300 toy events: every augmented set below reuses each of them ~20 times."""
    return toy.simulate(300, np.random.default_rng(7))


@pytest.mark.parametrize("method", ["inverse-cdf", "rejection"])
def test_samplers_record_the_source_event(few_events, method):
    ts = ratio_training_set(few_events, np.random.default_rng(1).uniform(-1, 1, (40, 2)), 15,
                            np.random.default_rng(2), method=method)
    assert ts.event is not None
    assert ts.event.dtype == np.int64
    assert ts.event.shape == (len(ts),)
    np.testing.assert_array_equal(ts.x, few_events.x[ts.event])
    assert np.unique(ts.event).size < len(ts) / 3  # rows do share events
    sally = score_training_set(few_events, 2000, np.random.default_rng(3), method=method)
    np.testing.assert_array_equal(sally.x, few_events.x[sally.event])
    boot = ts.resample(np.random.default_rng(4))
    np.testing.assert_array_equal(boot.x, few_events.x[boot.event])
    weighted = weighted_ratio_set(few_events, np.zeros((len(few_events), 2)))
    np.testing.assert_array_equal(weighted.event, np.tile(np.arange(len(few_events)), 2))
    comp = component_training_set(few_events)
    np.testing.assert_array_equal(comp.x, few_events.x[comp.event])
    with pytest.raises(SBIError, match="'event'"):
        TrainingSet(ts.x, ts.theta, ts.y, ts.log_r_xz, ts.t_xz, ts.sample_weight, ts.theta_ref, event=ts.event[:3])


def test_no_event_straddles_the_split(few_events):
    ts = ratio_training_set(few_events, np.random.default_rng(1).uniform(-1, 1, (100, 2)), 10,
                            np.random.default_rng(2))
    event = ts.event.copy()
    event[::50] = -1  # rows without a source event count as single-row events
    data = TrainingSet(ts.x, ts.theta, ts.y, ts.log_r_xz, ts.t_xz, ts.sample_weight, ts.theta_ref, event=event)
    rows = np.arange(len(data))
    for seed in range(5):
        train, val, split, n_events = validation_split(data, rows, 0.2, np.random.default_rng(seed))
        assert split == "events"
        assert np.intersect1d(train, val).size == 0
        assert np.union1d(train, val).size == len(data)
        real = event >= 0
        assert np.intersect1d(event[train][real[train]], event[val][real[val]]).size == 0
        assert 0.17 < val.size / len(data) < 0.25
        assert n_events == np.unique(event[val][real[val]]).size + int((~real[val]).sum())
    # the row split does put the same events on both sides
    train, val, split, _ = validation_split(data, rows, 0.2, np.random.default_rng(0), mode="rows")
    assert split == "rows"
    assert np.intersect1d(event[train], event[val]).size > 100
    no_index = TrainingSet(ts.x, ts.theta, ts.y, ts.log_r_xz, ts.t_xz, ts.sample_weight, ts.theta_ref)
    assert validation_split(no_index, rows, 0.2, np.random.default_rng(0))[2] == "rows"
    with pytest.raises(SBIError, match="event index"):
        validation_split(no_index, rows, 0.2, np.random.default_rng(0), mode="events")
    with pytest.raises(SBIError, match="validation_split"):
        TrainConfig(validation_split="halves")


def test_event_split_sees_the_overfit(toy, few_events):
    """300 events, each in ~20 SALLY rows, a 128×128 network: the row-split validation rows are memorised
    events, so their loss keeps falling with the training loss; the held-out events' loss turns up."""
    data = score_training_set(few_events, 6000, np.random.default_rng(9))
    result = {}
    for split in ("rows", "events"):
        config = TrainConfig(hidden=(128, 128), epochs=20, batch_size=256, lr=1e-2, lr_final=1e-3, patience=20,
                             validation_split=split)
        est = train_estimator("sally", data, config, np.random.default_rng(0), parameter_names=toy.parameter_names,
                              observable_names=toy.observable_names)
        result[split] = est.card["histories"][0]
        assert result[split]["split"] == split
    rows, events = result["rows"], result["events"]
    assert events["best_epoch"] < rows["best_epoch"]
    assert rows["validation"][-1] < 1.05 * min(rows["validation"])  # still falling: blind to the over-fit
    assert events["validation"][-1] > 1.05 * min(events["validation"])  # turned up: the over-fit is seen
    assert events["validation"][-1] > 1.5 * rows["validation"][-1]


def test_training_set_files(few_events, tmp_path):
    ts = ratio_training_set(few_events, np.random.default_rng(1).uniform(-1, 1, (20, 2)), 5, np.random.default_rng(2))
    back = load_training_set(save_training_set(ts, tmp_path / "train"))
    for name in ("x", "theta", "y", "log_r_xz", "t_xz", "sample_weight", "theta_ref", "event"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ts, name))
    # the old layout (benchmarks/bench_sbi_madminer.py train.npz): no event, no weights, no reference
    np.savez(tmp_path / "old.npz", x=ts.x, theta=ts.theta, y=ts.y, log_r_xz=ts.log_r_xz, t_xz=ts.t_xz)
    with pytest.warns(UserWarning, match="without 'event'.*row"):
        old = load_training_set(tmp_path / "old.npz")
    assert old.event is None
    assert np.all(old.sample_weight == 1)
    assert np.all(old.theta_ref == 0)
    np.testing.assert_array_equal(old.x, ts.x)
    assert validation_split(old, np.arange(len(old)), 0.2, np.random.default_rng(0))[2] == "rows"
    np.savez(tmp_path / "broken.npz", x=ts.x, theta=ts.theta)
    with pytest.raises(EstimatorFormatError, match="y"):
        load_training_set(tmp_path / "broken.npz")
