"""Constraints and conditions of SModelS txnames, parsed without ``eval``.

Every ``<TxName>.txt`` file of the SModelS database has a ``constraint:`` field, telling which
simplified-model topologies (*elements*) the data apply to and with which weights, and a
``condition:`` field, telling which relations between element weights the data assume.

Constraints
-----------
A constraint is a linear combination of elements: numbers, ``+``, ``-``, ``*``, ``/`` and
parentheses around elements, e.g. ::

    [[['t']],[['t']]]                                   one element
    [[['e+']],[['e-']]]+[[['mu+']],[['mu-']]]           a sum of two elements
    2.*([[['L'],['L']],[['L'],['nu']]] + [[['L'],['L']],[['nu'],['L']]])
    9./4.*[[['b','jet','jet']],[['b','jet','jet']]]

It is expanded into a :class:`Constraint`: a tuple of :class:`Term` ``(coefficient, element)``
(``2.*(A + B)`` gives ``(2.0, A), (2.0, B)``, in reading order; repeated elements are kept as they
are written).  Products of two elements, constant offsets (``1 + A``) and divisions by elements
are not linear and raise :class:`UnsupportedConstraintError`.

Elements come in two notations.

**Bracket notation** (SModelS 1 and 2): a list of *branches*, one per BSM particle produced at the
primary vertex; a branch is a list of *vertices*, one per BSM decay along the cascade; a vertex is
the list of SM final-state labels emitted there.  ``[[['b','W']],[['b','W']]]`` has two branches
of one vertex each, ``[[],[]]`` two branches without decays, ``[[[jet],[jet,jet]],[[jet,jet]]]``
branches of two and one vertices.  Labels may be quoted or not (``'t'`` or ``t``), carry a charge
(``'ta+'``, ``'W-'``, ``'L+'``), be a group (``'l'``, ``'jet'``, see
:mod:`nextsm.database.particles`), the single-particle wildcard ``'*'`` or an inclusive list
``*anySM`` (any number of SM particles).  A whole branch written ``['*']`` or ``[*]`` is an
*inclusive branch* (SModelS: any sub-tree), represented by :data:`ANY_BRANCH`.  The result is a
:class:`BracketElement` (a tuple of branches, each a tuple of vertices, each a tuple of labels).
The BSM states along the branches are not written; they come from the txname's ``finalState``
(default ``MET``) and ``intermediateState`` (default ``anyBSM``) fields, see
:func:`bracket_to_graph`.

**Graph notation** (SModelS 3 "process string"): a set of decays between braces, each
``(mother > daughter, daughter, ...)``, the first mother being the primary vertex ``PV``::

    {(PV > Zprime(1)), (Zprime(1) > MET(2),MET(3))}
    {(PV > C1+(1),C1-(3)), (C1+(1) > *anySM,MET(2)), (C1-(3) > *anySM,MET(4))}

``(n)`` is the node index; nodes that decay must have one, stable daughters may omit it and are then
numbered after the largest explicit index, in reading order (as SModelS does).  The result is a
:class:`GraphElement` (nodes with index and label; edges mother → daughters, daughters sorted by
index).

Conditions
----------
The ``condition:`` field is ``None`` or a ``;``-separated list of ``Cgtr(A, B)`` ("A is greater than
B") and ``Csim(A, B, ...)`` ("the arguments are similar") — spelt ``cGtr``/``cSim`` as well — whose
arguments are constraint expressions, e.g. ::

    Cgtr([[['mu+']],[['mu-']]], [[['e+']],[['e-']]])
    Csim([[['L'],['L']],[['L'],['nu']]],[[['L'],['L']],[['nu'],['L']]]); Cgtr(3.*[[...]], [[...]])

:func:`parse_conditions` returns a tuple of :class:`Condition`; :func:`condition_violation`
implements SModelS' measure of how much a condition is violated, given the weight of each argument.

Errors
------
Syntax errors and unknown labels raise :class:`~nextsm.errors.DatabaseError`; well-formed input
nextsm cannot represent raises :class:`UnsupportedConstraintError`.  Both name the file, the line
(of a multi-line value too), the field and the column (counted within the value), and quote the
text around the fault, marked with ``>>>``.
:func:`try_parse_constraint` and :func:`try_parse_conditions` return the error instead of raising
it.  ``str()`` of every object gives a canonical text that parses back to an equal object.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NoReturn, TypeAlias

from nextsm.database.particles import (
    ANY_BSM,
    BSM_LABELS,
    INCLUSIVE_NODE_LABELS,
    PRIMARY_VERTEX,
    SM_LABELS,
    WILDCARD,
    split_inclusive,
)
from nextsm.errors import DatabaseError

__all__ = [
    "ANY_BRANCH",
    "BracketElement",
    "Branch",
    "Condition",
    "Constraint",
    "Element",
    "GraphElement",
    "GraphNode",
    "InclusiveBranch",
    "Term",
    "UnsupportedConstraintError",
    "Vertex",
    "bracket_to_graph",
    "condition_violation",
    "format_conditions",
    "parse_conditions",
    "parse_constraint",
    "try_parse_conditions",
    "try_parse_constraint",
]


class UnsupportedConstraintError(DatabaseError):
    """A constraint or condition is well formed but cannot be represented by nextsm.

    Examples: a product of two elements, a constant added to an element, an expression without
    any element, an unknown condition function, ``Cgtr`` with other than two arguments.
    """


# ---------------------------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------------------------

Vertex: TypeAlias = tuple[str, ...]
"""The SM final-state labels emitted at one BSM decay, in written order."""


@dataclass(frozen=True, slots=True)
class InclusiveBranch:
    """A whole branch that matches any sub-tree (``['*']`` in bracket notation)."""

    def __str__(self) -> str:
        return "['*']"


#: The inclusive branch (the only instance needed; all instances compare equal).
ANY_BRANCH = InclusiveBranch()

Branch: TypeAlias = tuple[Vertex, ...] | InclusiveBranch
"""The vertices along one cascade, from the primary vertex outwards, or :data:`ANY_BRANCH`."""


def _quote(label: str) -> str:
    return f"'{label}'"


@dataclass(frozen=True, slots=True)
class BracketElement:
    """An element in bracket notation: ``branches[i][j]`` is vertex ``j`` of branch ``i``.

    >>> str(BracketElement(((("t",),), (("t",),))))
    "[[['t']],[['t']]]"
    """

    branches: tuple[Branch, ...]

    def __iter__(self) -> Iterator[Branch]:
        return iter(self.branches)

    def __len__(self) -> int:
        return len(self.branches)

    def __getitem__(self, index: int) -> Branch:
        return self.branches[index]

    def __str__(self) -> str:
        parts = []
        for branch in self.branches:
            if isinstance(branch, InclusiveBranch):
                parts.append(str(branch))
            else:
                parts.append("[" + ",".join("[" + ",".join(map(_quote, v)) + "]" for v in branch) + "]")
        return "[" + ",".join(parts) + "]"

    @property
    def labels(self) -> frozenset[str]:
        """Every final-state label appearing in the element."""
        return frozenset(lab for br in self.branches if not isinstance(br, InclusiveBranch)
                         for v in br for lab in v)


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A node of a graph-notation element: its index and label (``'PV'`` for the root, index 0).

    A label starting with ``*`` (``'*anySM'``) is an inclusive list: any number of such particles.
    """

    index: int
    label: str

    @property
    def base_label(self) -> str:
        """The label without the inclusive-list marker."""
        return split_inclusive(self.label)[0]

    @property
    def inclusive_list(self) -> bool:
        """True for ``*X`` nodes (any number of ``X``)."""
        return split_inclusive(self.label)[1]

    @property
    def inclusive_node(self) -> bool:
        """True for ``InclusiveNode`` (matches any sub-tree)."""
        return self.label in INCLUSIVE_NODE_LABELS

    def __str__(self) -> str:
        return PRIMARY_VERTEX if self.index == 0 else f"{self.label}({self.index})"


@dataclass(frozen=True, slots=True)
class GraphElement:
    """An element in graph notation (SModelS 3 process string).

    Attributes
    ----------
    nodes:
        All nodes, sorted by index; ``nodes[0]`` is the primary vertex ``PV`` (index 0).
    edges:
        ``(mother index, daughter indices)`` for every decay, sorted by mother index, daughters
        sorted by index.

    >>> str(parse_constraint("{(PV > H0(1)), (H0(1) > MET(2),MET(3))}").terms[0].element)
    '{(PV > H0(1)), (H0(1) > MET(2), MET(3))}'
    """

    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[int, tuple[int, ...]], ...]

    def node(self, index: int) -> GraphNode:
        """The node with this index (``KeyError`` if absent)."""
        for node in self.nodes:
            if node.index == index:
                return node
        raise KeyError(index)

    def daughters(self, index: int) -> tuple[int, ...]:
        """Indices of the daughters of node ``index`` (empty for a stable node)."""
        for mother, daughters in self.edges:
            if mother == index:
                return daughters
        return ()

    def __str__(self) -> str:
        decays = []
        for mother, daughters in self.edges:
            decays.append(f"({self.node(mother)} > " + ", ".join(str(self.node(d)) for d in daughters) + ")")
        return "{" + ", ".join(decays) + "}"


Element: TypeAlias = BracketElement | GraphElement


def _format_number(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True, slots=True)
class Term:
    """``coefficient * element``."""

    coefficient: float
    element: Element

    def __str__(self) -> str:
        if self.coefficient == 1.0:
            return str(self.element)
        return f"{_format_number(self.coefficient)}*{self.element}"


@dataclass(frozen=True, slots=True)
class Constraint:
    """A linear combination of elements (a tuple of :class:`Term`), e.g. ``2.*(A + B)``.

    ``str()`` gives the canonical text ``2.0*A + 2.0*B``.
    """

    terms: tuple[Term, ...]

    def __iter__(self) -> Iterator[Term]:
        return iter(self.terms)

    def __len__(self) -> int:
        return len(self.terms)

    def __getitem__(self, index: int) -> Term:
        return self.terms[index]

    def __str__(self) -> str:
        return " + ".join(map(str, self.terms))

    @property
    def elements(self) -> tuple[Element, ...]:
        """The distinct elements, in order of first appearance."""
        return tuple(dict.fromkeys(t.element for t in self.terms))

    def evaluate(self, weights: Mapping[Element, float]) -> float:
        """``sum(coefficient * weights[element])``; elements absent from ``weights`` weigh 0."""
        return sum(t.coefficient * weights.get(t.element, 0.0) for t in self.terms)


ConditionKind: TypeAlias = Literal["gtr", "sim"]


@dataclass(frozen=True, slots=True)
class Condition:
    """``Cgtr(A, B)`` (kind ``"gtr"``) or ``Csim(A, B, ...)`` (kind ``"sim"``); ``terms`` are the arguments."""

    kind: ConditionKind
    terms: tuple[Constraint, ...]

    def __str__(self) -> str:
        name = "Cgtr" if self.kind == "gtr" else "Csim"
        return f"{name}(" + ", ".join(map(str, self.terms)) + ")"

    def violation(self, weights: Mapping[Element, float]) -> float:
        """:func:`condition_violation` for the argument weights computed from element weights."""
        return condition_violation(self, [c.evaluate(weights) for c in self.terms])


def format_conditions(conditions: Sequence[Condition]) -> str:
    """Canonical text of a condition field: ``'None'`` or ``'Cgtr(...); Csim(...)'``."""
    return "; ".join(map(str, conditions)) if conditions else "None"


def condition_violation(condition: Condition, values: Sequence[float]) -> float:
    """How much a condition is violated, from 0 (satisfied) to 1, as SModelS computes it.

    ``values`` holds the weight (e.g. cross section times branching ratios) of each argument.

    * ``Cgtr(a, b)`` ("a greater than b"): ``(|a - b| - (a - b)) / (2 (a + b))``, i.e. 0 if
      ``a >= b`` and ``(b - a) / (a + b)`` otherwise (tending to 1 for ``a << b``).  SModelS returns
      ``None`` when ``a + b == 0`` and skips it when taking the maximum over conditions; here that
      case gives ``0.0``.
    * ``Csim(x1, ..., xn)`` ("similar"): the largest relative difference
      ``|xi - xj| / |xi + xj|`` over all pairs with ``xi + xj != 0`` (0 if there is none, e.g. for
      a single argument).

    SModelS then compares the largest violation of a txname's conditions with the
    ``maxcond`` threshold (0.2 by default).

    Raises
    ------
    ValueError
        If the number of values differs from the number of arguments of the condition.
    """
    if len(values) != len(condition.terms):
        raise ValueError(f"{condition} has {len(condition.terms)} arguments, got {len(values)} values")
    if condition.kind == "gtr":
        a, b = (float(v) for v in values)
        total = a + b
        if total == 0.0:
            return 0.0
        return (abs(a - b) - (a - b)) / (2.0 * total)
    xs = [float(v) for v in values]
    worst = 0.0
    for i, xi in enumerate(xs):
        for xj in xs[i + 1:]:
            s = abs(xi + xj)
            if s != 0.0:
                worst = max(worst, abs(xi - xj) / s)
    return worst


# ---------------------------------------------------------------------------------------------
# Bracket → graph conversion
# ---------------------------------------------------------------------------------------------


def bracket_to_graph(
    element: BracketElement,
    final_state: Sequence[str] | None = None,
    intermediate_state: Sequence[Sequence[str]] | None = None,
) -> GraphElement:
    """Convert a bracket element to graph notation, numbering nodes as SModelS does.

    ``final_state[i]`` is the BSM label at the end of branch ``i`` (default ``'MET'``), and
    ``intermediate_state[i][j]`` the BSM label decaying at vertex ``j`` of branch ``i`` (default
    ``'anyBSM'``), as given by the txname fields ``finalState`` and ``intermediateState``.  The SM
    labels of a vertex are sorted and ``'*'`` becomes ``'anySM'``; an inclusive branch becomes
    ``InclusiveNode > MET, *anySM``.

    >>> str(bracket_to_graph(parse_constraint("[[['t']],[]]").terms[0].element))
    '{(PV > anyBSM(1), MET(2)), (anyBSM(1) > MET(3), t(4))}'

    Raises
    ------
    UnsupportedConstraintError
        If ``final_state``/``intermediate_state`` do not fit the branches or name unknown labels.
    """
    nbr = len(element.branches)
    if final_state is not None and len(final_state) != nbr:
        raise UnsupportedConstraintError(f"finalState {list(final_state)} does not fit the {nbr} branches of {element}")
    if intermediate_state is not None and len(intermediate_state) != nbr:
        raise UnsupportedConstraintError(
            f"intermediateState {[list(s) for s in intermediate_state]} does not fit the {nbr} branches of {element}")
    sm_vertices: list[tuple[Vertex, ...]] = []
    bsm_states: list[list[str]] = []
    for ibr, branch in enumerate(element.branches):
        if isinstance(branch, InclusiveBranch):
            sm_vertices.append((("*anySM",),))
            states = ["InclusiveNode"]
        else:
            sm_vertices.append(tuple(tuple(sorted("anySM" if p == WILDCARD else p for p in v)) for v in branch))
            if intermediate_state is None:
                states = [ANY_BSM] * len(branch)
            else:
                states = list(intermediate_state[ibr])
                if len(states) != len(branch):
                    raise UnsupportedConstraintError(
                        f"intermediateState {list(states)} does not fit branch {ibr} of {element}")
        states.append("MET" if final_state is None else final_state[ibr])
        for label in states:
            if label not in BSM_LABELS and label not in INCLUSIVE_NODE_LABELS:
                raise UnsupportedConstraintError(f"unknown BSM state '{label}' for {element}")
        bsm_states.append(states)

    labels: dict[int, str] = {0: PRIMARY_VERTEX}
    edges: list[tuple[int, tuple[int, ...]]] = []
    bsm_index: dict[tuple[int, int], int] = {}
    next_index = 1
    for ibr, states in enumerate(bsm_states):
        bsm_index[(ibr, 0)] = next_index
        labels[next_index] = states[0]
        next_index += 1
    edges.append((0, tuple(bsm_index[(ibr, 0)] for ibr in range(nbr))))
    for ibr, states in enumerate(bsm_states):
        for idec in range(len(states) - 1):
            mother = bsm_index[(ibr, idec)]
            daughter = next_index
            bsm_index[(ibr, idec + 1)] = daughter
            labels[daughter] = states[idec + 1]
            next_index += 1
            daughters = [daughter]
            for sm in sm_vertices[ibr][idec]:
                labels[next_index] = sm
                daughters.append(next_index)
                next_index += 1
            edges.append((mother, tuple(daughters)))
    nodes = tuple(GraphNode(i, labels[i]) for i in sorted(labels))
    return GraphElement(nodes, tuple(sorted(edges)))


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------

_WS = re.compile(r"\s*")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_LIST_LABEL = re.compile(r"[\s'\"]*([A-Za-z0-9_~+*-]*)[\s'\"]*")
_GRAPH_LABEL = re.compile(r"\*?[A-Za-z][A-Za-z0-9_~+-]*|\*")
_NODE_INDEX = re.compile(r"\(\s*(\d+)\s*\)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONDITION_KINDS: Mapping[str, ConditionKind] = {"cgtr": "gtr", "csim": "sim"}

_Linear: TypeAlias = list[tuple[float, Element]]
_Value: TypeAlias = float | _Linear
_ListItem: TypeAlias = "str | _Nested"


@dataclass(frozen=True, slots=True)
class _Nested:
    items: tuple[_ListItem, ...]
    pos: int


def _sm_label_ok(label: str) -> bool:
    base, _ = split_inclusive(label)
    return base in SM_LABELS


def _graph_label_ok(label: str) -> bool:
    base, _ = split_inclusive(label)
    return base in SM_LABELS or base in BSM_LABELS or label in INCLUSIVE_NODE_LABELS


class _Parser:
    """Recursive-descent parser over one field value; positions are offsets into ``text``."""

    __slots__ = ("field", "line", "path", "pos", "text")

    def __init__(self, text: str, path: str | None, line: int | None, field: str | None) -> None:
        self.text = text
        self.pos = 0
        self.path = path
        self.line = line
        self.field = field

    # -- helpers -------------------------------------------------------------------------------

    def fail(self, message: str, pos: int | None = None, *, unsupported: bool = False) -> NoReturn:
        pos = self.pos if pos is None else pos
        pos = max(0, min(pos, len(self.text)))
        line_start = self.text.rfind("\n", 0, pos) + 1
        column = pos - line_start + 1
        line = None if self.line is None else self.line + self.text.count("\n", 0, pos)
        lo, hi = max(0, pos - 30), min(len(self.text), pos + 30)
        excerpt = ("..." if lo else "") + self.text[lo:pos] + ">>>" + self.text[pos:hi] + ("..." if hi < len(self.text) else "")
        excerpt = " ".join(excerpt.split())
        if self.line is None and "\n" in self.text:
            where = f"line {self.text.count(chr(10), 0, pos) + 1} of the value, column {column}"
        else:
            where = f"column {column}"
        cls = UnsupportedConstraintError if unsupported else DatabaseError
        raise cls(f"{message} ({where}, at >>> in '{excerpt}')",
                  path=self.path, line=line, field=self.field)

    def peek(self) -> str:
        self.pos = _WS.match(self.text, self.pos).end()  # type: ignore[union-attr]
        return self.text[self.pos:self.pos + 1]

    def expect(self, char: str, what: str) -> None:
        if self.peek() != char:
            found = self.text[self.pos:self.pos + 1]
            self.fail(f"expected '{char}' {what}, found " + (f"'{found}'" if found else "the end of the text"))
        self.pos += 1

    def at_end(self) -> bool:
        return self.peek() == ""

    # -- expressions ---------------------------------------------------------------------------

    def linear(self, start: int) -> tuple[Term, ...]:
        """Parse an expression that must be a non-empty linear combination of elements."""
        value = self.expr()
        if not isinstance(value, list):
            self.fail("expression has no element (only numbers)", start, unsupported=True)
        return tuple(Term(c, e) for c, e in value)

    def expr(self) -> _Value:
        left = self.product()
        while True:
            char = self.peek()
            if char not in ("+", "-"):
                return left
            pos = self.pos
            self.pos += 1
            right = self.product()
            if char == "-":
                right = self.scale(right, -1.0)
            if isinstance(left, list) != isinstance(right, list):
                self.fail("a number added to an element (constant offset) is not linear", pos,
                          unsupported=True)
            left = left + right  # type: ignore[operator]

    @staticmethod
    def scale(value: _Value, factor: float) -> _Value:
        if isinstance(value, list):
            return [(c * factor, e) for c, e in value]
        return value * factor

    def product(self) -> _Value:
        left = self.unary()
        while True:
            char = self.peek()
            if char not in ("*", "/"):
                return left
            pos = self.pos
            self.pos += 1
            if char == "*" and self.peek() == "*":
                self.fail("power operator '**' is not supported", pos, unsupported=True)
            right = self.unary()
            if char == "*":
                if isinstance(left, list) and isinstance(right, list):
                    self.fail("product of two elements is not linear", pos, unsupported=True)
                left = self.scale(right, left) if isinstance(left, float) else self.scale(left, right)  # type: ignore[arg-type]
            else:
                if isinstance(right, list):
                    self.fail("division by an element is not linear", pos, unsupported=True)
                if right == 0.0:
                    self.fail("division by zero", pos)
                left = self.scale(left, 1.0 / right)

    def unary(self) -> _Value:
        char = self.peek()
        if char in ("+", "-"):
            self.pos += 1
            value = self.unary()
            return self.scale(value, -1.0) if char == "-" else value
        return self.atom()

    def atom(self) -> _Value:
        char = self.peek()
        start = self.pos
        if char == "(":
            self.pos += 1
            value = self.expr()
            self.expect(")", "to close the parenthesis")
            return value
        if char == "[":
            return [(1.0, self.bracket_element())]
        if char == "{":
            return [(1.0, self.graph_element())]
        match = _NUMBER.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            return float(match.group())
        match = _NAME.match(self.text, self.pos)
        if match:
            name = match.group()
            if name.lower() in _CONDITION_KINDS:
                self.fail(f"condition function '{name}' inside an expression", start, unsupported=True)
            self.fail(f"unexpected name '{name}'", start)
        if not char:
            self.fail("unexpected end of the text: expected an element, a number or '('")
        self.fail(f"unexpected character '{char}'")

    # -- bracket notation ----------------------------------------------------------------------

    def nested_list(self, depth: int) -> _Nested:
        start = self.pos
        self.pos += 1  # '['
        if depth > 3:
            self.fail("brackets nested deeper than element/branch/vertex", start)
        items: list[_ListItem] = []
        if self.peek() == "]":
            self.pos += 1
            return _Nested((), start)
        while True:
            char = self.peek()
            if char == "[":
                items.append(self.nested_list(depth + 1))
            else:
                label_start = self.pos
                match = _LIST_LABEL.match(self.text, self.pos)
                assert match is not None  # the pattern matches the empty string
                label = match.group(1)
                if not label:
                    after = self.text[match.end():match.end() + 1]
                    if not after:
                        self.fail("unbalanced '[': missing ']'", start)
                    if after in "],":
                        self.fail("empty particle label", label_start)
                    self.fail(f"unexpected character '{after}' in a bracket element", match.end())
                if not _sm_label_ok(label):
                    self.fail(f"unknown particle label '{label}'", label_start + match.group(0).find(label))
                self.pos = match.end()
                items.append(label)
            char = self.peek()
            if char == ",":
                self.pos += 1
                continue
            if char == "]":
                self.pos += 1
                return _Nested(tuple(items), start)
            if not char:
                self.fail("unbalanced '[': missing ']'", start)
            self.fail(f"expected ',' or ']' in a bracket element, found '{char}'")

    def bracket_element(self) -> BracketElement:
        outer = self.nested_list(1)
        if not outer.items:
            self.fail("element without branches", outer.pos)
        branches: list[Branch] = []
        for branch in outer.items:
            if not isinstance(branch, _Nested):
                self.fail(f"branch expected, found the label '{branch}'", outer.pos)
            if branch.items and all(isinstance(v, str) for v in branch.items):
                if branch.items == (WILDCARD,):
                    branches.append(ANY_BRANCH)
                    continue
                self.fail("a branch must be a list of vertices (lists of labels) or the inclusive "
                          "branch ['*'], not a list of particles", branch.pos)
            vertices: list[Vertex] = []
            for vertex in branch.items:
                if not isinstance(vertex, _Nested):
                    self.fail(f"a branch mixes labels ('{vertex}') and vertices", branch.pos)
                if not all(isinstance(p, str) for p in vertex.items):
                    self.fail("a vertex must be a list of labels", vertex.pos)
                vertices.append(vertex.items)  # type: ignore[arg-type]
            branches.append(tuple(vertices))
        return BracketElement(tuple(branches))

    # -- graph notation ------------------------------------------------------------------------

    def graph_node(self, explicit: dict[int, str]) -> tuple[str, int | None, int]:
        self.peek()
        start = self.pos
        match = _GRAPH_LABEL.match(self.text, self.pos)
        if not match:
            found = self.text[self.pos:self.pos + 1]
            self.fail("expected a particle label, found " + (f"'{found}'" if found else "the end of the text"))
        label = match.group()
        self.pos = match.end()
        index: int | None = None
        m_index = _NODE_INDEX.match(self.text, self.pos)
        if m_index:
            index = int(m_index.group(1))
            self.pos = m_index.end()
        if label == PRIMARY_VERTEX:
            if index not in (None, 0):
                self.fail(f"the primary vertex must have index 0, not {index}", start)
            index = 0
        elif not _graph_label_ok(label):
            self.fail(f"unknown particle label '{label}'", start)
        elif index == 0:
            self.fail(f"index 0 is reserved for the primary vertex, not '{label}'", start)
        if index is not None:
            previous = explicit.setdefault(index, label)
            if previous != label:
                self.fail(f"node index {index} used for both '{previous}' and '{label}'", start)
        return label, index, start

    def graph_element(self) -> GraphElement:
        start = self.pos
        self.pos += 1  # '{'
        explicit: dict[int, str] = {}
        decays: list[tuple[tuple[str, int | None, int], list[tuple[str, int | None, int]]]] = []
        while True:
            self.expect("(", "to open a decay")
            mother = self.graph_node(explicit)
            self.expect(">", "after the mother of a decay")
            daughters = [self.graph_node(explicit)]
            while self.peek() == ",":
                self.pos += 1
                daughters.append(self.graph_node(explicit))
            self.expect(")", "to close a decay")
            decays.append((mother, daughters))
            char = self.peek()
            if char == ",":
                self.pos += 1
                continue
            if char == "}":
                self.pos += 1
                break
            self.fail("expected ',' or '}' after a decay" if char else "unbalanced '{': missing '}'")

        next_index = max(explicit, default=0) + 1
        labels: dict[int, str] = {0: PRIMARY_VERTEX}
        parent: dict[int, int] = {}
        edges: dict[int, tuple[int, ...]] = {}
        for (m_label, m_index, m_pos), daughters in decays:
            if m_index is None:
                self.fail(f"the decaying particle '{m_label}' has no node index", m_pos)
            if m_index in edges:
                self.fail(f"node {m_label}({m_index}) decays twice", m_pos)
            indices = []
            for d_label, d_index, d_pos in daughters:
                if d_index is None:
                    d_index = next_index
                    next_index += 1
                if d_index == 0:
                    self.fail("the primary vertex cannot be a daughter", d_pos)
                if d_index in parent or d_index == m_index:
                    self.fail(f"node {d_label}({d_index}) has two mothers", d_pos)
                parent[d_index] = m_index
                labels[d_index] = d_label
                indices.append(d_index)
            edges[m_index] = tuple(sorted(indices))
        for (m_label, m_index, m_pos), _ in decays:
            if m_index != 0 and m_index not in parent:
                self.fail(f"node {m_label}({m_index}) decays but is produced by no decay", m_pos)
        if 0 not in edges:
            self.fail("the graph has no decay of the primary vertex 'PV'", start)
        # every node must descend from PV (no cycles)
        for index in labels:
            seen = set()
            node = index
            while node != 0:
                if node in seen:
                    self.fail(f"the decays around node {index} form a cycle", start)
                seen.add(node)
                node = parent[node]
        nodes = tuple(GraphNode(i, labels[i]) for i in sorted(labels))
        return GraphElement(nodes, tuple(sorted(edges.items())))

    # -- conditions ----------------------------------------------------------------------------

    def conditions(self) -> tuple[Condition, ...]:
        self.peek()
        match = _NAME.match(self.text, self.pos)
        if match and match.group() == "None":
            self.pos = match.end()
            if not self.at_end():
                self.fail("unexpected text after 'None'")
            return ()
        result: list[Condition] = []
        while True:
            self.peek()
            start = self.pos
            match = _NAME.match(self.text, self.pos)
            if not match:
                char = self.text[self.pos:self.pos + 1]
                self.fail("expected a condition Cgtr(...) or Csim(...), found "
                          + (f"'{char}'" if char else "the end of the text"))
            name = match.group()
            kind = _CONDITION_KINDS.get(name.lower())
            if kind is None:
                self.fail(f"unknown condition function '{name}' (known: Cgtr, Csim)", start, unsupported=True)
            self.pos = match.end()
            self.expect("(", f"after '{name}'")
            args = []
            while True:
                self.peek()
                args.append(Constraint(self.linear(self.pos)))
                char = self.peek()
                if char == ",":
                    self.pos += 1
                    continue
                if char == ")":
                    self.pos += 1
                    break
                self.fail(f"expected ',' or ')' in the arguments of '{name}'" if char
                          else f"unbalanced '(' of '{name}': missing ')'")
            if kind == "gtr" and len(args) != 2:
                self.fail(f"'{name}' takes 2 arguments, found {len(args)}", start, unsupported=True)
            result.append(Condition(kind, tuple(args)))
            char = self.peek()
            if char == ";":
                self.pos += 1
                if self.at_end():
                    return tuple(result)
                continue
            if not char:
                return tuple(result)
            self.fail("expected ';' between conditions")


def parse_constraint(
    text: str, *, path: str | None = None, line: int | None = None, field: str | None = "constraint"
) -> Constraint:
    """Parse a constraint (see the module documentation for the notation).

    ``path``, ``line`` (1-based line where the value starts) and ``field`` are only used in error
    messages.

    >>> str(parse_constraint("2*([[[e+]],[[e-]]]+[[['mu+']],[['mu-']]])"))
    "2.0*[[['e+']],[['e-']]] + 2.0*[[['mu+']],[['mu-']]]"

    Raises
    ------
    DatabaseError
        Syntax error or unknown label.
    UnsupportedConstraintError
        Well-formed but not representable (not a linear combination of elements, ...).
    """
    parser = _Parser(text, path, line, field)
    if parser.at_end():
        parser.fail("empty constraint")
    terms = parser.linear(parser.pos)
    if not parser.at_end():
        char = parser.text[parser.pos]
        if char in "])}":
            parser.fail(f"unbalanced '{char}'")
        parser.fail(f"unexpected '{char}' after the expression")
    return Constraint(terms)


def try_parse_constraint(
    text: str, *, path: str | None = None, line: int | None = None, field: str | None = "constraint"
) -> Constraint | DatabaseError:
    """:func:`parse_constraint`, returning the error (a :class:`~nextsm.errors.DatabaseError`,
    :class:`UnsupportedConstraintError` for valid but unrepresentable input) instead of raising it."""
    try:
        return parse_constraint(text, path=path, line=line, field=field)
    except DatabaseError as exc:
        return exc


def parse_conditions(
    text: str, *, path: str | None = None, line: int | None = None, field: str | None = "condition"
) -> tuple[Condition, ...]:
    """Parse a condition field: ``None`` (→ ``()``) or ``Cgtr(A, B); Csim(A, B, ...); ...``.

    ``Cgtr``/``cGtr`` need exactly two arguments, ``Csim``/``cSim`` at least one; each argument is a
    constraint expression.  A trailing ``;`` is allowed.

    >>> parse_conditions("Cgtr([[['mu+']],[['mu-']]], 2*[[['e+']],[['e-']]])")[0].kind
    'gtr'

    Raises
    ------
    DatabaseError, UnsupportedConstraintError
        As :func:`parse_constraint`.
    """
    parser = _Parser(text, path, line, field)
    if parser.at_end():
        parser.fail("empty condition (write 'None' for no condition)")
    return parser.conditions()


def try_parse_conditions(
    text: str, *, path: str | None = None, line: int | None = None, field: str | None = "condition"
) -> tuple[Condition, ...] | DatabaseError:
    """:func:`parse_conditions`, returning the error instead of raising it."""
    try:
        return parse_conditions(text, path=path, line=line, field=field)
    except DatabaseError as exc:
        return exc
