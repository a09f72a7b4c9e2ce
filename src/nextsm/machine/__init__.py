"""The proto-model machine: combinability, the best legal combination, K, the critics (the walker comes next)."""

from __future__ import annotations

from nextsm.machine.combinability import Combinability, CombinabilityError, ResultId, locate_combinability
from nextsm.machine.combiner import Combination, best_combination, combinability_matrix
from nextsm.machine.critics import CriticVerdict, allowed_exclusions, fast_critic, slow_critic
from nextsm.machine.joint import JointModel
from nextsm.machine.teststatistic import KStatistic, LikelihoodResult, k_statistic, likelihood_results

__all__ = [
    "Combinability",
    "CombinabilityError",
    "Combination",
    "CriticVerdict",
    "JointModel",
    "KStatistic",
    "LikelihoodResult",
    "ResultId",
    "allowed_exclusions",
    "best_combination",
    "combinability_matrix",
    "fast_critic",
    "k_statistic",
    "likelihood_results",
    "locate_combinability",
    "slow_critic",
]
