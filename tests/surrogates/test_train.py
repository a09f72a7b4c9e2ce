"""Training with torch on the closed-form Gaussian toy (skipped without the ``torch`` extra; ~5 s)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nextsm.errors import LikelihoodError  # noqa: E402
from nextsm.surrogates import SurrogateNetwork  # noqa: E402
from nextsm.surrogates.train import EpochRecord, TorchSurrogate, TrainingReport, train_surrogate  # noqa: E402

#: loose bounds for a 2×64 network trained for ~2 s (the project's targets are 0.05 and 0.5)
MEDIAN_BOUND, P99_BOUND = 0.1, 1.5


def quick(s, q, **kwargs):
    """A few epochs of a small network (for the tests of the mechanics, not of the accuracy)."""
    options = {
        "hidden": (16, 16),
        "epochs": 5,
        "batch_size": 64,
        "lr": 3e-3,
        "seed": 0,
        "threads": 1,
    } | kwargs
    return train_surrogate(s[:400], q[:400], **options)


def test_toy_accuracy_within_bounds(toy_trained):
    net, report = toy_trained
    assert isinstance(net, SurrogateNetwork)
    assert report.accuracy_split == "test"
    assert report.accuracy.meets(median=MEDIAN_BOUND, p99=P99_BOUND), (
        report.accuracy.median,
        report.accuracy.p99,
    )


def test_untrained_network_fails_the_bounds(toy_data):
    s, q = toy_data
    net, report = train_surrogate(s, q, hidden=(64, 64), epochs=0, seed=0)
    assert report.best_epoch == (0,)
    assert report.train_loss[0].size == 0
    assert not report.accuracy.meets(median=MEDIAN_BOUND, p99=P99_BOUND)
    assert np.all(report.accuracy.median > 10 * MEDIAN_BOUND)
    assert np.all(net.evaluate(np.zeros(3)) == 0.0)


def test_held_out_accuracy_on_fresh_points(toy, toy_trained):
    net, _ = toy_trained
    s = toy.sample(500, np.random.default_rng(7))
    err = np.abs(net.evaluate(s) - toy.q(s))
    assert np.all(np.median(err, axis=0) <= MEDIAN_BOUND)
    assert np.all(np.percentile(err, 99, axis=0) <= P99_BOUND)


def test_report_fields(toy_data, toy_trained):
    net, report = toy_trained
    assert isinstance(report, TrainingReport)
    s, _ = toy_data
    assert report.n_train + report.n_validation + report.n_test == len(s)
    assert (report.n_validation, report.n_test) == (200, 200)
    (train_loss,), (val_loss,) = report.train_loss, report.validation_loss
    assert train_loss.shape == val_loss.shape
    assert 0 < len(val_loss) <= 120
    assert np.all(np.isfinite(train_loss))
    assert np.all(np.isfinite(val_loss))
    assert train_loss[-1] < train_loss[0] / 10
    assert report.best_epoch[0] == int(np.argmin(val_loss)) + 1
    assert report.stopped_early[0] == (len(val_loss) < 120)
    assert report.seconds > 0
    assert report.settings["hidden"] == [64, 64]
    assert report.accuracy.n.shape == (4,)
    assert np.all(report.accuracy.n > 0)
    assert report.accuracy.bin_count.sum(axis=0).tolist() == [report.n_test] * 4
    card = net.card
    assert json.loads(json.dumps(card, allow_nan=False)) == card
    assert card["training"]["provenance"].startswith("closed-form Gaussian toy")  # user entry merged
    assert card["training"]["n_train"] == report.n_train
    assert card["accuracy"] == report.accuracy.to_card()
    np.testing.assert_array_equal(net.domain.s_max, s.max(axis=0))
    assert net.region_names == ("SRA", "SRB", "SRC")
    assert net.name == "gaussian-toy"


@pytest.mark.parametrize("activation", ["silu", "elu", "softplus"])
def test_torch_and_numpy_agree(toy_data, activation):
    s, q = toy_data
    net, _ = quick(s, q, activation=activation)
    module = TorchSurrogate.from_network(net)
    with torch.no_grad():
        q_torch = module(torch.as_tensor(s[:500], dtype=torch.float32)).double().numpy()
    # float32 training, float64 inference: ≤ 1e-5 relative (absolute for |q| < 1)
    np.testing.assert_allclose(q_torch, net.evaluate(s[:500]), rtol=1e-5, atol=1e-5)
    exported = module.to_mlp()
    for a, b in zip(
        exported.weights + exported.biases, net.members[0].weights + net.members[0].biases, strict=True
    ):
        np.testing.assert_array_equal(a, b)  # export(import(W)) is exact: weights are float32 values


def test_trained_module_and_export_agree(toy_data):
    """The export of the module that was trained (not re-imported) gives the same q, in float64 too."""
    s, q = toy_data
    net, _ = quick(s, q, dtype="float64")
    module = TorchSurrogate.from_network(net, dtype=torch.float64)
    with torch.no_grad():
        q_torch = module(torch.as_tensor(s[:500])).numpy()
    np.testing.assert_allclose(q_torch, net.evaluate(s[:500]), rtol=1e-12, atol=1e-12)
    w = module.linears()[0].weight.detach().numpy()
    assert w.shape == (16, 3)
    assert net.members[0].weights[0].shape == (3, 16)
    np.testing.assert_array_equal(w.T, net.members[0].weights[0])


def test_training_sees_the_difference_construction(toy_data):
    s, q = toy_data
    net, _ = quick(s, q)
    module = TorchSurrogate.from_network(net)
    with torch.no_grad():
        out = module(torch.zeros((3, 3)))
    assert torch.all(out == 0)


def test_seeded_and_global_rng_untouched(toy_data):
    s, q = toy_data
    state = torch.get_rng_state()
    a, _ = quick(s, q, seed=3)
    b, _ = quick(s, q, seed=3)
    c, _ = quick(s, q, seed=4)
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(a.members[0].weights[1], b.members[0].weights[1])
    assert not np.array_equal(a.members[0].weights[1], c.members[0].weights[1])
    assert torch.get_num_threads() >= 1


def test_ensemble(toy_data):
    s, q = toy_data
    net, report = quick(s, q, ensemble=2)
    assert net.n_members == 2
    assert len(report.train_loss) == 2
    assert len(report.best_epoch) == 2
    assert not np.array_equal(net.members[0].weights[0], net.members[1].weights[0])
    _, std = net.evaluate(s[:50], return_std=True)
    assert np.all(std[np.any(s[:50] > 0, axis=1)] > 0)


def test_members_in_processes_are_the_same_members(toy_data):
    """``processes=2`` trains the members of ``processes=1`` (same seeds), only in two spawned processes."""
    s, q = toy_data
    serial, rep_serial = quick(s, q, ensemble=2)
    parallel, rep_parallel = quick(s, q, ensemble=2, processes=2)
    for a, b in zip(serial.members, parallel.members, strict=True):
        for wa, wb in zip(a.weights, b.weights, strict=True):
            np.testing.assert_array_equal(wa, wb)
    assert rep_parallel.best_epoch == rep_serial.best_epoch
    assert rep_parallel.settings["processes"] == 2


def test_early_stopping_keeps_the_best_weights(toy_data):
    s, q = toy_data
    _, report = quick(s, q, epochs=200, patience=3, lr=0.3)
    (val_loss,) = report.validation_loss
    assert report.stopped_early == (True,)
    assert len(val_loss) < 200
    assert report.best_epoch[0] == int(np.argmin(val_loss)) + 1
    assert len(val_loss) - report.best_epoch[0] == 3


def test_progress_callback_and_bar(toy_data):
    s, q = toy_data
    records: list[EpochRecord] = []
    quick(s, q, epochs=3, ensemble=2, progress=records.append)
    assert [(r.member, r.epoch) for r in records] == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
    assert all(r.best_validation_loss <= r.validation_loss for r in records)
    quick(s, q, epochs=2, progress=True)


def test_cosine_schedule_anneals_the_learning_rate_over_the_epochs(toy_data):
    s, q = toy_data
    records: list[EpochRecord] = []
    _, report = quick(s, q, epochs=20, patience=50, lr=1e-2, schedule="cosine", progress=records.append)
    lrs = np.array([r.lr for r in records])
    expected = 1e-5 + 0.5 * (1e-2 - 1e-5) * (1 + np.cos(np.pi * np.arange(20) / 20))
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    assert report.settings["schedule"] == "cosine"
    # the plateau schedule keeps the rate while the validation loss improves
    plateau: list[EpochRecord] = []
    quick(s, q, epochs=3, patience=50, lr=1e-2, progress=plateau.append)
    assert [r.lr for r in plateau] == [1e-2] * 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"signals": -np.ones((10, 3))}, "non-negative"),
        ({"labels": np.ones((10, 3))}, "'labels' has shape"),
        ({"labels": np.full((10, 4), np.nan)}, "row 0"),
        ({"validation_fraction": 0.0}, "validation_fraction"),
        ({"test_fraction": 0.95}, "test_fraction"),
        ({"ensemble": 0}, "'ensemble'"),
        ({"processes": 0}, "'processes'"),
        ({"dtype": "float16"}, "'dtype'"),
        ({"threads": 0}, "'threads'"),
        ({"activation": "relu"}, "'activation'"),
        ({"schedule": "step"}, "'schedule'"),
    ],
)
def test_input_errors(kwargs, match):
    data = {"signals": np.ones((10, 3)), "labels": np.ones((10, 4))}
    data |= {k: kwargs.pop(k) for k in list(kwargs) if k in data}
    with pytest.raises(LikelihoodError, match=match):
        train_surrogate(data["signals"], data["labels"], epochs=1, **kwargs)
