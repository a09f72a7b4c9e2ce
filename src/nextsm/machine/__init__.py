"""The proto-model machine: combinability, the best legal combination (more to come: K, critics, walker)."""

from __future__ import annotations

from nextsm.machine.combinability import Combinability, CombinabilityError, ResultId, locate_combinability
from nextsm.machine.combiner import Combination, best_combination, combinability_matrix

__all__ = [
    "Combinability",
    "CombinabilityError",
    "Combination",
    "ResultId",
    "best_combination",
    "combinability_matrix",
    "locate_combinability",
]
