"""The database precompiled for theory predictions: patterns, grid layouts and interpolators per txname.

:func:`compile_database` parses every constraint and condition once and turns it into the
:class:`~nextsm.theory.matching.Pattern` objects the matcher uses; grid interpolators are built on first use
and kept.  Txnames whose topology can never describe a protomodel element (long-lived or R-parity-violating
topologies written in graph notation with decays into several or no BSM states) are kept in
:attr:`CompiledDatabase.unsupported` with the reason, so nothing is dropped silently.

A :class:`CompiledDatabase` is immutable after construction apart from the interpolator caches; it is meant
to be built once per process and shared by every prediction (see :class:`~nextsm.theory.predictions.Predictor`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from nextsm.database.constraints import (
    Condition,
    UnsupportedConstraintError,
    parse_conditions,
    parse_constraint,
)
from nextsm.database.grid_stack import GridStack
from nextsm.database.grids import GridInterpolator, coordinate_kinds, parse_data_map
from nextsm.database.grids import _smodels_order as smodels_order
from nextsm.errors import DatabaseError
from nextsm.theory.matching import Pattern, compile_pattern

if TYPE_CHECKING:
    from nextsm.database.records import Analysis, Database, Dataset, TxName

__all__ = ["CompiledDatabase", "CompiledDataset", "CompiledTxName", "compile_database"]

#: nominal total width (GeV) of a decaying state, as written to SLHA by :func:`nextsm.model.to_slha`
PROMPT_WIDTH = 1.0

DataType = Literal["upperLimit", "efficiencyMap"]


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread while grids are set up.

    Building a triangulation's barycentric transforms makes one tiny LAPACK call per simplex (15 million for
    the whole database); a multi-threaded OpenBLAS on a busy machine turns each into milliseconds of
    spinning (measured: 622 s instead of 18 s for all grids).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _parse_labels(text: str | None, where: str) -> Any:
    """``['MET', 'MET']`` or ``[['gluino'], []]`` (txname fields) as nested lists of str, without eval."""
    if text is None:
        return None
    try:
        return json.loads(text.replace("'", '"'))
    except json.JSONDecodeError as exc:
        raise DatabaseError(f"{where}: malformed label list {text!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """A condition with its arguments as ``((coefficient, condition-pattern index), ...)`` per argument."""

    condition: Condition
    arguments: tuple[tuple[tuple[float, int], ...], ...]


@dataclass(eq=False)
class CompiledTxName:
    """One txname ready for matching.

    Attributes
    ----------
    name, path:
        The txname and its file.
    patterns:
        The distinct elements of the constraint, compiled.
    terms:
        The constraint as ``(coefficient, pattern index)`` pairs (σ = Σ coefficient × weight).
    condition_patterns, conditions:
        The elements appearing in conditions (compiled) and the conditions in terms of them.
    grid_field:
        ``"upperLimits"`` or ``"efficiencyMap"``.
    """

    name: str
    path: str
    patterns: tuple[Pattern, ...]
    terms: tuple[tuple[float, int], ...]
    condition_patterns: tuple[Pattern, ...]
    conditions: tuple[CompiledCondition, ...]
    grid_field: str
    layout: Any
    data_map: dict[int, tuple[int, str]] | None
    raw: TxName
    #: SModelS' column order of a data point (masses first, then widths): ``point[order]``
    order: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: index of the :class:`GridStack` holding the main grid, and the column in it
    stack: int = -1
    column: int = -1
    #: column of the expected-UL map in the stack (UL maps whose expected map has the same points), else -1
    expected_column: int = -1
    _interpolators: dict[str, GridInterpolator | None] = field(default_factory=dict, repr=False)

    def interpolator(self, grid_field: str | None = None) -> GridInterpolator | None:
        """The interpolator of ``grid_field`` (default: the txname's main grid), built on first use."""
        key = grid_field or self.grid_field
        if key not in self._interpolators:
            grid = self.raw.grids.get(key)
            if grid is None:
                self._interpolators[key] = None
            else:
                with single_threaded_blas():
                    interp = GridInterpolator.from_grid(grid, data_map=self.raw.data_map)
                    tri = interp.triangulation
                    if tri is not None:
                        tri.transform  # noqa: B018 - computed once here, under the BLAS limit
                self._interpolators[key] = interp
        return self._interpolators[key]

    def data_point(self, masses: Sequence[Sequence[float]], pattern: Pattern) -> NDArray[np.float64] | None:
        """The grid coordinates (:attr:`GridTable.points` order) of an element matched to ``pattern``.

        ``masses[k]`` are the masses (GeV) along the element branch playing pattern branch ``k``, final state
        last.  Decaying states get the prompt width :data:`PROMPT_WIDTH`, final states width 0.  ``None`` if
        the element does not fit the grid's layout.
        """
        if self.data_map is not None:
            values = []
            for index in range(len(self.data_map)):
                node, attr = self.data_map[index]
                found = None
                for k, branch in enumerate(pattern.branches):
                    if branch.nodes is not None and node in branch.nodes:
                        pos = branch.nodes.index(node)
                        chain = masses[k]
                        pos = len(chain) - 1 if branch.inclusive else pos
                        found = (chain, pos)
                        break
                if found is None:
                    return None
                chain, pos = found
                if attr == "mass":
                    values.append(chain[pos])
                else:
                    values.append(PROMPT_WIDTH if pos < len(chain) - 1 else 0.0)
            return np.array(values, dtype=np.float64)
        layout = self.layout
        if not isinstance(layout, list) or len(layout) != 2:
            return None
        out: list[float] = []
        for k in (0, 1):
            lay = layout[k]
            if lay == "*":
                continue
            chain = masses[k]
            if not isinstance(lay, list) or len(lay) != len(chain):
                return None
            for pos, entry in enumerate(lay):
                out.append(chain[pos])
                if isinstance(entry, list):
                    out.append(PROMPT_WIDTH if pos < len(chain) - 1 else 0.0)
        return np.array(out, dtype=np.float64)


@dataclass(eq=False)
class CompiledDataset:
    """One dataset (signal region, or the set of UL maps) of an analysis, with its compiled txnames."""

    index: int
    analysis: Analysis
    dataset: Dataset
    txnames: tuple[CompiledTxName, ...]

    @property
    def data_type(self) -> DataType:
        return self.dataset.data_type

    @property
    def analysis_id(self) -> str:
        return self.analysis.id

    @property
    def sqrts(self) -> float:
        return float(self.analysis.info.sqrts_tev)

    @property
    def lumi(self) -> float:
        return float(self.analysis.info.lumi_ifb)

    @property
    def data_id(self) -> str | None:
        return self.dataset.data_id


@dataclass(eq=False)
class CompiledDatabase:
    """All datasets of a database, compiled, with an index of the distinct patterns by shape.

    Attributes
    ----------
    datasets:
        Every dataset of every selected analysis, in database order.
    unsupported:
        ``(txname path, reason)`` of txnames that cannot match protomodel elements.
    """

    database: Database
    datasets: tuple[CompiledDataset, ...]
    unsupported: tuple[tuple[str, str], ...]
    #: per grid stack, the ``(dataset index, txname index)`` of its members (main grids on the same points)
    stack_members: tuple[tuple[tuple[int, int], ...], ...] = ()
    _stacks: dict[int, GridStack] = field(default_factory=dict, repr=False)

    def stack(self, index: int) -> GridStack:
        """The :class:`GridStack` ``index`` (built on first use from its members' interpolators)."""
        found = self._stacks.get(index)
        if found is None:
            members = []
            with single_threaded_blas():
                first = self.stack_members[index][0]
                head = self.datasets[first[0]].txnames[first[1]]
                members.append(head.interpolator())
                base = members[0]
                assert base is not None
                columns: list[tuple[int, int, str | None]] = [(ids, it, None) for ids, it in self.stack_members[index][1:]]
                if head.expected_column >= 0:
                    columns.append((first[0], first[1], "expectedUpperLimits"))
                for ids, it, grid_field in columns:
                    tx = self.datasets[ids].txnames[it]
                    grid_field = grid_field or tx.grid_field
                    # same points: same principal axes and triangulation, other values
                    values = np.ascontiguousarray(tx.raw.grids[grid_field].values, dtype=np.float64)
                    interp = GridInterpolator(
                        values=values, shift=base.shift, rotation=base.rotation, reduced=base.reduced,
                        order=base.order, width_mask=base.width_mask, input_decimals=base.input_decimals,
                        output_digits=base.output_digits, accept_errors_upto=base.accept_errors_upto)
                    tx._interpolators[grid_field] = interp
                    members.append(interp)
            found = self._stacks[index] = GridStack(members)  # type: ignore[arg-type]
        return found

    #: per pattern shape (``None``: inclusive), the distinct patterns with their ``(dataset, txname, pattern)``
    #: indices
    patterns_by_shape: dict[tuple[int, int] | None, tuple[tuple[Pattern, tuple[tuple[int, int, int], ...]], ...]] = \
        field(default_factory=dict)

    def distinct_patterns(self, shape: tuple[int, int]) -> tuple[tuple[Pattern, tuple[tuple[int, int, int], ...]], ...]:
        """The distinct patterns an element of this shape can match, each with the txnames using it."""
        return self.patterns_by_shape.get(shape, ()) + self.patterns_by_shape.get(None, ())

    def analyses(self) -> list[Analysis]:
        """The selected analyses, in database order."""
        return list(dict.fromkeys(ds.analysis for ds in self.datasets))


def _compile_txname(analysis: Analysis, ds: Dataset, tx: TxName, ignore_prompt: bool) -> CompiledTxName:
    where = tx.path
    final = _parse_labels(tx.final_state, f"{where}: field 'finalState'")
    intermediate = None if ignore_prompt else _parse_labels(tx.intermediate_state,
                                                            f"{where}: field 'intermediateState'")
    constraint = parse_constraint(tx.constraint, path=where)
    distinct = constraint.elements
    patterns = tuple(compile_pattern(e, final, intermediate) for e in distinct)
    terms = tuple((t.coefficient, distinct.index(t.element)) for t in constraint.terms)
    conditions: tuple[Condition, ...] = ()
    if tx.condition is not None and tx.condition.strip() not in ("", "None"):
        conditions = parse_conditions(tx.condition, path=where)
    cond_elements: list[Any] = []
    compiled_conditions = []
    for cond in conditions:
        args = []
        for arg in cond.terms:
            pairs = []
            for term in arg.terms:
                if term.element not in cond_elements:
                    cond_elements.append(term.element)
                pairs.append((term.coefficient, cond_elements.index(term.element)))
            args.append(tuple(pairs))
        compiled_conditions.append(CompiledCondition(cond, tuple(args)))
    cond_patterns = tuple(compile_pattern(e, final, intermediate) for e in cond_elements)
    if ignore_prompt:
        patterns = tuple(p.without_prompt_quantum_numbers() for p in patterns)
        cond_patterns = tuple(p.without_prompt_quantum_numbers() for p in cond_patterns)
    grid_field = "upperLimits" if ds.data_type == "upperLimit" else "efficiencyMap"
    grid = tx.grids.get(grid_field)
    if grid is None:
        raise DatabaseError(f"{where}: no field '{grid_field}'")
    data_map = parse_data_map(tx.data_map) if tx.data_map else None
    order = smodels_order(grid.layout, coordinate_kinds(grid.layout, tx.data_map))
    return CompiledTxName(tx.name, where, patterns, terms, cond_patterns, tuple(compiled_conditions),
                          grid_field, grid.layout, data_map, tx, order)


def compile_database(
    database: Database,
    *,
    analyses: Sequence[str] | None = None,
    include_superseded: bool = True,
    ignore_prompt_quantum_numbers: bool = True,
) -> CompiledDatabase:
    """Compile ``database`` (optionally only the analyses named in ``analyses``, folder names or ids).

    ``include_superseded=False`` drops analyses superseded by a newer one (field ``supersededBy``).
    ``ignore_prompt_quantum_numbers`` (SModelS' default ``ignorePromptQNumbers = eCharge, colordim, spin``):
    decaying (prompt) states match any BSM label, e.g. a squark matches the ``intermediateState`` ``gluino``;
    only final states are checked.
    """
    wanted = None if analyses is None else set(analyses)
    datasets: list[CompiledDataset] = []
    unsupported: list[tuple[str, str]] = []
    for analysis in database:
        if wanted is not None and analysis.name not in wanted and analysis.id not in wanted:
            continue
        if not include_superseded and analysis.is_superseded:
            continue
        for ds in analysis.datasets:
            txnames = []
            for tx in ds.txnames:
                try:
                    txnames.append(_compile_txname(analysis, ds, tx, ignore_prompt_quantum_numbers))
                except UnsupportedConstraintError as exc:
                    unsupported.append((tx.path, str(exc)))
            if not txnames:
                continue
            datasets.append(CompiledDataset(len(datasets), analysis, ds, tuple(txnames)))
    stacks: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
    for cds in datasets:
        for it, ctx in enumerate(cds.txnames):
            grid = ctx.raw.grids[ctx.grid_field]
            key = (cds.analysis.name, ctx.grid_field, repr(grid.layout), ctx.raw.data_map, grid.points.shape,
                   hashlib.sha1(np.ascontiguousarray(grid.points).tobytes()).digest())
            members = stacks.setdefault(key, [])
            members.append((cds.index, it))
    distinct: dict[tuple[int, int] | None, dict[Pattern, list[tuple[int, int, int]]]] = {}
    for cds in datasets:
        for it, ctx in enumerate(cds.txnames):
            for ip, pattern in enumerate(ctx.patterns):
                distinct.setdefault(pattern.shape, {}).setdefault(pattern, []).append((cds.index, it, ip))
    order = list(stacks.values())
    for istack, members in enumerate(order):
        for column, (ids, it) in enumerate(members):
            member = datasets[ids].txnames[it]
            member.stack, member.column = istack, column
        if len(members) == 1:  # a UL map: its expected map joins the stack if it has the same points
            head = datasets[members[0][0]].txnames[members[0][1]]
            observed, expected = head.raw.grids.get("upperLimits"), head.raw.grids.get("expectedUpperLimits")
            if (head.grid_field == "upperLimits" and observed is not None and expected is not None
                    and observed.points.shape == expected.points.shape
                    and np.array_equal(observed.points, expected.points)):
                head.expected_column = 1
    return CompiledDatabase(database, tuple(datasets), tuple(unsupported),
                            tuple(tuple(m) for m in order),
                            patterns_by_shape={shape: tuple((p, tuple(m)) for p, m in d.items())
                                               for shape, d in distinct.items()})


def finite_or_none(value: float | None) -> float | None:
    """``value`` if it is a finite number, else ``None``."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)
