"""Theory side: decomposition of protomodels into simplified-model elements, matching to the database,
theory predictions (see docs/theory.md)."""

from __future__ import annotations

from nextsm.theory.compiled import CompiledDatabase, compile_database
from nextsm.theory.decomposition import (
    DEFAULT_MIN_MASS_GAP,
    DEFAULT_SIGMA_CUT_FB,
    SM_LABELS,
    Branch,
    Decomposer,
    Element,
    Vertex,
    decompose,
    sm_label,
    total_weight,
)
from nextsm.theory.predictions import Predictor, TheoryPrediction, best_results

__all__ = [
    "DEFAULT_MIN_MASS_GAP",
    "DEFAULT_SIGMA_CUT_FB",
    "SM_LABELS",
    "Branch",
    "CompiledDatabase",
    "Decomposer",
    "Element",
    "Predictor",
    "TheoryPrediction",
    "Vertex",
    "best_results",
    "compile_database",
    "decompose",
    "sm_label",
    "total_weight",
]
