r"""Likelihood models for Neyman constructions: anything that gives log p(D|μ) on a μ grid and can simulate.

The one contract (:class:`LikelihoodModel`) is deliberately small so that any likelihood plugs in — the
closed-form models here, the likelihood engine of a database result (:class:`DatabaseResultModel`), and
later a neural (NSBI) estimator of log p(D|μ) for a data set:

* ``bounds`` — the physical range (lower, upper) of μ (``upper`` may be ``inf``);
* ``log_likelihood(data, mu)`` — ``log p(D_i | μ_j)`` for data sets ``D_i`` (first axis of ``data``) and a
  μ grid, shape ``(n_data, n_mu)``; constants that depend on the data only may be dropped (every statistic
  is a ratio at fixed D);
* ``sample(mu, n, rng)`` — ``n`` data sets, at one μ or at ``mu[i]`` for data set ``i``.

Optional capabilities, used when present:

* ``max_log_likelihood(data)`` (:class:`SupportsMaximum`) — ``sup_{μ ∈ bounds} log p(D|μ)``, for the LRT;
  otherwise a grid search is used;
* ``log_likelihood_at(data, mu)`` (:class:`SupportsPointwise`) — ``log p(D_i | μ_i)``, shape ``(n,)``;
* ``outcomes(mu_max)``, ``outcome_probabilities(outcomes, mu)`` and ``continuous`` (:class:`ExactModel`) —
  a finite set of outcomes (counts, or fine cells of a continuous observable) and their probabilities,
  for exact belts and exact coverage.

Models
------
* :class:`BoundedGaussianMean` — x ~ N(μ, σ²), μ ∈ [lower, upper] (Feldman & Cousins 1998, §IV.B);
* :class:`PoissonCounting` — n ~ Pois(μ s + b), known b, μ ≥ 0 (Feldman & Cousins 1998, §IV.A);
* :class:`DatabaseResultModel` — the Poisson ⊗ Gaussian likelihood of efficiency-map signal regions of
  the SModelS database (:class:`~nextsm.likelihoods.simplified.PoissonGaussian`, profiled or
  marginalised), with signal yields s at μ = 1.  Toys are *hybrid* (prior-predictive) draws from the
  result's background model, as for nextsm's fake databases: λ_bkg = max(0, b + δb z), z ~ N(0, 1),
  n ~ Pois(μ s + λ_bkg); the exact outcome probabilities of one region are
  :math:`P(n|\mu) = \int \mathrm{Pois}(n \mid \mu s + \max(0, b + \delta b\, z))\,\varphi(z)\,dz`
  (midpoint rule on z ∈ [−9, 9]).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln, ndtr, xlogy
from scipy.stats import poisson

from nextsm.inference.errors import InferenceError

if TYPE_CHECKING:
    from nextsm.likelihoods.base import StatisticalModel

__all__ = [
    "BoundedGaussianMean",
    "DatabaseResultModel",
    "ExactModel",
    "LikelihoodModel",
    "PoissonCounting",
    "SupportsMaximum",
    "SupportsPointwise",
    "mu_per_dataset",
]


@runtime_checkable
class LikelihoodModel(Protocol):
    """The contract of every model (module docstring)."""

    @property
    def bounds(self) -> tuple[float, float]: ...

    def log_likelihood(self, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]: ...

    def sample(self, mu: ArrayLike, n: int, rng: np.random.Generator) -> NDArray: ...


@runtime_checkable
class SupportsMaximum(Protocol):
    """A model that knows ``sup_μ log p(D|μ)`` over its bounds."""

    def max_log_likelihood(self, data: NDArray) -> NDArray[np.float64]: ...


@runtime_checkable
class SupportsPointwise(Protocol):
    """A model that evaluates ``log p(D_i|μ_i)`` pairwise."""

    def log_likelihood_at(self, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]: ...


@runtime_checkable
class ExactModel(Protocol):
    """A model with a finite outcome set for exact belts (module docstring)."""

    continuous: bool

    def outcomes(self, mu_max: float) -> NDArray: ...

    def outcome_probabilities(self, outcomes: NDArray, mu: ArrayLike) -> NDArray[np.float64]: ...


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def _grid(mu: ArrayLike, name: str = "mu") -> NDArray[np.float64]:
    arr = np.atleast_1d(np.asarray(mu, dtype=float))
    if arr.ndim != 1:
        raise InferenceError(f"parameter '{name}' must be a scalar or a 1-d array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InferenceError(f"parameter '{name}' contains non-finite values")
    return arr


def mu_per_dataset(mu: ArrayLike, n: int, bounds: tuple[float, float]) -> NDArray[np.float64]:
    """``mu`` as an ``(n,)`` array (a scalar is repeated), checked against the physical ``bounds``."""
    if n < 1:
        raise InferenceError(f"parameter 'n' must be at least 1, got {n}")
    arr = np.asarray(mu, dtype=float)
    try:
        out = np.broadcast_to(arr, (n,)).astype(float)
    except ValueError:
        raise InferenceError(f"parameter 'mu' has shape {arr.shape}, expected a scalar or ({n},)") from None
    if not np.all(np.isfinite(out)):
        raise InferenceError("parameter 'mu' contains non-finite values")
    if np.any(out < bounds[0]) or np.any(out > bounds[1]):
        raise InferenceError(f"parameter 'mu' must lie in the physical range {bounds}, got "
                             f"[{out.min():g}, {out.max():g}]")
    return out


def _bounds(lower: float, upper: float) -> tuple[float, float]:
    if math.isnan(lower) or math.isnan(upper) or not upper > lower:
        raise InferenceError(f"parameters 'lower', 'upper' must satisfy lower < upper, got {lower}, {upper}")
    if not math.isfinite(lower):
        raise InferenceError(f"parameter 'lower' must be finite, got {lower}")
    return float(lower), float(upper)


class _Bounded:
    """The physical range shared by the models."""

    _bounds: tuple[float, float]

    @property
    def bounds(self) -> tuple[float, float]:
        """Physical range (lower, upper) of μ."""
        return self._bounds


# ------------------------------------------------------------------------------------------------
# the bounded Gaussian mean
# ------------------------------------------------------------------------------------------------
class BoundedGaussianMean(_Bounded):
    r"""One measurement x ~ N(μ, σ²) of a mean restricted to ``lower ≤ μ ≤ upper``.

    ``log_likelihood`` is the normalised log density; the MLE is ``clip(x, lower, upper)``.  For exact
    belts the observable is discretised into cells of width ``cell_width`` (outcome = cell centre,
    probability :math:`\Phi((x+h/2-\mu)/\sigma) - \Phi((x-h/2-\mu)/\sigma)`), over
    ``[lower − tail·σ, mu_max + tail·σ]``.
    """

    continuous = True

    def __init__(self, sigma: float = 1.0, *, lower: float = 0.0, upper: float = math.inf,
                 cell_width: float = 0.005, tail: float = 9.0) -> None:
        if not (sigma > 0 and math.isfinite(sigma)):
            raise InferenceError(f"parameter 'sigma' must be positive and finite, got {sigma}")
        if not cell_width > 0:
            raise InferenceError(f"parameter 'cell_width' must be positive, got {cell_width}")
        self.sigma = float(sigma)
        self._bounds = _bounds(lower, upper)
        self.cell_width = float(cell_width)
        self.tail = float(tail)

    def __repr__(self) -> str:
        return f"BoundedGaussianMean(sigma={self.sigma:g}, bounds={self._bounds})"

    def _x(self, data: NDArray) -> NDArray[np.float64]:
        x = np.asarray(data, dtype=float).reshape(-1)
        if not np.all(np.isfinite(x)):
            raise InferenceError("parameter 'data' contains non-finite values")
        return x

    def log_likelihood(self, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]:
        x, m = self._x(data), _grid(mu)
        z = (x[:, None] - m[None, :]) / self.sigma
        return -0.5 * z**2 - math.log(self.sigma) - 0.5 * math.log(2 * math.pi)

    def log_likelihood_at(self, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]:
        x = self._x(data)
        m = np.broadcast_to(np.asarray(mu, dtype=float), x.shape)
        return -0.5 * ((x - m) / self.sigma) ** 2 - math.log(self.sigma) - 0.5 * math.log(2 * math.pi)

    def max_log_likelihood(self, data: NDArray) -> NDArray[np.float64]:
        x = self._x(data)
        return self.log_likelihood_at(x, np.clip(x, *self._bounds))

    def sample(self, mu: ArrayLike, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        m = mu_per_dataset(mu, n, self._bounds)
        return m + self.sigma * rng.standard_normal(n)

    def outcomes(self, mu_max: float) -> NDArray[np.float64]:
        lo = self._bounds[0] - self.tail * self.sigma
        hi = min(mu_max, self._bounds[1]) + self.tail * self.sigma
        n = math.ceil((hi - lo) / self.cell_width)
        return lo + self.cell_width * (np.arange(n, dtype=np.float64) + 0.5)

    def outcome_probabilities(self, outcomes: NDArray, mu: ArrayLike) -> NDArray[np.float64]:
        x, m = self._x(outcomes), _grid(mu)
        h = 0.5 * self.cell_width
        upper = (x[None, :] + h - m[:, None]) / self.sigma
        lower = (x[None, :] - h - m[:, None]) / self.sigma
        # difference of the tail on the side away from the mean: no cancellation far out
        right = ndtr(-lower) - ndtr(-upper)
        left = ndtr(upper) - ndtr(lower)
        return np.where(lower > 0, right, left)


# ------------------------------------------------------------------------------------------------
# Poisson counting with known background
# ------------------------------------------------------------------------------------------------
class PoissonCounting(_Bounded):
    r"""n ~ Pois(μ s + b) with known background b ≥ 0 and signal scale s > 0, μ ∈ [lower, upper].

    ``log_likelihood`` is the normalised log pmf; the MLE is ``clip((n − b)/s, lower, upper)``.
    """

    continuous = False

    def __init__(self, background: float, *, signal: float = 1.0, lower: float = 0.0,
                 upper: float = math.inf, tail: float = 1e-12) -> None:
        if not (background >= 0 and math.isfinite(background)):
            raise InferenceError(f"parameter 'background' must be finite and non-negative, got {background}")
        if not (signal > 0 and math.isfinite(signal)):
            raise InferenceError(f"parameter 'signal' must be positive and finite, got {signal}")
        self.background = float(background)
        self.signal = float(signal)
        self._bounds = _bounds(lower, upper)
        if self.background + self.signal * self._bounds[0] < 0:
            raise InferenceError(f"parameter 'lower' = {lower} makes the expected count negative")
        self.tail = float(tail)

    def __repr__(self) -> str:
        return f"PoissonCounting(background={self.background:g}, signal={self.signal:g}, bounds={self._bounds})"

    @staticmethod
    def _n(data: NDArray) -> NDArray[np.float64]:
        n = np.asarray(data, dtype=float).reshape(-1)
        if not np.all(np.isfinite(n)) or np.any(n < 0) or np.any(n != np.round(n)):
            raise InferenceError("parameter 'data' must hold non-negative integer counts")
        return n

    def _log_pmf(self, n: NDArray[np.float64], lam: NDArray[np.float64]) -> NDArray[np.float64]:
        return xlogy(n, lam) - lam - gammaln(n + 1.0)

    def log_likelihood(self, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]:
        n, m = self._n(data), _grid(mu)
        return self._log_pmf(n[:, None], self.signal * m[None, :] + self.background)

    def log_likelihood_at(self, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]:
        n = self._n(data)
        return self._log_pmf(n, self.signal * np.broadcast_to(np.asarray(mu, dtype=float), n.shape)
                             + self.background)

    def max_log_likelihood(self, data: NDArray) -> NDArray[np.float64]:
        n = self._n(data)
        return self.log_likelihood_at(n, np.clip((n - self.background) / self.signal, *self._bounds))

    def sample(self, mu: ArrayLike, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        m = mu_per_dataset(mu, n, self._bounds)
        return rng.poisson(self.signal * m + self.background).astype(float)

    def outcomes(self, mu_max: float) -> NDArray[np.float64]:
        lam = self.signal * min(mu_max, self._bounds[1]) + self.background
        return np.arange(int(poisson.isf(self.tail, lam)) + 2, dtype=float)

    def outcome_probabilities(self, outcomes: NDArray, mu: ArrayLike) -> NDArray[np.float64]:
        n, m = self._n(outcomes), _grid(mu)
        return np.exp(self._log_pmf(n[None, :], self.signal * m[:, None] + self.background))


# ------------------------------------------------------------------------------------------------
# a database efficiency-map result
# ------------------------------------------------------------------------------------------------
class DatabaseResultModel(_Bounded):
    r"""The likelihood engine of efficiency-map signal regions, as a function of the signal strength μ.

    Parameters
    ----------
    model:
        A :class:`~nextsm.likelihoods.simplified.PoissonGaussian` (one or several uncorrelated SRs), e.g.
        ``efficiency_map_likelihood(analysis, regions=[sr]).model``.  Its background ``b``, uncertainty
        ``δb`` and ``marginalised`` flag define the likelihood of every toy; the likelihood itself is
        evaluated by the model's own ``nll``/``fit`` (profiled or marginalised nuisance).
    signal:
        Expected signal yields at μ = 1, one per region.
    label:
        Name for tables, e.g. ``"ATLAS-SUSY-2016-07:4j_Meff_3000"``.
    z_nodes:
        Midpoint nodes on z ∈ [−9, 9] for the exact outcome probabilities (one region only).

    Data are count arrays of shape ``(n_data, n_regions)`` (``(n_data,)`` for one region).  Each distinct
    count vector is evaluated once (toys of a counting experiment repeat a lot).
    """

    def __init__(self, model: StatisticalModel, signal: ArrayLike, *, label: str = "",
                 z_nodes: int = 2001, tail: float = 1e-12) -> None:
        from nextsm.likelihoods.simplified import PoissonGaussian

        if not isinstance(model, PoissonGaussian):
            raise InferenceError(f"parameter 'model' must be a PoissonGaussian (efficiency-map SRs without "
                                 f"correlations), got {type(model).__name__}")
        sig = np.atleast_1d(np.asarray(signal, dtype=float))
        if sig.shape != (model.n_regions,) or not np.all(np.isfinite(sig)) or np.any(sig < 0) or sig.sum() <= 0:
            raise InferenceError(f"parameter 'signal' must hold {model.n_regions} finite non-negative yields "
                                 f"(not all zero), got {np.atleast_1d(signal).tolist()}")
        self.engine = model
        self.signal = sig
        self.label = label
        self.background = np.asarray(model.background, dtype=float)
        self.bg_uncertainty = np.asarray(model.bg_uncertainty, dtype=float)
        self.marginalised = bool(model.marginalised)
        self.observed = np.asarray(model.observed, dtype=float)
        self.tail = float(tail)
        z_edges = np.linspace(-9.0, 9.0, int(z_nodes) + 1)
        self._z = 0.5 * (z_edges[1:] + z_edges[:-1])
        self._zw = np.diff(ndtr(z_edges))
        self._zw /= self._zw.sum()
        self._bounds = (0.0, math.inf)

    continuous = False

    @property
    def n_regions(self) -> int:
        return int(self.signal.shape[0])

    def __repr__(self) -> str:
        return f"DatabaseResultModel({self.label or self.engine!r}, signal={self.signal.tolist()})"

    def _counts(self, data: NDArray) -> NDArray[np.float64]:
        n = np.asarray(data, dtype=float)
        if n.ndim == 1 and self.n_regions == 1:
            n = n[:, None]
        if n.ndim != 2 or n.shape[1] != self.n_regions:
            raise InferenceError(f"parameter 'data' must have shape (n, {self.n_regions}), got {np.shape(data)}")
        if not np.all(np.isfinite(n)) or np.any(n < 0) or np.any(n != np.round(n)):
            raise InferenceError("parameter 'data' must hold non-negative integer counts")
        return n

    def _engine_for(self, counts: NDArray[np.float64]) -> StatisticalModel:
        from nextsm.likelihoods.simplified import PoissonGaussian

        return PoissonGaussian(counts, self.background, self.bg_uncertainty, marginalised=self.marginalised)

    def log_likelihood(self, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]:
        n, m = self._counts(data), _grid(mu)
        if np.any(m < 0):
            raise InferenceError("parameter 'mu' must be non-negative for an efficiency-map result")
        unique, inverse = np.unique(n, axis=0, return_inverse=True)
        signal = np.broadcast_to(self.signal, (m.shape[0], self.n_regions))
        table = np.stack([-self._engine_for(row).nll(m, signal) for row in unique])
        return table[inverse.reshape(-1)]

    def max_log_likelihood(self, data: NDArray) -> NDArray[np.float64]:
        n = self._counts(data)
        unique, inverse = np.unique(n, axis=0, return_inverse=True)
        best = np.array([-self._engine_for(row).fit(self.signal, mu_bounds=(0.0, None)).nll_min[0]
                         for row in unique])
        return best[inverse.reshape(-1)]

    def sample(self, mu: ArrayLike, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        m = mu_per_dataset(mu, n, self._bounds)
        bkg = np.maximum(self.background + self.bg_uncertainty * rng.standard_normal((n, self.n_regions)), 0.0)
        counts = rng.poisson(m[:, None] * self.signal + bkg).astype(float)
        return counts[:, 0] if self.n_regions == 1 else counts

    def _single_region(self) -> None:
        if self.n_regions != 1:
            raise InferenceError(f"exact outcome probabilities need one signal region, this model has "
                                 f"{self.n_regions}; use toy or amortised belts")

    def outcomes(self, mu_max: float) -> NDArray[np.float64]:
        self._single_region()
        lam = float(self.signal[0] * mu_max + self.background[0] + 9.0 * self.bg_uncertainty[0])
        return np.arange(int(poisson.isf(self.tail, lam)) + 2, dtype=float)

    def outcome_probabilities(self, outcomes: NDArray, mu: ArrayLike) -> NDArray[np.float64]:
        self._single_region()
        n, m = self._counts(outcomes)[:, 0], _grid(mu)
        bkg = np.maximum(self.background[0] + self.bg_uncertainty[0] * self._z, 0.0)
        probs = np.empty((m.shape[0], n.shape[0]))
        for i, mu_i in enumerate(m):
            lam = mu_i * self.signal[0] + bkg
            pmf = np.exp(xlogy(n[:, None], lam[None, :]) - lam[None, :] - gammaln(n[:, None] + 1.0))
            probs[i] = pmf @ self._zw
        return probs
