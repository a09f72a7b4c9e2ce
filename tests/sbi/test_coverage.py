"""Coverage with pseudo-experiments (nextsm.sbi.coverage) on a Gaussian location model, where Wilks is exact."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.sbi import coverage, histograms, inference
from nextsm.sbi.errors import SBIError

AXIS = np.linspace(-0.5, 0.5, 41)
N_EVENTS = 4000
N_EXPECTED = 100.0  # L σ: events per pseudo-experiment on average


@pytest.fixture(scope="module")
def world() -> dict:
    """A weighted sample of x ~ N(0, 1_2) and the exact log ratio log p(x|θ)/p(x|0) = θ·x - |θ|²/2 on the grid."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(N_EVENTS, 2))
    x -= x.mean(axis=0)  # the toy world's mean is then exactly the truth θ = 0
    pts = inference.grid_points(AXIS, AXIS)
    log_r = pts @ x.T - 0.5 * (pts**2).sum(axis=1)[:, None]
    return {"x": x, "pts": pts, "log_r": log_r, "expected": np.full(N_EVENTS, N_EXPECTED / N_EVENTS),
            "xsec": np.ones(len(pts))}


def _unbinned_statistics(world: dict, scale: float, n_toys: int, seed: int) -> coverage.ToyStatistics:
    counts = coverage.poisson_pseudo_data(world["expected"], n_toys, np.random.default_rng(seed))
    ll = coverage.unbinned_toy_log_likelihood(scale * world["log_r"], counts, world["xsec"], 1.0, N_EXPECTED)
    return coverage.statistics_at_truth(ll, AXIS, AXIS, [0.0, 0.0])


def test_exact_ratio_covers_nominally(world: dict) -> None:
    stats = _unbinned_statistics(world, 1.0, 2000, 1)
    for cl in (0.68, 0.95):
        joint = coverage.coverage(stats.joint, cl, 2)
        assert abs(joint.fraction - cl) < 4 * joint.error + 0.005
        for p in (0, 1):
            prof = coverage.coverage(stats.profile[:, p], cl, 1)
            assert abs(prof.fraction - cl) < 4 * prof.error + 0.005
    # q(0) = n |x̄|² exactly: its mean is 2 (χ²_2) and the best fits scatter by 1/√n
    assert stats.joint.mean() == pytest.approx(2.0, abs=0.15)
    assert stats.best.std(axis=0) == pytest.approx([0.1, 0.1], abs=0.01)


def test_over_confident_ratio_under_covers(world: dict) -> None:
    """log r̂ = 3 log r: every q triples, so a 68 % Wilks interval covers P(χ²_1 < 1/3) = 44 %."""
    stats = _unbinned_statistics(world, 3.0, 2000, 1)
    prof = coverage.coverage(stats.profile[:, 0], 0.68, 1)
    assert prof.fraction == pytest.approx(0.436, abs=4 * prof.error)
    assert prof.fraction < 0.55
    assert coverage.coverage(stats.joint, 0.68, 2).fraction < 0.45


def test_toy_likelihoods_match_the_asimov_functions(world: dict) -> None:
    counts = coverage.poisson_pseudo_data(world["expected"], 3, np.random.default_rng(2))
    xsec = 1.0 + 0.3 * world["pts"][:, 0] ** 2
    ll = coverage.unbinned_toy_log_likelihood(world["log_r"], counts, xsec, 1.0, N_EXPECTED)
    for t in range(3):
        ref = inference.extended_log_likelihood(world["log_r"], counts[t], xsec, 1.0, N_EXPECTED)
        np.testing.assert_allclose(ll[t], ref, rtol=1e-12, atol=1e-9)
    binning = histograms.fixed_binning(world["x"], [4, 4])
    weights = np.exp(world["log_r"]) / N_EVENTS  # reweighted templates w_i(θ) = w_i(0) r(x_i|θ)
    nu = histograms.expected_counts(binning, world["x"], weights, N_EXPECTED)
    llb = coverage.binned_toy_log_likelihood(nu, binning.index(world["x"]), counts)
    for t in range(3):
        observed = histograms.expected_counts(binning, world["x"], counts[t][None].astype(float), 1.0)[0]
        np.testing.assert_allclose(llb[t], histograms.binned_log_likelihood(nu, observed), rtol=1e-12)


def test_binned_likelihood_covers_nominally(world: dict) -> None:
    counts = coverage.poisson_pseudo_data(world["expected"], 1500, np.random.default_rng(3))
    binning = histograms.fixed_binning(world["x"], [4, 4])
    nu = histograms.expected_counts(binning, world["x"], np.exp(world["log_r"]) / N_EVENTS, N_EXPECTED)
    stats = coverage.statistics_at_truth(coverage.binned_toy_log_likelihood(nu, binning.index(world["x"]), counts),
                                         AXIS, AXIS, [0.0, 0.0])
    cov = coverage.coverage(stats.profile[:, 1], 0.68, 1)
    assert abs(cov.fraction - 0.68) < 4 * cov.error + 0.01


def test_bin_count_toys_match_event_count_toys(world: dict) -> None:
    """Per-bin Poisson draws have the distribution of binned per-event draws: same mean and variance per bin, and
    the same log likelihood for the same bin counts."""
    binning = histograms.fixed_binning(world["x"], [4, 4])
    index = binning.index(world["x"])
    n_bins = int(index.max()) + 1
    by_bin = coverage.poisson_bin_counts(world["expected"], index, n_bins, 4000, np.random.default_rng(4))
    by_event = histograms.bin_sums(index, coverage.poisson_pseudo_data(world["expected"], 4000,
                                                                       np.random.default_rng(5)), n_bins)
    mean = np.bincount(index, weights=world["expected"], minlength=n_bins)
    for draws in (by_bin, by_event):
        np.testing.assert_allclose(draws.mean(axis=0), mean, rtol=0.05, atol=0.2)
        np.testing.assert_allclose(draws.var(axis=0), mean, rtol=0.15, atol=0.3)
    nu = histograms.expected_counts(binning, world["x"], np.exp(world["log_r"]) / N_EVENTS, N_EXPECTED)
    counts = coverage.poisson_pseudo_data(world["expected"], 3, np.random.default_rng(6))
    np.testing.assert_allclose(coverage.bin_count_log_likelihood(nu, histograms.bin_sums(index, counts, n_bins)),
                               coverage.binned_toy_log_likelihood(nu, index, counts))
    with pytest.raises(SBIError, match="bin_counts"):
        coverage.bin_count_log_likelihood(nu, np.ones((2, n_bins + 1)))
    with pytest.raises(SBIError, match="bin_index"):
        coverage.poisson_bin_counts(world["expected"], index[:-1], n_bins, 2, np.random.default_rng(0))


def test_row_minima_is_exact_for_a_parabola() -> None:
    grid = np.linspace(-1, 1, 21)
    q = np.stack([(grid - c) ** 2 + 0.5 for c in (0.033, -0.71, 1.4)])
    np.testing.assert_allclose(inference.row_minima(q)[:2], 0.5, atol=1e-12)
    assert inference.row_minima(q)[2] == pytest.approx((1 - 1.4) ** 2 + 0.5)  # at the edge: the grid value


def test_summary_names_every_interval(world: dict) -> None:
    stats = _unbinned_statistics(world, 1.0, 200, 4)
    out = coverage.coverage_summary(stats, ["a", "b"])
    assert {"joint_0.68", "a_0.68", "b_0.95"} <= set(out)
    assert out["n_toys"] == 200
    assert out["a_0.68"]["fraction"] == coverage.coverage(stats.profile[:, 0], 0.68, 1).fraction
    with pytest.raises(SBIError, match="'parameter_names'"):
        coverage.coverage_summary(stats, ["a"])


def test_bad_inputs_name_the_parameter(world: dict) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(SBIError, match=r"'expected'.*event 1"):
        coverage.poisson_pseudo_data([1.0, -1.0], 2, rng)
    with pytest.raises(SBIError, match=r"theta_true\[0\]' = 0.01"):
        coverage.statistics_at_truth(np.zeros((2, AXIS.size**2)), AXIS, AXIS, [0.01, 0.0])
    with pytest.raises(SBIError, match="'counts'"):
        coverage.unbinned_toy_log_likelihood(world["log_r"], np.ones((2, 5)), world["xsec"], 1.0, 1.0)
    with pytest.raises(SBIError, match="'cl'"):
        coverage.coverage([0.1], 1.5, 1)
