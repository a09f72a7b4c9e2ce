"""SLHA export and import of protomodels (MASS, DECAY and XSECTION blocks), so SModelS sees the same model.

Export conventions
------------------
* ``BLOCK MASS`` lists every state of the 20-state pool and the other MSSM states SModelS' ``mssm`` model knows;
  states absent from the protomodel are written at 10⁶ GeV (decoupled), as in the proto-model SLHA template.
* ``DECAY`` blocks: the LSP and absent states get width 0 (stable); present unstable states get a nominal
  prompt width of 1 GeV (the protomodel has no widths; SModelS only needs to know the decays are prompt).
  For a self-conjugate mother (X_g, X_Z^i) whose channel is not self-conjugate, the protomodel's one channel
  (see :mod:`nextsm.model.decays`) is written as the channel and its charge conjugate with BR/2 each.
* ``XSECTION`` blocks (SLHA 3 cross-section format): one per √s and signed production pair, in pb, QCD order
  flag 2 (NLO+NLL), from the protomodel's ``xsecs`` or an explicit mapping.

Import reverses this: states lighter than 10⁵ GeV are present; conjugate decay lines of self-conjugate mothers
are merged; cross sections are taken at the highest QCD order given per process and √s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from nextsm.model.decays import DECAY_TABLE, Channel
from nextsm.model.errors import ModelError
from nextsm.model.particles import LSP, PARTICLES, is_self_conjugate
from nextsm.model.protomodel import Pair, ProtoModel

__all__ = ["DECOUPLED_MASS", "from_slha", "to_slha"]

#: mass (GeV) written for states that are absent from the protomodel
DECOUPLED_MASS = 1.0e6
#: above this mass (GeV) an imported state counts as absent
_ABSENT_ABOVE = 1.0e5
#: nominal width (GeV) of a present unstable state: prompt for SModelS
_PROMPT_WIDTH = 1.0
#: MSSM states outside the pool that SModelS' mssm model expects in the MASS block
_OTHER_MSSM = (2000001, 2000002, 2000003, 2000004, 2000011, 2000013, 2000015, 1000035, 35, 36, 37)
#: SM states that are their own antiparticle
_SM_SELF_CONJUGATE = frozenset({21, 22, 23, 25})


def _conjugate_code(pdg: int) -> int:
    if abs(pdg) in PARTICLES:
        return pdg if is_self_conjugate(pdg) else -pdg
    return pdg if abs(pdg) in _SM_SELF_CONJUGATE else -pdg


def _conjugate(channel: Channel) -> Channel:
    return tuple(_conjugate_code(c) for c in channel)


def _canonical(channel: Channel) -> Channel:
    """Order-independent key of a channel: BSM daughter first, SM daughters sorted."""
    bsm = [c for c in channel if abs(c) in PARTICLES]
    sm = sorted(c for c in channel if abs(c) not in PARTICLES)
    return (*bsm, *sm)


def to_slha(model: ProtoModel, xsecs: Mapping[float, Mapping[Pair, float]] | None = None) -> str:
    """The SLHA text of ``model``; ``xsecs`` (fb, per √s in TeV, per signed pair) overrides ``model.xsecs``."""
    lines = ["# SLHA file written by nextsm", "BLOCK MASS"]
    for pdg in (*sorted(PARTICLES), *_OTHER_MSSM):
        mass = model.masses.get(pdg, DECOUPLED_MASS)
        lines.append(f"   {pdg:>9d}   {mass:.8E}   # {PARTICLES[pdg].name if pdg in PARTICLES else ''}")
    for pdg in sorted(PARTICLES):
        channels = model.decays.get(pdg, {})
        if pdg == LSP or pdg not in model.masses or not channels:
            lines.append(f"DECAY {pdg:>9d}   0.00000000E+00")
            continue
        lines.append(f"DECAY {pdg:>9d}   {_PROMPT_WIDTH:.8E}")
        for channel, br in channels.items():
            conj = _conjugate(channel)
            if is_self_conjugate(pdg) and _canonical(conj) != _canonical(channel):
                parts = ((channel, br / 2.0), (conj, br / 2.0))
            else:
                parts = ((channel, br),)  # type: ignore[assignment]
            for daughters, value in parts:
                codes = "  ".join(f"{c:>9d}" for c in daughters)
                lines.append(f"   {value:.8E}   {len(daughters)}   {codes}")
    table = model.xsecs if xsecs is None else xsecs
    for sqrts, pairs in sorted((table or {}).items()):
        for (p1, p2), fb in sorted(pairs.items()):
            if fb <= 0:
                continue
            lines.append(f"XSECTION  {1000.0 * sqrts:.6E}  2212 2212  2  {p1} {p2}")
            lines.append(f"  0  2  0  0  0  0  {fb / 1000.0:.8E}  nextsm")
    return "\n".join(lines) + "\n"


def from_slha(source: str | os.PathLike[str]) -> ProtoModel:
    """Read a protomodel from SLHA text or a file path (see the module docstring).

    Raises
    ------
    ModelError
        If the SLHA cannot be parsed or describes states outside the 20-state pool as present.
    """
    import pyslha

    where = "<slha text>"
    text = str(source)
    if isinstance(source, os.PathLike) or ("\n" not in text and Path(text).is_file()):
        where = str(source)
        text = Path(source).read_text()
    try:
        doc = pyslha.readSLHA(text, ignorenomass=True)
    except pyslha.ParseError as exc:
        raise ModelError(f"{where}: not valid SLHA ({exc})") from None
    masses: dict[int, float] = {}
    for pdg, value in doc.blocks["MASS"].items():
        if abs(value) >= _ABSENT_ABOVE:
            continue
        if pdg not in PARTICLES:
            if abs(pdg) > 1000000:
                raise ModelError(f"{where}: BLOCK MASS, {pdg}: state outside the nextsm particle pool is light")
            continue
        masses[pdg] = abs(float(value))
    decays: dict[int, dict[Channel, float]] = {}
    for pdg, particle in doc.decays.items():
        if pdg not in masses or pdg == LSP or not particle.decays:
            continue
        known = {_canonical(ch): ch for ch in DECAY_TABLE.get(pdg, ())}
        merged: dict[Channel, float] = {}
        for dec in particle.decays:
            ids = tuple(int(c) for c in dec.ids)
            channel = known.get(_canonical(ids))
            if channel is None and is_self_conjugate(pdg):
                # the conjugate member of a self-conjugate mother's channel pair
                channel = known.get(_canonical(_conjugate(ids)))
            if channel is None:
                raise ModelError(f"{where}: DECAY {pdg}, channel {list(ids)} is not in the nextsm decay table")
            merged[channel] = merged.get(channel, 0.0) + float(dec.br)
        decays[pdg] = merged
    xsecs: dict[float, dict[Pair, float]] = {}
    for key, process in doc.xsections.items():
        p1, p2 = sorted(int(c) for c in key[2:4])
        best: dict[float, tuple[int, float]] = {}
        for x in process.xsecs:
            sqrts = round(float(x.sqrts) / 1000.0, 3)
            order = int(x.qcd_order)
            if sqrts not in best or order > best[sqrts][0]:
                best[sqrts] = (order, float(x.value) * 1000.0)
        for sqrts, (_, fb) in best.items():
            xsecs.setdefault(sqrts, {})[(p1, p2)] = fb
    pairs = {pair for table in xsecs.values() for pair in table}
    return ProtoModel(masses=masses, decays=decays, ssmultipliers=dict.fromkeys(sorted(pairs), 1.0),
                      xsecs=xsecs or None)
