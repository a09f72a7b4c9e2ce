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
from dataclasses import dataclass

import numpy as np

from nextsm.likelihoods.limits import minimize_mu
from nextsm.machine.combinability import Combinability, ResultId
from nextsm.machine.combiner import best_combination, combinability_matrix
from nextsm.machine.joint import JointModel
from nextsm.theory.predictions import Predictor, TheoryPrediction, best_results

__all__ = ["KStatistic", "LikelihoodResult", "k_statistic", "likelihood_results"]


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
                       *, include_ul: bool = True) -> list[LikelihoodResult]:
    """One likelihood per result (SModelS' best-SR choice, combined analyses where given)."""
    out = []
    for p in best_results(predictions):
        if p.type == "UL" and not include_ul:
            continue
        found = predictor.statistical_model(p)
        if found is None:
            continue
        experiment = predictor.compiled.database.analysis(p.folder).info.experiment
        out.append(LikelihoodResult(p, found[0], found[1], ResultId(p.analysis, p.sqrts, experiment, p.dataset)))
    return out


def _joint(results: Sequence[LikelihoodResult]) -> tuple[JointModel, np.ndarray]:
    return JointModel([r.model for r in results]), np.concatenate([r.signal for r in results])  # type: ignore[misc]


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
    weights = np.array([2.0 * float(r.model.nll(0.0, r.signal[None, :])[0] - r.model.nll(1.0, r.signal[None, :])[0])
                        for r in results])
    adjacency = combinability_matrix([r.result_id for r in results], combinability.combinable)  # type: ignore[arg-type]
    chosen = [results[i] for i in best_combination(weights, adjacency).members]
    joint, signal = _joint(chosen)
    hi = None if not math.isfinite(mu_max) else float(mu_max)
    fit = minimize_mu(joint, signal[None, :], mu_bounds=(0.0, hi))
    mu_hat = float(fit.muhat[0])
    llr = 2.0 * float(joint.nll(0.0, signal[None, :])[0] - joint.nll(mu_hat, signal[None, :])[0])
    return KStatistic(llr + 2.0 * log_prior, llr, log_prior, mu_hat, tuple(r.prediction for r in chosen))
