r"""Systematic uncertainties for per-event (NSBI) likelihoods: vertical interpolation of ±1σ ratios, profiling.

A nuisance parameter α with a Gaussian constraint varies one physical process p.  Its ±1σ variations
enter through per-event ratios :math:`r_\pm(x) = p_\pm(x)\,\nu_\pm / (p(x)\,\nu)` (the varied over the nominal
*yield density*, learned by a ratio network of the varied against the nominal sample, or exact), and
the varied density is the nominal one times a vertically interpolated factor :math:`\eta(\alpha; x)`:

.. math::

    \eta(\alpha; x) = \begin{cases} r_+(x)^{\alpha} & \alpha \ge 1\\
        1 + \sum_{k=1}^{6} a_k(x)\,\alpha^k & |\alpha| < 1\\ r_-(x)^{-\alpha} & \alpha \le -1 \end{cases}

the HistFactory/pyhf interpolation code 4 ("piecewise exponential with polynomial interpolation"):
the six coefficients make η, η′ and η″ continuous at α = ±1 with the exponential branches, so η > 0
and smooth (K. Cranmer, G. Lewis, L. Moneta, A. Shibata, W. Verkerke, *HistFactory: a tool for creating
statistical models for use with RooFit and RooStats*, CERN-OPEN-2012-016; L. Heinrich, M. Feickert,
G. Stark, K. Cranmer, *pyhf*, JOSS 6 (2021) 2823, "interpolation codes").  Applied event by event it is
the per-event systematic treatment of the ATLAS NSBI framework (Rep. Prog. Phys. **88** (2025) 067801).
:func:`interpolate_polynomial` is the alternative quadratic vertical interpolation
:math:`\eta = 1 + \alpha(r_+ - r_-)/2 + \alpha^2(r_+ + r_- - 2)/2` (exact at 0, ±1; may turn negative).

:class:`ProfiledMixture` adds one such nuisance to a :class:`~nextsm.inference.mixture.MixtureModel`:

.. math::

    n(x|\mu,\alpha) = \sum_j f_j(\mu)\,\nu_j\,p_j(x) + g(\mu)\,\nu_p\,p_p(x)\,[\eta(\alpha;x) - 1],\qquad
    \nu(\mu,\alpha) = \nu(\mu) + g(\mu)\,\nu_p\,\big(E_p[\eta(\alpha)] - 1\big),

.. math::

    \log L(\mu, \alpha) = -\nu(\mu,\alpha) + \sum_i w_i\log\frac{n(x_i|\mu,\alpha)}{p_{\rm ref}(x_i)} - \frac{\alpha^2}{2},

with g(μ) the coefficient of process p in the physical density (1 for the background of the interference
mixture, whose B content is spread over the SBI and B basis samples) and :math:`E_p[\eta(\alpha)]` the
yield factor (exact by quadrature, or the mean of η over a sample of p).  :meth:`ProfiledMixture.profile`
maximises over α for every μ (bounded Brent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar

from nextsm.inference.errors import InferenceError
from nextsm.inference.mixture import MixtureModel

__all__ = ["ProfiledMixture", "code4_coefficients", "interpolate_code4", "interpolate_polynomial",
           "sample_mean_expectation"]

FloatArray = NDArray[np.float64]


def _ratio_pair(r_up: ArrayLike, r_down: ArrayLike) -> tuple[FloatArray, FloatArray]:
    up = np.asarray(r_up, dtype=np.float64)
    down = np.asarray(r_down, dtype=np.float64)
    if up.shape != down.shape or up.ndim != 1:
        raise InferenceError(f"parameters 'r_up', 'r_down' must be 1-d arrays of one shape, got {up.shape}, "
                             f"{down.shape}")
    if not (np.all(up > 0) and np.all(down > 0) and np.all(np.isfinite(up)) and np.all(np.isfinite(down))):
        raise InferenceError("parameters 'r_up', 'r_down' must be finite and positive (code 4 is multiplicative)")
    return up, down


def _code4_inverse() -> FloatArray:
    # rows: value, first and second derivative of sum_k a_k α^k at α = +1 and α = -1
    rows = []
    for a in (1.0, -1.0):
        rows.append([a**k for k in range(1, 7)])
        rows.append([k * a ** (k - 1) for k in range(1, 7)])
        rows.append([k * (k - 1) * a ** (k - 2) for k in range(1, 7)])
    return np.linalg.inv(np.array(rows))


def code4_coefficients(r_up: ArrayLike, r_down: ArrayLike) -> FloatArray:
    """The polynomial coefficients :math:`a_1 … a_6` of code 4 per event, ``(N, 6)`` (module docstring)."""
    up, down = _ratio_pair(r_up, r_down)
    lu, ld = np.log(up), np.log(down)
    # targets at α = +1: η-1, η', η'' of r_+^α; at α = -1 of r_-^{-α}
    targets = np.stack([up - 1.0, up * lu, up * lu**2, down - 1.0, -down * ld, down * ld**2], axis=1)
    return targets @ _code4_inverse().T


def interpolate_code4(alpha: ArrayLike, r_up: ArrayLike, r_down: ArrayLike) -> FloatArray:
    """:math:`\\eta(\\alpha_k; x_i)` of code 4, ``(n_α, N)``; exactly :math:`r_\\pm` at α = ±1 and 1 at α = 0."""
    a = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
    if a.ndim != 1 or not np.all(np.isfinite(a)):
        raise InferenceError(f"parameter 'alpha' must be a finite scalar or 1-d array, got shape {np.shape(alpha)}")
    up, down = _ratio_pair(r_up, r_down)
    coeff = code4_coefficients(up, down)
    inner = np.clip(a, -1.0, 1.0)
    powers = inner[:, None] ** np.arange(1, 7)[None, :]
    poly = 1.0 + powers @ coeff.T
    high = np.exp(np.maximum(a, 1.0)[:, None] * np.log(up)[None, :])
    low = np.exp(-np.minimum(a, -1.0)[:, None] * np.log(down)[None, :])
    return np.where(a[:, None] >= 1.0, high, np.where(a[:, None] <= -1.0, low, poly))


def interpolate_polynomial(alpha: ArrayLike, r_up: ArrayLike, r_down: ArrayLike) -> FloatArray:
    """Quadratic vertical interpolation (module docstring), ``(n_α, N)``."""
    a = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
    up = np.asarray(r_up, dtype=np.float64)
    down = np.asarray(r_down, dtype=np.float64)
    if up.shape != down.shape or up.ndim != 1:
        raise InferenceError(f"parameters 'r_up', 'r_down' must be 1-d arrays of one shape, got {up.shape}, "
                             f"{down.shape}")
    return 1.0 + a[:, None] * (0.5 * (up - down))[None, :] + (a**2)[:, None] * (0.5 * (up + down) - 1.0)[None, :]


def sample_mean_expectation(r_up: ArrayLike, r_down: ArrayLike,
                            interpolation: Callable[[ArrayLike, ArrayLike, ArrayLike], FloatArray] = interpolate_code4
                            ) -> Callable[[float], float]:
    """:math:`\\alpha \\mapsto E_p[\\eta(\\alpha)]` estimated by the mean over a sample of process p."""
    up, down = np.asarray(r_up, dtype=np.float64), np.asarray(r_down, dtype=np.float64)

    def expectation(alpha: float) -> float:
        return float(np.mean(interpolation(alpha, up, down)))

    return expectation


@dataclass(frozen=True)
class ProfiledMixture:
    """A mixture with one Gaussian-constrained shape nuisance on basis sample ``process`` (module docstring).

    Parameters
    ----------
    mixture:
        The nominal :class:`~nextsm.inference.mixture.MixtureModel`.
    process:
        Index of the basis sample whose physical process is varied.
    expectation:
        α ↦ :math:`E_p[\\eta(\\alpha)]` (exact, or :func:`sample_mean_expectation`).
    physical_coefficient:
        μ ↦ g(μ), the coefficient of the process in the physical density (default 1).
    interpolation:
        :func:`interpolate_code4` (default) or :func:`interpolate_polynomial`.
    alpha_range:
        Bounds of the profiled α.
    """

    mixture: MixtureModel
    process: int
    expectation: Callable[[float], float]
    physical_coefficient: Callable[[FloatArray], FloatArray] | None = None
    interpolation: Callable[[ArrayLike, ArrayLike, ArrayLike], FloatArray] = interpolate_code4
    alpha_range: tuple[float, float] = (-5.0, 5.0)

    def __post_init__(self) -> None:
        if not 0 <= self.process < self.mixture.n_basis:
            raise InferenceError(f"parameter 'process' must index one of {self.mixture.names}, got {self.process}")
        if not self.alpha_range[0] < 0 < self.alpha_range[1]:
            raise InferenceError(f"parameter 'alpha_range' must contain 0, got {self.alpha_range}")

    def _g(self, mu: FloatArray) -> FloatArray:
        if self.physical_coefficient is None:
            return np.ones_like(mu)
        return np.asarray(self.physical_coefficient(mu), dtype=np.float64)

    def log_likelihood(self, log_r: ArrayLike, r_up: ArrayLike, r_down: ArrayLike, mu: float, alpha: float,
                       weights: ArrayLike | None = None) -> float:
        """:math:`\\log L(\\mu, \\alpha)` including the constraint :math:`-\\alpha^2/2`."""
        lr = np.asarray(log_r, dtype=np.float64)
        w = np.ones(lr.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
        m = np.array([float(mu)])
        nominal = self.mixture.bracket(lr, m)[0]
        g = float(self._g(m)[0])
        nu_p = self.mixture.yields[self.process]
        eta = self.interpolation(alpha, r_up, r_down)[0]
        value = nominal + g * nu_p * np.exp(lr[:, self.process]) * (eta - 1.0)
        value = np.maximum(value, self.mixture.floor * np.abs(nominal) + 1e-300)
        total = float(self.mixture.total_yield(m)[0]) + g * nu_p * (self.expectation(float(alpha)) - 1.0)
        return float(-total + np.log(value) @ w - 0.5 * float(alpha) ** 2)

    def profile(self, log_r: ArrayLike, r_up: ArrayLike, r_down: ArrayLike, mu: ArrayLike,
                weights: ArrayLike | None = None) -> tuple[FloatArray, FloatArray]:
        """:math:`\\max_\\alpha \\log L(\\mu, \\alpha)` and :math:`\\hat\\alpha(\\mu)` for every μ, each ``(n_μ,)``."""
        grid = np.atleast_1d(np.asarray(mu, dtype=np.float64))
        best, where = np.empty(grid.size), np.empty(grid.size)
        for k, m in enumerate(grid):
            res = minimize_scalar(lambda a, m=m: -self.log_likelihood(log_r, r_up, r_down, m, a, weights),
                                  bounds=self.alpha_range, method="bounded", options={"xatol": 1e-5})
            best[k], where[k] = -float(res.fun), float(res.x)
        return best, where
