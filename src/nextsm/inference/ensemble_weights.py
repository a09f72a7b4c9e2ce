r"""Frequentist uncertainty of a learned density ratio: linear weights of frozen ensemble members (w_i f_i).

Given K trained ratio estimators :math:`f_i(x) \approx p_1(x)/p_0(x)` (the members of an ensemble, frozen),
model the ratio as the linear combination :math:`r_w(x) = \sum_i w_i f_i(x)` and fit w by maximum likelihood
on *held-out* samples of the numerator (:math:`x_1 … x_{N_1} \sim p_1`) and of the reference
(:math:`y_1 … y_{N_0} \sim p_0`), following M. Benevedes and J. Thaler, *Frequentist uncertainties on
neural density ratios with* :math:`w_i f_i` *ensembles*, arXiv:2506.00113.  The density
:math:`p_w = r_w\,p_0` is normalised by a Lagrange/extended term, the mean of :math:`r_w` over the reference
sample standing in for :math:`\int r_w p_0 = 1`:

.. math::

    \ell(w) = \sum_{i=1}^{N_1} \log r_w(x_i) - N_1\,\bar f^\top w,\qquad \bar f = \frac{1}{N_0}\sum_k f(y_k).

ℓ is concave in w; at its maximum :math:`w^\top\nabla\ell = N_1 - N_1\bar f^\top w = 0`, i.e. the fitted
ratio is normalised, :math:`\bar f^\top \hat w = 1` (for normalised members: :math:`\sum_i \hat w_i = 1`).
Newton's method with a step-halving line search keeps :math:`r_w(x_i) > 0`.

Covariance.  With :math:`h_i = f(x_i)/r_{\hat w}(x_i)` and the information :math:`A = \sum_i h_i h_i^\top`
(minus the Hessian of ℓ),

* ``hessian_covariance`` :math:`= A^{-1}` — the inverse Hessian;
* ``covariance`` :math:`= A^{-1}\,[\sum_i (h_i - \bar h)(h_i - \bar h)^\top + (N_1^2/N_0)\,{\rm Cov}_0(f)]\,A^{-1}` — the
  sandwich of the two-sample M-estimator, which also counts the finite reference sample (the
  normalisation term) and does not assume that the span of the members contains the truth.

The uncertainty is *conditional on the span* of {f_i}: a bias common to all members is not covered.
Members are often nearly collinear; inverses are pseudo-inverses (relative cut-off ``rcond``), so the
directions the data cannot resolve get no weight and no variance.  :func:`propagate` turns the covariance
into the standard deviation of any quantity with known gradient in w (delta method), e.g. a −2Δln L(μ)
curve, and :func:`endpoint_uncertainty` into that of an interval end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.inference.errors import InferenceError

__all__ = ["EnsembleWeights", "endpoint_uncertainty", "fit_ensemble_weights", "propagate"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class EnsembleWeights:
    """The fitted weights of :func:`fit_ensemble_weights` and their covariances (module docstring).

    Attributes
    ----------
    weights:
        :math:`\\hat w`, ``(K,)``.
    covariance:
        Sandwich covariance, ``(K, K)``.
    hessian_covariance:
        Inverse Hessian :math:`A^{-1}`, ``(K, K)``.
    normalisation:
        :math:`\\bar f^\\top \\hat w` (1 at convergence).
    iterations:
        Newton iterations used.
    """

    weights: FloatArray
    covariance: FloatArray
    hessian_covariance: FloatArray
    normalisation: float
    iterations: int

    def ratio(self, members: ArrayLike) -> FloatArray:
        """:math:`r_{\\hat w}(x) = \\sum_i \\hat w_i f_i(x)` from member ratios ``(K, N)``, ``(N,)``."""
        f = _members(members, self.weights.size)
        return self.weights @ f

    def ratio_std(self, members: ArrayLike, *, sandwich: bool = True) -> FloatArray:
        """Standard deviation of :math:`r_{\\hat w}(x)` (delta method), ``(N,)``."""
        f = _members(members, self.weights.size)
        cov = self.covariance if sandwich else self.hessian_covariance
        return np.sqrt(np.maximum(np.einsum("kn,kl,ln->n", f, cov, f), 0.0))


def _members(members: ArrayLike, k: int | None = None) -> FloatArray:
    f = np.asarray(members, dtype=np.float64)
    if f.ndim != 2 or (k is not None and f.shape[0] != k):
        raise InferenceError(f"parameter 'members' must have shape ({k or 'K'}, N), got {f.shape}")
    if not np.all(np.isfinite(f)):
        raise InferenceError("parameter 'members' contains non-finite ratios")
    return f


def fit_ensemble_weights(numerator: ArrayLike, reference: ArrayLike, *, rcond: float = 1e-10,
                         max_iterations: int = 100, tolerance: float = 1e-10) -> EnsembleWeights:
    """Maximum-likelihood weights of frozen members (module docstring).

    Parameters
    ----------
    numerator:
        Member ratios :math:`f_i(x_j)` on the held-out numerator sample, ``(K, N_1)``.
    reference:
        Member ratios :math:`f_i(y_k)` on the held-out reference sample, ``(K, N_0)``.
    rcond:
        Relative eigenvalue cut-off of the pseudo-inverses.
    """
    f1 = _members(numerator)
    f0 = _members(reference, f1.shape[0])
    k, n1 = f1.shape
    if n1 < k or f0.shape[1] < 2:
        raise InferenceError(f"parameters 'numerator', 'reference' need at least K = {k} and 2 events, got "
                             f"{n1} and {f0.shape[1]}")
    if np.any(f1.mean(axis=1) <= 0):
        raise InferenceError("parameter 'numerator': every member must have a positive mean ratio")
    fbar = f0.mean(axis=1)

    def objective(w: FloatArray) -> float:
        r = w @ f1
        return -np.inf if np.any(r <= 0) else float(np.sum(np.log(r)) - n1 * fbar @ w)

    w = np.full(k, 1.0 / k) / (fbar.mean() if fbar.mean() > 0 else 1.0)
    value = objective(w)
    it = 0
    for it in range(1, max_iterations + 1):  # noqa: B007 - the count is reported
        h = f1 / (w @ f1)
        grad = h.sum(axis=1) - n1 * fbar
        info = h @ h.T
        step = _pinv(info, rcond) @ grad
        scale = 1.0
        while True:
            trial = w + scale * step
            new = objective(trial)
            if new >= value - 1e-12 * abs(value) or scale < 1e-8:
                break
            scale *= 0.5
        converged = abs(new - value) <= tolerance * max(1.0, abs(value))
        if np.isfinite(new) and new >= value - 1e-12 * abs(value):
            w, value = trial, new
        if converged:
            break
    h = f1 / (w @ f1)
    inv = _pinv(h @ h.T, rcond)
    centred = h - h.mean(axis=1, keepdims=True)
    meat = centred @ centred.T + (n1**2 / f0.shape[1]) * np.cov(f0)
    return EnsembleWeights(w, inv @ meat @ inv, inv, float(fbar @ w), it)


def _pinv(matrix: FloatArray, rcond: float) -> FloatArray:
    vals, vecs = np.linalg.eigh(0.5 * (matrix + matrix.T))
    keep = vals > rcond * max(vals.max(), 0.0)
    inv_vals = np.where(keep, 1.0 / np.where(keep, vals, 1.0), 0.0)
    return (vecs * inv_vals) @ vecs.T


def propagate(gradient: ArrayLike, covariance: ArrayLike) -> FloatArray:
    """:math:`\\sigma = \\sqrt{g^\\top \\Sigma g}` for gradients ``(n, K)`` (or ``(K,)``), ``(n,)``."""
    g = np.atleast_2d(np.asarray(gradient, dtype=np.float64))
    cov = np.asarray(covariance, dtype=np.float64)
    if cov.shape != (g.shape[1], g.shape[1]):
        raise InferenceError(f"parameter 'covariance' must have shape ({g.shape[1]}, {g.shape[1]}), got {cov.shape}")
    return np.sqrt(np.maximum(np.einsum("nk,kl,nl->n", g, cov, g), 0.0))


def endpoint_uncertainty(axis: ArrayLike, q: ArrayLike, sigma_q: ArrayLike, threshold: float
                         ) -> tuple[float, float, float, float]:
    """Ends of :math:`\\{\\mu: q(\\mu) \\le {\\rm threshold}\\}` and their standard deviations
    :math:`\\sigma_q(\\mu_e)/|q'(\\mu_e)|` (linear interpolation; NaN where q does not cross).

    Returns ``(lower, sigma_lower, upper, sigma_upper)``.
    """
    x = np.asarray(axis, dtype=np.float64)
    qq = np.asarray(q, dtype=np.float64)
    sq = np.asarray(sigma_q, dtype=np.float64)
    if not (x.shape == qq.shape == sq.shape) or x.ndim != 1 or x.size < 3:
        raise InferenceError(f"parameters 'axis', 'q', 'sigma_q' must be 1-d of one length >= 3, got "
                             f"{x.shape}, {qq.shape}, {sq.shape}")
    k = int(np.argmin(qq))
    slope = np.gradient(qq, x)

    def cross(i: int, j: int) -> tuple[float, float]:
        frac = (threshold - qq[i]) / (qq[j] - qq[i])
        where = x[i] + frac * (x[j] - x[i])
        s = sq[i] + frac * (sq[j] - sq[i])
        d = slope[i] + frac * (slope[j] - slope[i])
        return float(where), float(s / abs(d)) if d != 0 else float("inf")

    lo = k
    while lo > 0 and qq[lo - 1] <= threshold:
        lo -= 1
    hi = k
    while hi < x.size - 1 and qq[hi + 1] <= threshold:
        hi += 1
    lower = cross(lo - 1, lo) if lo > 0 else (float(x[0]) if qq[0] <= threshold else float("nan"), float("nan"))
    upper = cross(hi, hi + 1) if hi < x.size - 1 else (float("nan"), float("nan"))
    return lower[0], lower[1], upper[0], upper[1]
