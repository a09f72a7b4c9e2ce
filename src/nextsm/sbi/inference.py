r"""Frequentist inference with learned (or exact) per-event ratios: extended unbinned likelihood, Asimov data,
profile scans, Wilks p-values, intervals and contours.

Extended likelihood of :math:`n` events at luminosity :math:`L`, relative to the reference θ_ref:

.. math::

    \log\frac{L(\theta)}{L(\theta_{\rm ref})} = -L\,[\sigma(\theta) - \sigma(\theta_{\rm ref})]
        + n \log\frac{\sigma(\theta)}{\sigma(\theta_{\rm ref})} + \sum_i \log\hat r(x_i|\theta).

For *Asimov* data the sum becomes a weighted sum over a held-out weighted sample,
:math:`\sum_i \to \sum_i L\,w_i(\theta_{\rm true})` and :math:`n = L\,\sigma(\theta_{\rm true})` (MadMiner's
``expected_limits``).  :math:`q(\theta) = -2[\log L(\theta) - \max \log L]`; by Wilks' theorem :math:`q` is
:math:`\chi^2_k` distributed (k = number of parameters of interest; profiled ones are minimised over).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from nextsm.sbi.errors import SBIError
from nextsm.sbi.events import WeightedEvents

__all__ = [
    "Interval",
    "Scan2D",
    "asimov_weights",
    "contour_threshold",
    "extended_log_likelihood",
    "grid_index",
    "grid_points",
    "interval_from_profile",
    "profile",
    "row_minima",
    "scan_2d",
    "wilks_pvalue",
]

FloatArray = NDArray[np.float64]


def asimov_weights(events: WeightedEvents, theta_true: ArrayLike, luminosity: float) -> FloatArray:
    """Expected event counts :math:`L\\,w_i(\\theta_{\\rm true})` of each event of a (held-out) sample, ``(N,)``."""
    if luminosity <= 0:
        raise SBIError(f"parameter 'luminosity' must be positive, got {luminosity}")
    return luminosity * events.weights(np.atleast_2d(np.asarray(theta_true, dtype=np.float64)))[0]


def extended_log_likelihood(log_r: ArrayLike, event_weights: ArrayLike, xsec: ArrayLike, xsec_ref: float,
                            luminosity: float) -> FloatArray:
    """:math:`\\log L(\\theta_j)/L(\\theta_{\\rm ref})` for every θ_j (see the module docstring), ``(n_θ,)``.

    Parameters
    ----------
    log_r:
        :math:`\\log\\hat r(x_i|\\theta_j)`, ``(n_θ, N)``.
    event_weights:
        1 per observed event, or Asimov weights :math:`L w_i(\\theta_{\\rm true})`, ``(N,)``.
    xsec, xsec_ref:
        :math:`\\sigma(\\theta_j)` ``(n_θ,)`` and :math:`\\sigma(\\theta_{\\rm ref})` in fb.
    luminosity:
        In fb⁻¹.
    """
    lr = np.atleast_2d(np.asarray(log_r, dtype=np.float64))
    w = np.asarray(event_weights, dtype=np.float64)
    sig = np.asarray(xsec, dtype=np.float64)
    if lr.shape != (sig.shape[0], w.shape[0]):
        raise SBIError(f"parameter 'log_r' must have shape ({sig.shape[0]}, {w.shape[0]}), got {lr.shape}")
    if np.any(sig <= 0) or xsec_ref <= 0:
        raise SBIError("parameter 'xsec' must be positive")
    n = w.sum()
    return -luminosity * (sig - xsec_ref) + n * np.log(sig / xsec_ref) + lr @ w


def wilks_pvalue(q: ArrayLike, dof: int) -> FloatArray:
    """Asymptotic p-value :math:`P(\\chi^2_{\\rm dof} > q)`."""
    return stats.chi2.sf(np.asarray(q, dtype=np.float64), dof)


def contour_threshold(cl: float, dof: int) -> float:
    """:math:`q` at confidence level ``cl`` for ``dof`` parameters (e.g. 5.99 for 95 % in 2-D)."""
    if not 0 < cl < 1:
        raise SBIError(f"parameter 'cl' must be in (0, 1), got {cl}")
    return float(stats.chi2.ppf(cl, dof))


@dataclass(frozen=True)
class Scan2D:
    """:math:`q(\\theta_0, \\theta_1)` on a grid (``q[i, j]`` at ``(axis0[i], axis1[j])``), minimum 0."""

    axis0: FloatArray
    axis1: FloatArray
    q: FloatArray

    @property
    def best(self) -> tuple[float, float]:
        """The grid point of the maximum likelihood."""
        i, j = np.unravel_index(int(np.argmin(self.q)), self.q.shape)
        return float(self.axis0[i]), float(self.axis1[j])

    def points(self) -> FloatArray:
        """All grid points, ``(n0 * n1, 2)`` in the order of ``q.ravel()``."""
        return grid_points(self.axis0, self.axis1)


def grid_points(axis0: ArrayLike, axis1: ArrayLike) -> FloatArray:
    """The product grid ``(n0 * n1, 2)`` with ``axis1`` varying fastest."""
    a, b = np.meshgrid(np.asarray(axis0, float), np.asarray(axis1, float), indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=1)


def grid_index(axis: ArrayLike, value: float, name: str = "theta_true") -> int:
    """Index of ``value`` in the grid ``axis``; :class:`SBIError` naming ``name`` if it is not a grid point (to
    10⁻⁶ of the smallest spacing): toys and Neyman belts are generated at grid points only."""
    ax = np.asarray(axis, dtype=np.float64)
    k = int(np.argmin(np.abs(ax - value)))
    step = float(np.min(np.diff(ax))) if ax.size > 1 else 1.0
    if abs(ax[k] - value) > 1e-6 * step:
        raise SBIError(f"parameter '{name}' = {value} is not a grid point (nearest {ax[k]})")
    return k


def scan_2d(axis0: ArrayLike, axis1: ArrayLike, log_likelihood: ArrayLike) -> Scan2D:
    """:class:`Scan2D` from :math:`\\log L` on :func:`grid_points` (``(n0 * n1,)`` or ``(n0, n1)``)."""
    a0, a1 = np.asarray(axis0, float), np.asarray(axis1, float)
    ll = np.asarray(log_likelihood, dtype=np.float64).reshape(a0.size, a1.size)
    return Scan2D(a0, a1, -2.0 * (ll - ll.max()))


def row_minima(q: ArrayLike) -> FloatArray:
    """Minimum of each row of ``q`` (``(..., n)``) with a parabola through the lowest grid point and its two
    neighbours (the grid value itself at an edge or where the three points are not convex), ``(...,)``."""
    values = np.asarray(q, dtype=np.float64)
    n = values.shape[-1]
    k = np.argmin(values, axis=-1)[..., None]
    mid = np.take_along_axis(values, k, axis=-1)[..., 0]
    if n < 3:
        return mid
    inner = (k[..., 0] > 0) & (k[..., 0] < n - 1)
    left = np.take_along_axis(values, np.clip(k - 1, 0, n - 1), axis=-1)[..., 0]
    right = np.take_along_axis(values, np.clip(k + 1, 0, n - 1), axis=-1)[..., 0]
    curv = left - 2 * mid + right
    refine = inner & (curv > 0)
    shift = np.divide((right - left) ** 2, 8 * curv, out=np.zeros_like(mid), where=refine)
    return mid - shift


def profile(scan: Scan2D, parameter: int) -> tuple[FloatArray, FloatArray]:
    """Profile :math:`q` of ``parameter`` (0 or 1), minimised over the other (parabolic refinement between
    grid points, :func:`row_minima`), shifted to minimum 0: ``(axis, q_profile)``."""
    if parameter not in (0, 1):
        raise SBIError(f"parameter 'parameter' must be 0 or 1, got {parameter}")
    q = scan.q if parameter == 0 else scan.q.T
    prof = row_minima(q)
    return (scan.axis0 if parameter == 0 else scan.axis1), prof - prof.min()


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]`` (NaN where the scan range does not reach the threshold)."""

    low: float
    high: float
    cl: float

    @property
    def width(self) -> float:
        """``high - low``."""
        return self.high - self.low


def interval_from_profile(axis: ArrayLike, q: ArrayLike, cl: float, dof: int = 1) -> Interval:
    """The outermost crossings of :math:`q = \\chi^2_{\\rm dof}(cl)` around the minimum (linear interpolation)."""
    x = np.asarray(axis, dtype=np.float64)
    qq = np.asarray(q, dtype=np.float64)
    thr = contour_threshold(cl, dof)
    k = int(np.argmin(qq))
    below = qq < thr
    lo_idx = k
    while lo_idx > 0 and below[lo_idx - 1]:
        lo_idx -= 1
    hi_idx = k
    while hi_idx < x.size - 1 and below[hi_idx + 1]:
        hi_idx += 1

    def cross(i: int, j: int) -> float:
        return float(x[i] + (thr - qq[i]) * (x[j] - x[i]) / (qq[j] - qq[i]))

    low = cross(lo_idx - 1, lo_idx) if lo_idx > 0 else float("nan")
    high = cross(hi_idx, hi_idx + 1) if hi_idx < x.size - 1 else float("nan")
    return Interval(low, high, cl)
