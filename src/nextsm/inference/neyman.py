r"""Neyman constructions: exact belts, toy belts on a grid, amortised (quantile-regression) belts.

Every construction produces a :class:`Belt`: critical values :math:`c_\alpha(\mu_0)` on a grid of tested
values μ₀ such that :math:`P_{\mu_0}\big(T(D;\mu_0) \le c_\alpha(\mu_0)\big) \ge 1 - \alpha`, and the
confidence set of observed data D is

.. math::

    C(D) = \{\mu_0 : T(D; \mu_0) \le c_\alpha(\mu_0)\}

(J. Neyman, *Phil. Trans. R. Soc. A* **236** (1937) 333; with the LRT this is the construction of Feldman
& Cousins, *Phys. Rev. D* **57** (1998) 3873).

* :func:`exact_belt` — for models with a finite outcome set (:class:`~nextsm.inference.models.ExactModel`):
  per μ₀ the outcomes are ranked by T and accumulated in probability until 1 − α is reached (FC's
  construction; for discrete data the crossing outcome is included, hence over-coverage; for the cells
  of a continuous observable the critical value is interpolated within the crossing cell).
* :func:`toy_belt` — per grid point, ``n_toys`` simulated data sets; c = the ⌈(1 − α) n⌉-th order
  statistic of T (the ``inverted_cdf`` empirical quantile).
* :func:`amortised_belt` — one simulation budget over μ ~ π, :math:`T_i = T(D_i; \mu_i)`, and a
  quantile regression :math:`\hat c_\alpha(\mu)` of level 1 − α (pinball loss;
  :mod:`nextsm.inference.quantile`), as in the LF2I "critical value regression" (N. Dalmasso, L.
  Masserano, D. Zhao, R. Izbicki, A. B. Lee, arXiv:2107.03920) used by the FTS paper (arXiv:2507.17831).
* :func:`refine_belt` / :func:`refine_endpoints` — replace ĉ by toy quantiles at chosen grid points,
  e.g. near the endpoints of an observed interval where the coverage diagnostic
  (:mod:`nextsm.inference.diagnostics`) flags under-coverage.

Intervals (:meth:`Belt.intervals`) are the hull [first, last] of the accepted grid points, with the
endpoints placed where :math:`g(\mu_0) = T - c` crosses zero (linear interpolation of g between grid points
for smooth critical values; the midpoint for exact belts of discrete data, whose c jumps).  The flag
``connected`` says whether every grid point in between was accepted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.inference.errors import InferenceError
from nextsm.inference.models import ExactModel, LikelihoodModel
from nextsm.inference.statistics import TestStatistic

__all__ = [
    "Belt",
    "ExactPerformance",
    "Intervals",
    "amortised_belt",
    "check_cl",
    "exact_belt",
    "exact_performance",
    "intervals_from_excess",
    "refine_belt",
    "refine_endpoints",
    "toy_belt",
    "uniform_prior",
]

BeltMethod = Literal["exact", "toys", "amortised", "refined"]
#: a progress callback wraps an iterable of work items (e.g. a rich progress bar)
Progress = Callable[[Iterable[Any]], Iterable[Any]]
#: grid points per block of vectorised work
_GRID_BLOCK = 64
#: tolerance of the acceptance rule T ≤ c (c of an exact discrete belt is a value of T itself)
_ACCEPT_TOL = 1e-9


def check_cl(cl: float) -> float:
    """The confidence level as a float in (0, 1), else :class:`InferenceError`."""
    if not (0.0 < cl < 1.0):
        raise InferenceError(f"parameter 'cl' must lie in (0, 1), got {cl}")
    return float(cl)


def _mu_grid(mu: ArrayLike, model: LikelihoodModel) -> NDArray[np.float64]:
    grid = np.asarray(mu, dtype=float)
    if grid.ndim != 1 or grid.shape[0] < 3:
        raise InferenceError(f"parameter 'mu' must be a 1-d grid of at least 3 points, got shape {grid.shape}")
    if not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise InferenceError("parameter 'mu' must be finite and strictly increasing")
    lo, hi = model.bounds
    if grid[0] < lo or grid[-1] > hi:
        raise InferenceError(f"parameter 'mu' spans [{grid[0]:g}, {grid[-1]:g}], outside the physical "
                             f"range [{lo:g}, {hi:g}] of {model!r}")
    return grid


def _identity(items: Iterable[Any]) -> Iterable[Any]:
    return items


class Intervals(NamedTuple):
    """Confidence intervals of several data sets (arrays of shape ``(n,)``).

    Attributes
    ----------
    lower, upper:
        Interval ends (NaN for an empty set).
    connected:
        Every grid point between the ends was accepted (else the interval is the hull of a union).
    at_upper_edge:
        The upper end is the last grid point: the true set may extend further.
    """

    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    connected: NDArray[np.bool_]
    at_upper_edge: NDArray[np.bool_]

    @property
    def length(self) -> NDArray[np.float64]:
        """``upper − lower`` (0 for an empty set)."""
        return np.nan_to_num(self.upper - self.lower, nan=0.0)


@dataclass(frozen=True)
class Belt:
    """Critical values of a test statistic on a μ₀ grid (module docstring).

    Attributes
    ----------
    mu:
        The grid of tested values, shape ``(G,)``.
    critical:
        ĉ(μ₀) per grid point, shape ``(G,)``.
    cl:
        Confidence level 1 − α.
    statistic:
        The test statistic the critical values belong to.
    method:
        ``"exact"``, ``"toys"``, ``"amortised"`` or ``"refined"`` (amortised/exact, with toys at some points).
    n_toys:
        Toys behind each critical value, shape ``(G,)`` (0 where it is not a toy quantile).
    interpolate:
        Place interval ends by linear interpolation of T − c (else at grid midpoints).
    info:
        Free-form metadata (simulation budget, regressor, ...), JSON-serialisable.
    """

    mu: NDArray[np.float64]
    critical: NDArray[np.float64]
    cl: float
    statistic: TestStatistic
    method: BeltMethod
    n_toys: NDArray[np.int64]
    interpolate: bool = True
    info: dict[str, Any] = field(default_factory=dict)

    def critical_at(self, mu: ArrayLike) -> NDArray[np.float64]:
        """ĉ at arbitrary μ₀ (linear interpolation on the grid)."""
        return np.interp(np.asarray(mu, dtype=float), self.mu, self.critical)

    def excess(self, model: LikelihoodModel, data: NDArray) -> NDArray[np.float64]:
        """``T(D; μ₀) − ĉ(μ₀)`` on the grid, shape ``(n, G)``; ≤ 0 means accepted."""
        return self.statistic.evaluate(model, data, self.mu) - self.critical[None, :]

    def accepts(self, model: LikelihoodModel, data: NDArray) -> NDArray[np.bool_]:
        """Acceptance of every grid point for every data set, shape ``(n, G)``."""
        return self.excess(model, data) <= _ACCEPT_TOL

    def intervals(self, model: LikelihoodModel, data: NDArray) -> Intervals:
        """The confidence intervals of the data sets (rows of ``data``)."""
        return intervals_from_excess(self.mu, self.excess(model, data), interpolate=self.interpolate)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (grid, critical values, toys, metadata)."""
        return {"method": self.method, "cl": self.cl, "statistic": self.statistic.name,
                "mu": self.mu.tolist(), "critical": self.critical.tolist(),
                "n_toys": self.n_toys.tolist(), "info": self.info}


def intervals_from_excess(mu: NDArray[np.float64], excess: NDArray[np.float64], *,
                          interpolate: bool = True) -> Intervals:
    """Interval ends from ``g = T − c`` on the grid ``mu`` (rows: data sets)."""
    g = np.atleast_2d(excess)
    accepted = g <= _ACCEPT_TOL
    n, size = g.shape
    rows = np.arange(n)
    has = accepted.any(axis=1)
    first = np.argmax(accepted, axis=1)
    last = size - 1 - np.argmax(accepted[:, ::-1], axis=1)
    connected = accepted.sum(axis=1) == (last - first + 1)

    def crossing(inside: NDArray[np.intp], outside: NDArray[np.intp]) -> NDArray[np.float64]:
        g_in, g_out = g[rows, inside], g[rows, outside]
        mu_in, mu_out = mu[inside], mu[outside]
        if not interpolate:
            return 0.5 * (mu_in + mu_out)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip(g_out / (g_out - g_in), 0.0, 1.0)
        frac = np.where(np.isfinite(frac), frac, 0.5)
        return mu_out + frac * (mu_in - mu_out)

    lower = np.where(first > 0, crossing(first, np.maximum(first - 1, 0)), mu[0])
    upper = np.where(last < size - 1, crossing(last, np.minimum(last + 1, size - 1)), mu[-1])
    lower = np.where(has, lower, np.nan)
    upper = np.where(has, upper, np.nan)
    return Intervals(lower, upper, connected & has, (last == size - 1) & has)


# ------------------------------------------------------------------------------------------------
# exact belts
# ------------------------------------------------------------------------------------------------
def _ranked_critical(t: NDArray[np.float64], p: NDArray[np.float64], cl: float, continuous: bool
                     ) -> NDArray[np.float64]:
    """Critical values per column of ``t`` (outcomes × grid block) with probabilities ``p`` (block × outcomes)."""
    order = np.argsort(t, axis=0, kind="stable")
    cols = np.arange(t.shape[1])
    t_sorted = t[order, cols[None, :]]
    p_sorted = p.T[order, cols[None, :]]
    cum = np.cumsum(p_sorted, axis=0)
    k = np.minimum(np.argmax(cum >= cl, axis=0), t.shape[0] - 1)
    if np.any(cum[-1] < cl):
        bad = int(np.flatnonzero(cum[-1] < cl)[0])
        raise InferenceError(f"the outcomes hold only {cum[-1, bad]:.6f} probability at grid point {bad}: "
                             f"extend the model's outcome range")
    crit = t_sorted[k, cols]
    if continuous:
        prev = np.maximum(k - 1, 0)
        cum_prev = np.where(k > 0, cum[prev, cols], 0.0)
        t_prev = np.where(k > 0, t_sorted[prev, cols], crit)
        p_k = p_sorted[k, cols]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip((cl - cum_prev) / p_k, 0.0, 1.0)
        crit = t_prev + np.where(np.isfinite(frac), frac, 1.0) * (crit - t_prev)
    return crit


def exact_belt(model: LikelihoodModel, statistic: TestStatistic, mu: ArrayLike, cl: float, *,
               progress: Progress | None = None) -> Belt:
    """The exact Neyman belt of a model with a finite outcome set (module docstring)."""
    cl = check_cl(cl)
    if not isinstance(model, ExactModel):
        raise InferenceError(f"parameter 'model' ({type(model).__name__}) has no finite outcome set; "
                             f"use toy_belt or amortised_belt")
    grid = _mu_grid(mu, model)
    outcomes = model.outcomes(float(grid[-1]))
    t_all = statistic.evaluate(model, outcomes, grid)
    critical = np.empty(grid.shape[0])
    blocks = [slice(s, min(grid.shape[0], s + _GRID_BLOCK)) for s in range(0, grid.shape[0], _GRID_BLOCK)]
    for block in (progress or _identity)(blocks):
        probs = model.outcome_probabilities(outcomes, grid[block])
        critical[block] = _ranked_critical(t_all[:, block], probs, cl, model.continuous)
    return Belt(grid, critical, cl, statistic, "exact", np.zeros(grid.shape[0], dtype=np.int64),
                interpolate=model.continuous, info={"n_outcomes": int(outcomes.shape[0])})


class ExactPerformance(NamedTuple):
    """Exact frequentist properties of a belt at true values ``mu`` (arrays of shape ``(len(mu),)``)."""

    mu: NDArray[np.float64]
    coverage: NDArray[np.float64]
    median_length: NDArray[np.float64]
    mean_length: NDArray[np.float64]


def exact_performance(belt: Belt, model: LikelihoodModel, mu: ArrayLike) -> ExactPerformance:
    r"""Exact coverage :math:`\sum_o p(o|\mu) 1\{\mu \in C(o)\}` and median/mean interval length at ``mu``.

    The intervals of all outcomes are computed once; ``mu`` may lie between grid points.  Lengths are
    clipped at the grid (intervals touching the upper edge count up to the last grid point).
    """
    if not isinstance(model, ExactModel):
        raise InferenceError(f"parameter 'model' ({type(model).__name__}) has no finite outcome set")
    truth = np.atleast_1d(np.asarray(mu, dtype=float))
    outcomes = model.outcomes(float(belt.mu[-1]))
    iv = belt.intervals(model, outcomes)
    probs = model.outcome_probabilities(outcomes, truth)
    length = iv.length
    inside = (iv.lower[None, :] <= truth[:, None]) & (truth[:, None] <= iv.upper[None, :])
    coverage = np.sum(probs * inside, axis=1)
    order = np.argsort(length, kind="stable")
    cum = np.cumsum(probs[:, order], axis=1) / np.sum(probs, axis=1, keepdims=True)
    median = length[order][np.argmax(cum >= 0.5, axis=1)]
    mean = np.sum(probs * length[None, :], axis=1) / np.sum(probs, axis=1)
    return ExactPerformance(truth, coverage, median, mean)


# ------------------------------------------------------------------------------------------------
# toy belts
# ------------------------------------------------------------------------------------------------
def _toy_quantiles(model: LikelihoodModel, statistic: TestStatistic, points: NDArray[np.float64], cl: float,
                   n_toys: int, rng: np.random.Generator, progress: Progress | None) -> NDArray[np.float64]:
    if n_toys < 10:
        raise InferenceError(f"parameter 'n_toys' must be at least 10, got {n_toys}")
    out = np.empty(points.shape[0])
    blocks = [slice(s, min(points.shape[0], s + _GRID_BLOCK)) for s in range(0, points.shape[0], _GRID_BLOCK)]
    for block in (progress or _identity)(blocks):
        mu_rep = np.repeat(points[block], n_toys)
        data = model.sample(mu_rep, mu_rep.shape[0], rng)
        t = statistic.evaluate_at(model, data, mu_rep).reshape(-1, n_toys)
        out[block] = np.quantile(t, cl, axis=1, method="inverted_cdf")
    return out


def toy_belt(model: LikelihoodModel, statistic: TestStatistic, mu: ArrayLike, cl: float, *, n_toys: int,
             rng: np.random.Generator, progress: Progress | None = None) -> Belt:
    """Toy-based belt: ``n_toys`` data sets per grid point, c = empirical (1 − α) quantile of T.

    The coverage of a toy critical value has a Monte-Carlo spread of about
    :math:`\\sqrt{\\mathrm{CL}(1-\\mathrm{CL})/n_\\text{toys}}`.
    """
    cl = check_cl(cl)
    grid = _mu_grid(mu, model)
    critical = _toy_quantiles(model, statistic, grid, cl, int(n_toys), rng, progress)
    return Belt(grid, critical, cl, statistic, "toys", np.full(grid.shape[0], int(n_toys), dtype=np.int64),
                info={"n_toys": int(n_toys)})


# ------------------------------------------------------------------------------------------------
# amortised belts
# ------------------------------------------------------------------------------------------------
def uniform_prior(lower: float, upper: float) -> Callable[[int, np.random.Generator], NDArray[np.float64]]:
    """π = U[lower, upper], as a sampler ``(n, rng) → μ``."""
    if not (math.isfinite(lower) and math.isfinite(upper) and upper > lower):
        raise InferenceError(f"parameters 'lower', 'upper' must be finite with lower < upper, got {lower}, {upper}")

    def draw(n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.uniform(lower, upper, n)

    return draw


def simulate_statistic(model: LikelihoodModel, statistic: TestStatistic, n: int, rng: np.random.Generator,
                       prior: Callable[[int, np.random.Generator], NDArray[np.float64]]
                       ) -> tuple[NDArray[np.float64], NDArray, NDArray[np.float64]]:
    """``(μ_i, D_i, T(D_i; μ_i))`` for ``n`` draws μ_i ~ π, D_i ~ p(·|μ_i)."""
    if n < 10:
        raise InferenceError(f"parameter 'n_sim' must be at least 10, got {n}")
    mu_i = np.asarray(prior(n, rng), dtype=float)
    if mu_i.shape != (n,):
        raise InferenceError(f"parameter 'prior' returned shape {mu_i.shape}, expected ({n},)")
    data = model.sample(mu_i, n, rng)
    return mu_i, data, statistic.evaluate_at(model, data, mu_i)


def amortised_belt(model: LikelihoodModel, statistic: TestStatistic, mu: ArrayLike, cl: float, *, n_sim: int,
                   rng: np.random.Generator, regressor: Any = None,
                   prior: Callable[[int, np.random.Generator], NDArray[np.float64]] | None = None) -> Belt:
    """Amortised belt: one simulation budget over μ ~ π and a quantile regression of c_α(μ).

    Parameters
    ----------
    regressor:
        An object with ``fit(mu, t, quantile) → fitted`` where ``fitted.predict(mu)`` gives ĉ
        (:mod:`nextsm.inference.quantile`); default :class:`~nextsm.inference.quantile.SplineQuantileRegression`.
    prior:
        Sampler ``(n, rng) → μ`` of the simulation design π; default uniform over the grid's range.
    """
    from nextsm.inference.quantile import SplineQuantileRegression

    cl = check_cl(cl)
    grid = _mu_grid(mu, model)
    reg = regressor if regressor is not None else SplineQuantileRegression()
    mu_i, _, t_i = simulate_statistic(model, statistic, int(n_sim), rng,
                                      prior or uniform_prior(float(grid[0]), float(grid[-1])))
    fitted = reg.fit(mu_i, t_i, cl)
    critical = np.asarray(fitted.predict(grid), dtype=float)
    return Belt(grid, critical, cl, statistic, "amortised", np.zeros(grid.shape[0], dtype=np.int64),
                info={"n_sim": int(n_sim), "regressor": repr(reg)})


# ------------------------------------------------------------------------------------------------
# local toy refinement
# ------------------------------------------------------------------------------------------------
def refine_belt(belt: Belt, model: LikelihoodModel, points: ArrayLike, *, n_toys: int, rng: np.random.Generator,
                progress: Progress | None = None) -> Belt:
    """The belt with ĉ replaced by toy quantiles at the grid points nearest to ``points``."""
    targets = np.atleast_1d(np.asarray(points, dtype=float))
    index = np.unique(np.abs(belt.mu[None, :] - targets[:, None]).argmin(axis=1))
    if index.size == 0:
        return belt
    critical = belt.critical.copy()
    critical[index] = _toy_quantiles(model, belt.statistic, belt.mu[index], belt.cl, int(n_toys), rng, progress)
    toys = belt.n_toys.copy()
    toys[index] = int(n_toys)
    info = {**belt.info, "refined_points": int(np.count_nonzero(toys))}
    method: BeltMethod = "toys" if belt.method == "toys" else "refined"
    return replace(belt, critical=critical, n_toys=toys, method=method, info=info)


def refine_endpoints(belt: Belt, model: LikelihoodModel, data: NDArray, *, n_toys: int, rng: np.random.Generator,
                     window: float, flagged: Callable[[NDArray[np.float64]], NDArray[np.bool_]] | None = None,
                     max_rounds: int = 4) -> tuple[Belt, Intervals]:
    """Refine ĉ by local toys at the grid points within ``window`` of the interval ends of one data set.

    ``flagged`` (e.g. :meth:`~nextsm.inference.diagnostics.CoverageDiagnostic.flagged_at`) restricts the
    refinement to points where the coverage diagnostic flags under-coverage; without it every point in
    the windows is refined.  Repeats (at most ``max_rounds`` times) while the ends move onto points that
    have not been refined yet.
    """
    one = np.asarray(data)[:1]
    iv = belt.intervals(model, one)
    for _ in range(max_rounds):
        ends = [e for e in (iv.lower[0], iv.upper[0]) if np.isfinite(e)]
        near = np.zeros(belt.mu.shape[0], dtype=bool)
        for end in ends:
            near |= np.abs(belt.mu - end) <= window
        if flagged is not None:
            near &= np.asarray(flagged(belt.mu), dtype=bool)
        todo = near & (belt.n_toys < n_toys)
        if not np.any(todo):
            break
        belt = refine_belt(belt, model, belt.mu[todo], n_toys=n_toys, rng=rng)
        iv = belt.intervals(model, one)
    return belt, iv
