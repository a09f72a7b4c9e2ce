"""Interpolation of the data grids of the SModelS database, as SModelS 3.2.1 does it.

A data grid (:class:`~nextsm.database.textformat.GridTable`) holds ``n`` points
:math:`x_a \\in \\mathbb{R}^d` (masses in GeV and, for long-lived particles, total widths in GeV)
with values :math:`y_a` (upper limits in fb or efficiencies).  :class:`GridInterpolator` evaluates
the piecewise-linear interpolation of these values on a Delaunay triangulation of the points, with
every step chosen to reproduce ``smodels.experiment.txnameDataObj.TxNameData`` (and the data
preparation of ``TxName``) of SModelS 3.2.1 value for value.

Coordinates
-----------
SModelS reorders the numbers of a point: first all masses in reading order, then all widths (in
reading order); numbers of an inclusive branch ``"*"`` are absent.  Widths are mapped to

.. math::

    u(\\Gamma) = \\begin{cases} w & w < 10^{-10} \\\\ \\log(1 + w) & \\text{otherwise} \\end{cases},
    \\qquad w = \\min(\\Gamma, \\Gamma_{\\max}) / \\Gamma_{\\min},

with :math:`\\Gamma_{\\min} = 10^{-30}` GeV, :math:`\\Gamma_{\\max} = 10^{50}` GeV, so that
:math:`\\Gamma = 0` (stable) gives 0 and :math:`\\Gamma = \\infty` (prompt) gives
:math:`\\log(10^{80}) \\approx 184.2`.  Grids written as flat lists (``[m1, m2, w1]``) say which
numbers are widths in their ``dataMap`` field; they keep their order.

Principal axes and reduced coordinates
--------------------------------------
The transformed points :math:`X_a` are shifted to their mean :math:`\\bar X = \\frac1n\\sum_a X_a`
and rotated on their principal axes: with the singular value decomposition
:math:`M = U \\Sigma V^T` of :math:`M = (X_a - \\bar X)` (every ``ceil(n/2000)``-th row when the grid
is large), a point :math:`X` gets the coordinates

.. math:: q = (X - \\bar X)\\, V .

The grid is :math:`k`-dimensional, :math:`k = \\max_a \\#\\{i : |q_{a,i}| > 10^{-4}\\}`; only the first
:math:`k` coordinates are kept (*reduced coordinates*), so grids living on a plane of the full mass
space (equal branches, fixed mass relations) are triangulated in their own dimension.

Interpolation
-------------
For :math:`k \\ge 2` the reduced points are triangulated by :class:`scipy.spatial.Delaunay`
(Qhull, default options).  A point with reduced coordinates :math:`p` is located with
``find_simplex(p, tol=1e-6)`` (barycentric coordinates down to :math:`-10^{-6}` are accepted), its
barycentric coordinates are :math:`\\lambda_{1..k} = T (p - r_{k+1})`,
:math:`\\lambda_{k+1} = 1 - \\sum_i \\lambda_i` (:math:`T` from ``Delaunay.transform``) and

.. math:: f(p) = \\max\\Big(\\sum_{j=1}^{k+1} \\lambda_j\\, y_{v_j},\\ \\min_j y_{v_j}\\Big),

rounded to 6 significant digits (Python's correctly rounded ``round``).  For :math:`k = 1` the
sorted coordinates define the intervals; a point below the first or above the last grid
coordinate by less than :math:`10^{-6}` (in GeV) is extrapolated from the first/last interval.
Outside the triangulation the value is NaN (SModelS returns ``None``).

Points off the plane of the grid
--------------------------------
SModelS rounds the input point to 2 decimals (``roundCache`` of ``getValueFor``), transforms it to
:math:`q \\in \\mathbb{R}^d` and interpolates at :math:`p = q_{1..k}`.  If more than :math:`k`
entries of :math:`q` exceed :math:`10^{-4}` in magnitude, the point lies off the plane of the
grid by :math:`\\alpha = \\lVert q_{k+1..d} \\rVert` and the value :math:`f(p)` is accepted only if
an estimate of the extrapolation error is below 5 %: with the gradient
:math:`g_i = (f(p + \\alpha e_i) - f(p)) / \\alpha` and :math:`s = \\alpha \\sum_i g_i / \\lVert g\\rVert`,

.. math:: \\delta = \\max_\\pm \\frac{|f(p \\pm s\\, e_k) - f(p)|}{f(p)} < 0.05 ,

(:math:`\\delta_\\pm = 1` if :math:`f(p) = 0` and :math:`f(p \\pm s e_k) \\ne 0`; a NaN gradient
rejects the point; a zero gradient accepts it).  SModelS shifts only the last reduced coordinate
:math:`e_k` by the summed step (a quirk of its loop), which is reproduced here.  Finally values
below :math:`100\\,\\epsilon_{\\rm mach}` in magnitude are set to 0.

Exactness
---------
The triangulation of a regular grid is not unique (four co-circular points of a rectangle), and
Qhull picks a diagonal from the last bits of the coordinates.  The mean, the SVD and the reduced
coordinates of the grid points are therefore computed with the very same floating-point
operations as SModelS (Python ``sum`` of the columns, ``scipy.linalg.svd``, one ``numpy.dot`` per
point), which makes the triangulation identical to the one of SModelS.

Evaluation is vectorised: one ``find_simplex`` call and batched barycentric coordinates for all
points.  SModelS locates every point alone (the walk of ``find_simplex`` starts at simplex 0, in a
batch it starts where the previous point was found), and three kinds of points can depend on that:

* points near a face of their simplex (smallest barycentric coordinate below ``NEAR_FACE``):
  Qhull splits the cells of co-spherical points (regular 3-d grids) independently, so the
  triangulation is not always conforming and the two simplices at a face can give different values;
* points outside the triangulation but within the search tolerance of its convex hull;
* values within rounding error of a tie of the 6-digit rounding (the midpoint between two grid
  values, frequent for regular grids and round masses), where the last bits decide.

These few points are recomputed one by one with SModelS' own sequence of operations.

Performance notes: ``Delaunay.find_simplex`` computes the barycentric transforms of all simplices
on its first call, one tiny LAPACK call per simplex; with a multithreaded OpenBLAS on an
overloaded machine each call can cost milliseconds (set ``OPENBLAS_NUM_THREADS=1`` for batch
jobs).  Regular 3-d grids have many degenerate (zero-volume) simplices, where the walk of
``find_simplex`` gives up and scans all simplices: about a millisecond per point for the largest
grids, in SModelS as here.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import svd
from scipy.spatial import ConvexHull, Delaunay, QhullError

from nextsm.database.textformat import GridTable

__all__ = [
    "ACCEPT_ERRORS_UPTO",
    "GridInterpolator",
    "coordinate_kinds",
    "flatten_point",
    "parse_data_map",
    "rescale_width",
    "round_significant",
    "unflatten_point",
    "unscale_width",
]

#: widths below this (GeV) count as zero, above ``MAX_WIDTH`` as infinite (``expAuxiliaryFuncs``)
MIN_WIDTH = 1e-30
MAX_WIDTH = 1e50
#: decimals the input point is rounded to (``roundCache(digits=2)`` on ``TxNameData.getValueFor``)
INPUT_DECIMALS = 2
#: significant digits of an interpolated value (``TxNameData.round_to_n``)
OUTPUT_DIGITS = 6
#: a principal-axis coordinate counts as non-zero above this (``TxNameData.countNonZeros``)
NONZERO_THRESHOLD = 1e-4
#: tolerance of the simplex search (barycentric for ``k >= 2``, in GeV along the axis for ``k = 1``)
SIMPLEX_TOL = 1e-6
#: a point whose smallest barycentric coordinate is below this is located again alone, as SModelS does
NEAR_FACE = 1e-2
#: largest estimated relative extrapolation error accepted off the plane of the grid
ACCEPT_ERRORS_UPTO = 0.05
#: the SVD uses every ``ceil(n / SVD_MAX_ROWS)``-th point
SVD_MAX_ROWS = 2000

Kind = Literal["mass", "width"]
_ARRAYS_VERSION = 1


# --------------------------------------------------------------------------------------------------
# widths and rounding


def rescale_width(width: ArrayLike) -> NDArray[np.float64]:
    """Map widths (GeV) to the interpolation coordinate :math:`u(\\Gamma)` (see the module docstring)."""
    w = np.minimum(np.asarray(width, dtype=np.float64), MAX_WIDTH) / MIN_WIDTH
    small = w < 1e-10
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.log(1.0 + np.where(small, 0.0, w))
    return np.where(small, w, logs)


def unscale_width(x: ArrayLike) -> NDArray[np.float64]:
    """Inverse of :func:`rescale_width`: :math:`\\Gamma = \\Gamma_{\\min}(e^x - 1)`, infinite above ``MAX_WIDTH``."""
    with np.errstate(over="ignore"):
        width = MIN_WIDTH * np.expm1(np.asarray(x, dtype=np.float64))
    return np.where(width > MAX_WIDTH, np.inf, width)


def _round_one(x: float, digits: int) -> float:
    """``TxNameData.round_to_n`` for one number (kept for the cases the vectorised path cannot decide)."""
    if x == 0.0:
        return x
    return round(x, int(-np.sign(x) * math.floor(math.log10(abs(x))) + (digits - 1)))


def _round_vectorised(x: NDArray[np.float64], digits: int) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Vectorised :func:`round_significant` and the mask of entries it cannot decide reliably.

    The result is :math:`\\mathrm{rint}(x\\,10^{n}) / 10^{n}` (or with :math:`10^{-n}` for
    :math:`n < 0`), which equals the correctly rounded decimal except when :math:`x\\,10^n` is within
    rounding error of a half-integer (a *tie*: then the last bits of :math:`x` decide), when
    :math:`\\log_{10}|x|` is within rounding error of an integer, or when :math:`10^{|n|}` is not
    exact; those entries are flagged.  Zeros, NaN and infinities are returned unchanged, unflagged.
    """
    out = np.array(x, dtype=np.float64, copy=True)
    doubtful = np.zeros(out.shape, dtype=bool)
    mask = np.isfinite(out) & (out != 0.0)
    if not mask.any():
        return out, doubtful
    a = out[mask]
    lg = np.log10(np.abs(a))
    decimals = (-np.sign(a) * np.floor(lg) + (digits - 1)).astype(np.int64)
    scale = 10.0 ** np.abs(decimals).astype(np.float64)
    positive = decimals >= 0
    scaled = np.where(positive, a * scale, a / scale)
    rounded = np.rint(scaled)
    out[mask] = np.where(positive, rounded / scale, rounded * scale)
    doubtful[mask] = (
        (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
        | (np.abs(lg - np.rint(lg)) < 1e-9)
        | (np.abs(decimals) > 22)
    )
    return out, doubtful


def round_significant(values: ArrayLike, digits: int = OUTPUT_DIGITS) -> NDArray[np.float64]:
    """Round to ``digits`` significant digits exactly like SModelS (Python's correctly rounded ``round``).

    For :math:`x > 0` the result is ``round(x, digits - 1 - floor(log10 x))`` (SModelS'
    ``round_to_n``).  Vectorised; the few entries the vectorised formula cannot decide are rounded
    with Python's ``round``.  NaN and infinities pass through.
    """
    x = np.asarray(values, dtype=np.float64)
    out, doubtful = _round_vectorised(x, digits)
    for i in zip(*np.nonzero(doubtful), strict=True):
        out[i] = _round_one(float(x[i]), digits)
    return out


# --------------------------------------------------------------------------------------------------
# layouts, data maps and points


_DATA_MAP_ENTRY = re.compile(r"(\d+)\s*:\s*\(\s*(-?\d+)\s*,\s*['\"]([A-Za-z_]+)['\"]\s*,\s*([^)]*?)\s*\)")


def parse_data_map(data_map: str | Mapping[int, Sequence[Any]]) -> dict[int, tuple[int, str]]:
    """Parse a ``dataMap`` field (``{0: (1, 'mass', GeV), 1: (1, 'totalwidth', GeV)}``) without ``eval``.

    Returns ``{flat index: (node index, attribute)}``; units must be GeV (or absent).
    """
    if isinstance(data_map, Mapping):
        return {int(k): (int(v[0]), str(v[1])) for k, v in data_map.items()}
    text = data_map.strip()
    entries = _DATA_MAP_ENTRY.findall(text)
    body = text.strip("{} \n")
    if not entries or len(entries) != body.count(":"):
        raise ValueError(f"malformed dataMap: {data_map!r}")
    out: dict[int, tuple[int, str]] = {}
    for index, node, attr, unit in entries:
        if unit not in ("GeV", "1", ""):
            raise ValueError(f"dataMap unit {unit!r} is not supported (GeV only): {data_map!r}")
        if attr not in ("mass", "totalwidth"):
            raise ValueError(f"dataMap attribute {attr!r} is not supported (mass, totalwidth): {data_map!r}")
        out[int(index)] = (int(node), attr)
    if sorted(out) != list(range(len(out))):
        raise ValueError(f"dataMap indices are not 0..{len(out) - 1}: {data_map!r}")
    return out


def _is_flat(layout: Any) -> bool:
    return isinstance(layout, list) and all(not isinstance(e, list) for e in layout)


def coordinate_kinds(
    layout: Any, data_map: str | Mapping[int, Sequence[Any]] | None = None
) -> tuple[Kind, ...]:
    """Tell which numbers of a grid point (in :attr:`GridTable.points` order) are masses and which widths.

    In bracket notation a ``(mass, width)`` pair is a list at depth 3 of the layout
    (``[[0, [0, 0]], ...]``); a flat layout (``[0, 0, 0]``) needs the txname's ``dataMap`` to name
    its widths (``'totalwidth'``), without it all numbers are masses.
    """
    if _is_flat(layout):
        numbers = [e for e in layout if e != "*"]
        if data_map is None:
            return ("mass",) * len(numbers)  # type: ignore[return-value]
        parsed = parse_data_map(data_map)
        if len(parsed) != len(numbers):
            raise ValueError(
                f"dataMap has {len(parsed)} entries, the grid points have {len(numbers)} numbers"
            )
        return tuple("width" if parsed[i][1] == "totalwidth" else "mass" for i in range(len(numbers)))
    kinds: list[Kind] = []
    for branch in layout:
        if branch == "*":
            continue
        if not isinstance(branch, list):
            raise ValueError(f"layout {layout!r}: a branch must be a list or '*'")
        for entry in branch:
            if isinstance(entry, list):
                if len(entry) != 2 or any(isinstance(e, list) or e == "*" for e in entry):
                    raise ValueError(f"layout {layout!r}: depth-3 entries must be (mass, width) pairs")
                kinds.extend(("mass", "width"))
            elif entry == "*":
                raise ValueError(f"layout {layout!r}: wildcards are only supported as whole branches")
            else:
                kinds.append("mass")
    return tuple(kinds)


def _smodels_order(layout: Any, kinds: tuple[Kind, ...]) -> NDArray[np.int64]:
    """Column order of SModelS' flat point: masses, then widths (bracket notation); as is for flat grids."""
    idx = np.arange(len(kinds))
    if _is_flat(layout):
        return idx
    is_width = np.array([k == "width" for k in kinds], dtype=bool)
    return np.concatenate([idx[~is_width], idx[is_width]]).astype(np.int64)


def flatten_point(point: Any, layout: Any) -> NDArray[np.float64]:
    """Flatten a mass point in the nested SModelS form to the coordinate order of :attr:`GridTable.points`.

    ``point`` follows ``layout``: e.g. ``[[500., 100.], [500., 100.]]`` for layout
    ``[[0, 0], [0, 0]]``, ``[[500., (100., 1e-15)], [500., (100., 1e-15)]]`` for
    ``[[0, [0, 0]], [0, [0, 0]]]`` (``(mass, width)`` as tuple or list), anything (e.g. ``"*"``) where
    the layout has ``"*"``.  Numbers are in GeV.
    """
    out: list[float] = []

    def walk(p: Any, lay: Any, where: str) -> None:
        if lay == "*":
            return
        if isinstance(lay, list):
            if isinstance(p, np.ndarray):
                p = p.tolist()
            if not isinstance(p, (list, tuple)) or len(p) != len(lay):
                raise ValueError(f"point {point!r} does not match layout {layout!r} at {where or 'top'}")
            for i, (pi, li) in enumerate(zip(p, lay, strict=True)):
                walk(pi, li, f"{where}[{i}]")
            return
        if isinstance(p, (list, tuple, str)):
            raise ValueError(
                f"point {point!r} does not match layout {layout!r} at {where}: expected a number"
            )
        out.append(float(p))

    walk(point, layout, "")
    return np.array(out, dtype=np.float64)


def unflatten_point(flat: ArrayLike, layout: Any) -> Any:
    """Inverse of :func:`flatten_point`: rebuild the nested point (``(mass, width)`` pairs as tuples)."""
    values = iter(np.asarray(flat, dtype=np.float64).tolist())

    def build(lay: Any, depth: int) -> Any:
        if lay == "*":
            return "*"
        if isinstance(lay, list):
            items = [build(li, depth + 1) for li in lay]
            return tuple(items) if depth == 2 else items
        return next(values)

    try:
        out = build(layout, 0)
    except StopIteration:
        raise ValueError(f"too few numbers for layout {layout!r}") from None
    if next(values, None) is not None:
        raise ValueError(f"too many numbers for layout {layout!r}")
    return out


# --------------------------------------------------------------------------------------------------
# the interpolator


class _Intervals:
    """The 1-d triangulation: sorted coordinates and the values at both ends of every interval."""

    __slots__ = ("lower_values", "upper_values", "xs")

    def __init__(self, coords: NDArray[np.float64], values: NDArray[np.float64]) -> None:
        order = np.argsort(coords, kind="stable")
        xs = coords[order]
        if np.any(np.diff(xs) == 0.0):
            raise ValueError("1-d grid with repeated coordinates (SModelS cannot interpolate it either)")
        self.xs = xs
        self.lower_values = values[order[:-1]]
        self.upper_values = values[order[1:]]

    def locate(self, x: NDArray[np.float64]) -> NDArray[np.int64]:
        """Interval index of each ``x`` (``x_i < x <= x_{i+1}``), -1 outside (tolerance ``SIMPLEX_TOL``)."""
        xs = self.xs
        last = len(xs) - 1
        s = np.searchsorted(xs, x, side="left").astype(np.int64) - 1
        below = s == -1
        s[below] = np.where(np.abs(x[below] - xs[0]) < SIMPLEX_TOL, 0, -1)
        above = s == last
        s[above] = np.where(np.abs(x[above] - xs[-1]) < SIMPLEX_TOL, last - 1, -1)
        return s


class GridInterpolator:
    """Piecewise-linear interpolation of one data grid, identical to SModelS' ``TxNameData``.

    Build it with :meth:`from_grid` (or :meth:`from_arrays`); call it with points in the coordinate
    order of :attr:`GridTable.points` (masses and widths in GeV).  The triangulation is built on the
    first call.  See the module docstring for the mathematics.

    Parameters (of :meth:`from_grid`)
    ---------------------------------
    input_decimals:
        Round the (width-rescaled) input point to this many decimals first, as SModelS' cache does
        (``None``: no rounding).
    output_digits:
        Round values to this many significant digits, as SModelS does (``None``: no rounding).
    accept_errors_upto:
        Largest estimated relative extrapolation error for points off the plane of the grid
        (``None``: such points give NaN).
    """

    __slots__ = (
        "_hull",
        "_intervals",
        "_tri",
        "accept_errors_upto",
        "dimensionality",
        "input_decimals",
        "order",
        "output_digits",
        "reduced",
        "rotation",
        "shift",
        "values",
        "width_mask",
    )

    def __init__(
        self,
        *,
        values: NDArray[np.float64],
        shift: NDArray[np.float64],
        rotation: NDArray[np.float64],
        reduced: NDArray[np.float64],
        order: NDArray[np.int64],
        width_mask: NDArray[np.bool_],
        input_decimals: int | None = INPUT_DECIMALS,
        output_digits: int | None = OUTPUT_DIGITS,
        accept_errors_upto: float | None = ACCEPT_ERRORS_UPTO,
    ) -> None:
        d = len(shift)
        if rotation.shape != (d, d) or order.shape != (d,) or width_mask.shape != (d,):
            raise ValueError("inconsistent shapes of shift, rotation, order and width_mask")
        if reduced.ndim != 2 or reduced.shape[0] != len(values) or not 1 <= reduced.shape[1] <= d:
            raise ValueError("reduced coordinates must be (n, k) with 1 <= k <= d and n = len(values)")
        #: ``(n,)`` grid values
        self.values = values
        #: ``(d,)`` mean of the transformed grid points (SModelS order, rescaled widths)
        self.shift = shift
        #: ``(d, d)`` principal axes :math:`V` (columns)
        self.rotation = rotation
        #: ``(n, k)`` reduced coordinates of the grid points
        self.reduced = reduced
        #: SModelS column ``j`` is column ``order[j]`` of :attr:`GridTable.points`
        self.order = order
        #: which SModelS columns are widths
        self.width_mask = width_mask
        #: :math:`k`, the dimension of the grid
        self.dimensionality = reduced.shape[1]
        self.input_decimals = input_decimals
        self.output_digits = output_digits
        self.accept_errors_upto = accept_errors_upto
        self._tri: Delaunay | None = None
        self._intervals: _Intervals | None = None
        self._hull: NDArray[np.float64] | None = None

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def from_grid(
        cls,
        grid: GridTable,
        *,
        data_map: str | Mapping[int, Sequence[Any]] | None = None,
        input_decimals: int | None = INPUT_DECIMALS,
        output_digits: int | None = OUTPUT_DIGITS,
        accept_errors_upto: float | None = ACCEPT_ERRORS_UPTO,
    ) -> GridInterpolator:
        """Compute the principal axes and reduced coordinates of ``grid`` (the triangulation comes later).

        ``data_map`` is the txname's ``dataMap`` field; it is needed for flat grids with widths.
        """
        points = np.asarray(grid.points, dtype=np.float64)
        values = np.ascontiguousarray(grid.values, dtype=np.float64)
        if points.ndim != 2 or points.shape[0] != values.shape[0] or points.shape[0] == 0:
            raise ValueError(f"grid points {points.shape} and values {values.shape} do not match")
        kinds = coordinate_kinds(grid.layout, data_map)
        if len(kinds) != points.shape[1]:
            raise ValueError(f"layout {grid.layout!r} has {len(kinds)} numbers, the points {points.shape[1]}")
        order = _smodels_order(grid.layout, kinds)
        width_mask = np.array([kinds[i] == "width" for i in order], dtype=bool)
        x = _transform(points, order, width_mask)
        n = x.shape[0]
        # mean with Python's sum (as SModelS: same rounding, hence the same triangulation)
        shift = np.array([sum(column) / n for column in x.T.tolist()], dtype=np.float64)
        m = x - shift
        step = math.ceil(n / SVD_MAX_ROWS)
        rotation = svd(np.ascontiguousarray(m[::step]))[2].T
        # one dot product per point, as SModelS (a matrix product may differ in the last bits,
        # and Qhull resolves co-circular points from those bits)
        q = np.array([np.dot(row, rotation) for row in m], dtype=np.float64).reshape(n, -1)
        k = int((np.abs(q) > NONZERO_THRESHOLD).sum(axis=1).max())
        if k == 0:
            raise ValueError("the grid has a single distinct point; there is nothing to interpolate")
        return cls(
            values=values,
            shift=shift,
            rotation=rotation,
            reduced=np.ascontiguousarray(q[:, :k]),
            order=order,
            width_mask=width_mask,
            input_decimals=input_decimals,
            output_digits=output_digits,
            accept_errors_upto=accept_errors_upto,
        )

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """The precomputed state as plain numpy arrays (for ``numpy.savez``; no pickle needed)."""
        return {
            "version": np.array(_ARRAYS_VERSION, dtype=np.int64),
            "values": self.values,
            "shift": self.shift,
            "rotation": self.rotation,
            "reduced": self.reduced,
            "order": self.order,
            "width_mask": self.width_mask,
            "input_decimals": np.array(
                -1 if self.input_decimals is None else self.input_decimals, dtype=np.int64
            ),
            "output_digits": np.array(
                -1 if self.output_digits is None else self.output_digits, dtype=np.int64
            ),
            "accept_errors_upto": np.array(
                np.nan if self.accept_errors_upto is None else self.accept_errors_upto, dtype=np.float64
            ),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, ArrayLike]) -> GridInterpolator:
        """Rebuild from :meth:`to_arrays` (bit-identical reduced coordinates give the same triangulation)."""
        version = int(np.asarray(arrays["version"]))
        if version != _ARRAYS_VERSION:
            raise ValueError(f"GridInterpolator arrays of version {version}, expected {_ARRAYS_VERSION}")
        decimals = int(np.asarray(arrays["input_decimals"]))
        digits = int(np.asarray(arrays["output_digits"]))
        accept = float(np.asarray(arrays["accept_errors_upto"]))
        return cls(
            values=np.asarray(arrays["values"], dtype=np.float64),
            shift=np.asarray(arrays["shift"], dtype=np.float64),
            rotation=np.asarray(arrays["rotation"], dtype=np.float64),
            reduced=np.ascontiguousarray(arrays["reduced"], dtype=np.float64),
            order=np.asarray(arrays["order"], dtype=np.int64),
            width_mask=np.asarray(arrays["width_mask"], dtype=bool),
            input_decimals=None if decimals < 0 else decimals,
            output_digits=None if digits < 0 else digits,
            accept_errors_upto=None if math.isnan(accept) else accept,
        )

    # -- properties --------------------------------------------------------------------------------

    @property
    def full_dimensionality(self) -> int:
        """:math:`d`, the number of coordinates of a point."""
        return len(self.shift)

    @property
    def triangulation(self) -> Delaunay | None:
        """The scipy Delaunay triangulation of the reduced points (``None`` for 1-d grids)."""
        self._build()
        return self._tri

    def _build(self) -> None:
        if self._tri is not None or self._intervals is not None:
            return
        if self.dimensionality == 1:
            self._intervals = _Intervals(self.reduced[:, 0], self.values)
            return
        try:
            self._tri = Delaunay(self.reduced)
        except QhullError as exc:
            raise ValueError(f"cannot triangulate the {self.dimensionality}-d grid: {exc}") from None

    # -- evaluation --------------------------------------------------------------------------------

    def _prepare(self, points: ArrayLike) -> NDArray[np.float64]:
        """Points (``(m, d)`` or ``(d,)``, GridTable order) in SModelS order, widths rescaled, rounded."""
        p = np.asarray(points, dtype=np.float64)
        if p.ndim == 1:
            p = p[None, :]
        if p.ndim != 2 or p.shape[1] != self.full_dimensionality:
            raise ValueError(
                f"points must have shape (m, {self.full_dimensionality}), got {np.shape(points)}"
            )
        x = _transform(p, self.order, self.width_mask)
        if self.input_decimals is not None:
            x = np.round(x, self.input_decimals)
        return x

    def transform(self, points: ArrayLike) -> NDArray[np.float64]:
        """Principal-axis coordinates :math:`q` (``(m, d)``) of points given in GridTable order."""
        return (self._prepare(points) - self.shift) @ self.rotation

    def __call__(self, points: ArrayLike) -> NDArray[np.float64]:
        """Interpolated values at ``points`` (``(m, d)`` or ``(d,)``), NaN where SModelS gives ``None``."""
        x = self._prepare(points)
        q = (x - self.shift) @ self.rotation
        k = self.dimensionality
        projected = self._interpolate(q[:, :k], x)
        values = projected.copy()
        off_plane = (np.abs(q) > NONZERO_THRESHOLD).sum(axis=1) > k
        if off_plane.any():
            if self.accept_errors_upto is None:
                values[off_plane] = np.nan
            else:
                error = self._extrapolation_error(q[off_plane], projected[off_plane])
                with np.errstate(invalid="ignore"):
                    rejected = ~(error < self.accept_errors_upto)
                values[np.flatnonzero(off_plane)[rejected]] = np.nan
        values[np.abs(values) < 100.0 * sys.float_info.epsilon] = 0.0
        return values

    def _interpolate(
        self, p: NDArray[np.float64], x: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """Values at reduced coordinates ``p`` (``(m, k)``): clipped below, rounded, NaN outside.

        Vectorised, with one ``find_simplex`` call for all points.  Points whose result may depend on
        how SModelS computes it one point at a time are recomputed that way (from the prepared point
        ``x`` if given, else from ``p``): near rounding ties of the value, near a face of their
        simplex (Qhull's triangulation of co-spherical points is not always conforming, so the
        neighbouring simplex can give another value, and SModelS' single-point search decides which
        one), and outside the triangulation but close to its convex hull.
        """
        self._build()
        m = p.shape[0]
        out = np.full(m, np.nan)
        recheck = np.zeros(m, dtype=bool)
        if self._intervals is not None:
            iv = self._intervals
            s = iv.locate(p[:, 0])
            inside = s >= 0
            si = s[inside]
            xmin = iv.xs[si]
            t = (1.0 / (iv.xs[si + 1] - xmin)) * (p[inside, 0] - xmin)
            lo, hi = iv.lower_values[si], iv.upper_values[si]
            ret = hi * t + lo * (1.0 - t)
            ret = np.maximum(ret, np.minimum(lo, hi))
        else:
            tri = self._tri
            assert tri is not None
            k = self.dimensionality
            s = tri.find_simplex(p, tol=SIMPLEX_TOL)
            inside = s >= 0
            si = s[inside]
            trans = tri.transform[si]
            bary = np.einsum("mij,mj->mi", trans[:, :k, :], p[inside] - trans[:, k, :])
            weights = np.concatenate([bary, 1.0 - bary.sum(axis=1, keepdims=True)], axis=1)
            vertex_values = self.values[tri.simplices[si]]
            ret = np.einsum("mj,mj->m", vertex_values, weights)
            ret = np.maximum(ret, vertex_values.min(axis=1))
            recheck[np.flatnonzero(inside)[weights.min(axis=1) < NEAR_FACE]] = True
            low, high = tri.min_bound - SIMPLEX_TOL, tri.max_bound + SIMPLEX_TOL
            near = np.flatnonzero(~inside & np.all((p >= low) & (p <= high), axis=1))
            if near.size:
                recheck[near[self._hull_distance(p[near]) <= self._hull_margin()]] = True
        if self.output_digits is not None:
            ret, doubtful = _round_vectorised(ret, self.output_digits)
            recheck[np.flatnonzero(inside)[doubtful]] = True
        out[inside] = ret
        for i in np.flatnonzero(recheck):
            if x is None:
                pi = np.ascontiguousarray(p[i])
            else:  # SModelS' PCAtransf: one dot product for the point
                pi = np.dot(np.ascontiguousarray(x[i] - self.shift), self.rotation)[: self.dimensionality]
            out[i] = self._interpolate_one(pi)
        return out

    def _hull_distance(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        """Largest signed distance of each point to the facet planes of the convex hull (a lower
        bound of its distance to the hull; computed in chunks)."""
        if self._hull is None:
            self._hull = ConvexHull(self.reduced).equations
        eq = self._hull
        k = self.dimensionality
        out = np.empty(p.shape[0])
        chunk = max(1, 2_000_000 // max(len(eq), 1))
        for start in range(0, p.shape[0], chunk):
            block = p[start : start + chunk]
            out[start : start + chunk] = (block @ eq[:, :k].T + eq[:, k]).max(axis=1)
        return out

    def _hull_margin(self) -> float:
        """Points farther than this from the hull are outside for any search of ``find_simplex``.

        A simplex is accepted if its barycentric coordinates are :math:`\\ge -\\epsilon_b` with
        :math:`\\epsilon_b = \\sqrt{\\mathrm{tol}} = 10^{-3}` at worst (Qhull's leeway next to degenerate
        simplices), which puts the point within :math:`k\\,\\epsilon_b\\,D` of it (:math:`D` the
        diameter of the grid); twice that is the margin.
        """
        tri = self._tri
        assert tri is not None
        diameter = float(np.linalg.norm(tri.max_bound - tri.min_bound))
        return 2.0 * self.dimensionality * math.sqrt(SIMPLEX_TOL) * diameter

    def _interpolate_one(self, p: NDArray[np.float64]) -> float:
        """``TxNameData.interpolate`` for one point, operation by operation as SModelS (decides ties)."""
        if self._intervals is not None:
            iv = self._intervals
            s = int(iv.locate(p[:1])[0])
            if s < 0:
                return math.nan
            trans = np.array([[1.0 / (float(iv.xs[s + 1]) - float(iv.xs[s]))], [float(iv.xs[s])]])
            vertex_values = np.array([iv.upper_values[s], iv.lower_values[s]])
        else:
            tri = self._tri
            assert tri is not None
            s = int(tri.find_simplex(p, tol=SIMPLEX_TOL))
            if s < 0:
                return math.nan
            trans = np.take(tri.transform, s, axis=0)
            vertex_values = np.take(self.values, np.take(tri.simplices, s, axis=0))
        d = trans.shape[-1]
        bary = np.dot(trans[:d, :], p - trans[d, :])
        weights = np.append(bary, 1.0 - bary.sum())
        ret = np.dot(vertex_values, weights)
        low = min(vertex_values)
        if ret < low:
            ret = low
        return _round_one(float(ret), self.output_digits) if self.output_digits is not None else float(ret)

    def _extrapolation_error(
        self, q: NDArray[np.float64], projected: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """SModelS' estimate of the relative error of using the projection of an off-plane point."""
        return extrapolation_error(q, projected, self.dimensionality, lambda p, rows: self._interpolate(p))

    def __repr__(self) -> str:
        return (
            f"GridInterpolator(n={len(self.values)}, d={self.full_dimensionality}, "
            f"k={self.dimensionality}, widths={int(self.width_mask.sum())})"
        )


def extrapolation_error(
    q: NDArray[np.float64],
    projected: NDArray[np.float64],
    k: int,
    interpolate: Callable[[NDArray[np.float64], NDArray[np.intp]], NDArray[np.float64]],
) -> NDArray[np.float64]:
    """SModelS' estimate of the relative error of using the projection of off-plane points (module docstring).

    ``q`` are the principal-axis coordinates ``(m, d)`` of the points, ``projected`` the values at their
    projections ``q[:, :k]``; ``interpolate(p, rows)`` gives the values at reduced points ``p`` standing for
    the rows ``rows`` of the batch.
    """
    alpha = np.sqrt(np.einsum("ij,ij->i", q[:, k:], q[:, k:]))
    p = q[:, :k]
    every = np.arange(len(q))
    gradient = np.empty_like(p)
    for i in range(k):
        shifted = p.copy()
        shifted[:, i] += alpha
        gradient[:, i] = (interpolate(shifted, every) - projected) / alpha
    error = np.full(len(q), np.nan)
    ok = ~np.isnan(gradient).any(axis=1)
    norm = np.sqrt(np.einsum("ij,ij->i", gradient, gradient))
    error[ok & (norm == 0.0)] = 0.0
    walk = ok & (norm != 0.0)
    if walk.any():
        steps = gradient[walk] / norm[walk, None] * alpha[walk, None]
        up = p[walk].copy()
        down = p[walk].copy()
        for j in range(k):  # SModelS adds every step to the last coordinate
            up[:, k - 1] += steps[:, j]
            down[:, k - 1] -= steps[:, j]
        f0 = projected[walk]
        rows = np.flatnonzero(walk)
        f_up, f_down = interpolate(up, rows), interpolate(down, rows)
        zero = f0 == 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            d_up = np.where(zero, (f_up != 0.0).astype(np.float64), np.abs(f_up - f0) / f0)
            d_down = np.where(zero, (f_down != 0.0).astype(np.float64), np.abs(f_down - f0) / f0)
        error[walk] = np.where(d_down > d_up, d_down, d_up)
    return error


def _transform(
    points: NDArray[np.float64], order: NDArray[np.int64], width_mask: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Reorder columns to SModelS' order and rescale the widths."""
    x = np.ascontiguousarray(points[:, order], dtype=np.float64)  # C order: rows as SModelS' lists
    if width_mask.any():
        x[:, width_mask] = rescale_width(x[:, width_mask])
    return x
