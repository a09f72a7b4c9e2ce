r"""Focus functions f(μ) of the focused test statistic, as quadrature rules on the physical range.

The FTS denominator :math:`\int p(D\mid\mu)\,f(\mu)\,d\mu` is computed as
:math:`\log\sum_k \exp\big(\log w_k + \log p(D\mid\mu_k)\big)` (log-sum-exp) with nodes μ_k and weights
:math:`w_k \propto f(\mu_k)\,\Delta_k` (composite Simpson weights Δ_k), normalised so that
:math:`\sum_k w_k = 1` on the range where f and the model's physical bounds overlap.  The normalisation
is therefore that of f *truncated to the physical range* (e.g. a Gaussian centred at 0 on μ ≥ 0 is a
half-normal), whatever the user supplied.

* :class:`GaussianFocus` — :math:`f(\mu) \propto \exp[-(\mu - m)^2 / 2w^2]` on the physical range; nodes
  span ``m ± span·w`` intersected with the range;
* :class:`CallableFocus` — any non-negative density (vectorised callable) on a finite range.

Reference: J. Carzon, A. Ghosh, R. Izbicki, A. Lee, L. Masserano, D. Whiteson, *On focusing statistical
power for searches and measurements in particle physics*, arXiv:2507.17831.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.inference.errors import InferenceError

__all__ = ["CallableFocus", "Focus", "GaussianFocus", "simpson_weights"]


@runtime_checkable
class Focus(Protocol):
    """A focus function: gives normalised log quadrature weights on a physical range."""

    def quadrature(self, bounds: tuple[float, float]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Nodes μ_k and log-weights log w_k with Σ w_k = 1 on ``bounds`` (lower, upper)."""
        ...


def simpson_weights(nodes: NDArray[np.float64]) -> NDArray[np.float64]:
    """Composite Simpson weights of an equally spaced, odd-sized node array (trapezoid if even)."""
    n = nodes.shape[0]
    if n < 2:
        raise InferenceError(f"parameter 'nodes' needs at least 2 points, got {n}")
    h = (nodes[-1] - nodes[0]) / (n - 1)
    if n % 2 == 1 and n >= 3:
        w = np.ones(n)
        w[1:-1:2] = 4.0
        w[2:-1:2] = 2.0
        return w * h / 3.0
    w = np.full(n, h)
    w[[0, -1]] = h / 2.0
    return w


def _normalise(nodes: NDArray[np.float64], log_density: NDArray[np.float64], what: str
               ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    with np.errstate(divide="ignore"):
        log_w = log_density + np.log(simpson_weights(nodes))
    finite = np.isfinite(log_w)
    if not np.any(finite):
        raise InferenceError(f"{what} has no mass on the physical range [{nodes[0]:g}, {nodes[-1]:g}]")
    top = float(np.max(log_w[finite]))
    log_norm = top + math.log(float(np.sum(np.exp(log_w[finite] - top))))
    return nodes, log_w - log_norm


@dataclass(frozen=True)
class GaussianFocus:
    r"""Gaussian focus :math:`N(\mu; m, w^2)` truncated to the physical range.

    Parameters
    ----------
    centre:
        m, where the power is wanted (0 for a search, the SM value for a measurement).
    width:
        w > 0.  Small w ("FTS-narrow") concentrates power near m; w → ∞ approaches a flat focus.
    n_nodes:
        Quadrature nodes (odd, for Simpson's rule).  The node spacing must resolve the likelihood in μ.
    span:
        The nodes cover ``m ± span·w`` (intersected with the physical range).
    """

    centre: float = 0.0
    width: float = 1.0
    n_nodes: int = 801
    span: float = 10.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.centre)):
            raise InferenceError(f"parameter 'centre' must be finite, got {self.centre}")
        if not (self.width > 0 and math.isfinite(self.width)):
            raise InferenceError(f"parameter 'width' must be positive and finite, got {self.width}")
        if self.n_nodes < 3:
            raise InferenceError(f"parameter 'n_nodes' must be at least 3, got {self.n_nodes}")
        if not self.span > 0:
            raise InferenceError(f"parameter 'span' must be positive, got {self.span}")

    @property
    def label(self) -> str:
        """``N(m, w²)`` for tables."""
        return f"N({self.centre:g},{self.width:g}²)"

    def quadrature(self, bounds: tuple[float, float]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        lo = max(bounds[0], self.centre - self.span * self.width)
        hi = min(bounds[1], self.centre + self.span * self.width)
        if not hi > lo:
            raise InferenceError(f"focus {self.label} does not overlap the physical range {bounds}")
        n = self.n_nodes if self.n_nodes % 2 == 1 else self.n_nodes + 1
        nodes = np.linspace(lo, hi, n)
        return _normalise(nodes, -0.5 * ((nodes - self.centre) / self.width) ** 2, f"focus {self.label}")


@dataclass(frozen=True)
class CallableFocus:
    """A user-supplied focus density on ``[lower, upper]`` (intersected with the physical range).

    Parameters
    ----------
    density:
        Vectorised callable μ-array → f(μ) ≥ 0 (need not be normalised).
    lower, upper:
        Finite range of the quadrature nodes.
    n_nodes:
        Quadrature nodes (odd, for Simpson's rule).
    """

    density: Callable[[NDArray[np.float64]], ArrayLike]
    lower: float
    upper: float
    n_nodes: int = 801
    name: str = "user focus"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lower) and math.isfinite(self.upper) and self.upper > self.lower):
            raise InferenceError(f"parameters 'lower', 'upper' must be finite with lower < upper, "
                                 f"got {self.lower}, {self.upper}")
        if self.n_nodes < 3:
            raise InferenceError(f"parameter 'n_nodes' must be at least 3, got {self.n_nodes}")

    @property
    def label(self) -> str:
        return self.name

    def quadrature(self, bounds: tuple[float, float]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        lo, hi = max(bounds[0], self.lower), min(bounds[1], self.upper)
        if not hi > lo:
            raise InferenceError(f"{self.name} on [{self.lower}, {self.upper}] does not overlap the "
                                 f"physical range {bounds}")
        n = self.n_nodes if self.n_nodes % 2 == 1 else self.n_nodes + 1
        nodes = np.linspace(lo, hi, n)
        values = np.asarray(self.density(nodes), dtype=float)
        if values.shape != nodes.shape:
            raise InferenceError(f"parameter 'density' returned shape {values.shape} for {n} nodes")
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise InferenceError("parameter 'density' must return finite, non-negative values")
        with np.errstate(divide="ignore"):
            return _normalise(nodes, np.log(values), self.name)
