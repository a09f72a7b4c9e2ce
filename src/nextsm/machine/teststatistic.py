r"""The test statistic K of a protomodel (``protomodels.md`` §3, decisions note).

.. math::

    K = \max_{c\ \rm legal} 2 \ln\frac{L_c(\hat\mu)}{L_c(0)} + 2 \ln \pi(\mathrm{BSM}),
    \qquad \pi = e^{-(n_p/2 + n_{BR}/4 + n_{SSM}/8)},\quad \hat\mu \in [0, \mu_{\max}],

with :math:`L_c = \prod_{i \in c} L_i` (:class:`~nextsm.machine.joint.JointModel`).  The legal combination is
chosen with the per-result weights :math:`w_i = 2[\ln L_i(1) - \ln L_i(0)]` at the model's current signal
strengths (PathFinder's "anomaly mode", here searched exactly by :func:`~nextsm.machine.combiner.best_combination`);
μ̂ is then fitted on the chosen set.  The walker absorbs μ̂ into the κ's and re-evaluates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from nextsm.likelihoods.limits import minimize_mu
from nextsm.machine.combinability import Combinability, ResultId
from nextsm.machine.combiner import best_combination, combinability_matrix
from nextsm.machine.joint import JointModel
from nextsm.theory.predictions import Predictor, TheoryPrediction, best_results

__all__ = ["KStatistic", "LikelihoodResult", "k_statistic", "likelihood_results", "uncapped"]


@dataclass(frozen=True)
class LikelihoodResult:
    """A prediction with its likelihood, as the combiner and the critics use it."""

    prediction: TheoryPrediction
    model: object
    signal: np.ndarray
    result_id: ResultId


@dataclass(frozen=True)
class KStatistic:
    """K and what it is made of."""

    K: float
    llr: float  # 2 ln L_c(μ̂)/L_c(0)
    log_prior: float  # ln π
    mu_hat: float
    combination: tuple[TheoryPrediction, ...]

    @property
    def Z(self) -> float:
        """Local significance √max(0, 2 ln L(μ̂)/L(0))."""
        return math.sqrt(max(self.llr, 0.0))


def likelihood_results(predictions: Sequence[TheoryPrediction], predictor: Predictor,
                       *, include_ul: bool = True, cap_excess: bool = True) -> list[LikelihoodResult]:
    """One likelihood per result (SModelS' best-SR choice, combined analyses where given).

    For K, UL maps use the truncated Gaussian with the proto-model papers' cap UL_obs ≤ UL_exp + 2σ_exp
    (``cap_excess``): where the observed limit is much weaker than the expected one (grid edges, fluctuations)
    the uncapped likelihood would read a large excess that the walker could exploit by inflating κ.  The critics
    use the uncapped likelihoods (``cap_excess=False``): the cap lowers UL_obs, so a capped likelihood would
    exclude more than the data do, a real (or injected) signal included.
    """
    out = []
    for p in best_results(predictions):
        if p.type == "UL" and not include_ul:
            continue
        found = predictor.statistical_model(p, cap_excess=cap_excess)
        if found is None:
            continue
        experiment = predictor.compiled.database.analysis(p.folder).info.experiment
        out.append(LikelihoodResult(p, found[0], found[1], ResultId(p.analysis, p.sqrts, experiment, p.dataset)))
    return out


def uncapped(results: Sequence[LikelihoodResult]) -> list[LikelihoodResult]:
    """The same results with the UL maps' excess cap removed (what the critics judge with, see
    :func:`likelihood_results`); the other likelihoods are shared, not rebuilt."""
    from nextsm.likelihoods.ul_gaussian import TruncatedGaussian

    return [replace(r, model=replace(r.model, cap_excess=False))
            if isinstance(r.model, TruncatedGaussian) and r.model.cap_excess else r for r in results]


def _joint(results: Sequence[LikelihoodResult]) -> tuple[JointModel, np.ndarray]:
    return JointModel([r.model for r in results]), np.concatenate([r.signal for r in results])  # type: ignore[misc]


#: points of the batched μ scan of :func:`fit_mu`
MU_GRID = 33
_ZERO_ONE = np.array([0.0, 1.0])


def fit_mu(joint: JointModel, signal: np.ndarray, hi: float | None) -> tuple[float, float, float]:
    """(μ̂, −ln L(μ̂), −ln L(0)) on [0, hi] for one signal.

    With a finite ``hi`` the profiled NLL (convex in μ for these models) is evaluated on a grid of
    :data:`MU_GRID` points in one batched call, then on a finer grid around the best point, and refined by the
    vertex of the parabola through the best point and its neighbours: 3 batched calls instead of ~50 sequential
    ones of a golden-section search (the result is never worse than the best grid point; tested against
    :func:`~nextsm.likelihoods.limits.minimize_mu` to 1e-4 in 2 ln L).  Without an upper
    bound, :func:`~nextsm.likelihoods.limits.minimize_mu` finds it.
    """
    sig = signal[None, :]
    if hi is None or not math.isfinite(hi) or hi <= 0.0:
        fit = minimize_mu(joint, sig, mu_bounds=(0.0, hi if hi else None))
        mu = float(fit.muhat[0])
        return mu, float(joint.nll(mu, sig)[0]), float(joint.nll(0.0, sig)[0])
    lo, top = 0.0, hi
    nll_0 = math.nan
    best_mu, best = 0.0, math.inf
    for _ in range(2):  # a coarse scan of [0, hi], then a fine one around its best point
        grid = np.linspace(lo, top, MU_GRID)
        values = joint.nll(grid, np.repeat(sig, MU_GRID, axis=0))
        if math.isnan(nll_0):
            nll_0 = float(values[0])
        i = int(np.argmin(values))
        if values[i] < best:
            best_mu, best = float(grid[i]), float(values[i])
        lo, top = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, MU_GRID - 1)])
    j = min(max(i, 1), MU_GRID - 2)
    x0, x1, x2 = grid[j - 1], grid[j], grid[j + 1]
    y0, y1, y2 = values[j - 1], values[j], values[j + 1]
    denom = y0 - 2.0 * y1 + y2
    if denom > 0.0:
        vertex = float(min(max(x1 - 0.25 * (x2 - x0) * (y2 - y0) / denom, 0.0), hi))
        y = float(joint.nll(vertex, sig)[0])
        if y < best:
            best_mu, best = vertex, y
    return best_mu, best, nll_0


def k_statistic(
    results: Sequence[LikelihoodResult],
    combinability: Combinability,
    log_prior: float,
    *,
    mu_max: float = math.inf,
) -> KStatistic:
    """K of a model whose results (:func:`likelihood_results`) and ``ln π`` are given."""
    if not results:
        return KStatistic(2.0 * log_prior, 0.0, log_prior, 0.0, ())
    weights = np.array([2.0 * float(np.subtract(*r.model.nll(_ZERO_ONE, np.repeat(r.signal[None, :], 2, axis=0))))  # type: ignore[attr-defined]
                        for r in results])
    adjacency = combinability_matrix([r.result_id for r in results], combinability.combinable)  # type: ignore[arg-type]
    chosen = [results[i] for i in best_combination(weights, adjacency).members]
    joint, signal = _joint(chosen)
    hi = None if not math.isfinite(mu_max) else float(mu_max)
    mu_hat, nll_hat, nll_0 = fit_mu(joint, signal, hi)
    llr = 2.0 * (nll_0 - nll_hat)
    return KStatistic(llr + 2.0 * log_prior, llr, log_prior, mu_hat, tuple(r.prediction for r in chosen))
