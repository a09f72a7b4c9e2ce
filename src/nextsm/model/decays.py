"""The decay table of the pool (``protomodels-decisions.md``, "Model": the 2025 table, template omissions fixed).

A *channel* is a tuple of signed daughter PDG codes, the BSM daughter first, then the SM daughters,
for the decay of the *particle* (positive code); the antiparticle decays into the charge conjugate.
For a self-conjugate mother (X_g, X_Z^i) whose daughters are not self-conjugate, only one member of
each charge-conjugate pair is listed (the one with a positive BSM code), and its BR is the sum over
the pair: e.g. X_Z^2 -> X_W^1+ W- stands for X_W^1± W∓ and X_g -> X_t^1 t̄ for X_t^1 t̄ + X̄_t^1 t.

Choices where the decision note leaves freedom (documented, see also the module tests):

* gluino 3-body decays to light quarks use a d quark as representative (``qq̄ X_Z^i`` = ``X_Z^i d d̄``,
  ``qq̄' X_W^i`` = ``X_W^i+ d ū``); the 2-body X_Z^i g channel of the template is not in the 2025 table;
* the off-shell X_W^1 -> X_Z^1 u d̄ channel stands for both quark generations (SM BR 6/9), the off-shell
  X_Z^2 -> X_Z^1 u ū channel for the four light flavours (12/18), as in ``protomodels.md`` §1.2;
* the gluino 3-body channels are always allowed when kinematically open (the C24 bug that drops
  them is not reproduced); only the EW-ino 3-body channels need the off-shell condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType

from nextsm.model.errors import ModelError
from nextsm.model.particles import (
    OFFSHELL_W_THRESHOLD,
    OFFSHELL_Z_THRESHOLD,
    PARTICLES,
    sm_mass,
)

__all__ = [
    "DECAY_TABLE",
    "OFFSHELL_CHANNELS",
    "OFFSHELL_SM_BRS",
    "Channel",
    "is_offshell",
    "is_offshell_channel",
    "offshell_brs",
    "open_channels",
]

Channel = tuple[int, ...]

_D, _U, _S, _C, _B, _T = 1, 2, 3, 4, 5, 6
_E, _NUE, _MU, _NUMU, _TAU, _NUTAU = 11, 12, 13, 14, 15, 16
_Z, _W, _H = 23, 24, 25
_XZ = (1000022, 1000023, 1000025)
_XW = (1000024, 1000037)
_XB1, _XB2, _XT1, _XT2, _XG = 1000005, 2000005, 1000006, 2000006, 1000021
_XZ1, _XZ2, _XW1 = 1000022, 1000023, 1000024


def _squark(q: int, partner: int, w_sign: int) -> tuple[Channel, ...]:
    return (
        *((z, q) for z in _XZ),
        *((w_sign * w, partner) for w in _XW),
        (_XG, q),
    )


def _stop(extra: tuple[Channel, ...]) -> tuple[Channel, ...]:
    return (*((z, _T) for z in _XZ), *((w, _B) for w in _XW), (_XB1, _W), (_XG, _T), *extra)


def _sbottom(extra: tuple[Channel, ...]) -> tuple[Channel, ...]:
    return (*((z, _B) for z in _XZ), *((-w, _T) for w in _XW), (_XT1, -_W), (_XG, _B), *extra)


_GLUINO: tuple[Channel, ...] = (
    *((z, _D, -_D) for z in _XZ),
    *((w, _D, -_U) for w in _XW),
    *((z, _B, -_B) for z in _XZ),
    *((z, _T, -_T) for z in _XZ),
    *((w, _B, -_T) for w in _XW),
    *((sq, -q) for sq, q in ((1000001, _D), (1000002, _U), (1000003, _S), (1000004, _C))),
    (_XB1, -_B),
    (_XB2, -_B),
    (_XT1, -_T),
    (_XT2, -_T),
)

_XW1_OFFSHELL: tuple[Channel, ...] = (
    (_XZ1, _U, -_D),
    (_XZ1, -_E, _NUE),
    (_XZ1, -_MU, _NUMU),
    (_XZ1, -_TAU, _NUTAU),
)
_XZ2_OFFSHELL: tuple[Channel, ...] = (
    (_XZ1, _U, -_U),
    (_XZ1, _B, -_B),
    (_XZ1, _E, -_E),
    (_XZ1, _MU, -_MU),
    (_XZ1, _TAU, -_TAU),
)


def _slepton(lep: int, nu: int) -> tuple[Channel, ...]:
    return (*((z, lep) for z in _XZ), *((-w, nu) for w in _XW))


def _sneutrino(nu: int, lep: int) -> tuple[Channel, ...]:
    return (*((z, nu) for z in _XZ), *((w, lep) for w in _XW))


#: mother (positive PDG) -> its channels, in a fixed order.  The LSP has no entry (stable).
DECAY_TABLE: Mapping[int, tuple[Channel, ...]] = MappingProxyType(
    {
        1000001: _squark(_D, _U, -1),
        1000002: _squark(_U, _D, +1),
        1000003: _squark(_S, _C, -1),
        1000004: _squark(_C, _S, +1),
        _XB1: _sbottom(()),
        _XB2: _sbottom(((_XB1, _Z),)),
        _XT1: _stop(()),
        _XT2: _stop(((_XT1, _Z),)),
        _XG: _GLUINO,
        _XZ2: ((_XW1, -_W), (_XZ1, _Z), (_XZ1, _H), *_XZ2_OFFSHELL),
        1000025: ((_XW1, -_W), (_XZ1, _Z), (_XZ2, _Z), (_XZ1, _H), (_XZ2, _H)),
        _XW1: ((_XZ1, _W), (_XZ2, _W), *_XW1_OFFSHELL),
        1000037: ((_XZ1, _W), (_XZ2, _W), (_XW1, _Z), (_XW1, _H)),
        1000011: _slepton(_E, _NUE),
        1000013: _slepton(_MU, _NUMU),
        1000015: _slepton(_TAU, _NUTAU),
        1000012: _sneutrino(_NUE, _E),
        1000014: _sneutrino(_NUMU, _MU),
        1000016: _sneutrino(_NUTAU, _TAU),
    }
)

#: mother -> its off-shell 3-body channels (allowed only when the mother is off-shell).
OFFSHELL_CHANNELS: Mapping[int, frozenset[Channel]] = MappingProxyType(
    {_XW1: frozenset(_XW1_OFFSHELL), _XZ2: frozenset(_XZ2_OFFSHELL)}
)

#: SM W/Z branching fractions of the off-shell channels (flavour democratic, no Z -> νν).
OFFSHELL_SM_BRS: Mapping[int, Mapping[Channel, Fraction]] = MappingProxyType(
    {
        _XW1: MappingProxyType(
            {
                _XW1_OFFSHELL[0]: Fraction(6, 9),
                _XW1_OFFSHELL[1]: Fraction(1, 9),
                _XW1_OFFSHELL[2]: Fraction(1, 9),
                _XW1_OFFSHELL[3]: Fraction(1, 9),
            }
        ),
        _XZ2: MappingProxyType(
            {
                _XZ2_OFFSHELL[0]: Fraction(12, 18),
                _XZ2_OFFSHELL[1]: Fraction(3, 18),
                _XZ2_OFFSHELL[2]: Fraction(1, 18),
                _XZ2_OFFSHELL[3]: Fraction(1, 18),
                _XZ2_OFFSHELL[4]: Fraction(1, 18),
            }
        ),
    }
)

_OFFSHELL_THRESHOLDS = {_XW1: OFFSHELL_W_THRESHOLD, _XZ2: OFFSHELL_Z_THRESHOLD}


def is_offshell_channel(mother: int, channel: Channel) -> bool:
    """True if ``channel`` is an off-shell 3-body EW-ino channel of ``mother``."""
    return channel in OFFSHELL_CHANNELS.get(mother, frozenset())


def is_offshell(mother: int, masses: Mapping[int, float]) -> bool:
    """True if ``mother`` (X_W^1 or X_Z^2) is present and m(mother) − m(X_Z^1) < m_V + Γ_V."""
    threshold = _OFFSHELL_THRESHOLDS.get(mother)
    if threshold is None or mother not in masses or _XZ1 not in masses:
        return False
    return masses[mother] - masses[_XZ1] < threshold


def _channel_open(mother: int, channel: Channel, masses: Mapping[int, float]) -> bool:
    total = 0.0
    for daughter in channel:
        if abs(daughter) in PARTICLES:
            if abs(daughter) not in masses:
                return False
            total += masses[abs(daughter)]
        else:
            total += sm_mass(daughter)
    return masses[mother] > total


def open_channels(mother: int, masses: Mapping[int, float]) -> tuple[Channel, ...]:
    """Channels of ``mother`` that are open for ``masses`` (positive PDG -> GeV), in table order.

    A channel is open iff every BSM daughter is present (has a mass), m(mother) exceeds the sum of the
    daughter masses (SM masses of :data:`~nextsm.model.particles.SM_MASSES`, others massless) and, for
    the off-shell 3-body EW-ino channels, the mother is off-shell (:func:`is_offshell`).
    A mother that is absent from ``masses`` has no open channel.
    """
    if mother not in DECAY_TABLE:
        if mother in PARTICLES:
            return ()
        raise ModelError(f"{mother}: not a particle of the pool")
    if mother not in masses:
        return ()
    offshell = is_offshell(mother, masses)
    return tuple(
        channel
        for channel in DECAY_TABLE[mother]
        if _channel_open(mother, channel, masses) and (offshell or not is_offshell_channel(mother, channel))
    )


def offshell_brs(mother: int, masses: Mapping[int, float]) -> dict[Channel, float]:
    """SM branching fractions of the *open* off-shell channels of ``mother``, renormalised to 1.

    Empty if ``mother`` is not off-shell (or has no off-shell channels).  E.g. below the τ τ and b b̄
    thresholds X_Z^2 -> X_Z^1 u ū gets 12/14 and each of e e, μ μ 1/14.
    """
    sm = OFFSHELL_SM_BRS.get(mother)
    if sm is None:
        return {}
    chosen = [c for c in open_channels(mother, masses) if c in sm]
    total = sum(sm[c] for c in chosen)
    return {c: float(sm[c] / total) for c in chosen}
