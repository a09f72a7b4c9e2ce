r"""Simplified likelihoods of efficiency-map results, vectorised over hypotheses and regions.

Three models of N signal regions with observed counts :math:`n_i`, a background prediction and its
uncertainty, written exactly as spey 0.2.7 writes them (``default.uncorrelated_background``,
``default.correlated_background``, ``default.third_moment_expansion``), so that absolute NLLs agree
with spey's ``likelihood(poi_test=μ, return_nll=True)``:

.. math::

    -\ln L(\mu, \theta) = \sum_i \big[\lambda_i - n_i \ln\lambda_i + \ln\Gamma(n_i + 1)\big]
        + \tfrac12\,\theta^T \rho^{-1} \theta + \tfrac12\big(N\ln 2\pi + \ln\det\rho\big),
    \qquad \lambda_i = \mu s_i + \lambda^{bkg}_i(\theta_i).

* :class:`PoissonGaussian` (uncorrelated, spey ``uncorrelated_background``):
  :math:`\lambda^{bkg}_i = b_i + \sigma_i\theta_i`, :math:`\theta_i \sim N(0, 1)` independent;
* :class:`CorrelatedBackground` (CMS "SL v1", ``correlated_background``): the same with
  :math:`\sigma_i = \sqrt{\Sigma_{ii}}` and θ ~ MVN(0, ρ), :math:`\rho_{ij} = \Sigma_{ij}/(\sigma_i\sigma_j)`;
* :class:`ThirdMomentExpansion` (CMS "SL v2", ``third_moment_expansion``):
  :math:`\lambda^{bkg}_i = A_i + B_i\theta_i + C_i\theta_i^2` and θ ~ MVN(0, ρ̃)
  (:func:`third_moment_coefficients`).

Every model keeps the background part non-negative, :math:`\lambda^{bkg}_i(\theta_i) \ge 0` (spey's
constraint; the signal part may be negative for μ < 0 or negative signals).  For a bin with
:math:`n_i = 0` the Poisson term is :math:`\max(\lambda_i, 0)` (spey clips λ at 10⁻²⁰).

**Profiling.**  *Uncorrelated* (:class:`PoissonGaussian`): per bin, with :math:`a = \mu s + b`, the
minimiser of :math:`\lambda - n\ln\lambda + \theta^2/2` solves
:math:`\sigma\theta^2 + (a + \sigma^2)\theta + \sigma(a - n) = 0`,

.. math::

    \hat\theta = \frac{-(a + \sigma^2) + \sqrt{(a - \sigma^2)^2 + 4\sigma^2 n}}{2\sigma}
               = \frac{2\sigma(n - a)}{a + \sigma^2 + \sqrt{(a - \sigma^2)^2 + 4\sigma^2 n}},

(the second, cancellation-free form is used), clipped at :math:`-b/\sigma`.  *Correlated* and
*third moments*: a batched projected Newton method on θ (Hessian
:math:`\rho^{-1} + \mathrm{diag}(n\lambda'^2/\lambda^2 + (1 - n/\lambda)\lambda'')`), started from
the uncorrelated closed form, with backtracking (step halving) that keeps :math:`\lambda_i > 0`
wherever :math:`n_i > 0`, and an active set for the bounds of θ implied by :math:`\lambda^{bkg} \ge 0`
(for SL v2 the branch of the parabola on which :math:`\lambda^{bkg}` rises with θ); run until the
projected gradient is below 10⁻¹⁰ (or the Newton decrement below 10⁻²⁰).  Where
:math:`n_i = 0` and :math:`\mu s_i < 0`, the kink of :math:`\max(\lambda_i, 0)` splits the range of
:math:`\theta_i` into two pieces that the iteration treats like bounds.

**Fits of μ** (:meth:`fit`) use the exact derivatives of the profiled NLL F(μ): by the envelope
theorem :math:`F' = \sum_i s_i (1 - n_i/\lambda_i)` at θ̂ (for :math:`n_i = 0` the subgradient of
the kink that makes θ̂ stationary), and
:math:`F'' = F_{\mu\mu} - F_{\mu\theta} H_{\theta\theta}^{-1} F_{\theta\mu}` (free θ only).  A
bracketed Newton iteration on F' starts at the lower bound (F'(lo) ≥ 0 puts μ̂ there: the profile
of the linear models is convex), steps towards an open upper bound (``None``, up to 10¹²) until F'
changes sign, bisects when a Newton step leaves the bracket, and stops when the step is below
:math:`10^{-10}(1 + |\mu|)` or the NLL left to gain (½F'²/F'') is below 10⁻²⁰.  θ̂ of the previous
step is the start of the next profile.  An open lower bound (−inf) is found by expanding
downwards from −10.

**Data.** ``"observed"``: :math:`n`; ``"apriori"``: :math:`n := b` (for SL v2 the first moment
:math:`m_1 = b`, as spey).  :meth:`asimov` returns the same model whose data (for both kinds) are
:math:`\lambda^{bkg}(\hat\theta_0)`, the background-only (μ = 0) fit to the chosen data; the
constraint is *not* re-centred (spey's convention).

**Marginalised variant** (``PoissonGaussian(..., marginalised=True)``, in the spirit of SModelS'
``marginalize`` option, which averages over sampled backgrounds): per bin :math:`L_i(\mu) = \int_{\theta \ge -b/\sigma}\mathrm{Pois}(n \mid \mu s + b +
\sigma\theta)\,\varphi(\theta)\,d\theta \,/\, \Phi(b/\sigma)` — the Gaussian truncated to a
non-negative background.  For :math:`n = 0` the integral is closed-form,
:math:`e^{-a + \sigma^2/2}\,\Phi(-\theta_0 - \sigma)` (plus the mass where :math:`\lambda \le 0`);
for :math:`n > 0` it is computed by tanh–sinh quadrature on two panels split at the mode θ̂ (the
profiled closed form), each reaching to where the integrand has fallen by :math:`e^{-50}`
(located by bisection; :math:`\partial^2_\theta(-\ln) \ge 1` bounds this within 10 of the mode).
The NLL is accurate to ~10⁻¹⁰ (checked against adaptive quadrature).  Its fit uses the generic
golden-section search :func:`~nextsm.likelihoods.limits.minimize_mu`; its Asimov data are those of
the profiled model.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, gammaln, log_ndtr, ndtr

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.base import DATA_KINDS, DataKind, FitResult, StatisticalModel, as_signal_batch

__all__ = ["CorrelatedBackground", "PoissonGaussian", "ThirdMomentExpansion", "third_moment_coefficients"]

_LOG_2PI = float(np.log(2.0 * np.pi))
#: projected-gradient tolerance of the θ profile
_GTOL = 1e-10
#: below this projected gradient a full Newton step failing the line search means rounding noise
_NEAR_GTOL = 1e-8
_FIXED_CURVATURE = 1e30
_MAX_NEWTON = 200
_MAX_HALVINGS = 60
#: Hessian elements per chunk of hypotheses in the Newton profile (bounds memory)
_CHUNK_ELEMENTS = 1 << 21
#: relative μ tolerance of the fit, and the largest μ an open upper bound expands to
_MU_XTOL = 1e-10
_MU_CEILING = 1e12
_MAX_MU_ITER = 200
#: spey's regularisation of C_i in the denominator of ρ̃
_SPEY_C_EPS = 1e-5
#: log-integrand drop (nats) at the ends of the quadrature range of the marginalised model
_TAIL_NATS = 50.0
#: tanh–sinh step and half-number of nodes per panel
_TS_STEP = 0.1
_TS_HALF = 33


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


def _mu_vector(mu: ArrayLike, n_hyp: int) -> NDArray[np.float64]:
    arr = np.asarray(mu, dtype=float)
    try:
        out = np.broadcast_to(arr, (n_hyp,)).astype(float, copy=True)
    except ValueError:
        raise LikelihoodError(f"parameter 'mu' has shape {arr.shape}, expected a scalar or ({n_hyp},)") from None
    if not np.all(np.isfinite(out)):
        raise LikelihoodError("parameter 'mu' contains non-finite values")
    return out


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
                        lower: NDArray[np.float64]) -> NDArray[np.float64]:
    """Minimiser of ``max(λ,0) − n ln λ + θ²/2`` with ``λ = a + σθ`` over ``θ ≥ lower`` (n, σ per bin)."""
    disc = (a - sigma**2) ** 2 + 4.0 * sigma**2 * n
    theta = 2.0 * sigma * (n - a) / (a + sigma**2 + np.sqrt(disc))
    # n = 0: λ = a + σθ falls to 0 (θ = −a/σ) or the Gaussian stops it first (θ = −σ); λ ≤ 0 costs nothing
    theta_zero = -np.minimum(sigma, np.maximum(a, 0.0) / sigma)
    theta = np.where(n > 0, theta, theta_zero)
    return np.maximum(theta, lower)


# ------------------------------------------------------------------------------------------------
# SL v2 coefficients (spey's third_moment_expansion, written out)
# ------------------------------------------------------------------------------------------------
def third_moment_coefficients(background: ArrayLike, covariance: ArrayLike, third_moments: ArrayLike
                              ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                                         NDArray[np.float64], NDArray[np.bool_]]:
    r"""The SL v2 coefficients ``(A, B, C, ρ̃, invalid)`` of arXiv:1809.05548 eqs. 2.9–2.12, as spey 0.2.7.

    .. math::

        C_i = -\mathrm{sign}(m_{3,i})\sqrt{2\Sigma_{ii}}\cos\Big(\frac{4\pi}{3} + \frac13
              \arctan\sqrt{8\Sigma_{ii}^3/m_{3,i}^2 - 1}\Big),\quad B_i = \sqrt{\Sigma_{ii} - 2C_i^2},
        \quad A_i = b_i - C_i,

        \tilde\rho_{ij} = \frac{\sqrt{(B_iB_j)^2 + 8 c_i c_j\Sigma_{ij}} - B_iB_j}{4 c_i c_j},
        \qquad c_i = C_i \pm 10^{-5}\ (\text{sign of } C_i,\ + \text{ for } C_i = 0).

    ``C_i = 0`` where :math:`8\Sigma_{ii}^3 < m_{3,i}^2` (``invalid``) or :math:`m_{3,i} = 0`.  ρ̃ is used
    as the *covariance* of θ (as spey's code; its docstring says ρ⁻¹).
    """
    b = np.asarray(background, dtype=float)
    cov = np.asarray(covariance, dtype=float)
    m3 = np.asarray(third_moments, dtype=float)
    diag = np.diag(cov)
    invalid = ~(8.0 * diag**3 >= m3**2)
    usable = ~invalid & (m3 != 0)
    m3_safe = np.where(usable, m3, 1.0)
    with np.errstate(invalid="ignore"):
        angle = (4.0 * np.pi / 3.0) + (1.0 / 3.0) * np.arctan(np.sqrt(((8.0 * diag**3) / m3_safe**2) - 1.0))
        c = -np.sign(m3_safe) * np.sqrt(2.0 * diag) * np.cos(angle)
    c = np.where(usable & np.isfinite(c), c, 0.0)
    b_coef = np.sqrt(diag - 2 * c**2)
    a_coef = b - c
    ci = np.where(c >= 0, c + _SPEY_C_EPS, c - _SPEY_C_EPS)
    cicj = ci[:, None] * ci[None, :]
    bibj = b_coef[:, None] * b_coef[None, :]
    discr = bibj**2 + 8 * cicj * cov
    rho = (np.sqrt(np.abs(discr)) - bibj) / 4 / cicj
    return a_coef, b_coef, c, rho, invalid


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
        mu_v = _mu_vector(mu, sig.shape[0])
        return self._profile(mu_v, sig, self.counts(data)).nll

    def profile_theta(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed"
                      ) -> NDArray[np.float64]:
        """The profiled nuisance parameters θ̂(μ), shape ``(H, N)``."""
        sig = as_signal_batch(signal, self.n_regions)
        return self._profile(_mu_vector(mu, sig.shape[0]), sig, self.counts(data)).theta

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
        mu_v = _mu_vector(mu, sig.shape[0])
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


# ------------------------------------------------------------------------------------------------
# 2./3. correlated backgrounds: the batched projected Newton profile
# ------------------------------------------------------------------------------------------------
class _QuadraticBackground(_SimplifiedModel):
    """λ_bkg = A + Bθ + Cθ², θ ~ MVN(0, R): the common engine of SL v1 and SL v2."""

    _A: NDArray[np.float64]
    _B: NDArray[np.float64]
    _C: NDArray[np.float64]
    _precision: NDArray[np.float64]
    _log_norm: float
    _theta_lo: NDArray[np.float64]
    _theta_hi: NDArray[np.float64]
    _sigma_start: NDArray[np.float64]

    def _setup(self, A: NDArray[np.float64], B: NDArray[np.float64], C: NDArray[np.float64],
               corr: NDArray[np.float64], sigma_start: NDArray[np.float64], name: str) -> None:
        try:
            np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:
            raise LikelihoodError(f"parameter '{name}' gives a constraint matrix of θ that is not "
                                  "positive definite") from None
        precision = np.linalg.inv(corr)
        self._precision = 0.5 * (precision + precision.T)
        self._log_norm = 0.5 * (len(A) * _LOG_2PI + float(np.linalg.slogdet(corr)[1]))
        self._A, self._B, self._C = A, B, C
        self._sigma_start = sigma_start
        # the branch of A + Bθ + Cθ² ≥ 0 on which λ_bkg increases with θ
        disc = B**2 - 4.0 * A * C
        with np.errstate(divide="ignore", invalid="ignore"):
            root = -2.0 * A / (B + np.sqrt(np.maximum(disc, 0.0)))
            vertex = np.where(C != 0, -B / (2.0 * np.where(C != 0, C, 1.0)), np.inf)
        lo = np.where(disc >= 0, root, vertex)
        lo = np.where((C == 0) & (B == 0), -np.inf, lo)
        hi = np.where(C < 0, vertex, np.inf)
        if np.any(~(lo < hi)) or np.any(np.isnan(lo)):
            raise LikelihoodError(f"parameter '{name}': no θ gives a non-negative background in some region")
        self._theta_lo, self._theta_hi = lo, hi

    def _background_rate(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        # ≥ 0 on the allowed θ range; the clip removes rounding at the bound
        return np.maximum(self._A + (self._B + self._C * theta) * theta, 0.0)

    def _profile(self, mu: NDArray[np.float64], sig: NDArray[np.float64], n: NDArray[np.float64],
                 theta0: NDArray[np.float64] | None = None, *, derivatives: bool = False) -> _Profile:
        n_hyp, n_reg = sig.shape
        chunk = max(1, _CHUNK_ELEMENTS // (n_reg * n_reg))
        if n_hyp <= chunk:
            return self._profile_chunk(mu, sig, n, theta0, derivatives)
        parts = [self._profile_chunk(mu[i:i + chunk], sig[i:i + chunk], n,
                                     None if theta0 is None else theta0[i:i + chunk], derivatives)
                 for i in range(0, n_hyp, chunk)]
        return _Profile(*(np.concatenate([getattr(p, f) for p in parts]) for f in _Profile._fields))

    def _start(self, rate: NDArray[np.float64], n: NDArray[np.float64],
               theta0: NDArray[np.float64] | None) -> NDArray[np.float64]:
        if theta0 is None:
            sigma = self._sigma_start
            theta = _uncorrelated_theta(rate + self._background, n, sigma, -np.inf)
        else:
            theta = np.array(theta0, dtype=float, copy=True)
        theta = np.clip(theta, self._theta_lo, self._theta_hi)
        # repair: λ > 0 where n > 0 (a bin aims at λ = max(n, 1) on its increasing branch)
        lam = rate + self._background_rate(theta)
        bad = (n > 0) & ~(lam > 0)
        if np.any(bad):
            A, B, C = (np.broadcast_to(v, theta.shape) for v in (self._A, self._B, self._C))
            c0 = A + rate - np.maximum(n, 1.0)
            disc = B**2 - 4.0 * C * c0
            with np.errstate(divide="ignore", invalid="ignore"):
                target = -2.0 * c0 / (B + np.sqrt(np.maximum(disc, 0.0)))
            target = np.where(disc >= 0, target, np.broadcast_to(self._theta_hi, theta.shape))
            target = np.clip(np.nan_to_num(target, nan=0.0), self._theta_lo, self._theta_hi)
            theta = np.where(bad, target, theta)
        return theta

    def _objective(self, theta: NDArray[np.float64], rate: NDArray[np.float64], n: NDArray[np.float64]
                   ) -> NDArray[np.float64]:
        dev, _, _ = _poisson_terms(rate + self._background_rate(theta), n)
        return np.sum(dev, axis=1) + 0.5 * np.sum((theta @ self._precision) * theta, axis=1)

    def _kinks(self, rate: NDArray[np.float64], n: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """θ where λ = 0 for bins with n = 0 and a negative signal part (NaN elsewhere), or None.

        There ``max(λ, 0)`` has a kink inside the allowed θ range: the range splits into a linear
        piece (λ ≥ 0) and a flat one (λ ≤ 0), which the Newton iteration treats like bounds.
        """
        applicable = (n == 0) & (rate < 0)
        if not np.any(applicable):
            return None
        A, B, C = (np.broadcast_to(v, rate.shape) for v in (self._A, self._B, self._C))
        c0 = A + rate
        disc = B**2 - 4.0 * C * c0
        with np.errstate(divide="ignore", invalid="ignore"):
            kink = -2.0 * c0 / (B + np.sqrt(np.maximum(disc, 0.0)))
        # no root: λ < 0 on the whole range (C < 0), which is then the flat piece, or λ > 0 (C > 0)
        kink = np.where(disc >= 0, np.nan_to_num(kink, nan=0.0), np.where(C < 0, self._theta_hi, np.nan))
        kink = np.clip(kink, self._theta_lo, self._theta_hi)
        return np.where(applicable, kink, np.nan)

    def _state(self, theta: NDArray[np.float64], rate: NDArray[np.float64], n: NDArray[np.float64],
               kink: NDArray[np.float64] | None) -> tuple[NDArray[np.float64], ...]:
        """Gradient, Hessian diagonal (Poisson part), t1, t2·λ', bounds (L, U) of the current piece, kink-fixed mask."""
        lam = rate + self._background_rate(theta)
        _, t1, t2 = _poisson_terms(lam, n)
        dlam = self._B + 2.0 * self._C * theta
        q = theta @ self._precision
        lower = np.broadcast_to(self._theta_lo, theta.shape)
        upper = np.broadcast_to(self._theta_hi, theta.shape)
        fixed = np.zeros(theta.shape, dtype=bool)
        if kink is not None:
            has = ~np.isnan(kink)
            above, below, at = has & (theta > kink), has & (theta < kink), has & (theta == kink)
            go_up = at & (dlam + q < 0)
            go_down = at & ~go_up & (q > 0)
            fixed = at & ~go_up & ~go_down
            t1 = np.where(has, (above | go_up).astype(float), t1)
            with np.errstate(divide="ignore", invalid="ignore"):
                # the subgradient of max(λ, 0) that makes θ stationary
                t1 = np.where(fixed, np.clip(np.nan_to_num(-q / dlam, nan=0.0), 0.0, 1.0), t1)
            lower = np.where(above | go_up, kink, lower)
            upper = np.where(below | go_down, kink, upper)
        grad = t1 * dlam + q
        hdiag = t2 * dlam**2 + 2.0 * self._C * t1
        return grad, hdiag, t1, t2 * dlam, lower, upper, fixed

    def _newton_step(self, grad: NDArray[np.float64], hdiag: NDArray[np.float64],
                     free: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Solve the Newton system on the free variables (fixed ones get a zero step)."""
        n_rows, n_reg = grad.shape
        hess = np.repeat(self._precision[None, :, :], n_rows, axis=0)
        idx = np.arange(n_reg)
        # a fixed variable gets a huge diagonal and no gradient: its step vanishes and the free ones
        # solve H_FF d_F = −g_F up to relative corrections of 1e-30 (no masking of the matrices needed)
        hess[:, idx, idx] += np.where(free, hdiag, _FIXED_CURVATURE)
        rhs = -np.where(free, grad, 0.0)
        step = np.linalg.solve(hess, rhs[..., None])[..., 0]
        return np.where(free, step, 0.0)

    def _profile_chunk(self, mu: NDArray[np.float64], sig: NDArray[np.float64], n: NDArray[np.float64],
                       theta0: NDArray[np.float64] | None, derivatives: bool) -> _Profile:
        rate_all = mu[:, None] * sig
        kink_all = self._kinks(rate_all, n)
        theta = self._start(rate_all, n, theta0)
        f_all = self._objective(theta, rate_all, n)
        todo = np.flatnonzero(np.isfinite(f_all))
        for _ in range(_MAX_NEWTON):
            if todo.size == 0:
                break
            th, rate, f = theta[todo], rate_all[todo], f_all[todo]
            kink = None if kink_all is None else kink_all[todo]
            grad, hdiag, _, _, lower, upper, fixed = self._state(th, rate, n, kink)
            active = fixed | ((th <= lower) & (grad > 0)) | ((th >= upper) & (grad < 0))
            pgrad = np.where(active, 0.0, grad)
            converged = np.max(np.abs(pgrad), axis=1) <= _GTOL
            free = ~active
            step = self._newton_step(grad, hdiag, free)
            slope = np.sum(pgrad * step, axis=1)
            not_descent = ~(slope < 0) & ~converged
            if np.any(not_descent):  # indefinite Hessian (SL v2): drop the negative curvature of the Poisson part
                k = np.flatnonzero(not_descent)
                step[k] = self._newton_step(grad[k], np.maximum(hdiag[k], 0.0), free[k])
            # ½ gᵀH⁻¹g: the NLL still to gain; below 1e-20 the gradient is rounding noise
            decrement = -0.5 * np.sum(pgrad * step, axis=1)
            tiny = (np.max(np.abs(step) / (1.0 + np.abs(th)), axis=1) <= 1e-15) | (decrement <= 1e-20)
            finished = converged | tiny
            near = np.max(np.abs(pgrad), axis=1) <= _NEAR_GTOL
            # backtracking line search along the projected path
            alpha = np.ones(todo.size)
            pending = ~finished
            new_th = th.copy()
            new_f = f.copy()
            slack = 1e-14 * (1.0 + np.abs(f))
            for _ in range(_MAX_HALVINGS):
                if not np.any(pending):
                    break
                k = np.flatnonzero(pending)
                trial = np.clip(th[k] + alpha[k, None] * step[k], lower[k], upper[k])
                f_trial = self._objective(trial, rate[k], n)
                armijo = f_trial <= f[k] + 1e-4 * np.sum(grad[k] * (trial - th[k]), axis=1) + slack[k]
                ok = np.isfinite(f_trial) & armijo
                acc = k[ok]
                new_th[acc], new_f[acc] = trial[ok], f_trial[ok]
                pending[acc] = False
                # close to the solution a failing full Newton step means rounding noise: stop there
                give_up = k[~ok & near[k]]
                pending[give_up] = False
                alpha[give_up] = 0.0
                alpha[k[~ok & ~near[k]]] *= 0.5
            # no acceptable step (or only a negligible one): as good as floating point allows
            stalled = pending | (alpha < 1e-12)
            theta[todo], f_all[todo] = new_th, new_f
            todo = todo[~(finished | stalled)]
        nll = f_all + _poisson_constant(n) + self._log_norm
        grad_mu = np.full(mu.shape, np.nan)
        curv_mu = np.full(mu.shape, np.nan)
        if derivatives:
            grad_th, hdiag, t1, cross, lower, upper, fixed = self._state(theta, rate_all, n, kink_all)
            grad_mu = np.sum(sig * t1, axis=1)
            free = ~(fixed | ((theta <= lower) & (grad_th > 0)) | ((theta >= upper) & (grad_th < 0)))
            u = np.where(free, sig * cross, 0.0)
            t2 = _poisson_terms(rate_all + self._background_rate(theta), n)[2]
            # H_FF⁻¹ u on the free variables (fixed ones contribute no cross term)
            solved = -self._newton_step(u, hdiag, free)
            curv_mu = np.sum(sig**2 * t2, axis=1) - np.sum(u * solved, axis=1)
            infeasible = ~np.isfinite(f_all)
            if np.any(infeasible):
                # only a region with μ s_i < 0 can make λ ≤ 0 unavoidable: move μ towards μ s_i ≥ 0
                direction = np.sign(np.sum(np.where(n > 0, sig, 0.0), axis=1))
                grad_mu = np.where(infeasible, -np.inf * np.where(direction == 0, 1.0, direction), grad_mu)
                curv_mu = np.where(infeasible, np.nan, curv_mu)
        return _Profile(nll, theta, grad_mu, curv_mu)


class CorrelatedBackground(_QuadraticBackground):
    """SL v1: λ = μs + b + σθ, θ ~ MVN(0, ρ) (spey ``correlated_background``, CMS arXiv:1809.05548).

    Parameters
    ----------
    observed, background:
        Observed counts and expected background per region, shape ``(N,)``.
    covariance:
        Background covariance Σ, ``(N, N)``, symmetric positive definite; σ_i = √Σ_ii,
        ρ_ij = Σ_ij / (σ_iσ_j).
    """

    description = "SL v1: Poisson ⊗ multivariate Gaussian (covariance)"

    def __init__(self, observed: ArrayLike, background: ArrayLike, covariance: ArrayLike) -> None:
        super().__init__(observed, background)
        self._covariance = _covariance(covariance, "covariance", self.n_regions)
        sigma = np.sqrt(np.diag(self._covariance))
        sigma_inv = np.diag(1.0 / sigma)
        corr = sigma_inv @ self._covariance @ sigma_inv
        self._setup(self._background, sigma, np.zeros_like(sigma), corr, sigma, "covariance")

    @property
    def covariance(self) -> NDArray[np.float64]:
        return self._covariance


class ThirdMomentExpansion(_QuadraticBackground):
    """SL v2: λ = μs + A + Bθ + Cθ², θ ~ MVN(0, ρ̃) (spey ``third_moment_expansion``).

    Coefficients from :func:`third_moment_coefficients`; regions violating 8Σ_ii³ ≥ m3_i² get
    C_i = 0 (listed in :attr:`invalid_third_moments`).

    Parameters
    ----------
    observed, background:
        Observed counts and expected background (the first moment m1) per region, ``(N,)``.
    covariance:
        Background covariance (second moments), ``(N, N)``.
    third_moments:
        Diagonal third central moments m3_i, ``(N,)``.
    """

    description = "SL v2: covariance + third moments (A + Bθ + Cθ², ρ̃)"

    def __init__(self, observed: ArrayLike, background: ArrayLike, covariance: ArrayLike,
                 third_moments: ArrayLike) -> None:
        super().__init__(observed, background)
        self._covariance = _covariance(covariance, "covariance", self.n_regions)
        self._third = _vector(third_moments, "third_moments", self.n_regions)
        A, B, C, rho, invalid = third_moment_coefficients(self._background, self._covariance, self._third)
        self._invalid = invalid
        self._setup(A, B, C, rho, np.sqrt(np.diag(self._covariance)), "third_moments")

    @property
    def covariance(self) -> NDArray[np.float64]:
        return self._covariance

    @property
    def third_moments(self) -> NDArray[np.float64]:
        return self._third

    @property
    def invalid_third_moments(self) -> NDArray[np.bool_]:
        """Regions whose third moment violates 8Σ_ii³ ≥ m3_i² (treated with C_i = 0, as spey)."""
        return self._invalid

    @property
    def coefficients(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """``(A, B, C)`` per region."""
        return self._A, self._B, self._C
