r"""Conditional-quantile regression of a test statistic on μ (the amortised critical value ĉ_α(μ)).

Both regressors minimise the pinball (check) loss of level τ = 1 − α,

.. math::

    \hat q = \arg\min_q \sum_i \rho_\tau\big(T_i - q(\mu_i)\big), \qquad
    \rho_\tau(r) = r\,(\tau - 1\{r < 0\}),

whose population minimiser is the conditional τ-quantile (R. Koenker and G. Bassett, *Econometrica*
**46** (1978) 33).

* :class:`SplineQuantileRegression` (numpy/scipy, the default): q(μ) = Σ_j β_j B_j(μ), cubic B-splines
  with interior knots at quantiles of the design μ_i; the loss is minimised *exactly* as the linear
  programme min τ1ᵀu⁺ + (1 − τ)1ᵀu⁻ s.t. Xβ + u⁺ − u⁻ = T, u± ≥ 0, solved in its dual form
  max Tᵀa s.t. Xᵀa = (1 − τ)Xᵀ1, 0 ≤ a ≤ 1, whose equality multipliers are −β (Koenker 2005,
  *Quantile Regression*, §6.2; HiGHS via ``scipy.optimize.linprog``; p constraints instead of n).
* :class:`BoostingQuantileRegression` — scikit-learn's ``HistGradientBoostingRegressor(loss="quantile")``
  (the FTS paper's choice), imported lazily; install the ``inference`` extra
  (``pip install 'nextsm[inference]'``).

Both have ``fit(mu, t, quantile) → fitted`` with ``fitted.predict(mu)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.inference.errors import InferenceError

__all__ = ["BoostingQuantileRegression", "FittedQuantile", "SplineQuantileRegression", "bspline_basis",
           "pinball_loss"]


def pinball_loss(residual: ArrayLike, quantile: float) -> float:
    """Mean pinball loss ρ_τ of residuals ``T − q`` (module docstring)."""
    r = np.asarray(residual, dtype=float)
    return float(np.mean(r * (quantile - (r < 0))))


def _inputs(mu: ArrayLike, t: ArrayLike, quantile: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(mu, dtype=float).reshape(-1)
    y = np.asarray(t, dtype=float).reshape(-1)
    if x.shape != y.shape or x.size < 10:
        raise InferenceError(f"parameters 'mu' and 't' must be 1-d of equal length ≥ 10, got {x.shape}, {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InferenceError("parameters 'mu' and 't' must be finite")
    if not 0.0 < quantile < 1.0:
        raise InferenceError(f"parameter 'quantile' must lie in (0, 1), got {quantile}")
    return x, y


def bspline_basis(x: NDArray[np.float64], knots: NDArray[np.float64], degree: int = 3) -> NDArray[np.float64]:
    """Dense B-spline design matrix on the full knot vector ``knots`` (values outside are clamped)."""
    from scipy.interpolate import BSpline

    lo, hi = knots[degree], knots[-degree - 1]
    xc = np.clip(x, lo, hi)
    return np.asarray(BSpline.design_matrix(xc, knots, degree).toarray())


@dataclass(frozen=True)
class FittedQuantile:
    """A fitted spline quantile curve q(μ) = Σ_j β_j B_j(μ) (constant beyond the design range)."""

    knots: NDArray[np.float64]
    coefficients: NDArray[np.float64]
    quantile: float
    degree: int = 3

    def predict(self, mu: ArrayLike) -> NDArray[np.float64]:
        x = np.atleast_1d(np.asarray(mu, dtype=float))
        return bspline_basis(x, self.knots, self.degree) @ self.coefficients


@dataclass(frozen=True)
class SplineQuantileRegression:
    """Cubic-spline quantile regression solved as a linear programme (module docstring).

    Parameters
    ----------
    n_knots:
        Interior knots (at quantiles of the design μ_i); more knots follow sharper features of c_α(μ)
        at the price of variance (≈ 20 design points per coefficient are needed for stability).
    degree:
        Spline degree.
    """

    n_knots: int = 8
    degree: int = 3

    def __post_init__(self) -> None:
        if self.n_knots < 0:
            raise InferenceError(f"parameter 'n_knots' must be non-negative, got {self.n_knots}")
        if self.degree < 0:
            raise InferenceError(f"parameter 'degree' must be non-negative, got {self.degree}")

    def fit(self, mu: ArrayLike, t: ArrayLike, quantile: float) -> FittedQuantile:
        from scipy.optimize import linprog

        x, y = _inputs(mu, t, quantile)
        lo, hi = float(x.min()), float(x.max())
        if not hi > lo:
            raise InferenceError("parameter 'mu' must take more than one value")
        inner = np.quantile(x, np.linspace(0, 1, self.n_knots + 2)[1:-1])
        knots = np.concatenate([np.full(self.degree + 1, lo), inner, np.full(self.degree + 1, hi)])
        design = bspline_basis(x, knots, self.degree)
        res = linprog(-y, A_eq=design.T, b_eq=(1.0 - quantile) * design.sum(axis=0), bounds=(0.0, 1.0),
                      method="highs")
        if res.status != 0:
            raise InferenceError(f"quantile regression failed: {res.message}")
        return FittedQuantile(knots, -np.asarray(res.eqlin.marginals, dtype=float), float(quantile), self.degree)


@dataclass(frozen=True)
class _FittedBoosting:
    model: Any
    quantile: float

    def predict(self, mu: ArrayLike) -> NDArray[np.float64]:
        x = np.atleast_1d(np.asarray(mu, dtype=float)).reshape(-1, 1)
        return np.asarray(self.model.predict(x), dtype=float)


@dataclass(frozen=True)
class BoostingQuantileRegression:
    """Gradient-boosted quantile regression (scikit-learn, the ``inference`` extra).

    Parameters are those of ``HistGradientBoostingRegressor``; ``seed`` fixes its ``random_state``.
    """

    max_iter: int = 300
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 50
    seed: int = 0

    def fit(self, mu: ArrayLike, t: ArrayLike, quantile: float) -> _FittedBoosting:
        x, y = _inputs(mu, t, quantile)
        try:
            from sklearn.ensemble import HistGradientBoostingRegressor
        except ImportError:
            raise InferenceError("BoostingQuantileRegression needs scikit-learn: "
                                 "pip install 'nextsm[inference]'") from None
        model = HistGradientBoostingRegressor(loss="quantile", quantile=quantile, max_iter=self.max_iter,
                                              learning_rate=self.learning_rate,
                                              max_leaf_nodes=self.max_leaf_nodes,
                                              min_samples_leaf=self.min_samples_leaf, early_stopping=False,
                                              random_state=self.seed)
        model.fit(x.reshape(-1, 1), y)
        return _FittedBoosting(model, float(quantile))
