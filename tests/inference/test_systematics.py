"""Vertical interpolation (HistFactory code 4) of per-event ratios and the profiled mixture likelihood."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.inference.errors import InferenceError
from nextsm.inference.mixture import interference_mixture
from nextsm.inference.systematics import (
    ProfiledMixture,
    code4_coefficients,
    interpolate_code4,
    interpolate_polynomial,
    sample_mean_expectation,
)
from nextsm.sbi.simulators.interference import InterferenceToy

RNG = np.random.default_rng(4)
R_UP = np.exp(RNG.normal(0, 0.3, 200))
R_DOWN = np.exp(RNG.normal(0, 0.3, 200))


@pytest.mark.parametrize("interpolate", [interpolate_code4, interpolate_polynomial])
def test_interpolation_reproduces_templates(interpolate):
    eta = interpolate([-1.0, 0.0, 1.0], R_UP, R_DOWN)
    np.testing.assert_allclose(eta[0], R_DOWN, rtol=1e-12)
    np.testing.assert_allclose(eta[1], 1.0, rtol=1e-12)
    np.testing.assert_allclose(eta[2], R_UP, rtol=1e-12)


def test_code4_is_smooth_positive_and_exponential_outside():
    eps = 1e-5
    for a0 in (-1.0, 1.0):  # value, slope and curvature continuous at the junctions
        inside = interpolate_code4([a0 - np.sign(a0) * eps, a0 - np.sign(a0) * 2 * eps], R_UP, R_DOWN)
        outside = interpolate_code4([a0 + np.sign(a0) * eps, a0 + np.sign(a0) * 2 * eps], R_UP, R_DOWN)
        at = interpolate_code4([a0], R_UP, R_DOWN)[0]
        slope_in = (at - inside[0]) / eps
        slope_out = (outside[0] - at) / eps
        np.testing.assert_allclose(slope_in, slope_out, rtol=2e-4, atol=1e-6)
        curv_in = (at - 2 * inside[0] + inside[1]) / eps**2
        curv_out = (at - 2 * outside[0] + outside[1]) / eps**2
        np.testing.assert_allclose(curv_in, curv_out, rtol=1e-2, atol=1e-2)
    alpha = np.linspace(-4, 4, 161)
    eta = interpolate_code4(alpha, R_UP, R_DOWN)
    assert np.all(eta > 0)
    np.testing.assert_allclose(eta[alpha == 2.5][0], R_UP**2.5, rtol=1e-12)
    np.testing.assert_allclose(eta[alpha == -3.0][0], R_DOWN**3.0, rtol=1e-12)
    # for a pure exponential family r_- = 1/r_+ the polynomial reproduces r_+^α inside as well (to ~1e-3)
    np.testing.assert_allclose(interpolate_code4([0.5], R_UP, 1 / R_UP)[0], R_UP**0.5, rtol=2e-3)
    assert code4_coefficients(R_UP, R_DOWN).shape == (200, 6)


def test_interpolation_errors():
    with pytest.raises(InferenceError, match="'r_up'"):
        interpolate_code4(0.5, -R_UP, R_DOWN)
    with pytest.raises(InferenceError, match="'alpha'"):
        interpolate_code4(np.nan, R_UP, R_DOWN)


@pytest.fixture(scope="module")
def setup():
    toy = InterferenceToy()
    lumi = toy.config.luminosity
    mix = interference_mixture(lumi * toy.basis_xsecs())
    x = toy.sample_events(1.0, 30_000, np.random.default_rng(8))
    basis = toy.basis_densities(x)
    log_r = np.log(basis) - np.log(basis[:, 2:3])  # reference: the background sample
    up, down = toy.background_variation(x)
    eps = toy.config.systematic

    def expectation(alpha):
        return toy.background_expectation(lambda t: interpolate_code4(alpha, 1 + eps * t, 1 - eps * t)[0])

    weights = np.full(x.shape[0], toy.yields(1.0)[0] / x.shape[0])
    return toy, ProfiledMixture(mix, 2, expectation), x, log_r, up, down, weights


def test_profiled_mixture_equals_exact_varied_likelihood(setup):
    toy, model, x, log_r, up, down, _ = setup
    lumi = toy.config.luminosity
    s, i, b = toy.process_densities(x[:500]).T
    p_ref = toy.basis_densities(x[:500])[:, 2]
    eps = toy.config.systematic
    for mu, sign in [(0.3, 1.0), (2.0, -1.0), (1.0, 1.0)]:
        b_var = b * (1 + sign * eps * toy.tilt(x[:500]))
        yield_var = lumi * (mu * toy.config.sigma_s + np.sqrt(mu) * toy.sigma_i
                            + toy.config.sigma_b * (1 + sign * eps * toy.background_expectation(lambda t: t)))
        exact = -yield_var + np.sum(np.log(lumi * (mu * s + np.sqrt(mu) * i + b_var) / p_ref)) - 0.5
        value = model.log_likelihood(log_r[:500], up[:500], down[:500], mu, sign)
        assert value == pytest.approx(exact, abs=1e-8)
    # at α = 0 the nominal mixture
    nominal = model.mixture.log_likelihood(log_r[:500], [0.7])[0]
    assert model.log_likelihood(log_r[:500], up[:500], down[:500], 0.7, 0.0) == pytest.approx(nominal, abs=1e-9)
    # the yield factor from the sample mean agrees with the quadrature
    mean = sample_mean_expectation(*toy.background_variation(toy.sample_process("background", 50_000,
                                                                                np.random.default_rng(1))))
    assert mean(0.8) == pytest.approx(model.expectation(0.8), abs=3e-3)


def test_profiling_widens_the_asimov_curve(setup):
    _, model, _, log_r, up, down, weights = setup
    grid = np.linspace(0, 3, 16)
    prof, alpha_hat = model.profile(log_r, up, down, grid, weights)
    fixed = np.array([model.log_likelihood(log_r, up, down, m, 0.0, weights) for m in grid])
    q_prof, q_fixed = -2 * (prof - prof.max()), -2 * (fixed - fixed.max())
    assert np.all(prof >= fixed - 1e-9)
    assert abs(alpha_hat[np.argmax(prof)]) < 0.05  # Asimov at α = 0
    assert q_prof[0] < 0.75 * q_fixed[0]  # the tilt mimics the missing deficit at μ = 0 (measured 2.2 vs 4.5)
