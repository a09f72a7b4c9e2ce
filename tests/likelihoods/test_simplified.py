"""Simplified likelihoods: closed form and Newton profiles against brute-force scipy, batching, Asimov data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import minimize, minimize_scalar
from scipy.special import gammaln
from scipy.stats import norm

import nextsm.likelihoods.simplified_correlated as simplified_correlated
from nextsm.errors import LikelihoodError
from nextsm.likelihoods.limits import twice_delta_nll, upper_limit
from nextsm.likelihoods.simplified import (
    CorrelatedBackground,
    PoissonGaussian,
    ThirdMomentExpansion,
    third_moment_coefficients,
)

LOG_2PI = np.log(2.0 * np.pi)


# ------------------------------------------------------------------------------------------------
# brute-force references (plain scipy, written independently of the module)
# ------------------------------------------------------------------------------------------------
def poisson_term(lam, n):
    """-ln Pois(n | λ) with spey's clip of λ at 1e-20."""
    lam = np.maximum(lam, 1e-20)
    return lam - n * np.log(lam) + gammaln(n + 1.0)


def brute_uncorrelated(n, b, sigma, s, mu):
    total = 0.0
    for ni, bi, si, sgi in zip(n, b, sigma, s, strict=True):
        def f(t, ni=ni, bi=bi, si=si, sgi=sgi):
            return poisson_term(mu * sgi + bi + si * t, ni) + 0.5 * t * t + 0.5 * LOG_2PI
        res = minimize_scalar(f, bounds=(-bi / si, 50.0), method="bounded",
                              options={"xatol": 1e-12, "maxiter": 2000})
        # the scalar search is slow to converge onto corners: the bound and λ = 0 (kink for n = 0)
        total += min(res.fun, f(-bi / si), f(max(-bi / si, -(mu * sgi + bi) / si)))
    return total


def brute_quadratic(n, s, mu, A, B, C, corr, starts):
    """Minimise the SL NLL over θ with the constraint A + Bθ + Cθ² ≥ 0 (SLSQP from several starts).

    The Poisson term of an empty region, max(λ, 0), is written in epigraph form (t ≥ λ, t ≥ 0) so
    that SLSQP sees a smooth problem also where μ s < 0 puts its kink inside the θ range.
    """
    prec = np.linalg.inv(corr)
    const = 0.5 * (len(n) * LOG_2PI + np.linalg.slogdet(corr)[1])
    k = len(n)
    empty = n == 0

    def lam(t):
        return mu * s + A + B * t + C * t * t

    def f(x):
        t, eps = x[:k], x[k:]
        return np.sum(poisson_term(lam(t), n)[~empty]) + np.sum(eps) + 0.5 * t @ prec @ t + const

    def grad(x):
        t = x[:k]
        g = np.where(empty, 0.0, 1.0 - n / np.maximum(lam(t), 1e-20)) * (B + 2 * C * t) + prec @ t
        return np.concatenate([g, np.ones(int(empty.sum()))])

    def ineq(x):
        t, eps = x[:k], x[k:]
        return np.concatenate([A + B * t + C * t * t, eps, eps - lam(t)[empty]])

    best = np.inf
    for t0 in starts:
        x0 = np.concatenate([t0, np.maximum(lam(t0)[empty], 0.0) + 1e-3])
        res = minimize(f, x0, jac=grad, method="SLSQP", constraints=[{"type": "ineq", "fun": ineq}],
                       options={"ftol": 1e-15, "maxiter": 5000})
        t = res.x[:k]
        if np.all(A + B * t + C * t * t >= -1e-9):
            # the value of the original objective at the solution
            best = min(best, np.sum(poisson_term(lam(t), n)) + 0.5 * t @ prec @ t + const)
    return best


def random_covariance(rng, sigma, strength=0.6):
    k = len(sigma)
    x = rng.normal(size=(k, k + 2))
    cov = x @ x.T
    d = np.sqrt(np.diag(cov))
    corr = strength * cov / np.outer(d, d) + (1.0 - strength) * np.eye(k)
    return corr * np.outer(sigma, sigma)


def random_problem(rng, k):
    b = rng.uniform(0.2, 40.0, size=k)
    sigma = b * rng.uniform(0.05, 0.8, size=k)
    n = rng.poisson(b).astype(float)
    n[rng.random(k) < 0.25] = 0.0
    s = rng.exponential(size=k) * np.sqrt(b + 1.0)
    return n, b, sigma, s


# ------------------------------------------------------------------------------------------------
# PoissonGaussian
# ------------------------------------------------------------------------------------------------
def test_uncorrelated_closed_form_is_the_profile_minimum():
    rng = np.random.default_rng(11)
    for _ in range(40):
        k = int(rng.integers(1, 5))
        n, b, sigma, s = random_problem(rng, k)
        model = PoissonGaussian(n, b, sigma)
        mu = float(rng.choice([0.0, 0.4, 1.0, 3.0, -0.5 * np.min(b / s)]))
        for data, counts in (("observed", n), ("apriori", b)):
            ours = model.nll(mu, s, data=data)[0]
            ref = brute_uncorrelated(counts, b, sigma, s, mu)
            assert ref - 1e-9 <= ours <= ref + 1e-12


def test_uncorrelated_theta_stays_at_or_above_the_zero_background_bound():
    model = PoissonGaussian([0.0, 3.0], [0.5, 1.0], [1.0, 2.0])
    theta = model.profile_theta(np.array([0.0, 5.0]), [[1.0, 4.0], [1.0, 4.0]])
    assert np.all(model.background + model.bg_uncertainty * theta >= -1e-15)
    # n = 0 and b < σ²: the background is pulled to zero
    assert theta[0, 0] == pytest.approx(-0.5)


def test_uncorrelated_negative_signal_part_with_empty_bins():
    """μ s < 0 with n = 0: max(λ, 0) has a kink inside the θ range (spey clips λ at 1e-20)."""
    n, b, sigma = np.array([0.0, 2.0, 0.0]), np.array([0.8, 1.5, 3.0]), np.array([0.6, 0.7, 1.0])
    s = np.array([1.0, 0.5, 2.0])
    model = PoissonGaussian(n, b, sigma)
    for mu in (-0.79, -0.5, -0.1):
        ref = brute_uncorrelated(n, b, sigma, s, mu)
        assert ref - 1e-9 <= model.nll(mu, s)[0] <= ref + 1e-12


def test_single_region_accepts_scalar_and_1d_signal():
    model = PoissonGaussian(5.0, 3.2, 1.1)
    assert model.n_regions == 1
    batch = model.nll(1.0, [0.5, 1.0, 2.0])
    assert batch.shape == (3,)
    assert batch[1] == pytest.approx(model.nll(1.0, 1.0)[0])


def test_marginalised_matches_adaptive_quadrature():
    rng = np.random.default_rng(5)
    for _ in range(25):
        b = 10 ** rng.uniform(-1.5, 3.0)
        sigma = b * 10 ** rng.uniform(-1.5, 0.3)
        n = float(rng.poisson(b)) if rng.random() < 0.7 else b * rng.uniform(0.0, 2.0)
        s = b * 10 ** rng.uniform(-2.0, 0.5)
        mu = float(rng.choice([0.0, 1.0, 2.5]))
        model = PoissonGaussian([n], [b], [sigma], marginalised=True)
        a = mu * s + b
        lo = -b / sigma

        def logf(t, a=a, n=n, sigma=sigma):
            lam = a + sigma * t
            if lam <= 0:
                return norm.logpdf(t) if n == 0 else -np.inf
            return (n * np.log(lam) if n > 0 else 0.0) - lam - gammaln(n + 1.0) + norm.logpdf(t)

        mode = minimize_scalar(lambda t, logf=logf: -logf(t), bounds=(lo, lo + 60.0), method="bounded",
                               options={"xatol": 1e-12}).x
        peak = logf(mode)
        inner = quad(lambda t, logf=logf, peak=peak: np.exp(logf(t) - peak), lo, mode, epsabs=0,
                     epsrel=1e-13, limit=400)[0] if mode > lo else 0.0
        outer = quad(lambda t, logf=logf, peak=peak: np.exp(logf(t) - peak), mode, np.inf, epsabs=0,
                     epsrel=1e-13, limit=400)[0]
        reference = -(np.log(inner + outer) + peak) + norm.logcdf(b / sigma)
        assert model.nll(mu, [[s]])[0] == pytest.approx(reference, abs=1e-8)


def test_marginalised_is_a_proper_likelihood_and_fits():
    model = PoissonGaussian([4.0, 0.0], [2.0, 1.0], [1.0, 0.5], marginalised=True)
    assert model.marginalised
    assert "marginalised" in model.description
    fit = model.fit([[1.0, 0.2], [0.0, 1.0]])
    assert fit.muhat[0] > 0.5
    assert fit.muhat[1] == pytest.approx(0.0, abs=1e-6)
    grid = np.linspace(0.0, 5.0, 501)
    values = [model.nll(m, [[1.0, 0.2]])[0] for m in grid]
    assert fit.nll_min[0] <= min(values) + 1e-9
    # the marginal of a Poisson count sums to one over n (single region, b ± σ)
    single = [PoissonGaussian([k], [2.0], [0.7], marginalised=True).nll(0.0, [[1.0]])[0] for k in range(60)]
    assert np.sum(np.exp(-np.array(single))) == pytest.approx(1.0, abs=1e-10)


# ------------------------------------------------------------------------------------------------
# CorrelatedBackground / ThirdMomentExpansion
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_correlated_newton_profile_matches_scipy(seed):
    rng = np.random.default_rng(100 + seed)
    k = int(rng.integers(2, 7))
    n, b, sigma, s = random_problem(rng, k)
    cov = random_covariance(rng, sigma)
    model = CorrelatedBackground(n, b, cov)
    corr = cov / np.outer(sigma, sigma)
    # a negative μ puts the kink of max(λ, 0) of empty regions inside the θ range
    for mu in (0.0, 0.7, 2.5, -0.6 * np.min(b / s)):
        for data, counts in (("observed", n), ("apriori", b)):
            ours = model.nll(mu, s, data=data)[0]
            ref = brute_quadratic(counts, s, mu, b, sigma, np.zeros(k), corr,
                                  [np.zeros(k), model.profile_theta(mu, s, data=data)[0]])
            assert ours <= ref + 1e-9
            assert ours == pytest.approx(ref, abs=1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_third_moment_newton_profile_matches_scipy(seed):
    rng = np.random.default_rng(200 + seed)
    k = int(rng.integers(2, 6))
    n, b, sigma, s = random_problem(rng, k)
    cov = random_covariance(rng, sigma, strength=0.4)
    m3 = sigma**3 * rng.uniform(-0.4, 1.2, size=k)
    model = ThirdMomentExpansion(n, b, cov, m3)
    A, B, C = model.coefficients
    rho = third_moment_coefficients(b, cov, m3)[3]
    for mu in (0.0, 1.0, -0.4 * np.min(b / s)):
        for data, counts in (("observed", n), ("apriori", b)):
            ours = model.nll(mu, s, data=data)[0]
            ref = brute_quadratic(counts, s, mu, A, B, C, rho,
                                  [np.zeros(k), model.profile_theta(mu, s, data=data)[0]])
            assert ours <= ref + 1e-9
            assert ours == pytest.approx(ref, abs=1e-7)


def test_correlated_with_diagonal_covariance_is_uncorrelated():
    rng = np.random.default_rng(3)
    n, b, sigma, _ = random_problem(rng, 5)
    signal = rng.exponential(size=(20, 5))
    mu = rng.uniform(0.0, 3.0, size=20)
    corr = CorrelatedBackground(n, b, np.diag(sigma**2))
    unc = PoissonGaussian(n, b, sigma)
    np.testing.assert_allclose(corr.nll(mu, signal), unc.nll(mu, signal), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(corr.fit(signal).muhat, unc.fit(signal).muhat, atol=1e-8)


def test_third_moment_coefficients():
    rng = np.random.default_rng(8)
    sigma = rng.uniform(0.5, 3.0, size=4)
    cov = random_covariance(rng, sigma)
    m3 = sigma**3 * np.array([0.5, -0.3, 4.0, 1e-3])  # the third violates 8Σ³ ≥ m3²
    A, B, C, rho, invalid = third_moment_coefficients(np.full(4, 10.0), cov, m3)
    np.testing.assert_array_equal(invalid, [False, False, True, False])
    assert C[2] == 0.0
    assert C[0] > 0 > C[1]
    np.testing.assert_allclose(B**2 + 2 * C**2, sigma**2, rtol=1e-12)
    np.testing.assert_allclose(A, 10.0 - C)
    # skewness of λ_bkg(θ) = A + Bθ + Cθ², θ ~ N(0, 1): 6 B² C + 8 C³ = m3
    ok = ~invalid
    np.testing.assert_allclose((6 * B**2 * C + 8 * C**3)[ok], m3[ok], rtol=1e-9)
    np.testing.assert_allclose(np.diag(rho), 1.0, atol=1e-4)


def test_tiny_third_moments_approach_the_correlated_model():
    rng = np.random.default_rng(9)
    n, b, sigma, s = random_problem(rng, 4)
    cov = random_covariance(rng, sigma)
    v1 = CorrelatedBackground(n, b, cov)
    v2 = ThirdMomentExpansion(n, b, cov, 1e-6 * sigma**3)
    # differences come from spey's regularisation of C (±1e-5) in ρ̃ only
    np.testing.assert_allclose(v2.nll(1.0, s), v1.nll(1.0, s), atol=1e-3)


# ------------------------------------------------------------------------------------------------
# all models: batching, fits, Asimov data
# ------------------------------------------------------------------------------------------------
def all_models(rng, k=4):
    n, b, sigma, _ = random_problem(rng, k)
    cov = random_covariance(rng, sigma)
    m3 = sigma**3 * rng.uniform(0.0, 0.8, size=k)
    return [PoissonGaussian(n, b, sigma), PoissonGaussian(n, b, sigma, marginalised=True),
            CorrelatedBackground(n, b, cov), ThirdMomentExpansion(n, b, cov, m3)]


def test_batch_equals_loop(monkeypatch):
    rng = np.random.default_rng(21)
    # small chunks: the Newton profile is split over several chunks of hypotheses
    monkeypatch.setattr(simplified_correlated, "_CHUNK_ELEMENTS", 64)
    signal = rng.exponential(size=(13, 4)) * 3.0
    signal[2] = 0.0
    mu = rng.uniform(0.0, 3.0, size=13)
    for model in all_models(rng):
        for data in ("observed", "apriori"):
            batch = model.nll(mu, signal, data=data)
            loop = np.array([model.nll(mu[i], signal[i], data=data)[0] for i in range(13)])
            np.testing.assert_allclose(batch, loop, rtol=1e-11, atol=1e-11)
            fit = model.fit(signal, data=data)
            single = [model.fit(signal[i], data=data) for i in range(13)]
            np.testing.assert_allclose(fit.nll_min, [f.nll_min[0] for f in single], rtol=1e-10, atol=1e-10)


def test_fit_is_the_bounded_minimum():
    rng = np.random.default_rng(4)
    signal = rng.exponential(size=(6, 4)) * 4.0
    for model in all_models(rng):
        for bounds in ((0.0, None), (0.0, 1.5), (-0.2, 10.0)):
            fit = model.fit(signal, mu_bounds=bounds)
            hi = 40.0 if bounds[1] is None else bounds[1]
            grid = np.linspace(bounds[0], hi, 241)
            values = np.array([model.nll(np.full(6, m), signal) for m in grid])
            assert np.all(fit.muhat >= bounds[0] - 1e-12)
            assert np.all(fit.muhat <= hi + 1e-12)
            assert np.all(fit.nll_min <= values.min(axis=0) + 1e-9)
            np.testing.assert_allclose(fit.nll_min, model.nll(fit.muhat, signal), rtol=1e-12, atol=1e-10)


def test_fit_derivative_is_the_profiled_derivative():
    rng = np.random.default_rng(6)
    signal = rng.exponential(size=(5, 4)) * 2.0
    mu = np.full(5, 1.3)
    h = 1e-5
    for model in all_models(rng)[2:]:
        n = model.counts("observed")
        prof = model._profile(mu, signal, n, derivatives=True)
        up, down = model.nll(mu + h, signal), model.nll(mu - h, signal)
        np.testing.assert_allclose(prof.grad_mu, (up - down) / (2 * h), rtol=1e-5, atol=1e-6)
        curv = (model._profile(mu + h, signal, n, derivatives=True).grad_mu
                - model._profile(mu - h, signal, n, derivatives=True).grad_mu) / (2 * h)
        np.testing.assert_allclose(prof.curv_mu, curv, rtol=1e-4, atol=1e-6)


def test_fit_with_open_lower_bound_and_deficit():
    model = PoissonGaussian([1.0], [6.0], [0.5])
    free = model.fit([[2.0]], mu_bounds=(-np.inf, None))
    assert free.muhat[0] < -1.0
    assert model.fit([[2.0]]).muhat[0] == 0.0
    assert free.nll_min[0] < model.fit([[2.0]]).nll_min[0]


def test_fit_of_a_large_excess_finds_a_large_mu():
    model = CorrelatedBackground([5000.0, 20.0], [10.0, 10.0], [[4.0, 1.0], [1.0, 4.0]])
    fit = model.fit([[1.0, 0.0]])
    assert fit.muhat[0] == pytest.approx(4990.0, rel=1e-2)


def test_asimov_data():
    rng = np.random.default_rng(31)
    for model in all_models(rng):
        for data in ("observed", "apriori"):
            asimov = model.asimov(data)
            assert type(asimov) is type(model)
            assert asimov.asimov_of == data
            # μ = 0 fit to the chosen data; the constraint keeps its centre
            theta0 = model.profile_theta(0.0, np.zeros(model.n_regions), data=data)
            np.testing.assert_allclose(asimov.observed, model._background_rate(theta0)[0], rtol=1e-12)
            np.testing.assert_array_equal(asimov.counts("observed"), asimov.counts("apriori"))
            np.testing.assert_array_equal(asimov.background, model.background)
            assert np.all(asimov.observed >= 0)
        # unchanged original
        assert model.asimov_of is None


def test_apriori_asimov_of_linear_models_is_the_background():
    rng = np.random.default_rng(32)
    for model in all_models(rng)[:3]:
        np.testing.assert_allclose(model.asimov("apriori").observed, model.background, rtol=1e-10, atol=1e-12)


def test_limits_run_on_all_models():
    rng = np.random.default_rng(33)
    signal = rng.exponential(size=(4, 4)) * 3.0
    for model in all_models(rng):
        q = twice_delta_nll(model, 1.0, signal)
        assert q.shape == (4,)
        assert np.all(np.isfinite(q))
        ul = upper_limit(model, signal, expected="apriori")
        assert np.all((ul > 0) & np.isfinite(ul))


# ------------------------------------------------------------------------------------------------
# input validation
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: PoissonGaussian([-1.0], [1.0], [0.5]), "observed"),
        (lambda: PoissonGaussian([1.0, 2.0], [1.0], [0.5, 0.5]), "background"),
        (lambda: PoissonGaussian([1.0], [-1.0], [0.5]), "background"),
        (lambda: PoissonGaussian([1.0], [1.0], [0.0]), "bg_uncertainty"),
        (lambda: PoissonGaussian([1.0], [np.nan], [0.5]), "background"),
        (lambda: CorrelatedBackground([1.0, 2.0], [1.0, 2.0], [[1.0, 2.0], [2.0, 1.0]]), "covariance"),
        (lambda: CorrelatedBackground([1.0, 2.0], [1.0, 2.0], [[1.0, 0.2], [0.1, 1.0]]), "covariance"),
        (lambda: CorrelatedBackground([1.0, 2.0], [1.0, 2.0], np.eye(3)), "covariance"),
        (lambda: ThirdMomentExpansion([1.0, 2.0], [1.0, 2.0], np.eye(2), [0.1]), "third_moments"),
    ],
)
def test_bad_inputs_name_the_parameter(build, name):
    with pytest.raises(LikelihoodError, match=f"'{name}'"):
        build()


def test_bad_call_arguments_name_the_parameter():
    model = CorrelatedBackground([1.0, 2.0], [1.0, 2.0], np.eye(2))
    with pytest.raises(LikelihoodError, match="'signal'"):
        model.nll(1.0, [[1.0, 2.0, 3.0]])
    with pytest.raises(LikelihoodError, match="'mu'"):
        model.nll([1.0, 2.0, 3.0], [[1.0, 2.0], [1.0, 2.0]])
    with pytest.raises(LikelihoodError, match="'data'"):
        model.nll(1.0, [1.0, 2.0], data="aposteriori")  # type: ignore[arg-type]
    with pytest.raises(LikelihoodError, match="'mu_bounds'"):
        model.fit([1.0, 2.0], mu_bounds=(1.0, 0.0))
