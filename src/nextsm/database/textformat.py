"""Low-level reading of the SModelS database text format (``key: value`` files).

A database text file (``globalInfo.txt``, ``dataInfo.txt``, ``<TxName>.txt``) is a sequence of
entries ``key: value``; a value may continue over the following lines until the next line that
starts with ``key:`` (a URL such as ``https://...`` on a line of its own is a continuation, not a
key).  Trailing ``# comments`` on single-line values are removed.

Values are parsed by dedicated functions, never by ``eval``:

* :func:`parse_grid` reads data grids (``upperLimits``, ``expectedUpperLimits``, ``efficiencyMap``):
  a list of ``[mass point, value]`` rows, the mass point being a nested list of quantities with units.
* :func:`parse_literal` reads Python-literal metadata (``jsonFiles``, ``datasetOrder``, ``axesMap``)
  with :func:`ast.literal_eval`, which accepts literals only and executes nothing.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nextsm.errors import DatabaseError, UnitError
from nextsm.units import parse_quantity

__all__ = ["Entry", "GridTable", "parse_entries", "parse_grid", "parse_literal"]

_KEY_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):(?!//)")


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``key: value`` entry of a text file, with the 1-based line where it starts."""

    value: str
    line: int


def parse_entries(text: str, path: str) -> dict[str, Entry]:
    """Split a database text file into its entries.

    Raises
    ------
    DatabaseError
        If text appears before the first key, or a key is repeated.
    """
    entries: dict[str, Entry] = {}
    key: str | None = None
    start = 0
    chunks: list[str] = []

    def flush() -> None:
        if key is None:
            return
        if key in entries:
            raise DatabaseError(f"key '{key}' appears twice (first on line {entries[key].line})",
                                path=path, line=start, field=key)
        value = "\n".join(chunks).strip()
        if "\n" not in value and "#" in value and not value.startswith(("[", "{")):
            value = value.split("#", 1)[0].strip()
        entries[key] = Entry(value, start)

    for lineno, line in enumerate(text.splitlines(), start=1):
        match = _KEY_RE.match(line)
        if match:
            flush()
            key, start = match.group(1), lineno
            chunks = [line[match.end():]]
        elif key is None:
            if line.strip():
                raise DatabaseError("text before the first 'key:' entry", path=path, line=lineno)
        else:
            chunks.append(line)
    flush()
    return entries


def parse_literal(entry: Entry, *, path: str, field: str) -> Any:
    """Parse a Python literal (dict, list, str, number, None) safely with :func:`ast.literal_eval`."""
    try:
        return ast.literal_eval(entry.value)
    except (ValueError, SyntaxError) as exc:
        raise DatabaseError(f"not a valid literal ({exc.__class__.__name__}: {exc})",
                            path=path, line=entry.line, field=field) from None


def parse_scalar(entry: Entry, *, path: str, field: str, expect: Any = None) -> float:
    """Parse a scalar quantity (``13*TeV``, ``139.0/fb``, ``3905.0``) in canonical units."""
    try:
        return parse_quantity(entry.value, expect)
    except UnitError as exc:
        raise DatabaseError(str(exc), path=path, line=entry.line, field=field) from None


@dataclass(frozen=True)
class GridTable:
    """A data grid as read from the text file, flattened to arrays.

    Attributes
    ----------
    points:
        ``(n, d)`` coordinates: every number of a row's mass point, in reading order (masses and
        widths in GeV; numbers written without units are kept as they are).
    values:
        ``(n,)`` values: cross sections in fb, or efficiencies (dimensionless).
    layout:
        The nesting of one mass point with every number replaced by ``0`` and wildcards kept as
        ``"*"`` (e.g. ``[[0, 0], [0, [0, 0]]]``), identical for every row; it lets the point be
        rebuilt and tells masses (depth 2) from (mass, width) pairs (depth 3) in bracket notation.
    """

    points: NDArray[np.float64]
    values: NDArray[np.float64]
    layout: Any


_MASS_UNIT = "*GeV"
_UNIT_RE = re.compile(r"\*\s*([A-Za-z]+)")
_TRAILING_DOT_RE = re.compile(r"(?<=\d)\.(?![\d])")
_LEADING_DOT_RE = re.compile(r"(?<![\d.])\.(?=\d)")
_TO_SPACES = str.maketrans({c: " " for c in "[],\"*"})
_VALUE_UNITS = {"*fb": 1.0, "*pb": 1e3}


def _layout_of(point: Any) -> Any:
    if isinstance(point, list):
        return [_layout_of(p) for p in point]
    if isinstance(point, str):
        return point
    return 0


def _flatten_numbers(point: Any, out: list[float]) -> None:
    if isinstance(point, list):
        for p in point:
            _flatten_numbers(p, out)
    elif not isinstance(point, str):
        out.append(float(point))


def _line_of(value: str, pos: int, first_line: int) -> int:
    return first_line + value.count("\n", 0, max(pos, 0))


def parse_grid(entry: Entry, *, path: str, field: str) -> GridTable:
    """Parse a data grid ``[[point, value], ...]`` (see :class:`GridTable`).

    Masses must be in GeV (``*GeV``) or unitless; values in ``*fb``/``*pb`` (converted to fb) or
    unitless (efficiencies).  Other units, mixed value units or rows of different shapes raise a
    :class:`DatabaseError` naming the line.
    """
    text = entry.value
    value_units = [u for u in _VALUE_UNITS if u in text]
    if len(value_units) > 1:
        raise DatabaseError(f"data grid mixes value units {value_units}", path=path, line=entry.line, field=field)
    factor = _VALUE_UNITS[value_units[0]] if value_units else 1.0
    cleaned = text.replace(_MASS_UNIT, "")
    if value_units:
        cleaned = cleaned.replace(value_units[0], "")
    bad = _UNIT_RE.search(cleaned)
    if bad is not None:
        raise DatabaseError(f"unsupported unit '{bad.group(1)}' in data grid (masses in GeV, values in fb or pb)",
                            path=path, line=_line_of(cleaned, bad.start(), entry.line), field=field)
    cleaned = cleaned.replace("(", "[").replace(")", "]").replace("'", '"')
    try:
        rows = json.loads(cleaned)
    except json.JSONDecodeError:
        # numbers written like '70.' or '.5' are valid in the database but not in JSON
        cleaned = _LEADING_DOT_RE.sub("0.", _TRAILING_DOT_RE.sub(".0", cleaned))
        rows = None
    try:
        rows = json.loads(cleaned) if rows is None else rows
    except json.JSONDecodeError as exc:
        raise DatabaseError(f"malformed data grid ({exc.msg})", path=path,
                            line=entry.line + exc.lineno - 1, field=field) from None
    if not isinstance(rows, list) or not rows:
        raise DatabaseError("data grid is empty or not a list", path=path, line=entry.line, field=field)
    if value_units and text.count(value_units[0]) != len(rows):
        raise DatabaseError(f"every value of a data grid needs the unit {value_units[0][1:]}",
                            path=path, line=entry.line, field=field)
    first = rows[0]
    if not (isinstance(first, list) and len(first) == 2 and isinstance(first[1], (int, float))):
        raise DatabaseError("row 1 is not [mass point, number]", path=path, line=entry.line, field=field)
    layout = _layout_of(first[0])
    flat: list[float] = []
    _flatten_numbers(first[0], flat)
    dim = len(flat)
    # all numbers of the grid in reading order (C-speed); every row holds dim coordinates + 1 value
    try:
        numbers = np.array(cleaned.translate(_TO_SPACES).split(), dtype=float)
    except ValueError as exc:
        raise DatabaseError(f"malformed number in data grid ({exc})", path=path, line=entry.line,
                            field=field) from None
    if numbers.size != len(rows) * (dim + 1):
        raise DatabaseError(f"rows of the data grid differ in shape (first row: {layout})",
                            path=path, line=entry.line, field=field)
    for i in {len(rows) // 2, len(rows) - 1}:
        row = rows[i]
        if not (isinstance(row, list) and len(row) == 2 and _layout_of(row[0]) == layout):
            raise DatabaseError(f"row {i + 1} is not [mass point, number] shaped like the first row {layout}",
                                path=path, line=entry.line + i, field=field)
    table = numbers.reshape(len(rows), dim + 1)
    return GridTable(np.ascontiguousarray(table[:, :dim]), table[:, dim] * factor, layout)
