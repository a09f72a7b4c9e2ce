"""Theory side: decomposition of proto-models into simplified-model elements."""

from __future__ import annotations

from nextsm.theory.decomposition import (
    DEFAULT_MIN_MASS_GAP,
    DEFAULT_SIGMA_CUT_FB,
    SM_LABELS,
    Branch,
    Element,
    Vertex,
    decompose,
    sm_label,
    total_weight,
)

__all__ = [
    "DEFAULT_MIN_MASS_GAP",
    "DEFAULT_SIGMA_CUT_FB",
    "SM_LABELS",
    "Branch",
    "Element",
    "Vertex",
    "decompose",
    "sm_label",
    "total_weight",
]
