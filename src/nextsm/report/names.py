"""Display names of particles: the pool states (``Xt1``, as the CLI prints them, or as mathtext ``$X_{t}^{1}$`` for
plots) and the SM daughters of decays (``t``, ``b̄``, ``W⁺``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from nextsm.model.particles import PARTICLES, name

__all__ = ["channel_label", "particle_label", "sm_label", "tex_label"]

#: SM particle (positive PDG) -> (particle symbol, antiparticle symbol)
_SM: Mapping[int, tuple[str, str]] = MappingProxyType({
    1: ("d", "d̄"), 2: ("u", "ū"), 3: ("s", "s̄"), 4: ("c", "c̄"), 5: ("b", "b̄"), 6: ("t", "t̄"),
    11: ("e⁻", "e⁺"), 12: ("νe", "ν̄e"), 13: ("μ⁻", "μ⁺"), 14: ("νμ", "ν̄μ"), 15: ("τ⁻", "τ⁺"),
    16: ("ντ", "ν̄τ"), 21: ("g", "g"), 22: ("γ", "γ"), 23: ("Z", "Z"), 24: ("W⁺", "W⁻"), 25: ("h", "h"),
})

#: SM particle (positive PDG) -> (particle, antiparticle) as mathtext
_SM_TEX: Mapping[int, tuple[str, str]] = MappingProxyType({
    **{q: (c, rf"\bar{{{c}}}") for q, c in ((1, "d"), (2, "u"), (3, "s"), (4, "c"), (5, "b"), (6, "t"))},
    11: ("e^-", "e^+"), 13: (r"\mu^-", r"\mu^+"), 15: (r"\tau^-", r"\tau^+"),
    12: (r"\nu_e", r"\bar{\nu}_e"), 14: (r"\nu_\mu", r"\bar{\nu}_\mu"), 16: (r"\nu_\tau", r"\bar{\nu}_\tau"),
    21: ("g", "g"), 22: (r"\gamma", r"\gamma"), 23: ("Z", "Z"), 24: ("W^+", "W^-"), 25: ("h", "h"),
})

#: pool-name flavour part -> mathtext subscript
_TEX_FLAVOUR: Mapping[str, str] = MappingProxyType(
    {"mu": r"\mu", "tau": r"\tau", "nue": r"\nu_e", "numu": r"\nu_\mu", "nutau": r"\nu_\tau"})


def particle_label(pdg: int) -> str:
    """The pool name of a signed code (``-1000006`` -> ``Xt1~``), or the SM symbol for SM codes."""
    return name(pdg) if abs(pdg) in PARTICLES else sm_label(pdg)


def sm_label(pdg: int) -> str:
    """The symbol of an SM particle (``-5`` -> ``b̄``); unknown codes are shown as numbers."""
    symbols = _SM.get(abs(pdg))
    if symbols is None:
        return str(pdg)
    return symbols[1] if pdg < 0 else symbols[0]


def tex_label(pdg: int) -> str:
    """Mathtext as in the papers: ``1000006`` -> ``$X_{t}^{1}$``, ``1000013`` -> ``$X_{\\mu}$``, ``-5`` -> ``$\\bar{b}$``."""
    if abs(pdg) not in PARTICLES:
        symbols = _SM_TEX.get(abs(pdg))
        return str(pdg) if symbols is None else f"${symbols[1] if pdg < 0 else symbols[0]}$"
    base = PARTICLES[abs(pdg)].name[1:]
    flavour, index = base.rstrip("0123456789"), base[len(base.rstrip("0123456789")):]
    sub = _TEX_FLAVOUR.get(flavour, flavour)
    bar = r"\bar{X}" if pdg < 0 else "X"
    return f"${bar}_{{{sub}}}" + (f"^{{{index}}}$" if index else "$")


def channel_label(channel: Iterable[int]) -> str:
    """The daughters of a decay channel, BSM first: ``(1000022, 6)`` -> ``XZ1 t``."""
    return " ".join(particle_label(d) for d in channel)
