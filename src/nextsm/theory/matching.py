"""Matching simplified-model elements to the constraints of the database's txnames, as SModelS 3.2.1 does.

A txname constraint is a linear combination of *patterns* (``2.*([[['L'],['L']],[['L'],['nu']]] + ...)``).
Every pattern is compiled once into a :class:`Pattern`: two :class:`BranchPattern` objects, each the list of
vertex patterns (the SM labels emitted at each BSM decay) and the BSM states along the chain (the
txname's ``intermediateState``, default ``anyBSM``, and ``finalState``, default ``MET``).  Graph-notation
constraints (SModelS 3 process strings) whose BSM part is two chains are compiled into the same form; other
graphs (a BSM state decaying into two BSM states, more than two primary states) cannot describe a protomodel
element and are reported as such.

Matching rules (SModelS ``ExpSMS.computeMatchingDict``):

* a vertex matches if the SM labels of the element can be paired one to one with the pattern's labels, each
  element label being covered by its pattern label (``label_matches('mu+', 'l')``);  an inclusive list
  ``*X`` in the pattern first absorbs every element label covered by ``X`` (and can absorb none);
* a BSM state matches if its quantum numbers fit the label: ``MET`` (neutral, colour singlet), ``gluino``
  (neutral colour-octet fermion), ``C1+``/``C1-`` (charged colour-singlet fermion), ``HSCP`` (charged colour
  singlet), ``RHadron*`` (coloured), ``Hpm`` (charged scalar), ``H0`` (neutral scalar), ``anyBSM`` (any);
* an inclusive branch (``['*']``, ``InclusiveNode``) matches any chain ending in a matching final state;
* both assignments of the element's branches to the pattern's are tried; if both match, SModelS keeps the
  one whose data point (masses in the grid's order) is lexicographically larger (``TxName.hasSMSas``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType

from nextsm.database.constraints import (
    BracketElement,
    GraphElement,
    InclusiveBranch,
    UnsupportedConstraintError,
)
from nextsm.database.constraints import Element as ConstraintElement
from nextsm.database.particles import (
    ANY_BSM,
    INCLUSIVE_NODE_LABELS,
    PRIMARY_VERTEX,
    is_bsm_label,
    label_matches,
    split_inclusive,
)

__all__ = [
    "BranchPattern",
    "Pattern",
    "bsm_state_matches",
    "compile_pattern",
    "quantum_numbers",
    "vertex_matches",
]

# ----------------------------------------------------------------------------------------- BSM states
#: (electric charge of the positive code in units of e, colour dimension, spin) of the MSSM states used by
#: protomodels (SUSY PDG codes; the negative code has the opposite charge).
_QUANTUM_NUMBERS: Mapping[int, tuple[Fraction, int, Fraction]] = MappingProxyType({
    **{q: (Fraction(-1, 3), 3, Fraction(0)) for q in (1000001, 1000003, 1000005, 2000005)},
    **{q: (Fraction(2, 3), 3, Fraction(0)) for q in (1000002, 1000004, 1000006, 2000006)},
    1000021: (Fraction(0), 8, Fraction(1, 2)),
    **{n: (Fraction(0), 1, Fraction(1, 2)) for n in (1000022, 1000023, 1000025, 1000035)},
    **{c: (Fraction(1), 1, Fraction(1, 2)) for c in (1000024, 1000037)},
    **{sl: (Fraction(-1), 1, Fraction(0)) for sl in (1000011, 1000013, 1000015, 2000011, 2000013, 2000015)},
    **{sn: (Fraction(0), 1, Fraction(0)) for sn in (1000012, 1000014, 1000016)},
})

_Q = Fraction
#: Database BSM labels as required quantum numbers (charge, colour, spin; None = any), one entry per member
#: (``databaseParticles.py`` of the database).
_BSM_LABEL_RULES: Mapping[str, tuple[tuple[Fraction | None, int | None, Fraction | None], ...]] = MappingProxyType({
    "MET": ((_Q(0), 1, None),),
    "HSCP+": ((_Q(1), 1, None),),
    "HSCP-": ((_Q(-1), 1, None),),
    "HSCP": ((_Q(1), 1, None), (_Q(-1), 1, None)),
    "RHadronG": ((_Q(0), 8, None),),
    "RHadronU+": ((_Q(2, 3), 3, None),),
    "RHadronU-": ((_Q(-2, 3), 3, None),),
    "RHadronU": ((_Q(2, 3), 3, None), (_Q(-2, 3), 3, None)),
    "RHadronD+": ((_Q(1, 3), 3, None),),
    "RHadronD-": ((_Q(-1, 3), 3, None),),
    "RHadronD": ((_Q(1, 3), 3, None), (_Q(-1, 3), 3, None)),
    "RHadronQ": ((_Q(2, 3), 3, None), (_Q(-2, 3), 3, None), (_Q(1, 3), 3, None), (_Q(-1, 3), 3, None)),
    "gluino": ((_Q(0), 8, _Q(1, 2)),),
    "C1+": ((_Q(1), 1, _Q(1, 2)),),
    "C1-": ((_Q(-1), 1, _Q(1, 2)),),
    "C1": ((_Q(1), 1, _Q(1, 2)), (_Q(-1), 1, _Q(1, 2))),
    "H+": ((_Q(1), 1, _Q(0)),),
    "H-": ((_Q(-1), 1, _Q(0)),),
    "Hpm": ((_Q(1), 1, _Q(0)), (_Q(-1), 1, _Q(0))),
    "Zprime": ((_Q(0), 1, _Q(1)),),
    "H0": ((_Q(0), 1, _Q(0)),),
    ANY_BSM: ((None, None, None),),
})


def quantum_numbers(pdg: int) -> tuple[Fraction, int, Fraction]:
    """(charge, colour dimension, spin) of a signed BSM code."""
    try:
        charge, colour, spin = _QUANTUM_NUMBERS[abs(pdg)]
    except KeyError:
        raise UnsupportedConstraintError(f"no quantum numbers known for the BSM state {pdg}") from None
    return (charge if pdg > 0 else -charge), colour, spin


@lru_cache(maxsize=4096)
def bsm_state_matches(pdg: int, label: str) -> bool:
    """True if the signed BSM code ``pdg`` is covered by the database BSM ``label`` (e.g. ``'MET'``)."""
    rules = _BSM_LABEL_RULES.get(label)
    if rules is None:
        return False
    numbers = quantum_numbers(pdg)
    return any(all(req is None or req == have for req, have in zip(rule, numbers, strict=True)) for rule in rules)


# ------------------------------------------------------------------------------------------ vertices
@lru_cache(maxsize=65536)
def vertex_matches(pattern: tuple[str, ...], labels: tuple[str, ...]) -> bool:
    """True if the SM ``labels`` of an element vertex match the ``pattern`` of a constraint vertex."""
    inclusive = [split_inclusive(p)[0] for p in pattern if split_inclusive(p)[1]]
    regular = [p for p in pattern if not split_inclusive(p)[1]]
    rest = [lab for lab in labels if not any(label_matches(lab, inc) for inc in inclusive)]
    if len(rest) != len(regular):
        return False
    if not regular:
        return True
    return any(all(label_matches(lab, pat) for lab, pat in zip(perm, regular, strict=True))
               for perm in set(itertools.permutations(rest)))


# ---------------------------------------------------------------------------------------- patterns
@dataclass(frozen=True, slots=True)
class BranchPattern:
    """One branch of a constraint pattern.

    Attributes
    ----------
    vertices:
        SM labels emitted at each BSM decay, primary mother first (empty for an inclusive branch).
    states:
        BSM labels of the decaying states and, last, of the final state (``len(vertices) + 1`` entries).
    nodes:
        Graph-notation node index of each BSM state (for the txname's ``dataMap``); ``None`` for bracket
        notation.
    inclusive:
        True for an inclusive branch: any decay chain whose final state matches ``states[-1]``.
    """

    vertices: tuple[tuple[str, ...], ...]
    states: tuple[str, ...]
    nodes: tuple[int, ...] | None = None
    inclusive: bool = False

    def matches(self, codes: Sequence[int], labels: Sequence[tuple[str, ...]]) -> bool:
        """True if a chain (BSM ``codes`` along it, final state last; SM ``labels`` per vertex) matches."""
        if not bsm_state_matches(codes[-1], self.states[-1]):
            return False
        if self.inclusive:
            return True
        if len(labels) != len(self.vertices):
            return False
        for code, state in zip(codes[:-1], self.states[:-1], strict=True):
            if state != ANY_BSM and not bsm_state_matches(code, state):
                return False
        return all(vertex_matches(p, lab) for p, lab in zip(self.vertices, labels, strict=True))


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled constraint element: two branch patterns (SModelS' ``ExpSMS`` for two primary states)."""

    branches: tuple[BranchPattern, BranchPattern]

    @property
    def shape(self) -> tuple[int, int] | None:
        """Number of vertices per branch (sorted), or ``None`` if a branch is inclusive."""
        if any(b.inclusive for b in self.branches):
            return None
        return tuple(sorted(len(b.vertices) for b in self.branches))  # type: ignore[return-value]

    def without_prompt_quantum_numbers(self) -> Pattern:
        """The pattern with every decaying state relaxed to ``anyBSM`` (SModelS ``ignorePromptQNumbers``)."""
        relaxed = []
        for b in self.branches:
            states = b.states if b.inclusive else (*(ANY_BSM for _ in b.states[:-1]), b.states[-1])
            relaxed.append(BranchPattern(b.vertices, states, b.nodes, b.inclusive))
        return Pattern((relaxed[0], relaxed[1]))

    def orderings(self, chains: Sequence[tuple[Sequence[int], Sequence[tuple[str, ...]]]]) -> list[tuple[int, int]]:
        """Assignments ``(i, j)`` of element branches to pattern branches 0 and 1 that match."""
        out = []
        for order in ((0, 1), (1, 0)):
            if all(self.branches[k].matches(*chains[order[k]]) for k in (0, 1)):
                out.append(order)
        return out


def _bracket_pattern(
    element: BracketElement,
    final_state: Sequence[str] | None,
    intermediate_state: Sequence[Sequence[str]] | None,
) -> Pattern:
    if len(element.branches) != 2:
        raise UnsupportedConstraintError(f"{element}: {len(element.branches)} branches (protomodel elements have 2)")
    finals = list(final_state) if final_state is not None else ["MET", "MET"]
    if len(finals) != 2:
        raise UnsupportedConstraintError(f"finalState {finals} does not fit the 2 branches of {element}")
    branches = []
    for i, branch in enumerate(element.branches):
        if isinstance(branch, InclusiveBranch):
            branches.append(BranchPattern((), (finals[i],), inclusive=True))
            continue
        vertices = tuple(tuple("anySM" if lab == "*" else lab for lab in v) for v in branch)
        if intermediate_state is not None:
            states = tuple(intermediate_state[i])
            if len(states) != len(vertices):
                raise UnsupportedConstraintError(
                    f"intermediateState {list(states)} does not fit branch {i} of {element}")
        else:
            states = (ANY_BSM,) * len(vertices)
        branches.append(BranchPattern(vertices, (*states, finals[i])))
    return Pattern((branches[0], branches[1]))


def _graph_chain(element: GraphElement, start: int) -> BranchPattern:
    """Follow a chain of BSM states from node ``start`` of a graph-notation element."""
    vertices: list[tuple[str, ...]] = []
    states: list[str] = []
    nodes: list[int] = []
    index = start
    while True:
        node = element.node(index)
        daughters = element.daughters(index)
        if node.inclusive_node:
            finals = [element.node(d) for d in daughters]
            bsm = [n for n in finals if is_bsm_label(n.label) and not n.inclusive_list]
            if len(bsm) != 1:
                raise UnsupportedConstraintError(f"{element}: inclusive node {index} without a single BSM final state")
            if vertices:
                raise UnsupportedConstraintError(f"{element}: inclusive node {index} inside a decay chain")
            return BranchPattern((), (bsm[0].label,), (bsm[0].index,), inclusive=True)
        states.append(node.label)
        nodes.append(index)
        if not daughters:
            return BranchPattern(tuple(vertices), tuple(states), tuple(nodes))
        bsm_daughters = [d for d in daughters if is_bsm_label(element.node(d).label)
                         and not element.node(d).inclusive_list]
        if len(bsm_daughters) != 1:
            raise UnsupportedConstraintError(
                f"{element}: node {index} decays into {len(bsm_daughters)} BSM states (protomodel chains have 1)")
        vertices.append(tuple(sorted(element.node(d).label for d in daughters if d != bsm_daughters[0])))
        index = bsm_daughters[0]


def _graph_pattern(element: GraphElement) -> Pattern:
    if element.nodes[0].label != PRIMARY_VERTEX:
        raise UnsupportedConstraintError(f"{element}: no primary vertex")
    primaries = element.daughters(0)
    if len(primaries) != 2:
        raise UnsupportedConstraintError(f"{element}: {len(primaries)} primary states (protomodel elements have 2)")
    for p in primaries:
        label = element.node(p).label
        if not is_bsm_label(label) and label not in INCLUSIVE_NODE_LABELS:
            raise UnsupportedConstraintError(f"{element}: primary state {label} is not a BSM state")
    first, second = (_graph_chain(element, p) for p in primaries)
    return Pattern((first, second))


def compile_pattern(
    element: ConstraintElement,
    final_state: Sequence[str] | None = None,
    intermediate_state: Sequence[Sequence[str]] | None = None,
) -> Pattern:
    """Compile a parsed constraint element (bracket or graph notation) into a :class:`Pattern`.

    Raises
    ------
    UnsupportedConstraintError
        If the element cannot describe a protomodel element (not two chains of prompt decays).
    """
    if isinstance(element, BracketElement):
        return _bracket_pattern(element, final_state, intermediate_state)
    return _graph_pattern(element)
