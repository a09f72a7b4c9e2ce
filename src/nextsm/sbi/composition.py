r"""Signal + background likelihood ratios by composition of a signal-only ratio and a signal/background ratio.

When the backgrounds do not depend on θ, the expected event density is
:math:`n(x|\theta) = \nu_s(\theta)\,p_s(x|\theta) + \nu_b\,p_b(x)` and its ratio to the reference is

.. math::

    r_{S+B}(x|\theta) = \frac{p(x|\theta)}{p(x|\theta_0)}
        = \frac{\nu_s(\theta)\,r_s(x|\theta)\,\rho(x) + \nu_b}{\nu_s(\theta_0)\,\rho(x) + \nu_b}
          \cdot\frac{\nu_s(\theta_0) + \nu_b}{\nu_s(\theta) + \nu_b},
    \qquad r_s = \frac{p_s(x|\theta)}{p_s(x|\theta_0)},\quad \rho = \frac{p_s(x|\theta_0)}{p_b(x)} .

The extended likelihood needs only the first factor: with the total rate
:math:`\nu(\theta) = \nu_s(\theta) + \nu_b`, :func:`~nextsm.sbi.inference.extended_log_likelihood` adds
:math:`n\log\nu(\theta)/\nu(\theta_0) - [\nu(\theta) - \nu(\theta_0)]` to :math:`\sum_i\log r_{S+B}(x_i|\theta)`,
so :func:`composed_log_ratio` returns the normalised :math:`\log r_{S+B}` (both factors).  This is the
two-process NSBI mixture of :mod:`nextsm.inference.mixture` (basis: the signal at θ and the background,
reference :math:`p_s(x|\theta_0)`), with a θ-dependent signal ratio.

Ingredients: :math:`r_s` from any signal-only ratio estimator (ALICES, the morphing-aware component
regression), trained without background events, so a few heavily weighted background events cannot
dominate its training set; :math:`\rho` from a signal-versus-background classifier trained with the event
weights and balanced classes (:func:`~nextsm.sbi.estimators.pairwise.train_pairwise_ratio`, calibrated with
:meth:`~nextsm.sbi.estimators.pairwise.PairwiseRatio.calibrated` on the background sample).

The same composition gives the S+B score from a signal-only SALLY score (:func:`composed_score`):
:math:`\nabla_\theta\log n(x|\theta)|_{\theta_0} = f(x)\,[t_s(x) + \nabla_\theta\log\nu_s]`, with the signal
fraction :math:`f(x) = \nu_s\rho/(\nu_s\rho + \nu_b)`, up to a constant (the gradient of the normalisation).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi.errors import SBIError

__all__ = ["composed_log_ratio", "composed_score", "signal_fraction"]

FloatArray = NDArray[np.float64]


def _positive(value: ArrayLike, name: str) -> FloatArray:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise SBIError(f"parameter '{name}' must be finite and positive")
    return arr


def composed_log_ratio(log_r_signal: ArrayLike, log_rho: ArrayLike, nu_signal: ArrayLike, nu_signal_ref: float,
                       nu_background: float) -> FloatArray:
    """:math:`\\log r_{S+B}(x_i|\\theta_j)` (module docstring), ``(n_θ, N)``.

    Parameters
    ----------
    log_r_signal:
        :math:`\\log r_s(x_i|\\theta_j)`, ``(n_θ, N)``.
    log_rho:
        :math:`\\log p_s(x_i|\\theta_0)/p_b(x_i)`, ``(N,)``.
    nu_signal:
        :math:`\\nu_s(\\theta_j)` (or :math:`\\sigma_s(\\theta_j)`: only ratios of yields enter), ``(n_θ,)``.
    nu_signal_ref, nu_background:
        :math:`\\nu_s(\\theta_0)` and the total background :math:`\\nu_b`, in the units of ``nu_signal``.
    """
    lr = np.atleast_2d(np.asarray(log_r_signal, dtype=np.float64))
    rho = np.asarray(log_rho, dtype=np.float64)
    nu_s = _positive(nu_signal, "nu_signal")
    nu_s0 = float(_positive(nu_signal_ref, "nu_signal_ref")[0])
    nu_b = float(_positive(nu_background, "nu_background")[0])
    if rho.ndim != 1 or lr.shape != (nu_s.size, rho.size):
        raise SBIError(f"parameter 'log_r_signal' must have shape ({nu_s.size}, {rho.size}), got {lr.shape}")
    num = np.logaddexp(np.log(nu_s)[:, None] + lr + rho[None, :], np.log(nu_b))
    den = np.logaddexp(np.log(nu_s0) + rho, np.log(nu_b))
    norm = np.log(nu_s0 + nu_b) - np.log(nu_s + nu_b)
    return num - den[None, :] + norm[:, None]


def signal_fraction(log_rho: ArrayLike, nu_signal_ref: float, nu_background: float) -> FloatArray:
    """:math:`f(x) = \\nu_s\\rho/(\\nu_s\\rho + \\nu_b)` at the reference, ``(N,)``."""
    rho = np.asarray(log_rho, dtype=np.float64)
    nu_s0 = float(_positive(nu_signal_ref, "nu_signal_ref")[0])
    nu_b = float(_positive(nu_background, "nu_background")[0])
    return 1.0 / (1.0 + np.exp(np.log(nu_b) - np.log(nu_s0) - rho))


def composed_score(score_signal: ArrayLike, log_rho: ArrayLike, nu_signal_ref: float, nu_background: float,
                   nu_signal_gradient: ArrayLike) -> FloatArray:
    """:math:`f(x)[t_s(x) + \\nabla_\\theta\\log\\nu_s]`, the S+B score at the reference up to a constant, ``(N, p)``.

    ``nu_signal_gradient`` is :math:`\\nabla_\\theta\\nu_s(\\theta_0)` ``(p,)`` in the units of ``nu_signal_ref``.
    """
    t = np.atleast_2d(np.asarray(score_signal, dtype=np.float64))
    grad = np.asarray(nu_signal_gradient, dtype=np.float64)
    f = signal_fraction(log_rho, nu_signal_ref, nu_background)
    if t.shape != (f.size, grad.size):
        raise SBIError(f"parameter 'score_signal' must have shape ({f.size}, {grad.size}), got {t.shape}")
    return f[:, None] * (t + grad[None, :] / nu_signal_ref)
