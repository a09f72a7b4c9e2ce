r"""Likelihoods of upper-limit (UL-map) results.

**Truncated Gaussian** (SModelS; Kraml, Waltenberger et al., arXiv:1202.3415 and the SModelS 3
``TruncatedGaussians`` computer).  For one hypothesis with predicted cross section σ (fb), observed
and expected 95 % CL limits UL and UL_exp (fb), in units of the signal strength μ:

.. math::

    \mu_{UL} = UL/\sigma,\qquad \mu_{exp} = UL_{exp}'/\sigma,\qquad s_\mu = \mu_{exp}/1.96,

    L(\mu) = \frac{\mathcal N(\mu \mid \hat\mu, s_\mu)}{\Phi(\hat\mu / s_\mu)},\qquad
    \mathrm{NLL}(\mu) = \ln\Phi(\hat\mu/s_\mu) - \ln\mathcal N(\mu\mid\hat\mu, s_\mu),

where μ̂ is fixed by requiring that the truncated Gaussian puts 5 % of its probability above
μ_UL: :math:`\Phi((\hat\mu - \mu_{UL})/s_\mu) = 0.05\,\Phi(\hat\mu/s_\mu)`.  In units of s_μ this
depends only on :math:`u = 1.96\,UL/UL_{exp}'`, so μ̂ is found once per (UL, UL_exp) pair by a
vectorised bisection.  μ̂ may be negative (SModelS' default ``allowNegativeSignals=True``); on
a-priori (expected) data μ̂ = 0.

*Capping rules.*  SModelS 3.2 widens the Gaussian when the data fluctuated up (UL > UL_exp):
:math:`UL_{exp}' = UL_{exp}/(1 - c\,(UL - UL_{exp})/(UL + UL_{exp}))` with ``corr`` c = 0.6 (set
``corr=0`` to switch off).  The proto-model papers (arXiv:2012.12246) additionally cap the observed
limit, UL := min(UL, UL_exp + 2·UL_exp/1.96) (``cap_excess=True``).

**Observed-only UL maps** have no likelihood: only r = σ/UL (:class:`ObservedUpperLimit`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_ndtr

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.base import DataKind, FitResult, StatisticalModel, as_signal_batch

__all__ = ["ObservedUpperLimit", "TruncatedGaussian", "truncated_gaussian_mode"]

_LOG_ALPHA = np.log(0.05)
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def truncated_gaussian_mode(u: ArrayLike) -> NDArray[np.float64]:
    r"""Mode x = μ̂/s_μ of the truncated Gaussian whose 95 % quantile lies at u = μ_UL/s_μ.

    Solves :math:`h(x) = \ln\Phi(x - u) - \ln\Phi(x) - \ln 0.05 = 0` (h increases in x for u > 0) to double
    precision by Newton's method, :math:`h'(x) = \lambda(x - u) - \lambda(x)` with the inverse Mills ratio
    :math:`\lambda = \varphi/\Phi`, safeguarded by the bracket [lo, u]: a Newton step leaving the bracket is
    replaced by bisection.  Converges in ~6 vectorised iterations.
    """
    u = np.asarray(u, dtype=float)
    if np.any(~(u > 0)):
        raise LikelihoodError("upper limits must be positive and finite")

    def h(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return log_ndtr(x - u) - log_ndtr(x) - _LOG_ALPHA

    hi = u.copy()  # h(u) = ln(0.5/Φ(u)) - ln 0.05 > 0
    lo = np.minimum(-10.0, 2.0 * (0.5 * u * u + _LOG_ALPHA) / u - 10.0)
    bad = h(lo) > 0
    while np.any(bad):
        lo[bad] *= 2.0
        bad &= h(lo) > 0
    # start: x ≈ u − 1.645 where Φ(x) ≈ 1, x ≈ (u²/2 + ln 0.05)/u in the far left tail
    x = np.clip(np.maximum(u - 1.6448536269514722, (0.5 * u * u + _LOG_ALPHA) / u), lo, hi)
    eps = 4 * np.finfo(float).eps
    for _ in range(100):
        log_a, log_b = log_ndtr(x - u), log_ndtr(x)
        hx = log_a - log_b - _LOG_ALPHA
        pos = hx > 0
        hi = np.where(pos, x, hi)
        lo = np.where(pos, lo, x)
        # h'(x) = λ(x − u) − λ(x), λ = φ/Φ
        slope = (np.exp(-0.5 * (x - u) ** 2 - _HALF_LOG_2PI - log_a)
                 - np.exp(-0.5 * x * x - _HALF_LOG_2PI - log_b))
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - hx / slope
        inside = np.isfinite(newton) & (newton >= lo) & (newton <= hi)
        x_new = np.where(inside, newton, 0.5 * (lo + hi))
        converged = np.abs(x_new - x) <= eps * np.maximum(1.0, np.abs(x))
        x = x_new
        if np.all(converged | (hi - lo <= eps * np.maximum(1.0, np.abs(hi)))):
            break
    return x


def _positive(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.ndim != 1 or np.any(~np.isfinite(arr)) or np.any(arr <= 0):
        raise LikelihoodError(f"parameter '{name}' must be a positive finite scalar or 1-d array, got {values!r}")
    return arr


@dataclass(frozen=True)
class TruncatedGaussian(StatisticalModel):
    """SModelS' truncated-Gaussian likelihood of a UL-map result (module docstring).

    Parameters
    ----------
    upper_limit, expected_upper_limit:
        Observed and expected 95 % CL cross-section limits (fb) at each hypothesis' mass point,
        scalars or arrays of shape ``(H,)``.  The signal passed to the methods is the predicted
        cross section (fb) in the same analysis region, shape ``(H, 1)``.
    corr:
        SModelS' widening factor for upward fluctuations (0.6 as in SModelS 3.2; 0 = none).
    cap_excess:
        Cap UL at UL_exp + 2σ_exp as in the proto-model papers.
    mode:
        ``"observed"`` or ``"apriori"`` data this instance represents (``asimov`` switches).
    """

    upper_limit_fb: NDArray[np.float64]
    expected_upper_limit_fb: NDArray[np.float64]
    corr: float = 0.6
    cap_excess: bool = False
    asimov_of: DataKind | None = None
    n_regions: int = 1
    description: str = "truncated Gaussian from observed and expected UL (SModelS)"

    @classmethod
    def from_limits(cls, upper_limit: ArrayLike, expected_upper_limit: ArrayLike, *, corr: float = 0.6,
                    cap_excess: bool = False) -> TruncatedGaussian:
        """Build from observed and expected limits in fb (scalars or ``(H,)`` arrays)."""
        ul = _positive(upper_limit, "upper_limit")
        eul = _positive(expected_upper_limit, "expected_upper_limit")
        try:
            ul, eul = np.broadcast_arrays(ul, eul)
        except ValueError:
            raise LikelihoodError(
                f"parameters 'upper_limit' {ul.shape} and 'expected_upper_limit' {eul.shape} do not broadcast"
            ) from None
        if not 0.0 <= corr < 1.0:
            raise LikelihoodError(f"parameter 'corr' must lie in [0, 1), got {corr}")
        return cls(ul.astype(float), eul.astype(float), corr=corr, cap_excess=cap_excess)

    # -- the Gaussian in units of μ ---------------------------------------------------------------
    def _effective_limits(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        ul, eul = self.upper_limit_fb, self.expected_upper_limit_fb
        if self.cap_excess:
            ul = np.minimum(ul, eul * (1.0 + 2.0 / 1.96))
        if self.corr > 0.0:
            widen = 1.0 - self.corr * (ul - eul) / (ul + eul)
            eul = np.where(ul > eul, eul / widen, eul)
        return ul, eul

    @cached_property
    def _standardised_mode(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(μ̂/s_μ, UL_exp'/1.96) per hypothesis: independent of the signal, computed once."""
        ul, eul = self._effective_limits()
        return truncated_gaussian_mode(1.96 * ul / eul), eul / 1.96

    def _mode_and_width(self, sig: NDArray[np.float64], data: DataKind
                        ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        xsec = sig[:, 0]
        if np.any(xsec <= 0):
            raise LikelihoodError("parameter 'signal' (predicted cross section) must be positive for UL results")
        x_hat, sigma_fb = self._standardised_mode
        width = np.broadcast_to(sigma_fb, xsec.shape) / xsec
        if data == "apriori" or self.asimov_of is not None:
            return np.zeros_like(width), width
        return np.broadcast_to(x_hat, xsec.shape) * width, width

    def nll(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed") -> NDArray[np.float64]:
        """``ln Φ(μ̂/s) − ln N(μ | μ̂, s)`` per hypothesis (constants as in SModelS)."""
        sig = as_signal_batch(signal, 1)
        muhat, width = self._mode_and_width(sig, data)
        mu_v = np.broadcast_to(np.asarray(mu, dtype=float), muhat.shape)
        z = (mu_v - muhat) / width
        return log_ndtr(muhat / width) + 0.5 * z * z + np.log(width) + _HALF_LOG_2PI

    def asimov(self, data: DataKind = "observed") -> TruncatedGaussian:
        """Background-only Asimov version: the Gaussian centred at μ̂ = 0 (SModelS' expected case)."""
        return replace(self, asimov_of=data)

    def fit(self, signal: ArrayLike, *, data: DataKind = "observed",
            mu_bounds: tuple[float, float | None] = (0.0, None)) -> FitResult:
        """μ̂ clipped to ``mu_bounds`` (the NLL is a parabola in μ)."""
        sig = as_signal_batch(signal, 1)
        muhat, _ = self._mode_and_width(sig, data)
        lo, hi = mu_bounds
        mu_fit = np.clip(muhat, lo, np.inf if hi is None else hi)
        return FitResult(mu_fit, self.nll(mu_fit, sig, data=data))

    def upper_limit(self, signal: ArrayLike, *, expected: Literal["observed", "apriori", "aposteriori"] = "observed",
                    cl: float = 0.95) -> NDArray[np.float64]:
        """Published limits divided by the cross section: μ_UL = UL/σ (expected: UL_exp/σ)."""
        if not np.isclose(cl, 0.95):
            raise LikelihoodError(f"UL-map results give 95 % CL limits only, got parameter 'cl'={cl}")
        sig = as_signal_batch(signal, 1)
        limit = self.upper_limit_fb if expected == "observed" else self.expected_upper_limit_fb
        return np.broadcast_to(limit, sig[:, 0].shape) / sig[:, 0]


@dataclass(frozen=True)
class ObservedUpperLimit(StatisticalModel):
    """A UL-map result without expected limits: no likelihood, only r = σ/UL."""

    upper_limit_fb: NDArray[np.float64]
    n_regions: int = 1
    description: str = "observed UL only (r-value, no likelihood)"

    @classmethod
    def from_limit(cls, upper_limit: ArrayLike) -> ObservedUpperLimit:
        """Build from observed limits in fb (scalar or ``(H,)``)."""
        return cls(_positive(upper_limit, "upper_limit"))

    def nll(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed") -> NDArray[np.float64]:
        raise LikelihoodError("this UL-map result publishes no expected limit: it has no likelihood, only r = σ/UL")

    def asimov(self, data: DataKind = "observed") -> ObservedUpperLimit:
        raise LikelihoodError("this UL-map result publishes no expected limit: no Asimov data")

    def fit(self, signal: ArrayLike, *, data: DataKind = "observed",
            mu_bounds: tuple[float, float | None] = (0.0, None)) -> FitResult:
        raise LikelihoodError("this UL-map result publishes no expected limit: μ̂ is undefined")

    def upper_limit(self, signal: ArrayLike, *, expected: Literal["observed", "apriori", "aposteriori"] = "observed",
                    cl: float = 0.95) -> NDArray[np.float64]:
        """μ_UL = UL/σ; expected limits are not published for this result."""
        if expected != "observed":
            raise LikelihoodError("this UL-map result publishes no expected upper limit")
        if not np.isclose(cl, 0.95):
            raise LikelihoodError(f"UL-map results give 95 % CL limits only, got parameter 'cl'={cl}")
        sig = as_signal_batch(signal, 1)
        return np.broadcast_to(self.upper_limit_fb, sig[:, 0].shape) / sig[:, 0]
