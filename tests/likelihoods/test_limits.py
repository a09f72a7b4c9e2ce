"""Fits, q̃_μ, CLs and upper limits on an analytic Gaussian model.

For x ~ N(μ, 1) the asymptotic formulas are exact and the CLs limit solves
Φ(x − μ)/Φ(x) = 1 − CL for any x (with μ̂ ≥ 0), the expected (x = 0) limit is Φ⁻¹(1 − α/2) ≈ 1.96.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.base import StatisticalModel, as_signal_batch
from nextsm.likelihoods.limits import cls, minimize_mu, qmu_tilde, twice_delta_nll, upper_limit


@dataclass(frozen=True)
class GaussianCount(StatisticalModel):
    """x_i ~ N(μ s_i, σ_i) with observation x (per hypothesis row); 'apriori' data are x = 0."""

    observed: np.ndarray
    sigma: float = 1.0
    n_regions: int = 1
    asimov_of: str | None = None

    def nll(self, mu, signal, *, data="observed"):
        sig = as_signal_batch(signal, 1)[:, 0]
        x = np.zeros_like(sig) if (data == "apriori" or self.asimov_of) else np.broadcast_to(self.observed, sig.shape)
        mu = np.broadcast_to(np.asarray(mu, float), sig.shape)
        return 0.5 * ((mu * sig - x) / self.sigma) ** 2

    def asimov(self, data="observed"):
        return GaussianCount(self.observed, self.sigma, asimov_of=data)


def analytic_ul(x: float) -> float:
    return brentq(lambda mu: norm.cdf(x - mu) / norm.cdf(x) - 0.05, 1e-9, 50.0, xtol=1e-14)


def test_minimize_mu_is_bounded_and_exact():
    x = np.array([-1.0, 0.3, 2.5, 40.0, 1e5])
    model = GaussianCount(x)
    fit = minimize_mu(model, np.ones((5, 1)))
    np.testing.assert_allclose(fit.muhat, np.clip(x, 0, None), atol=1e-6, rtol=1e-9)
    fit = minimize_mu(model, np.ones((5, 1)), mu_bounds=(0.0, 2.0))
    np.testing.assert_allclose(fit.muhat, np.clip(x, 0, 2), atol=1e-8)


def test_minimize_mu_bracket_start_is_only_a_starting_point():
    """A small first bound grows until it holds the minimum; the result equals the default bracket's."""
    x = np.array([0.3, 2.5, 40.0, 1e5])
    model = GaussianCount(x)
    calls = []

    class Counting(GaussianCount):
        def nll(self, mu, signal, *, data="observed"):
            calls.append(np.max(mu))
            return super().nll(mu, signal, data=data)

    fit = minimize_mu(Counting(x), np.ones((4, 1)), hi_start=np.array([0.01, 0.1, 1.0, 1.0]))
    np.testing.assert_allclose(fit.muhat, x, atol=1e-6, rtol=1e-9)
    np.testing.assert_allclose(fit.nll_min, minimize_mu(model, np.ones((4, 1))).nll_min, atol=1e-12)
    assert calls[0] <= 1.0  # the first trial uses the given start, not 10
    with pytest.raises(LikelihoodError, match="hi_start"):
        minimize_mu(model, np.ones((4, 1)), hi_start=0.0)


@pytest.mark.parametrize("x", [-1.0, 0.0, 0.3, 2.5, 40.0, 1e5])
def test_single_hypothesis_zoom_matches_the_batch_search(x):
    """One hypothesis takes the batched zoom, a batch the golden-section search: same minimum."""
    single = minimize_mu(GaussianCount(np.array([x])), np.ones((1, 1)))
    batch = minimize_mu(GaussianCount(np.array([x, x])), np.ones((2, 1)))
    np.testing.assert_allclose(single.muhat[0], max(x, 0.0), atol=1e-6, rtol=1e-9)
    np.testing.assert_allclose(single.muhat[0], batch.muhat[0], atol=1e-6, rtol=1e-9)
    assert single.nll_min[0] <= batch.nll_min[0] + 1e-12
    bounded = minimize_mu(GaussianCount(np.array([x])), np.ones((1, 1)), mu_bounds=(0.5, 2.0))
    np.testing.assert_allclose(bounded.muhat[0], np.clip(x, 0.5, 2.0), atol=1e-8)


def test_qmu_tilde_cases():
    model = GaussianCount(np.array([1.0, 1.0, -0.5]))
    q = qmu_tilde(model, np.array([0.5, 3.0, 2.0]), np.ones((3, 1)))
    # muhat > mu -> 0; x >= 0: (mu - x)^2; x < 0: mu^2 - 2 mu x
    np.testing.assert_allclose(q, [0.0, 4.0, 4.0 + 2.0], atol=1e-8)


@pytest.mark.parametrize("x", [-1.5, -0.2, 0.0, 0.7, 2.0, 4.0])
def test_observed_upper_limit_matches_analytic(x):
    model = GaussianCount(np.array([x]))
    mu_ul = upper_limit(model, [[1.0]])[0]
    assert mu_ul == pytest.approx(analytic_ul(x), rel=1e-6)
    # the CLs at the limit is 0.05
    assert cls(model, mu_ul, [[1.0]])[0] == pytest.approx(0.05, rel=1e-5)


def test_expected_limit_and_band():
    model = GaussianCount(np.array([3.0]))
    assert upper_limit(model, [[1.0]], expected="apriori")[0] == pytest.approx(norm.ppf(0.975), rel=1e-6)
    # +1 sigma band point: Phi(-mu-1)/Phi(-1) = 0.05
    one_sigma = brentq(lambda m: norm.cdf(-m - 1) / norm.cdf(-1) - 0.05, 0.1, 10)
    got = cls(GaussianCount(np.array([0.0])), one_sigma, [[1.0]], expected="apriori", nsigma=1.0)
    assert got[0] == pytest.approx(0.05, rel=1e-6)


def test_limit_scales_with_signal_and_batches():
    x = np.array([0.5, 0.5, 0.5])
    model = GaussianCount(x)
    signal = np.array([[1.0], [10.0], [1e-4]])
    ul = upper_limit(model, signal)
    np.testing.assert_allclose(ul * signal[:, 0], analytic_ul(0.5), rtol=1e-6)
    one_by_one = [upper_limit(GaussianCount(x[i:i + 1]), signal[i:i + 1])[0] for i in range(3)]
    np.testing.assert_allclose(ul, one_by_one, rtol=1e-9)


def test_twice_delta_nll_references():
    model = GaussianCount(np.array([2.0]))
    assert twice_delta_nll(model, 1.0, [[1.0]])[0] == pytest.approx(1.0 - 4.0)
    assert twice_delta_nll(model, 1.0, [[1.0]], reference="max")[0] == pytest.approx(1.0, abs=1e-9)


def test_bad_arguments_name_the_parameter():
    model = GaussianCount(np.array([1.0]))
    with pytest.raises(LikelihoodError, match="'cl'"):
        upper_limit(model, [[1.0]], cl=1.5)
    with pytest.raises(LikelihoodError, match="'expected'"):
        cls(model, 1.0, [[1.0]], expected="posterior")
    with pytest.raises(LikelihoodError, match="'signal'"):
        cls(model, 1.0, [[1.0, 2.0]])
