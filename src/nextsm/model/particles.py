"""The pool of 20 BSM states a proto-model is built from (``protomodels.md`` §1.1).

SUSY PDG codes are reused so that SLHA files and SModelS work unchanged.  A *positive* code is the
particle, a negative code its antiparticle; self-conjugate states only ever carry the positive code.
Charges follow the SUSY convention: ``1000001`` (X_d) has the charge of a d quark, ``1000024`` (X_W^1)
is positive, ``1000011`` (X_e) is negative like the electron (PDG 11).

Mass walls and ordering constraints are the walker's rules (C24 values); they are data here and are
checked by :func:`mass_constraint_violations`, not by :class:`~nextsm.model.protomodel.ProtoModel`
validation (a user-supplied model only has to be physical, see the validation rules there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "LSP",
    "MASS_ORDERINGS",
    "MAX_MASS",
    "MIN_LSP_MASS",
    "OFFSHELL_W_THRESHOLD",
    "OFFSHELL_Z_THRESHOLD",
    "PARTICLES",
    "PDG_BY_NAME",
    "SM_MASSES",
    "Particle",
    "is_self_conjugate",
    "mass_constraint_violations",
    "name",
    "sm_mass",
]


@dataclass(frozen=True)
class Particle:
    """One state of the pool.

    Attributes
    ----------
    pdg:
        Positive PDG code.
    name:
        Short name, e.g. ``"Xt1"``.
    sm_partner:
        PDG code of the SM partner (0 for the neutral EW-inos, whose partner is "neutral").
    self_conjugate:
        True if the state is its own antiparticle (no separate antiparticle in the SSM bookkeeping).
    min_mass:
        Lower mass wall in GeV (C24 walker; 0 where the walker has none).
    """

    pdg: int
    name: str
    sm_partner: int
    self_conjugate: bool
    min_mass: float = 0.0


#: The LSP X_Z^1: always present, stable, lightest.
LSP = 1000022
#: Upper mass limit of every state (``maxMass`` of the original), GeV.
MAX_MASS = 2400.0
#: The LSP may not move below this mass (GeV).
MIN_LSP_MASS = 10.0

_POOL = (
    Particle(1000001, "Xd", 1, False, 310.0),
    Particle(1000002, "Xu", 2, False, 310.0),
    Particle(1000003, "Xs", 3, False, 310.0),
    Particle(1000004, "Xc", 4, False, 310.0),
    Particle(1000005, "Xb1", 5, False),
    Particle(2000005, "Xb2", 5, False),
    Particle(1000006, "Xt1", 6, False),
    Particle(2000006, "Xt2", 6, False),
    Particle(1000021, "Xg", 21, True, 310.0),
    Particle(1000022, "XZ1", 0, True, MIN_LSP_MASS),
    Particle(1000023, "XZ2", 0, True, 20.0),
    Particle(1000025, "XZ3", 0, True, 20.0),
    Particle(1000024, "XW1", 24, False, 100.0),
    Particle(1000037, "XW2", 24, False, 100.0),
    Particle(1000011, "Xe", 11, False),
    Particle(1000013, "Xmu", 13, False),
    Particle(1000015, "Xtau", 15, False),
    Particle(1000012, "Xnue", 12, True),
    Particle(1000014, "Xnumu", 14, True),
    Particle(1000016, "Xnutau", 16, True),
)

#: PDG code -> :class:`Particle`, in the order of ``protomodels.md`` §1.1.
PARTICLES: Mapping[int, Particle] = MappingProxyType({p.pdg: p for p in _POOL})
#: Name -> PDG code.
PDG_BY_NAME: Mapping[str, int] = MappingProxyType({p.name: p.pdg for p in _POOL})

#: Pairs (lighter, heavier) whose masses may not cross; the heavier may only be present with the lighter.
MASS_ORDERINGS: tuple[tuple[int, int], ...] = (
    (1000005, 2000005),
    (1000006, 2000006),
    (1000023, 1000025),
    (1000024, 1000037),
)

#: SM masses (GeV) used by the open-channel rule; every other SM particle is massless there.
SM_MASSES: Mapping[int, float] = MappingProxyType(
    {6: 173.0, 24: 81.0, 23: 92.0, 25: 125.0, 5: 5.0, 4: 1.2, 15: 1.77}
)

#: X_W^1 is "off-shell" if m(X_W^1) - m(X_Z^1) is below m_W + Γ_W (GeV).
OFFSHELL_W_THRESHOLD = 80.377 + 0.012
#: X_Z^2 is "off-shell" if m(X_Z^2) - m(X_Z^1) is below m_Z + Γ_Z (GeV).
OFFSHELL_Z_THRESHOLD = 91.1876 + 0.0021


def sm_mass(pdg: int) -> float:
    """Mass (GeV) of an SM particle for the open-channel rule (sign ignored, 0 if massless)."""
    return SM_MASSES.get(abs(pdg), 0.0)


def is_self_conjugate(pdg: int) -> bool:
    """True if the pool state ``|pdg|`` is its own antiparticle."""
    return PARTICLES[abs(pdg)].self_conjugate


def name(pdg: int) -> str:
    """Name of a signed pool code, antiparticles with a trailing ``~`` (``-1000006`` -> ``"Xt1~"``)."""
    base = PARTICLES[abs(pdg)].name
    return base + "~" if pdg < 0 else base


def mass_constraint_violations(masses: Mapping[int, float]) -> list[str]:
    """Walker-level constraints of §1.1 that ``masses`` violates (empty list if none).

    Checked: mass walls, ``MAX_MASS``, every non-LSP mass >= m(LSP), the canonical orderings of
    :data:`MASS_ORDERINGS` (the heavier member needs the lighter).  The original's quirk
    m(X_d) <= m(X_u), m(X_s) and the stop corridor veto are *not* applied.
    """
    problems: list[str] = []
    m_lsp = masses.get(LSP)
    for pdg, mass in masses.items():
        particle = PARTICLES.get(pdg)
        if particle is None:
            continue
        if mass < particle.min_mass:
            problems.append(
                f'masses["{pdg}"]: {mass} GeV below the wall {particle.min_mass} GeV of {particle.name}'
            )
        if mass > MAX_MASS:
            problems.append(f'masses["{pdg}"]: {mass} GeV above the maximum {MAX_MASS} GeV')
        if m_lsp is not None and pdg != LSP and mass < m_lsp:
            problems.append(f'masses["{pdg}"]: {particle.name} lighter than the LSP')
    for light, heavy in MASS_ORDERINGS:
        if heavy in masses and light not in masses:
            problems.append(f'masses["{heavy}"]: {name(heavy)} present without {name(light)}')
        elif heavy in masses and masses[heavy] < masses[light]:
            problems.append(f'masses["{heavy}"]: {name(heavy)} lighter than {name(light)}')
    return problems
