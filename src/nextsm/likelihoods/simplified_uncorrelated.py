"""The uncorrelated simplified likelihood :class:`PoissonGaussian`, profiled (closed form) or
marginalised (tanh–sinh quadrature).

The formulas and references are in :mod:`nextsm.likelihoods.simplified`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, gammaln, log_ndtr, ndtr

from nextsm.likelihoods.base import DataKind, FitResult, as_mu_batch, as_signal_batch
from nextsm.likelihoods.simplified_base import (
    _LOG_2PI,
    _poisson_constant,
    _poisson_terms,
    _Profile,
    _SimplifiedModel,
    _uncorrelated_theta,
    _vector,
)

__all__ = ["PoissonGaussian"]

#: log-integrand drop (nats) at the ends of the quadrature range of the marginalised model
_TAIL_NATS = 50.0
#: tanh–sinh step and half-number of nodes per panel
_TS_STEP = 0.1
_TS_HALF = 33


# ------------------------------------------------------------------------------------------------
# 1. uncorrelated: PoissonGaussian
# ------------------------------------------------------------------------------------------------
class PoissonGaussian(_SimplifiedModel):
    """Poisson ⊗ Gaussian with uncorrelated background uncertainties (spey ``uncorrelated_background``).

    Parameters
    ----------
    observed:
        Observed counts per region, shape ``(N,)`` (N ≥ 1; a single SR is N = 1).
    background:
        Expected background per region, ``(N,)``, non-negative.
    bg_uncertainty:
        Absolute background uncertainty σ_i per region, ``(N,)``, positive.
    marginalised:
        Integrate θ over the Gaussian truncated to ``b + σθ ≥ 0`` instead of profiling it (module
        docstring).
    """

    def __init__(self, observed: ArrayLike, background: ArrayLike, bg_uncertainty: ArrayLike, *,
                 marginalised: bool = False) -> None:
        super().__init__(observed, background)
        self._sigma = _vector(bg_uncertainty, "bg_uncertainty", self.n_regions, positive=True)
        self._marginalised = bool(marginalised)
        self._lower = -self._background / self._sigma

    @property
    def bg_uncertainty(self) -> NDArray[np.float64]:
        return self._sigma

    @property
    def marginalised(self) -> bool:
        return self._marginalised

    @property
    def description(self) -> str:  # type: ignore[override]
        how = "marginalised" if self._marginalised else "profiled"
        return f"Poisson ⊗ Gaussian, uncorrelated background ({how})"

    def _background_rate(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.maximum(self._background + self._sigma * theta, 0.0)

    def _profile(self, mu: NDArray[np.float64], sig: NDArray[np.float64], n: NDArray[np.float64],
                 theta0: NDArray[np.float64] | None = None, *, derivatives: bool = False) -> _Profile:
        sigma, lower = self._sigma, self._lower
        rate = mu[:, None] * sig
        a = rate + self._background
        theta = _uncorrelated_theta(a, n, sigma, lower)
        lam = rate + self._background_rate(theta)
        dev, t1, t2 = _poisson_terms(lam, n)
        nll = (np.sum(dev + 0.5 * theta**2, axis=1) + _poisson_constant(n)
               + 0.5 * self.n_regions * _LOG_2PI)
        free = theta > lower
        # n = 0, θ̂ free: the subgradient of max(λ, 0) that makes θ̂ stationary (θ̂ + σ t1 = 0); on the
        # kink λ = 0 (0 < a < σ²) the profile is a²/(2σ²)
        zero_free = (n == 0) & free
        t1 = np.where(zero_free, np.clip(-theta / sigma, 0.0, 1.0), t1)
        t2 = np.where(zero_free & (a > 0) & (a < sigma**2), 1.0 / sigma**2, t2)
        grad = np.sum(sig * t1, axis=1)
        curv_bin = np.where(free & (n > 0), t2 / (1.0 + t2 * sigma**2), t2)
        curv = np.sum(sig**2 * curv_bin, axis=1)
        return _Profile(nll, theta, grad, curv)

    # -- marginalised ----------------------------------------------------------------------------------
    def nll(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed") -> NDArray[np.float64]:
        """``-ln L(μ)``, profiled (constants as spey) or marginalised (normalised probability)."""
        if not self._marginalised:
            return super().nll(mu, signal, data=data)
        sig = as_signal_batch(signal, self.n_regions)
        mu_v = as_mu_batch(mu, sig.shape[0])
        return _marginal_nll(mu_v[:, None] * sig + self._background, self.counts(data), self._sigma,
                             self._lower)

    def fit(self, signal: ArrayLike, *, data: DataKind = "observed",
            mu_bounds: tuple[float, float | None] = (0.0, None)) -> FitResult:
        if not self._marginalised:
            return super().fit(signal, data=data, mu_bounds=mu_bounds)
        from nextsm.likelihoods.limits import minimize_mu

        return minimize_mu(self, signal, data=data, mu_bounds=mu_bounds)


def _tanh_sinh_rule() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Abscissae ``u`` (node ``x = tanh u`` in (−1, 1)) and weights of the tanh–sinh rule."""
    t = _TS_STEP * np.arange(-_TS_HALF, _TS_HALF + 1)
    u = 0.5 * np.pi * np.sinh(t)
    w = _TS_STEP * 0.5 * np.pi * np.cosh(t) / np.cosh(u) ** 2
    return u, w


def _marginal_nll(a: NDArray[np.float64], n: NDArray[np.float64], sigma: NDArray[np.float64],
                  lower: NDArray[np.float64]) -> NDArray[np.float64]:
    """``−Σ ln [∫_{θ≥lower} Pois(n | a + σθ) φ(θ) dθ / Φ(−lower)]`` for ``a`` of shape ``(H, N)``."""
    shape = a.shape
    n_b = np.broadcast_to(n, shape)
    s_b = np.broadcast_to(sigma, shape)
    lo_b = np.broadcast_to(lower, shape)
    log_norm = log_ndtr(-lo_b)
    # λ ≥ 0 from θ0 on
    theta_zero = np.maximum(lo_b, -a / s_b)
    log_int = np.empty(shape)
    # n = 0: ∫ e^{−λ⁺} φ = [Φ(θ0) − Φ(lower)] + e^{−a + σ²/2} Φ(−θ0 − σ)
    zero = n_b == 0
    if np.any(zero):
        az, sz, tz, lz = a[zero], s_b[zero], theta_zero[zero], lo_b[zero]
        with np.errstate(divide="ignore"):
            below = np.log(np.maximum(ndtr(tz) - ndtr(lz), 0.0))
        above = -az + 0.5 * sz**2 + log_ndtr(-tz - sz)
        log_int[zero] = np.logaddexp(below, above)
    pos = ~zero
    if np.any(pos):
        log_int[pos] = _marginal_log_integral(a[pos], n_b[pos], s_b[pos], theta_zero[pos], lo_b[pos])
    return np.sum(log_norm - log_int, axis=1)


def _neg_log_integrand(theta: NDArray[np.float64], a: NDArray[np.float64], n: NDArray[np.float64],
                       sigma: NDArray[np.float64]) -> NDArray[np.float64]:
    """``λ − n − n ln(λ/n) + θ²/2`` (``inf`` where λ ≤ 0), all arguments broadcast."""
    lam = a + sigma * theta
    with np.errstate(divide="ignore", invalid="ignore"):
        val = (lam - n) - n * np.log(lam / n) + 0.5 * theta**2
    return np.where(lam > 0, val, np.inf)


def _marginal_log_integral(a: NDArray[np.float64], n: NDArray[np.float64], sigma: NDArray[np.float64],
                           start: NDArray[np.float64], lower: NDArray[np.float64]) -> NDArray[np.float64]:
    """``ln ∫_{start}^∞ Pois(n | a + σθ) φ(θ) dθ`` for n > 0 (1-d arrays), by tanh–sinh quadrature."""
    const = n - n * np.log(n) + gammaln(n + 1.0) + 0.5 * _LOG_2PI
    mode = _uncorrelated_theta(a, n, sigma, lower)
    g_mode = _neg_log_integrand(mode, a, n, sigma)
    level = g_mode + _TAIL_NATS

    def edge(outer: NDArray[np.float64]) -> NDArray[np.float64]:
        # bisection for g = level between the mode (below the level) and ``outer`` (above it)
        inner, out = mode.copy(), outer.copy()
        for _ in range(40):
            mid = 0.5 * (inner + out)
            above = _neg_log_integrand(mid, a, n, sigma) >= level
            out = np.where(above, mid, out)
            inner = np.where(above, inner, mid)
        return out

    # g'' ≥ 1, so g − g(mode) ≥ 50 at 10 from the mode
    right = edge(mode + np.sqrt(2.0 * _TAIL_NATS))
    left_end = np.maximum(start, mode - np.sqrt(2.0 * _TAIL_NATS))
    left = np.where(_neg_log_integrand(left_end, a, n, sigma) <= level, left_end, edge(left_end))
    u, w = _tanh_sinh_rule()
    # distance of each node from the nearer panel end, in units of the panel length (exact near the ends)
    frac_lo, frac_hi = expit(2.0 * u), expit(-2.0 * u)
    total = np.zeros(a.shape)
    args = (a[:, None], n[:, None], sigma[:, None])
    for lo_p, hi_p in ((left, mode), (mode, right)):
        length = (hi_p - lo_p)[:, None]
        nodes = np.where(u <= 0, lo_p[:, None] + length * frac_lo, hi_p[:, None] - length * frac_hi)
        vals = np.exp(-(_neg_log_integrand(nodes, *args) - g_mode[:, None]))
        total += 0.5 * length[:, 0] * np.sum(w * vals, axis=1)
    with np.errstate(divide="ignore"):
        return -(g_mode + const) + np.log(total)
