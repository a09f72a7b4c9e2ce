"""The proto-model machine: combinability, the best legal combination, K, the critics (the walker comes next)."""

from __future__ import annotations

from nextsm.machine.combinability import Combinability, CombinabilityError, ResultId, locate_combinability
from nextsm.machine.combiner import Combination, best_combination, combinability_matrix
from nextsm.machine.critics import CriticVerdict, allowed_exclusions, fast_critic, slow_critic
from nextsm.machine.joint import JointModel
from nextsm.machine.teststatistic import LikelihoodResult, TestStatistic, likelihood_results, test_statistic

__all__ = [
    "Combinability",
    "CombinabilityError",
    "Combination",
    "CriticVerdict",
    "JointModel",
    "LikelihoodResult",
    "ResultId",
    "TestStatistic",
    "allowed_exclusions",
    "best_combination",
    "combinability_matrix",
    "fast_critic",
    "likelihood_results",
    "locate_combinability",
    "slow_critic",
    "test_statistic",
]
