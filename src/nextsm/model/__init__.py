"""Proto-models: the particle pool, the decay table and the :class:`ProtoModel` container."""

from __future__ import annotations

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

__all__ = [
    "DECAY_TABLE",
    "LSP",
    "MAX_MASS",
    "OFFSHELL_SM_BRS",
    "PARTICLES",
    "PDG_BY_NAME",
    "SM_MASSES",
    "Channel",
    "ModelError",
    "Particle",
    "ProtoModel",
    "is_offshell",
    "is_offshell_channel",
    "offshell_brs",
    "open_channels",
]
