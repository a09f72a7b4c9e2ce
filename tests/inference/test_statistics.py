"""Test statistics against closed forms and their analytic limits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from nextsm.inference import (
    BoundedGaussianMean,
    CallableFocus,
    FocusedStatistic,
    GaussianFocus,
    InferenceError,
    LikelihoodRatio,
    PoissonCounting,
)
from nextsm.inference.statistics import pointwise_log_likelihood


def test_fts_denominator_matches_the_truncated_gaussian_closed_form():
    # ∫₀^∞ N(x; μ, 1) N(μ; m, w²) dμ / Φ(m/w) = N(x; m, 1 + w²) Φ(x̄/s) / Φ(m/w)
    m, w = 0.3, 0.7
    x = np.linspace(-3, 5, 17)
    xbar, s = (x * w**2 + m) / (1 + w**2), w / np.sqrt(1 + w**2)
    expected = norm.logpdf(x, m, np.sqrt(1 + w**2)) + norm.logcdf(xbar / s) - norm.logcdf(m / w)
    got = FocusedStatistic(GaussianFocus(m, w)).log_denominator(BoundedGaussianMean(), x)
    np.testing.assert_allclose(got, expected, atol=1e-7)


def test_callable_focus_equals_the_gaussian_focus_it_describes():
    model = BoundedGaussianMean()
    x = np.array([-1.0, 0.5, 2.0])
    gauss = FocusedStatistic(GaussianFocus(1.0, 0.5)).log_denominator(model, x)
    user = FocusedStatistic(CallableFocus(lambda mu: np.exp(-2.0 * (mu - 1.0) ** 2), 0.0, 6.0)
                            ).log_denominator(model, x)
    np.testing.assert_allclose(user, gauss, atol=1e-7)


def test_lrt_is_zero_at_the_bounded_mle_and_positive_elsewhere():
    model = BoundedGaussianMean()
    x = np.array([-1.0, 0.0, 1.5])
    grid = np.linspace(0, 4, 401)
    t = LikelihoodRatio().evaluate(model, x, grid)
    assert np.all(t >= -1e-12)
    np.testing.assert_allclose(t[:2, 0], 0.0, atol=1e-12)   # μ̂ = 0 for x ≤ 0
    np.testing.assert_allclose(t[0, 100], 2.0 * 1.0 + 1.0, atol=1e-12)   # x = −1, μ₀ = 1: (x−μ₀)² − x²
    np.testing.assert_allclose(t[2, 150], 0.0, atol=1e-12)           # μ̂ = 1.5


def test_lrt_grid_search_equals_the_closed_form_maximum():
    class NoMax:
        bounds = (0.0, np.inf)
        inner = PoissonCounting(3.0)

        def log_likelihood(self, data, mu):
            return self.inner.log_likelihood(data, mu)

        def sample(self, mu, n, rng):
            return self.inner.sample(mu, n, rng)

    n = np.arange(12.0)
    grid = np.linspace(0, 20, 2001)
    searched = LikelihoodRatio(search_grid=grid).log_denominator(NoMax(), n)
    np.testing.assert_allclose(searched, PoissonCounting(3.0).max_log_likelihood(n), atol=1e-6)
    with pytest.raises(InferenceError, match="search_grid"):
        LikelihoodRatio().log_denominator(NoMax(), n)


def test_narrow_focus_tends_to_the_simple_likelihood_ratio():
    # f → δ(μ − m): T_f(x; μ₀) → −2 ln p(x|μ₀)/p(x|m) = (x − μ₀)² − (x − m)²
    model = BoundedGaussianMean()
    x, mu0, m = np.array([-1.0, 0.5, 3.0]), np.array([0.0, 1.0, 2.5]), 1.0
    t = FocusedStatistic(GaussianFocus(m, 1e-3)).evaluate(model, x, mu0)
    np.testing.assert_allclose(t, (x[:, None] - mu0[None, :]) ** 2 - (x[:, None] - m) ** 2, atol=1e-5)


def test_pointwise_fallback_equals_the_model_method():
    class GridOnly:
        bounds = (0.0, np.inf)
        inner = BoundedGaussianMean()

        def log_likelihood(self, data, mu):
            return self.inner.log_likelihood(data, mu)

        def sample(self, mu, n, rng):
            return self.inner.sample(mu, n, rng)

    rng = np.random.default_rng(3)
    mu = rng.uniform(0, 3, 1500)
    x = BoundedGaussianMean().sample(mu, 1500, rng)
    np.testing.assert_allclose(pointwise_log_likelihood(GridOnly(), x, mu),
                               BoundedGaussianMean().log_likelihood_at(x, mu), atol=1e-12)


@pytest.mark.parametrize(("kwargs", "name"), [({"width": 0.0}, "width"), ({"centre": np.inf}, "centre"),
                                              ({"n_nodes": 2}, "n_nodes")])
def test_gaussian_focus_rejects_bad_parameters(kwargs, name):
    with pytest.raises(InferenceError, match=name):
        GaussianFocus(**kwargs)


def test_focus_outside_the_physical_range_is_an_error():
    with pytest.raises(InferenceError, match="does not overlap"):
        GaussianFocus(-20.0, 0.5).quadrature((0.0, np.inf))
