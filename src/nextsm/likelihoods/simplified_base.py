"""Shared parts of the simplified likelihoods: input validation, Poisson terms, the uncorrelated
closed-form profile, the common model base and the μ fit.

The formulas and references are in :mod:`nextsm.likelihoods.simplified`.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.base import (
    DATA_KINDS,
    DataKind,
    FitResult,
    StatisticalModel,
    as_mu_batch,
    as_signal_batch,
)

__all__: list[str] = []

_LOG_2PI = float(np.log(2.0 * np.pi))
#: relative μ tolerance of the fit, and the largest μ an open upper bound expands to
_MU_XTOL = 1e-10
_MU_CEILING = 1e12
_MAX_MU_ITER = 200


class _Profile(NamedTuple):
    """Profiled quantities per hypothesis."""

    nll: NDArray[np.float64]
    theta: NDArray[np.float64]
    grad_mu: NDArray[np.float64]
    curv_mu: NDArray[np.float64]


# ------------------------------------------------------------------------------------------------
# input validation
# ------------------------------------------------------------------------------------------------
def _vector(values: ArrayLike, name: str, n: int | None = None, *, nonnegative: bool = False,
            positive: bool = False) -> NDArray[np.float64]:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.ndim != 1 or arr.size == 0:
        raise LikelihoodError(f"parameter '{name}' must be a non-empty 1-d array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise LikelihoodError(f"parameter '{name}' has {arr.shape[0]} entries, expected {n} (one per region)")
    if not np.all(np.isfinite(arr)):
        raise LikelihoodError(f"parameter '{name}' contains non-finite values")
    if nonnegative and np.any(arr < 0):
        raise LikelihoodError(f"parameter '{name}' must be non-negative, got {arr[arr < 0][:3]}")
    if positive and np.any(arr <= 0):
        raise LikelihoodError(f"parameter '{name}' must be positive, got {arr[arr <= 0][:3]}")
    out = arr.astype(float, copy=True)
    out.setflags(write=False)
    return out


def _covariance(values: ArrayLike, name: str, n: int) -> NDArray[np.float64]:
    cov = np.asarray(values, dtype=float)
    if cov.ndim == 0 and n == 1:
        cov = cov.reshape(1, 1)
    if cov.shape != (n, n):
        raise LikelihoodError(f"parameter '{name}' has shape {cov.shape}, expected ({n}, {n})")
    if not np.all(np.isfinite(cov)):
        raise LikelihoodError(f"parameter '{name}' contains non-finite values")
    if np.any(np.diag(cov) <= 0):
        raise LikelihoodError(f"parameter '{name}' must have a positive diagonal")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12 * float(np.max(np.abs(np.diag(cov))))):
        raise LikelihoodError(f"parameter '{name}' is not symmetric")
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise LikelihoodError(f"parameter '{name}' is not positive definite") from None
    out = cov.astype(float, copy=True)
    out.setflags(write=False)
    return out


def _data_kind(data: str) -> DataKind:
    if data not in DATA_KINDS:
        raise LikelihoodError(f"parameter 'data' must be one of {DATA_KINDS}, got {data!r}")
    return data  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------
# Poisson terms (with the data-dependent constant split off for accuracy)
# ------------------------------------------------------------------------------------------------
def _poisson_constant(n: NDArray[np.float64]) -> float:
    """Σ (n − n ln n + ln Γ(n+1)): added to the deviance form of the Poisson terms."""
    with np.errstate(divide="ignore", invalid="ignore"):
        n_log_n = np.where(n > 0, n * np.log(np.where(n > 0, n, 1.0)), 0.0)
    return float(np.sum(n - n_log_n + gammaln(n + 1.0)))


def _poisson_terms(lam: NDArray[np.float64], n: NDArray[np.float64]
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per-bin ``λ − n − n ln(λ/n)`` (``max(λ, 0)`` for n = 0) and its first two λ-derivatives.

    Entries with n > 0 and λ ≤ 0 give ``inf`` (the caller keeps λ > 0 there).
    """
    pos = n > 0
    safe_n = np.where(pos, n, 1.0)
    diff = lam - n
    with np.errstate(divide="ignore", invalid="ignore"):
        # written with log1p: for large counts λ − n ln λ alone would lose ~n·1e-16 to rounding
        rel = diff / safe_n
        dev = np.where(pos, diff - n * np.log1p(np.where(rel > -1.0, rel, 0.0)), np.maximum(lam, 0.0))
        dev = np.where(pos & ~(lam > 0), np.inf, dev)
        inv = np.where(lam > 0, 1.0 / np.where(lam > 0, lam, 1.0), 0.0)
        # n = 0: the right derivative of max(λ, 0) at λ = 0 (a background at its bound can only rise)
        t1 = np.where(pos, diff * inv, (lam >= 0).astype(float))
        t2 = n * inv * inv
    return dev, t1, t2


# ------------------------------------------------------------------------------------------------
# the uncorrelated closed form
# ------------------------------------------------------------------------------------------------
def _uncorrelated_theta(a: NDArray[np.float64], n: NDArray[np.float64], sigma: NDArray[np.float64],
                        lower: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Minimiser of ``max(λ,0) − n ln λ + θ²/2`` with ``λ = a + σθ`` over ``θ ≥ lower`` (n, σ per bin)."""
    disc = (a - sigma**2) ** 2 + 4.0 * sigma**2 * n
    theta = 2.0 * sigma * (n - a) / (a + sigma**2 + np.sqrt(disc))
    # n = 0: λ = a + σθ falls to 0 (θ = −a/σ) or the Gaussian stops it first (θ = −σ); λ ≤ 0 costs nothing
    theta_zero = -np.minimum(sigma, np.maximum(a, 0.0) / sigma)
    theta = np.where(n > 0, theta, theta_zero)
    return np.maximum(theta, lower)


# ------------------------------------------------------------------------------------------------
# the common base
# ------------------------------------------------------------------------------------------------
class _SimplifiedModel(StatisticalModel):
    """Data handling, μ fits and Asimov data shared by the three models."""

    _observed: NDArray[np.float64]
    _background: NDArray[np.float64]
    _asimov_of: DataKind | None

    def __init__(self, observed: ArrayLike, background: ArrayLike) -> None:
        self._observed = _vector(observed, "observed", nonnegative=True)
        self._background = _vector(background, "background", self._observed.shape[0], nonnegative=True)
        self._asimov_of = None

    # -- public attributes ---------------------------------------------------------------------------
    @property
    def n_regions(self) -> int:  # type: ignore[override]
        return int(self._observed.shape[0])

    @property
    def observed(self) -> NDArray[np.float64]:
        """The data of this model (the Asimov data for an Asimov model), shape ``(N,)``."""
        return self._observed

    @property
    def background(self) -> NDArray[np.float64]:
        """Background expectation (spey's ``background_yields``), shape ``(N,)``."""
        return self._background

    @property
    def asimov_of(self) -> DataKind | None:
        """The data kind this model is the Asimov model of, or ``None``."""
        return self._asimov_of

    def counts(self, data: DataKind = "observed") -> NDArray[np.float64]:
        """The counts a data kind stands for (an Asimov model uses its Asimov data for both kinds)."""
        data = _data_kind(data)
        if self._asimov_of is not None or data == "observed":
            return self._observed
        return self._background

    # -- to be provided -------------------------------------------------------------------------------
    def _profile(self, mu: NDArray[np.float64], sig: NDArray[np.float64], n: NDArray[np.float64],
                 theta0: NDArray[np.float64] | None = None, *, derivatives: bool = False) -> _Profile:
        raise NotImplementedError

    def _background_rate(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        raise NotImplementedError

    # -- the interface ---------------------------------------------------------------------------------
    def nll(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed") -> NDArray[np.float64]:
        """``-ln L(μ)`` with θ profiled, shape ``(H,)`` (constants as spey)."""
        sig = as_signal_batch(signal, self.n_regions)
        mu_v = as_mu_batch(mu, sig.shape[0])
        return self._profile(mu_v, sig, self.counts(data)).nll

    def profile_theta(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed"
                      ) -> NDArray[np.float64]:
        """The profiled nuisance parameters θ̂(μ), shape ``(H, N)``."""
        sig = as_signal_batch(signal, self.n_regions)
        return self._profile(as_mu_batch(mu, sig.shape[0]), sig, self.counts(data)).theta

    def asimov(self, data: DataKind = "observed") -> _SimplifiedModel:
        """This model with data := λ_bkg(θ̂₀) of the μ = 0 fit to ``data`` (constraint not re-centred)."""
        n = self.counts(data)
        zero = np.zeros((1, self.n_regions))
        theta = self._profile(np.zeros(1), zero, n).theta
        rate = np.maximum(self._background_rate(theta)[0], 0.0)
        new = copy.copy(self)
        new._observed = rate
        new._observed.setflags(write=False)
        new._asimov_of = _data_kind(data)
        return new

    def fit(self, signal: ArrayLike, *, data: DataKind = "observed",
            mu_bounds: tuple[float, float | None] = (0.0, None)) -> FitResult:
        """μ̂ within ``mu_bounds`` and ``-ln L(μ̂)`` (bracketed Newton on the profiled derivative)."""
        sig = as_signal_batch(signal, self.n_regions)
        return _fit_mu(self, sig, self.counts(data), mu_bounds)

    def __repr__(self) -> str:
        tag = f", asimov_of={self._asimov_of!r}" if self._asimov_of else ""
        return f"{type(self).__name__}(n_regions={self.n_regions}{tag})"


# ------------------------------------------------------------------------------------------------
# the μ fit
# ------------------------------------------------------------------------------------------------
def _fit_mu(model: _SimplifiedModel, sig: NDArray[np.float64], n: NDArray[np.float64],
            mu_bounds: tuple[float, float | None]) -> FitResult:
    """Bracketed Newton iteration on dF/dμ from the lower bound (module docstring)."""
    try:
        lo_bound, hi_bound = mu_bounds
    except (TypeError, ValueError):
        raise LikelihoodError(f"parameter 'mu_bounds' must be a pair (lo, hi), got {mu_bounds!r}") from None
    lo_bound = float(lo_bound)
    hi_bound = np.inf if hi_bound is None else float(hi_bound)
    if np.isnan(lo_bound) or np.isnan(hi_bound) or not hi_bound > lo_bound:
        raise LikelihoodError(f"parameter 'mu_bounds' must have lo < hi, got {mu_bounds}")
    n_hyp = sig.shape[0]
    hi_bound = min(hi_bound, _MU_CEILING)
    theta_store = np.zeros(sig.shape)
    warm = np.zeros(n_hyp, dtype=bool)

    def evaluate(mu: NDArray[np.float64], rows: NDArray[np.intp]) -> _Profile:
        theta0 = theta_store[rows] if np.all(warm[rows]) else None
        prof = model._profile(mu, sig[rows], n, theta0, derivatives=True)
        theta_store[rows] = prof.theta
        warm[rows] = True
        return prof

    # -- the lower end (an open one is found by expanding downwards) ---------------------------------------
    all_rows = np.arange(n_hyp)
    if np.isfinite(lo_bound):
        lo = np.full(n_hyp, lo_bound)
        p = evaluate(lo, all_rows)
        g_lo, c_lo, f_lo = p.grad_mu, p.curv_mu, p.nll
    else:
        anchor = min(hi_bound, 0.0)
        lo = np.full(n_hyp, anchor - 10.0)
        p = evaluate(lo, all_rows)
        g_lo, c_lo, f_lo = p.grad_mu.copy(), p.curv_mu.copy(), p.nll.copy()
        grow = g_lo > 0
        while np.any(grow):
            rows = np.flatnonzero(grow)
            lo[rows] = anchor - 4.0 * (anchor - lo[rows])
            p = evaluate(lo[rows], rows)
            g_lo[rows], c_lo[rows], f_lo[rows] = p.grad_mu, p.curv_mu, p.nll
            grow[rows] = (p.grad_mu > 0) & (lo[rows] > -_MU_CEILING)
    muhat, nll_min = lo.copy(), f_lo.copy()
    # convex profile: F'(lo) ≥ 0 puts μ̂ at the lower end
    rows = np.flatnonzero(~(g_lo >= 0))
    if rows.size == 0:
        return FitResult(muhat=muhat, nll_min=nll_min)
    # -- bracketed Newton: F' < 0 at a, F' > 0 at b (b = inf while unknown) --------------------------------
    a = lo[rows]
    b = np.full(rows.size, np.inf)
    mu, g, c = lo[rows], g_lo[rows], c_lo[rows]
    for _ in range(_MAX_MU_ITER):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            step = -g / c
            newton = mu + step
        newton_ok = np.isfinite(step) & (c > 0)
        inside = newton_ok & (newton >= a) & (newton <= b)
        # no usable Newton step: bisect a closed bracket, else grow the step away from a
        grow_to = a + np.maximum(10.0, 4.0 * (a - lo[rows]))
        fallback = np.where(np.isfinite(b), 0.5 * (a + b), grow_to)
        mu_new = np.minimum(np.where(inside, newton, fallback), hi_bound)
        p = evaluate(mu_new, rows)
        mu, g, c = mu_new, p.grad_mu, p.curv_mu
        left = g < 0
        a = np.where(left, mu, a)
        b = np.where(left, b, mu)
        tol = _MU_XTOL * (1.0 + np.abs(mu))
        with np.errstate(invalid="ignore", divide="ignore"):
            next_step = np.where(c > 0, -g / c, np.inf)
        # converged: the next Newton step or the bracket is below tol, or the NLL still to gain
        # (½ F'²/F'' = −½ F'·step) is below 1e-20; or μ sits at the upper bound with F' ≤ 0
        done = ((g == 0) | (np.abs(next_step) <= tol) | (b - a <= tol) | (-0.5 * g * next_step <= 1e-20)
                | ((mu >= hi_bound) & ~(g > 0)))
        muhat[rows[done]] = mu[done]
        nll_min[rows[done]] = p.nll[done]
        keep = ~done
        if not np.any(keep):
            break
        rows, a, b, mu, g, c = rows[keep], a[keep], b[keep], mu[keep], g[keep], c[keep]
        p_nll = p.nll[keep]
    else:  # pragma: no cover - out of iterations: the last point evaluated
        muhat[rows], nll_min[rows] = mu, p_nll
    return FitResult(muhat=muhat, nll_min=nll_min)
