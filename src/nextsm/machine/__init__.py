"""The proto-model machine: combinability, the best legal combination, K, the critics (the walker comes next)."""

from __future__ import annotations

from nextsm.machine.combinability import Combinability, CombinabilityError, ResultId, locate_combinability
from nextsm.machine.combiner import Combination, best_combination, combinability_matrix
from nextsm.machine.critics import CriticVerdict, allowed_exclusions, fast_critic, slow_critic
from nextsm.machine.joint import JointModel
from nextsm.machine.teststatistic import LikelihoodResult, KStatistic, likelihood_results, k_statistic

__all__ = [
    "Combinability",
    "CombinabilityError",
    "Combination",
    "CriticVerdict",
    "JointModel",
    "LikelihoodResult",
    "ResultId",
    "KStatistic",
    "allowed_exclusions",
    "best_combination",
    "combinability_matrix",
    "fast_critic",
    "likelihood_results",
    "locate_combinability",
    "slow_critic",
    "k_statistic",
]
