"""Proto-models: the particle pool, the decay table, the :class:`ProtoModel` container, cross sections, SLHA."""

from __future__ import annotations

from nextsm.model.cross_sections import model_cross_sections
from nextsm.model.decays import (
    DECAY_TABLE,
    OFFSHELL_SM_BRS,
    Channel,
    is_offshell,
    is_offshell_channel,
    offshell_brs,
    open_channels,
)
from nextsm.model.errors import ModelError
from nextsm.model.particles import LSP, MAX_MASS, PARTICLES, PDG_BY_NAME, SM_MASSES, Particle
from nextsm.model.protomodel import ProtoModel
from nextsm.model.slha import from_slha, to_slha
from nextsm.model.xsec import CrossSectionError, ReferenceCrossSections, XsecTable, read_xsec_table

__all__ = [
    "DECAY_TABLE",
    "LSP",
    "MAX_MASS",
    "OFFSHELL_SM_BRS",
    "PARTICLES",
    "PDG_BY_NAME",
    "SM_MASSES",
    "Channel",
    "CrossSectionError",
    "ModelError",
    "Particle",
    "ProtoModel",
    "ReferenceCrossSections",
    "XsecTable",
    "from_slha",
    "is_offshell",
    "is_offshell_channel",
    "model_cross_sections",
    "offshell_brs",
    "open_channels",
    "read_xsec_table",
    "to_slha",
]
