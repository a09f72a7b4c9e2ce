"""Estimators at a tiny scale: they beat the trivial baseline, round-trip through the portable format, and the
inference/diagnostic layer gives the exact answers on exact inputs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from nextsm.sbi import diagnostics, histograms, inference
from nextsm.sbi.errors import EstimatorFormatError, SBIError
from nextsm.sbi.estimators.ratio import xsec_quadratic_form
from nextsm.sbi.io import load_estimator, save_estimator
from nextsm.sbi.sampling import ratio_training_set, score_training_set
from nextsm.sbi.training import TrainConfig, train_estimator

THETA = np.array([[0.6, -0.6]])
CONFIG = TrainConfig(hidden=(32, 32), epochs=6, batch_size=256)


@pytest.fixture(scope="module")
def ratio_set(events):
    rng = np.random.default_rng(7)
    return ratio_training_set(events, rng.uniform(-1, 1, (100, 2)), 120, rng)


@pytest.fixture(scope="module")
def test_sample(toy):
    x = toy.sample(THETA[0], 2000, np.random.default_rng(11))[0]
    return x, toy.log_marginal(x, THETA)[0] - toy.log_marginal(x, [[0.0, 0.0]])[0]


def _train(method, data, toy, seed, **kw):
    config = TrainConfig(**{**CONFIG.__dict__, **kw})
    return train_estimator(method, data, config, np.random.default_rng(seed),
                           xsec_form=xsec_quadratic_form(toy.morphing, toy.xsec_components()),
                           parameter_names=toy.parameter_names, observable_names=toy.observable_names)


@pytest.mark.parametrize(("method", "morphing_aware"), [("alices", False), ("alice", False), ("alices", True),
                                                         ("cascal", False)])
@pytest.mark.parametrize("seed", [0, 1])
def test_ratio_estimators_beat_trivial_baseline(toy, ratio_set, test_sample, method, morphing_aware, seed):
    x, exact = test_sample
    est = _train(method, ratio_set, toy, seed, morphing_aware=morphing_aware)
    rmse = np.sqrt(np.mean((est.log_ratio(x, THETA)[0] - exact) ** 2))
    baseline = np.sqrt(np.mean(exact**2))  # log r̂ = 0
    assert rmse < 0.8 * baseline, (rmse, baseline)  # untrained or broken: ≈ 1.0
    np.testing.assert_allclose(est.log_ratio(x[:50], [[0.0, 0.0]]), 0.0, atol=1e-6)  # reference-subtracted


def test_sally_beats_trivial_baseline(toy, events, test_sample):
    x, _ = test_sample
    data = score_training_set(events, 8000, np.random.default_rng(3))
    est = _train("sally", data, toy, 0, epochs=15)
    exact = toy.marginal_score(x, [[0.0, 0.0]])[0]
    rmse = np.sqrt(np.mean(np.sum((est.score(x) - exact) ** 2, axis=1)))
    assert rmse < 0.75 * np.sqrt(np.mean(np.sum(exact**2, axis=1))), rmse  # t̂ = 0 gives 1.0


def test_round_trip_and_ensemble(toy, ratio_set, tmp_path, test_sample):
    x, _ = test_sample
    config = TrainConfig(**{**CONFIG.__dict__, "epochs": 2})
    est = train_estimator("alices", ratio_set, config, np.random.default_rng(5), n_members=2,
                          parameter_names=toy.parameter_names, observable_names=toy.observable_names)
    assert est.n_members == 2
    save_estimator(est, tmp_path / "est")
    back = load_estimator(tmp_path / "est.json")
    np.testing.assert_array_equal(back.log_ratio_members(x[:100], THETA), est.log_ratio_members(x[:100], THETA))
    np.testing.assert_array_equal(back.score(x[:10]), est.score(x[:10]))
    spread = diagnostics.ensemble_spread(est.log_ratio_members(x[:100], THETA))
    assert np.all(spread > 0)
    (tmp_path / "bad.json").write_text('{"format": "nextsm-sbi-estimator", "version": 9}')
    with pytest.raises(EstimatorFormatError, match="version"):
        load_estimator(tmp_path / "bad")
    with pytest.raises(SBIError, match="'method'"):
        train_estimator("nde", ratio_set, config, np.random.default_rng(0), parameter_names=("a", "b"),
                        observable_names=("x", "y", "z"))


def test_exact_intervals_and_histograms(toy, events):
    """Exact inputs: the unbinned Asimov profile is parabolic near the SM and binning can only lose power."""
    axis = np.linspace(-0.5, 0.5, 41)
    pts = inference.grid_points(axis, axis)
    w = inference.asimov_weights(events, [0, 0], 30.0)
    g = toy.marginal_components(events.x)
    lr = np.log(toy.morphing.components(pts) @ g.T) - np.log(g[:, 0])[None] - np.log(
        toy.xsec(pts) / toy.xsec([[0, 0]]))[:, None]
    ll = inference.extended_log_likelihood(lr, w, events.xsec(pts), events.xsec([[0, 0]])[0], 30.0)
    scan = inference.scan_2d(axis, axis, ll)
    assert np.abs(np.array(scan.best)).max() < 0.03
    widths = {}
    for p in (0, 1):
        a, q = inference.profile(scan, p)
        i68, i95 = inference.interval_from_profile(a, q, 0.68), inference.interval_from_profile(a, q, 0.95)
        assert 1.7 < i95.width / i68.width < 2.3  # ≈ 1.96 for a parabola
        widths[p] = i68.width
    feat = np.stack([events.x[:, 0], np.sin(events.x[:, 1])], axis=1)
    w_ref = events.weights([[0, 0]])[0]
    binning = histograms.adaptive_binning(feat, w_ref, 6)
    nu = histograms.expected_counts(binning, feat, events.weights(pts), 30.0)
    hscan = inference.scan_2d(axis, axis, histograms.binned_log_likelihood(nu, nu[np.argmin(np.abs(pts).sum(1))]))
    for p in (0, 1):
        a, q = inference.profile(hscan, p)
        assert inference.interval_from_profile(a, q, 0.68).width > 0.98 * widths[p]
    assert inference.contour_threshold(0.95, 2) == pytest.approx(5.991, abs=1e-3)


def test_calibration_and_auc(toy, events):
    w_ref = events.weights([[0, 0]])[0]
    g = toy.marginal_components(events.x)
    thetas = np.array([[0.5, 0.5], [-0.8, 0.2]])
    exact = np.log(toy.morphing.components(thetas) @ g.T) - np.log(g[:, 0])[None] - np.log(
        toy.xsec(thetas) / toy.xsec([[0, 0]]))[:, None]
    np.testing.assert_allclose(diagnostics.expectation(exact, w_ref), 1.0, atol=0.01)
    biased = exact + 0.1
    np.testing.assert_allclose(diagnostics.expectation(diagnostics.recalibrate(
        biased, diagnostics.expectation(biased, w_ref)), w_ref), 1.0, rtol=1e-12)
    rng = np.random.default_rng(0)
    s = rng.normal(size=4000)
    assert diagnostics.weighted_auc(s, s > 0) == pytest.approx(1.0)
    assert diagnostics.weighted_auc(rng.random(4000), rng.random(4000) > 0.5) == pytest.approx(0.5, abs=0.03)
