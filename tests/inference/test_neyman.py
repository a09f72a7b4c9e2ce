"""Neyman constructions against published numbers, analytic results and each other."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from nextsm.inference import (
    BoundedGaussianMean,
    FocusedStatistic,
    GaussianFocus,
    InferenceError,
    LikelihoodRatio,
    PoissonCounting,
    SplineQuantileRegression,
    amortised_belt,
    coverage_diagnostic,
    exact_belt,
    exact_performance,
    refine_belt,
    refine_endpoints,
    toy_belt,
)
from nextsm.inference.neyman import intervals_from_excess

GAUSS = BoundedGaussianMean()
GAUSS_GRID = np.arange(0.0, 6.0 + 1e-9, 0.005)

# Feldman & Cousins, Phys. Rev. D 57 (1998) 3873, Table X (x₀, CL, lower, upper), σ = 1
FC_TABLE_X = [
    (-3.0, 0.6827, 0.00, 0.04), (-3.0, 0.90, 0.00, 0.26), (-3.0, 0.95, 0.00, 0.42), (-3.0, 0.99, 0.00, 0.80),
    (0.0, 0.6827, 0.00, 1.00), (0.0, 0.90, 0.00, 1.64), (0.0, 0.95, 0.00, 1.96), (0.0, 0.99, 0.00, 2.58),
    (2.6, 0.90, 1.02, 4.24),
]
# Table IV (90 % CL, Poisson with known background b): (b, n₀, lower, upper)
FC_TABLE_IV = [
    (0.0, 0, 0.00, 2.44), (0.0, 1, 0.11, 4.36), (0.0, 2, 0.53, 5.91), (0.0, 3, 1.10, 7.42), (0.0, 4, 1.47, 8.60),
    (0.0, 5, 1.84, 9.99), (3.0, 1, 0.00, 1.88), (3.0, 2, 0.00, 3.04), (3.0, 3, 0.00, 4.42), (3.0, 4, 0.00, 5.60),
    (3.0, 5, 0.00, 6.99), (3.0, 6, 0.15, 8.47), (3.0, 8, 1.51, 10.99), (3.0, 9, 1.88, 12.30),
    (3.0, 10, 2.63, 13.50), (0.5, 10, 5.00, 16.00),
]


@pytest.fixture(scope="module")
def fc_gauss_belts():
    return {cl: exact_belt(GAUSS, LikelihoodRatio(), GAUSS_GRID, cl) for cl in (0.6827, 0.90, 0.95, 0.99)}


@pytest.mark.validation
@pytest.mark.parametrize(("x", "cl", "lower", "upper"), FC_TABLE_X)
def test_exact_fc_belt_reproduces_table_x(fc_gauss_belts, x, cl, lower, upper):
    iv = fc_gauss_belts[cl].intervals(GAUSS, np.array([x]))
    assert iv.lower[0] == pytest.approx(lower, abs=0.006)
    assert iv.upper[0] == pytest.approx(upper, abs=0.006)


@pytest.mark.validation
@pytest.mark.parametrize(("b", "n", "lower", "upper"), FC_TABLE_IV)
def test_exact_fc_belt_reproduces_table_iv(b, n, lower, upper):
    model = PoissonCounting(b)
    belt = exact_belt(model, LikelihoodRatio(), np.arange(0.0, upper + 1.0, 0.001), 0.90)
    iv = belt.intervals(model, np.array([float(n)]))
    assert iv.lower[0] == pytest.approx(lower, abs=0.006)
    assert iv.upper[0] == pytest.approx(upper, abs=0.006)


STATISTICS = [LikelihoodRatio(), FocusedStatistic(GaussianFocus(0.0, 0.5)), FocusedStatistic(GaussianFocus(0.0, 2.0))]


@pytest.mark.parametrize("statistic", STATISTICS, ids=["lrt", "fts-narrow", "fts-wide"])
@pytest.mark.parametrize("cl", [0.683, 0.954])
def test_exact_coverage_of_the_gaussian_is_nominal_between_grid_points(statistic, cl):
    grid = np.arange(0.0, 8.0 + 1e-9, 0.01)
    belt = exact_belt(GAUSS, statistic, grid, cl)
    truth = np.arange(0.0037, 4.0, 0.0731)          # off the grid
    perf = exact_performance(belt, GAUSS, truth)
    np.testing.assert_allclose(perf.coverage, cl, atol=0.003)


@pytest.mark.parametrize("statistic", STATISTICS, ids=["lrt", "fts-narrow", "fts-wide"])
def test_exact_coverage_of_poisson_is_at_least_nominal(statistic):
    model = PoissonCounting(3.0)
    belt = exact_belt(model, statistic, np.arange(0.0, 14.0 + 1e-9, 0.002), 0.90)
    truth = np.arange(0.0013, 6.0, 0.0171)
    perf = exact_performance(belt, model, truth)
    # the grid step (0.002) and midpoint ends allow a sliver of under-coverage next to a jump
    assert np.all(perf.coverage >= 0.90 - 2e-3)
    assert np.mean(perf.coverage) > 0.90


def test_the_flat_focus_limit_of_an_unbounded_mean_is_the_central_interval():
    # μ ∈ ℝ (here [−30, 30]) and f → flat: ∫p(x|μ)f dμ is constant, T_f = (x − μ₀)² + const,
    # so the inverted belt is x ± z_{(1+CL)/2}, the LRT's (Wilks-exact) interval
    model = BoundedGaussianMean(lower=-30.0, upper=30.0)
    belt = exact_belt(model, FocusedStatistic(GaussianFocus(0.0, 1e4, n_nodes=2401)),
                      np.arange(-8.0, 8.0 + 1e-9, 0.01), 0.95)
    x = np.array([-2.0, 0.0, 1.3])
    iv = belt.intervals(model, x)
    z = norm.ppf(0.975)
    np.testing.assert_allclose(iv.lower, x - z, atol=0.01)
    np.testing.assert_allclose(iv.upper, x + z, atol=0.01)


def test_the_point_focus_limit_gives_one_sided_upper_limits():
    # f → δ(μ − 0): the NP test of μ₀ against 0 accepts x ≥ μ₀ − z_CL, so C(x) = [0, x + z_CL]
    belt = exact_belt(GAUSS, FocusedStatistic(GaussianFocus(0.0, 1e-3)), np.arange(0.0, 6.0 + 1e-9, 0.005), 0.90)
    x = np.array([-0.5, 0.4, 2.0])
    iv = belt.intervals(GAUSS, x)
    np.testing.assert_allclose(iv.lower, 0.0, atol=0.005)
    np.testing.assert_allclose(iv.upper, x + norm.ppf(0.90), atol=0.01)


def test_fts_minimises_the_focus_averaged_expected_length():
    # Pratt (1961): the FTS belt minimises ∫ f(μ) E_μ|C| dμ; the LRT (FC) belt cannot beat it
    focus = GaussianFocus(0.0, 0.5)
    grid = np.arange(0.0, 8.0 + 1e-9, 0.01)
    nodes, log_w = focus.quadrature((0.0, np.inf))
    weights = np.exp(log_w)
    averaged = {}
    for name, statistic in (("lrt", LikelihoodRatio()), ("fts", FocusedStatistic(focus))):
        perf = exact_performance(exact_belt(GAUSS, statistic, grid, 0.683), GAUSS, nodes)
        averaged[name] = float(np.sum(weights * perf.mean_length))
    assert averaged["fts"] < averaged["lrt"] - 0.05


def test_fts_narrow_is_shorter_near_the_focus_and_longer_far_away():
    grid = np.arange(0.0, 10.0 + 1e-9, 0.01)
    truth = np.array([0.0, 0.5, 6.0])
    lrt = exact_performance(exact_belt(GAUSS, LikelihoodRatio(), grid, 0.683), GAUSS, truth)
    fts = exact_performance(exact_belt(GAUSS, FocusedStatistic(GaussianFocus(0.0, 0.5)), grid, 0.683), GAUSS, truth)
    assert np.all(fts.median_length[:2] < lrt.median_length[:2] - 0.3)
    assert fts.median_length[2] > lrt.median_length[2] + 1.0


def _coverage_of_critical_values(model, statistic, mu, critical):
    """P_μ(T ≤ c(μ)) under the exact (cell) distribution, per grid point."""
    outcomes = model.outcomes(mu[-1])
    t = statistic.evaluate(model, outcomes, mu)
    return np.sum(model.outcome_probabilities(outcomes, mu).T * (t <= critical[None, :]), axis=0)


def test_toy_belt_agrees_with_the_exact_belt_within_mc_error():
    rng = np.random.default_rng(2024)
    grid = np.arange(0.0, 4.0 + 1e-9, 0.25)
    statistic = FocusedStatistic(GaussianFocus(0.0, 0.5))
    n_toys = 4000
    toys = toy_belt(GAUSS, statistic, grid, 0.90, n_toys=n_toys, rng=rng)
    exact = exact_belt(GAUSS, statistic, grid, 0.90)
    # compare in probability: P_μ(T ≤ ĉ_toy) under the exact (cell) distribution
    coverage = _coverage_of_critical_values(GAUSS, statistic, grid, toys.critical)
    sigma = np.sqrt(0.9 * 0.1 / n_toys)
    assert np.all(np.abs(coverage - 0.90) < 4 * sigma + 0.003)
    assert np.abs(np.mean(coverage) - 0.90) < 4 * sigma / np.sqrt(grid.size) + 0.003
    assert not np.allclose(toys.critical, exact.critical, atol=1e-6)   # they are genuinely different estimates


def test_amortised_belt_agrees_with_the_toy_belt_within_mc_error():
    rng = np.random.default_rng(7)
    grid = np.arange(0.0, 5.0 + 1e-9, 0.05)
    statistic = FocusedStatistic(GaussianFocus(0.0, 0.5))
    amortised = amortised_belt(GAUSS, statistic, grid, 0.90, n_sim=30000, rng=rng)
    n_toys = 3000
    toys = toy_belt(GAUSS, statistic, grid[::10], 0.90, n_toys=n_toys, rng=rng)
    # compared where it matters, in coverage: c(μ) itself is steep (dc/dμ ≈ −5 near μ = 3.5)
    cov_toys = _coverage_of_critical_values(GAUSS, statistic, toys.mu, toys.critical)
    cov_amortised = _coverage_of_critical_values(GAUSS, statistic, toys.mu, amortised.critical_at(toys.mu))
    sigma_toys = np.sqrt(0.9 * 0.1 / n_toys)
    # the regression's effective sample per point is ~30000 × (knot spacing / range): a few thousand
    assert np.all(np.abs(cov_amortised - cov_toys) < 5 * sigma_toys + 0.02)
    perf = exact_performance(amortised, GAUSS, np.arange(0.2, 4.6, 0.2))
    assert np.median(perf.coverage) == pytest.approx(0.90, abs=0.01)
    # c(μ) has a narrow dip at μ ≈ 0.4 (the focus) that cubic splines on ~0.5-wide knots round off:
    # over-coverage there, which is conservative
    assert np.all(perf.coverage > 0.90 - 0.03)
    assert np.all(perf.coverage < 0.90 + 0.06)


def test_coverage_diagnostic_flags_a_broken_belt_and_passes_the_exact_one():
    rng = np.random.default_rng(3)
    grid = np.arange(0.0, 4.0 + 1e-9, 0.05)
    exact = exact_belt(GAUSS, LikelihoodRatio(), grid, 0.90)
    good = coverage_diagnostic(exact, GAUSS, n_sim=8000, rng=rng)
    assert not np.any(good.flagged)
    assert np.all(np.abs(good.coverage - 0.90) < 4 * good.stderr + 0.01)
    broken = exact.__class__(exact.mu, np.where(exact.mu > 2.0, exact.critical - 1.5, exact.critical), 0.90,
                             exact.statistic, "exact", exact.n_toys)
    bad = coverage_diagnostic(broken, GAUSS, n_sim=8000, rng=rng)
    # the spline smooths the step at μ = 2 over about one knot spacing
    assert np.all(bad.flagged[grid > 2.5])
    assert not np.any(bad.flagged[grid < 1.0])
    assert bad.flagged_at(np.array([3.0, 0.5])).tolist() == [True, False]


def test_refinement_repairs_a_poor_regression_at_the_interval_ends():
    rng = np.random.default_rng(12)
    grid = np.arange(0.0, 5.0 + 1e-9, 0.05)
    statistic = FocusedStatistic(GaussianFocus(0.0, 0.5))
    exact = exact_belt(GAUSS, statistic, grid, 0.90)
    crude = amortised_belt(GAUSS, statistic, grid, 0.90, n_sim=400, rng=rng,
                           regressor=SplineQuantileRegression(n_knots=0, degree=1))
    x = np.array([1.8])
    target = exact.intervals(GAUSS, x)
    before = crude.intervals(GAUSS, x)
    refined, after = refine_endpoints(crude, GAUSS, x, n_toys=20000, rng=rng, window=0.3)
    err_before = abs(before.upper[0] - target.upper[0]) + abs(before.lower[0] - target.lower[0])
    err_after = abs(after.upper[0] - target.upper[0]) + abs(after.lower[0] - target.lower[0])
    assert err_after < 0.06 < err_before
    assert refined.method == "refined"
    assert 0 < np.count_nonzero(refined.n_toys) < grid.size
    single = refine_belt(crude, GAUSS, [2.0], n_toys=100, rng=rng)
    assert np.count_nonzero(single.n_toys) == 1


def test_intervals_from_excess_interpolates_and_reports_gaps():
    mu = np.linspace(0.0, 4.0, 5)
    g = np.array([[1.0, -1.0, -1.0, 1.0, 1.0],     # accepted on (0.5, 2.5)
                  [-1.0, -1.0, 1.0, -1.0, -1.0],   # a gap: hull [0, 4], not connected, at the edge
                  [1.0, 1.0, 1.0, 1.0, 1.0]])      # empty
    iv = intervals_from_excess(mu, g)
    np.testing.assert_allclose(iv.lower[:2], [0.5, 0.0])
    np.testing.assert_allclose(iv.upper[:2], [2.5, 4.0])
    assert iv.connected.tolist() == [True, False, False]
    assert iv.at_upper_edge.tolist() == [False, True, False]
    assert np.isnan(iv.lower[2])
    assert iv.length[2] == 0.0


def test_belt_inputs_are_checked():
    with pytest.raises(InferenceError, match="'cl'"):
        exact_belt(GAUSS, LikelihoodRatio(), GAUSS_GRID, 1.2)
    with pytest.raises(InferenceError, match="'mu'"):
        exact_belt(GAUSS, LikelihoodRatio(), np.array([-1.0, 0.0, 1.0]), 0.9)
    with pytest.raises(InferenceError, match="'n_toys'"):
        toy_belt(GAUSS, LikelihoodRatio(), GAUSS_GRID[:5], 0.9, n_toys=3, rng=np.random.default_rng(0))
