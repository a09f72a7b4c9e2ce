"""Particle labels used by the SModelS database in constraints and conditions.

The SModelS database describes simplified-model topologies with *labels* (see the documentation
file ``databaseParticles.py`` shipped with the database, which this module mirrors without
importing).  A label is either

* an **elementary** (signed) particle, e.g. ``'e-'``, ``'mu+'``, ``'t+'``, ``'W-'``, ``'u~'``, or
* a **group** of elementary particles, e.g. ``'l'`` = {e-, e+, mu-, mu+}, ``'jet'`` = light quarks,
  ``c``, gluons and pions, ``'W'`` = {W+, W-}.

Every label is mapped to the ``frozenset`` of the elementary labels it stands for.  Elementary
labels follow the SModelS conventions: charged leptons and the top quark carry their charge
(``'ta-'``, ``'t+'``), antiparticles of neutral fermions carry a ``~`` (``'nue~'``, ``'u~'``,
``'b~'``), self-conjugate bosons have one label (``'g'``, ``'photon'``, ``'Z'``, ``'higgs'``,
``'pi0'``).  Note that the SModelS labels ``'c'`` and ``'b'`` denote the quark *and* its antiquark.

Two labels are wildcards rather than finite groups:

* ``'anySM'`` (and ``'*'`` inside a bracket vertex, which SModelS reads as ``anySM``) matches any
  Standard-Model particle;
* ``'anyBSM'`` matches any BSM particle.

A label written with a leading ``*`` in a constraint (``'*anySM'``) is an *inclusive list*: it stands
for any number of such particles emitted at that vertex; :func:`split_inclusive` separates the
marker from the label.

``PV`` (the primary vertex) is the root of every graph-notation element and is not a particle.

Everything here is immutable (``frozenset``, read-only mappings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = [
    "ANY_BSM",
    "ANY_SM",
    "BSM_ELEMENTARY",
    "BSM_LABELS",
    "INCLUSIVE_NODE_LABELS",
    "PRIMARY_VERTEX",
    "SM_ELEMENTARY",
    "SM_LABELS",
    "WILDCARD",
    "conjugate",
    "expand",
    "is_bsm_label",
    "is_known_label",
    "is_sm_label",
    "label_matches",
    "labels_overlap",
    "split_inclusive",
]

#: Wildcard for one SM particle in bracket notation (read as ``anySM`` by SModelS).
WILDCARD = "*"
#: Any Standard-Model particle.
ANY_SM = "anySM"
#: Any BSM particle.
ANY_BSM = "anyBSM"
#: The primary vertex, root of graph-notation elements.
PRIMARY_VERTEX = "PV"
#: Node labels standing for an arbitrary sub-tree (SModelS ``InclusiveNode``).
INCLUSIVE_NODE_LABELS = frozenset({"InclusiveNode", "Inclusive"})

_CHARGED_LEPTONS = ("e-", "e+", "mu-", "mu+", "ta-", "ta+")
_NEUTRINOS = ("nue", "nue~", "numu", "numu~", "nuta", "nuta~")
_LIGHT_QUARKS = ("u", "u~", "d", "d~", "s", "s~")
_PIONS = ("pi+", "pi-", "pi0")

#: Every elementary (signed) Standard-Model label.
SM_ELEMENTARY: frozenset[str] = frozenset(
    _CHARGED_LEPTONS + _NEUTRINOS + _LIGHT_QUARKS + _PIONS
    + ("c", "c~", "b", "b~", "t+", "t-", "g", "photon", "Z", "W+", "W-", "higgs")
)

#: Every elementary (signed) BSM label known to the database.
BSM_ELEMENTARY: frozenset[str] = frozenset({
    "MET", "HSCP+", "HSCP-", "RHadronU+", "RHadronU-", "RHadronD+", "RHadronD-", "RHadronG",
    "gluino", "C1+", "C1-", "H+", "H-", "Zprime", "H0",
})


def _group(*labels: str) -> frozenset[str]:
    return frozenset(labels)


_SM: dict[str, frozenset[str]] = {
    # charged leptons
    **{lab: _group(lab) for lab in _CHARGED_LEPTONS},
    "e": _group("e-", "e+"),
    "mu": _group("mu-", "mu+"),
    "ta": _group("ta-", "ta+"),
    "l+": _group("e+", "mu+"),
    "l-": _group("e-", "mu-"),
    "l": _group("e-", "e+", "mu-", "mu+"),
    "L+": _group("e+", "mu+", "ta+"),
    "L-": _group("e-", "mu-", "ta-"),
    "L": _group(*_CHARGED_LEPTONS),
    # neutrinos
    "nu": _group(*_NEUTRINOS),
    # quarks
    "q": _group(*_LIGHT_QUARKS),
    "c": _group("c", "c~"),
    "b": _group("b", "b~"),
    "t+": _group("t+"),
    "t-": _group("t-"),
    "t": _group("t+", "t-"),
    # bosons
    "g": _group("g"),
    "photon": _group("photon"),
    "Z": _group("Z"),
    "W+": _group("W+"),
    "W-": _group("W-"),
    "W": _group("W+", "W-"),
    "higgs": _group("higgs"),
    "pion": _group(*_PIONS),
    # jets
    "jet": _group(*_LIGHT_QUARKS, "c", "c~", "g", *_PIONS),
    "jetb": _group(*_LIGHT_QUARKS, "c", "c~", "b", "b~", "g"),
    # wildcards
    ANY_SM: SM_ELEMENTARY,
    WILDCARD: SM_ELEMENTARY,
}

_BSM: dict[str, frozenset[str]] = {
    "MET": _group("MET"),
    "HSCP": _group("HSCP+", "HSCP-"),
    "RHadronU": _group("RHadronU+", "RHadronU-"),
    "RHadronD": _group("RHadronD+", "RHadronD-"),
    "RHadronG": _group("RHadronG"),
    "RHadronQ": _group("RHadronU+", "RHadronU-", "RHadronD+", "RHadronD-"),
    "gluino": _group("gluino"),
    "C1+": _group("C1+"),
    "C1-": _group("C1-"),
    "C1": _group("C1+", "C1-"),
    "H+": _group("H+"),
    "H-": _group("H-"),
    "Hpm": _group("H+", "H-"),
    "Zprime": _group("Zprime"),
    "H0": _group("H0"),
    ANY_BSM: BSM_ELEMENTARY,
}

#: SM labels accepted in database constraints, each mapped to its elementary members.
SM_LABELS: Mapping[str, frozenset[str]] = MappingProxyType(_SM)
#: BSM labels accepted in database constraints, each mapped to its elementary members.
BSM_LABELS: Mapping[str, frozenset[str]] = MappingProxyType(_BSM)

_SM_WILDCARDS = frozenset({ANY_SM, WILDCARD})

_CONJUGATE_PAIRS = (
    ("e-", "e+"), ("mu-", "mu+"), ("ta-", "ta+"), ("l-", "l+"), ("L-", "L+"),
    ("nue", "nue~"), ("numu", "numu~"), ("nuta", "nuta~"),
    ("u", "u~"), ("d", "d~"), ("s", "s~"),
    ("t-", "t+"), ("W-", "W+"), ("pi-", "pi+"),
    ("HSCP-", "HSCP+"), ("RHadronU-", "RHadronU+"), ("RHadronD-", "RHadronD+"),
    ("C1-", "C1+"), ("H-", "H+"),
)
# The labels 'c' and 'b' are SModelS groups {quark, antiquark}: self-conjugate.  The elementary
# antiquarks 'c~' and 'b~' conjugate to the elementary quarks, whose labels coincide with the groups'.
_CONJUGATES: Mapping[str, str] = MappingProxyType(
    {a: b for a, b in _CONJUGATE_PAIRS} | {b: a for a, b in _CONJUGATE_PAIRS} | {"c~": "c", "b~": "b"}
)


def split_inclusive(label: str) -> tuple[str, bool]:
    """Split an inclusive-list marker: ``'*anySM'`` → ``('anySM', True)``, ``'jet'`` → ``('jet', False)``.

    The bare wildcard ``'*'`` is a label of its own, not a marker: ``'*'`` → ``('*', False)``.
    """
    if len(label) > 1 and label.startswith("*"):
        return label[1:], True
    return label, False


def is_sm_label(label: str) -> bool:
    """True if ``label`` (possibly an inclusive list ``*X``) is an SM label or elementary SM particle."""
    base, _ = split_inclusive(label)
    return base in _SM or base in SM_ELEMENTARY


def is_bsm_label(label: str) -> bool:
    """True if ``label`` (possibly an inclusive list ``*X``) is a BSM label or elementary BSM particle."""
    base, _ = split_inclusive(label)
    return base in _BSM or base in BSM_ELEMENTARY


def is_known_label(label: str) -> bool:
    """True if ``label`` is an SM or BSM label accepted in database constraints (``*X`` included)."""
    base, _ = split_inclusive(label)
    return base in _SM or base in _BSM


def expand(label: str) -> frozenset[str]:
    """The elementary labels a label stands for (``'l+'`` → ``{'e+', 'mu+'}``).

    Elementary labels expand to themselves; the wildcards expand to every known elementary label of
    their kind (which is only an approximation for ``anyBSM``, see :func:`label_matches`).

    Raises
    ------
    ValueError
        If the label is unknown.
    """
    base, _ = split_inclusive(label)
    for table in (_SM, _BSM):
        if base in table:
            return table[base]
    if base in SM_ELEMENTARY or base in BSM_ELEMENTARY:
        return frozenset({base})
    raise ValueError(f"unknown particle label '{label}'")


def label_matches(concrete: str, pattern: str) -> bool:
    """Tell whether ``concrete`` is covered by the (group) label ``pattern``.

    ``concrete`` is usually an elementary label (``'mu+'``) but may be any label; it matches when
    every elementary particle it stands for belongs to ``pattern``: ``label_matches('mu+', 'l')``
    and ``label_matches('l+', 'L')`` are true, ``label_matches('l', 'l+')`` is false.
    ``'anySM'``/``'*'`` match every SM label, ``'anyBSM'`` every BSM label.  The inclusive-list
    marker ``*`` is ignored on both sides.

    Raises
    ------
    ValueError
        If either label is unknown.
    """
    members = expand(concrete)
    base, _ = split_inclusive(pattern)
    if base in _SM_WILDCARDS:
        return is_sm_label(concrete)
    if base == ANY_BSM:
        return is_bsm_label(concrete)
    return members <= expand(pattern)


def labels_overlap(first: str, second: str) -> bool:
    """True if the two labels have an elementary particle in common (``'l'`` and ``'e+'``: yes)."""
    a, b = expand(first), expand(second)
    return not a.isdisjoint(b)


def conjugate(label: str) -> str:
    """The charge-conjugate label: ``'e-'`` ↔ ``'e+'``, ``'l+'`` ↔ ``'l-'``, ``'u'`` ↔ ``'u~'``.

    Self-conjugate particles and charge-symmetric groups (``'l'``, ``'jet'``, ``'W'``, ``'MET'``,
    and ``'c'``/``'b'``, which SModelS uses for quark *and* antiquark) are their own conjugate;
    ``'c~'`` → ``'c'``.  An inclusive-list marker is kept (``'*anySM'`` → ``'*anySM'``).

    Raises
    ------
    ValueError
        If the label is unknown.
    """
    base, inclusive = split_inclusive(label)
    expand(base)  # validates
    result = _CONJUGATES.get(base, base)
    return "*" + result if inclusive else result


def _check_tables(groups: Iterable[Mapping[str, frozenset[str]]]) -> None:  # pragma: no cover - import-time sanity
    for table in groups:
        for name, members in table.items():
            if not members <= (SM_ELEMENTARY | BSM_ELEMENTARY):
                raise AssertionError(f"group {name} has unknown members {members}")


_check_tables((_SM, _BSM))
