"""Quantile regression of the critical value."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from nextsm.inference import BoostingQuantileRegression, InferenceError, SplineQuantileRegression
from nextsm.inference.quantile import bspline_basis, pinball_loss


def _heteroscedastic(n, rng):
    x = rng.uniform(0.0, 4.0, n)
    return x, (1.0 + x) * rng.standard_normal(n)


def test_spline_regression_recovers_a_known_conditional_quantile():
    rng = np.random.default_rng(1)
    x, y = _heteroscedastic(60000, rng)
    fitted = SplineQuantileRegression(n_knots=4).fit(x, y, 0.9)
    grid = np.linspace(0.2, 3.8, 10)
    # standard error of a 0.9-quantile from ~n/6 local points: (1 + x) · 0.3/φ(1.28)/√(10⁴) ≈ 0.02 (1 + x)
    np.testing.assert_allclose(fitted.predict(grid), (1.0 + grid) * norm.ppf(0.9), atol=0.1, rtol=0.04)


def test_the_linear_programme_finds_the_pinball_minimum():
    rng = np.random.default_rng(2)
    x, y = _heteroscedastic(600, rng)
    fitted = SplineQuantileRegression(n_knots=3).fit(x, y, 0.8)
    design = bspline_basis(x, fitted.knots)
    best = pinball_loss(y - design @ fitted.coefficients, 0.8)
    for _ in range(20):
        trial = fitted.coefficients + 0.05 * rng.standard_normal(fitted.coefficients.shape)
        assert pinball_loss(y - design @ trial, 0.8) >= best - 1e-12
    # the τ-quantile property: a fraction τ of the points lies below the fitted curve (up to p/n)
    assert np.mean(y <= design @ fitted.coefficients) == pytest.approx(0.8, abs=design.shape[1] / x.size + 1e-9)


def test_quantile_inputs_are_checked():
    with pytest.raises(InferenceError, match="'quantile'"):
        SplineQuantileRegression().fit(np.arange(20.0), np.arange(20.0), 1.5)
    with pytest.raises(InferenceError, match="'mu' and 't'"):
        SplineQuantileRegression().fit(np.arange(20.0), np.arange(19.0), 0.5)


@pytest.mark.slow
def test_boosting_regression_recovers_the_quantile():
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(4)
    x, y = _heteroscedastic(20000, rng)
    fitted = BoostingQuantileRegression().fit(x, y, 0.9)
    grid = np.linspace(0.3, 3.7, 8)
    # piecewise-constant trees on one input are noisy (±0.1 σ of the data here); the median would be 1.28 σ off
    np.testing.assert_allclose(fitted.predict(grid), (1.0 + grid) * norm.ppf(0.9), atol=0.6)
