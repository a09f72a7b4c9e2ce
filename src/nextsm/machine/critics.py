"""The critics: is a protomodel excluded by the results outside its best combination? (``protomodels.md`` §5)

* :func:`fast_critic` (UL critic, C24): all UL results plus the best expected SR of EM analyses without a UL
  result; ``n_sensitive`` results with r_exp ≥ 0.7 (r_obs if there is no expected limit); the model fails if more
  than ``k_allowed`` of them have r_obs > 1.38, with ``k_allowed`` the smallest k with BinomCDF(k; n, 0.05) > 0.66
  (a few 2σ fluctuations among many sensitive results are expected).
* :func:`slow_critic` (likelihood critic): among the results with likelihoods and r_exp ≥ 0.1, the most
  sensitive legal combination (weights 2[ln L_A(0) − ln L_A(1)] on the background-only Asimov data, the
  expected exclusion power); the model fails if the combination's observed r = 1/μ_UL is ≥ 1.

Both return a :class:`CriticVerdict` that says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import binom

from nextsm.machine.combinability import Combinability, analysis_base
from nextsm.machine.combiner import best_combination, combinability_matrix
from nextsm.machine.joint import JointModel
from nextsm.machine.teststatistic import LikelihoodResult
from nextsm.theory.predictions import TheoryPrediction, best_results

__all__ = ["CriticVerdict", "allowed_exclusions", "fast_critic", "slow_critic"]

R_EXP_SENSITIVE = 0.7
R_OBS_EXCLUDING = 1.38
BINOMIAL_P = 0.05
BINOMIAL_CL = 0.66
R_EXP_SLOW = 0.1
_ONE_ZERO = np.array([1.0, 0.0])


@dataclass(frozen=True)
class CriticVerdict:
    """``passed`` and the reasons: the results looked at and the numbers compared."""

    critic: str
    passed: bool
    reason: str
    n_sensitive: int = 0
    n_excluding: int = 0
    k_allowed: int = 0
    r_combined: float | None = None
    results: tuple[tuple[str, str | None, str, float | None, float | None], ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {"critic": self.critic, "passed": self.passed, "reason": self.reason,
                "n_sensitive": self.n_sensitive, "n_excluding": self.n_excluding, "k_allowed": self.k_allowed,
                "r_combined": self.r_combined,
                "results": [{"analysis": a, "dataset": d, "type": t, "r_obs": ro, "r_exp": re}
                            for a, d, t, ro, re in self.results]}


def allowed_exclusions(n_sensitive: int) -> int:
    """Smallest k with BinomCDF(k; n, 0.05) > 0.66."""
    k = 0
    while binom.cdf(k, n_sensitive, BINOMIAL_P) <= BINOMIAL_CL:
        k += 1
    return k


def _row(p: TheoryPrediction, mu: float = 1.0) -> tuple[str, str | None, str, float | None, float | None]:
    return (p.analysis, p.dataset, p.type, None if p.r_obs is None else p.r_obs * mu,
            None if p.r_exp is None else p.r_exp * mu)


def fast_critic(predictions: Sequence[TheoryPrediction], mu: float = 1.0) -> CriticVerdict:
    """The binomial UL critic (module docstring) on the predictions of one model, all signals scaled by ``mu``.

    r-values scale linearly with the signal, so ``mu`` judges the model with μ absorbed into its κ's without
    predicting it again.
    """
    ul = [p for p in predictions if p.type == "UL"]
    with_ul = {analysis_base(p.analysis) for p in ul}
    em = [p for p in best_results([p for p in predictions if p.type == "EM"]) if analysis_base(p.analysis) not in with_ul]
    sensitive = []
    for p in ul + em:
        r = p.r_exp if p.r_exp is not None else p.r_obs
        if r is not None and r * mu >= R_EXP_SENSITIVE:
            sensitive.append(p)
    excluding = sorted((p for p in sensitive if p.r_obs is not None and p.r_obs * mu > R_OBS_EXCLUDING),
                       key=lambda p: -(p.r_obs or 0.0))
    k = allowed_exclusions(len(sensitive))
    passed = len(excluding) <= k
    reason = (f"{len(excluding)} of {len(sensitive)} sensitive results (r_exp ≥ {R_EXP_SENSITIVE}) have "
              f"r_obs > {R_OBS_EXCLUDING}; {k} allowed")
    if excluding:
        reason += "; worst: " + ", ".join(
            f"{p.analysis}{':' + p.dataset if p.dataset else ''} r_obs={(p.r_obs or 0.0) * mu:.2f}"
            for p in excluding[:3])
    return CriticVerdict("fast", passed, reason, len(sensitive), len(excluding), k,
                         results=tuple(_row(p, mu) for p in excluding))


def slow_critic(results: Sequence[LikelihoodResult], combinability: Combinability) -> CriticVerdict:
    """The likelihood critic (module docstring): most sensitive legal combination, combined r_obs < 1."""
    eligible = [r for r in results if r.prediction.r_exp is not None and r.prediction.r_exp >= R_EXP_SLOW]
    if not eligible:
        return CriticVerdict("slow", True, f"no result with r_exp ≥ {R_EXP_SLOW}")
    weights = [2.0 * float(np.subtract(*r.model.nll(_ONE_ZERO, np.repeat(r.signal[None, :], 2, axis=0),  # type: ignore[attr-defined]
                                                     data="apriori")))
               for r in eligible]
    adjacency = combinability_matrix([r.result_id for r in eligible], combinability.combinable)  # type: ignore[arg-type]
    chosen = [eligible[i] for i in best_combination(np.array(weights), adjacency).members]
    joint = JointModel([r.model for r in chosen])  # type: ignore[misc]
    signal = np.concatenate([r.signal for r in chosen])[None, :]
    mu_ul = float(joint.upper_limit(signal)[0])
    r_comb = 1.0 / mu_ul if math.isfinite(mu_ul) and mu_ul > 0 else 0.0
    passed = r_comb < 1.0
    names = ", ".join(f"{r.prediction.analysis}{':' + r.prediction.dataset if r.prediction.dataset else ''}"
                      for r in chosen)
    reason = f"most sensitive combination ({names}): r_obs = {r_comb:.3g} {'<' if passed else '≥'} 1"
    return CriticVerdict("slow", passed, reason, r_combined=r_comb,
                         results=tuple(_row(r.prediction) for r in chosen))
