"""Several data grids on the same points, interpolated together.

The signal regions of one analysis usually publish their efficiency maps of a topology on one and the same
set of mass points (CMS-SUS-19-006: 40 regions share the T1 grid).  Identical points give identical principal
axes and an identical Delaunay triangulation (:mod:`nextsm.database.grids` computes them with SModelS' exact
floating-point operations), so the simplex search and the barycentric coordinates of a point can be computed
once and applied to the values of every grid: :math:`f_c(p) = \\max(\\sum_j \\lambda_j y_{v_j c}, \\min_j
y_{v_j c})`, rounded to 6 significant digits.

The few points whose value depends on SModelS' one-point-at-a-time evaluation (near a simplex face or the
convex hull, rounding ties, points off the plane of the grid) are handed to the exact per-grid
:class:`~nextsm.database.grids.GridInterpolator`, so the result equals calling every grid on its own.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.database.grids import (
    NEAR_FACE,
    NONZERO_THRESHOLD,
    SIMPLEX_TOL,
    GridInterpolator,
    _round_one,
    _round_vectorised,
    extrapolation_error,
)

__all__ = ["GridStack"]


class GridStack:
    """Interpolators of grids with identical points (same layout, same coordinates), evaluated together.

    Parameters
    ----------
    interpolators:
        One :class:`GridInterpolator` per grid; all must have been built from the same points.
    """

    def __init__(self, interpolators: Sequence[GridInterpolator]) -> None:
        if not interpolators:
            raise ValueError("a GridStack needs at least one interpolator")
        base = interpolators[0]
        for other in interpolators[1:]:
            if (other.reduced.shape != base.reduced.shape or not np.array_equal(other.reduced, base.reduced)
                    or not np.array_equal(other.order, base.order)):
                raise ValueError("the grids of a GridStack must share their points")
        self.members = tuple(interpolators)
        self.base = base
        #: ``(n, c)`` values of the c grids at the n points
        self.values = np.stack([g.values for g in interpolators], axis=1)
        self._shared = False

    def __len__(self) -> int:
        return len(self.members)

    def _share(self) -> None:
        """Build the triangulation once and give it to every member."""
        if self._shared:
            return
        self.base._build()
        if self.base._tri is not None:
            for g in self.members[1:]:
                g._tri = self.base._tri
        self._shared = True

    def __call__(self, points: ArrayLike, columns: Sequence[int] | None = None) -> NDArray[np.float64]:
        """Values ``(m, len(columns))`` at ``points`` (``(m, d)``, GridTable order); NaN outside."""
        self._share()
        cols = np.arange(len(self.members)) if columns is None else np.asarray(columns, dtype=np.int64)
        base = self.base
        tri = base._tri
        if tri is None:  # 1-d grids: every member on its own
            pts = np.asarray(points, dtype=np.float64)
            return np.stack([self.members[int(c)](pts) for c in cols], axis=1)
        x = base._prepare(points)
        q = (x - base.shift) @ base.rotation
        k = base.dimensionality
        off_plane = (np.abs(q) > NONZERO_THRESHOLD).sum(axis=1) > k
        values = self._interpolate_shared(q[:, :k], cols, x)
        off = np.flatnonzero(off_plane)
        if off.size:
            if base.accept_errors_upto is None:
                values[off] = np.nan
            else:
                r = np.repeat(off, len(cols))
                c = np.tile(cols, off.size)
                error = self._extrapolation_error(q[r], values[off].reshape(-1), c)
                with np.errstate(invalid="ignore"):
                    rejected = ~(error < base.accept_errors_upto)
                flat = values[off].reshape(-1)
                flat[rejected] = np.nan
                values[off] = flat.reshape(off.size, len(cols))
        values[np.abs(values) < 100.0 * sys.float_info.epsilon] = 0.0
        return values

    def _near_hull(self, p: NDArray[np.float64], inside: NDArray[np.bool_]) -> NDArray[np.intp]:
        """Points outside the triangulation but within the search tolerance of its bounding box: the exact
        one-point search decides them."""
        tri = self.base._tri
        assert tri is not None
        outside = np.flatnonzero(~inside)
        low, high = tri.min_bound - SIMPLEX_TOL, tri.max_bound + SIMPLEX_TOL
        return outside[np.all((p[outside] >= low) & (p[outside] <= high), axis=1)]

    def _interpolate_shared(self, p: NDArray[np.float64], cols: NDArray[np.int64],
                            x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Values ``(m, c)`` of the grids ``cols`` at the reduced points ``p``: one simplex search per point."""
        base, tri = self.base, self.base._tri
        assert tri is not None
        k = base.dimensionality
        m, c = len(p), len(cols)
        out = np.full((m, c), np.nan)
        s = tri.find_simplex(p, tol=SIMPLEX_TOL)
        inside = s >= 0
        idx = np.flatnonzero(inside)
        recheck = np.zeros((m, c), dtype=bool)
        if idx.size:
            si = s[idx]
            trans = tri.transform[si]
            bary = np.einsum("mij,mj->mi", trans[:, :k, :], p[idx] - trans[:, k, :])
            weights = np.concatenate([bary, 1.0 - bary.sum(axis=1, keepdims=True)], axis=1)
            vertex_values = self.values[tri.simplices[si]][:, :, cols]  # (i, k+1, c)
            ret = np.einsum("ijc,ij->ic", vertex_values, weights)
            ret = np.maximum(ret, vertex_values.min(axis=1))
            if base.output_digits is not None:
                ret, doubtful = _round_vectorised(ret, base.output_digits)
                recheck[idx] |= doubtful
            out[idx] = ret
            recheck[idx[weights.min(axis=1) < NEAR_FACE]] = True
        recheck[self._near_hull(p, inside)] = True
        for i, j in zip(*np.nonzero(recheck), strict=True):
            pi = np.dot(np.ascontiguousarray(x[i] - base.shift), base.rotation)[:k]  # SModelS' PCAtransf
            out[i, j] = self._one(pi, int(cols[j]))
        return out

    def _interpolate(self, p: NDArray[np.float64], cols: NDArray[np.int64],
                     x: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """Value of grid ``cols[i]`` at reduced coordinates ``p[i]`` (``GridInterpolator._interpolate``, one
        column per row): vectorised, with SModelS' one-point evaluation where the result may depend on it."""
        base, tri = self.base, self.base._tri
        assert tri is not None
        k = base.dimensionality
        out = np.full(len(p), np.nan)
        if not len(p):
            return out
        s = tri.find_simplex(p, tol=SIMPLEX_TOL)
        inside = s >= 0
        idx = np.flatnonzero(inside)
        recheck = np.zeros(len(p), dtype=bool)
        if idx.size:
            si = s[idx]
            trans = tri.transform[si]
            bary = np.einsum("mij,mj->mi", trans[:, :k, :], p[idx] - trans[:, k, :])
            weights = np.concatenate([bary, 1.0 - bary.sum(axis=1, keepdims=True)], axis=1)
            vertex_values = self.values[tri.simplices[si], cols[idx, None]]  # (i, k+1)
            ret = np.einsum("ij,ij->i", vertex_values, weights)
            ret = np.maximum(ret, vertex_values.min(axis=1))
            if base.output_digits is not None:
                ret, doubtful = _round_vectorised(ret, base.output_digits)
                recheck[idx[doubtful]] = True
            out[idx] = ret
            recheck[idx[weights.min(axis=1) < NEAR_FACE]] = True
        recheck[self._near_hull(p, inside)] = True
        for i in np.flatnonzero(recheck):
            if x is None:
                pi = np.ascontiguousarray(p[i])
            else:  # SModelS' PCAtransf: one dot product for the point
                pi = np.dot(np.ascontiguousarray(x[i] - base.shift), base.rotation)[:k]
            out[i] = self._one(pi, int(cols[i]))
        return out

    def _one(self, p: NDArray[np.float64], col: int) -> float:
        """One point located alone, with SModelS' sequence of operations (``GridInterpolator._interpolate_one``)."""
        base, tri = self.base, self.base._tri
        assert tri is not None
        k = base.dimensionality
        s = int(tri.find_simplex(p, tol=SIMPLEX_TOL))
        if s < 0:
            return math.nan
        trans = np.take(tri.transform, s, axis=0)
        bary = np.dot(trans[:k, :], p - trans[k, :])
        weights = np.append(bary, 1.0 - bary.sum())
        v = self.values[np.take(tri.simplices, s, axis=0), col]
        ret = float(np.dot(v, weights))
        ret = max(ret, float(min(v)))
        return _round_one(ret, base.output_digits) if base.output_digits is not None else ret

    def _extrapolation_error(self, q: NDArray[np.float64], projected: NDArray[np.float64],
                             cols: NDArray[np.int64]) -> NDArray[np.float64]:
        """:func:`~nextsm.database.grids.extrapolation_error` for rows ``q`` of grids ``cols``."""
        return extrapolation_error(q, projected, self.base.dimensionality,
                                   lambda p, rows: self._interpolate(p, cols[rows]))
