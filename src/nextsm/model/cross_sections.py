r"""Production cross sections of a protomodel: reference σ × κ, or the model's own override.

.. math:: \sigma_{ij}(\sqrt s) = \kappa_{ij}\,\sigma^{ref}_{ij}(\bar m,\sqrt s),\qquad \bar m = (m_i + m_j)/2,

with σ^ref from :class:`~nextsm.model.xsec.ReferenceCrossSections` (mapping and the list of processes without a
table in :mod:`nextsm.model.xsec`).  A pair listed in the model's ``xsecs`` for that √s takes that value instead
(it is the full cross section in fb: κ is not applied on top).  Pairs without a reference table, without κ,
with κ = 0, or with masses outside the table get no entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from nextsm.model.protomodel import Pair, ProtoModel
from nextsm.model.xsec import ReferenceCrossSections

__all__ = ["model_cross_sections"]


def model_cross_sections(
    model: ProtoModel,
    reference: ReferenceCrossSections,
    sqrts_tev: Iterable[float] = (8.0, 13.0),
) -> dict[float, dict[Pair, float]]:
    """σ in fb per √s (TeV) and signed production pair (see the module docstring)."""
    override: Mapping[float, Mapping[Pair, float]] = model.xsecs or {}
    out: dict[float, dict[Pair, float]] = {}
    for sqrts in sqrts_tev:
        table: dict[Pair, float] = {}
        for pair, kappa in model.ssmultipliers.items():
            if kappa <= 0 or any(abs(p) not in model.masses for p in pair):
                continue
            value = reference.pair_xsec(pair[0], pair[1], model.masses[abs(pair[0])],
                                        model.masses[abs(pair[1])], sqrts)
            if value is None or not np.isfinite(value):
                continue
            table[pair] = float(kappa * value)
        table.update({pair: float(v) for pair, v in override.get(float(sqrts), {}).items()})
        out[float(sqrts)] = {pair: v for pair, v in sorted(table.items()) if v > 0}
    return out
