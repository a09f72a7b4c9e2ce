r"""Toy-based (Neyman) intervals for the profile statistic of a learned likelihood ratio.

A Wilks interval :math:`\{\psi : t(\psi) < \chi^2_1(\mathrm{CL})\}` is valid only if the likelihood is right.  A
learned ratio whose normalisation errors exceed its θ-dependence (the WH signal+background case, docs/sbi.md)
gives a statistic that is still a function of the data, but no longer :math:`\chi^2`-distributed.  The Neyman
construction calibrates it with pseudo-experiments instead (J. Neyman, *Phil. Trans. R. Soc. A* **236** (1937)
333; Cranmer, Pavez, Louppe, arXiv:1506.02169, §4, for learned ratios).

**Profile construction.**  Parameter of interest ψ (one of the two couplings), nuisance ν (the other).  For every
tested value :math:`\psi_k` the toys are generated at :math:`(\psi_k, \hat{\hat\nu}(\psi_k))`, the conditional
best fit of the nuisance to the data the interval is for (here the Asimov data at the SM), the "profile
construction" of K. Cranmer, PHYSTAT 2005 (physics/0511028), as ATLAS and CMS use it.  Each toy's profile
statistic at its own truth,

.. math::

    t_t(\psi_k) = \min_\nu q_t(\psi_k, \nu) - \min_{\psi,\nu} q_t(\psi,\nu),

gives the critical value :math:`c_{\rm CL}(\psi_k)` as the empirical CL quantile (``inverted_cdf``, the
⌈CL·T⌉-th order statistic).  The confidence set of data D is :math:`\{\psi : t_D(\psi) \le c_{\rm CL}(\psi)\}`
with :math:`c` linearly interpolated between the tested values; its ends are where :math:`t_D - c` crosses zero
(:func:`nextsm.inference.neyman.intervals_from_excess`).  The set covers by construction at the tested points,
whatever the statistic; a poor statistic costs width, not validity.  For an exact likelihood in the asymptotic
regime :math:`c \to \chi^2_1(\mathrm{CL})` and the Neyman interval becomes the Wilks interval.

**Joint regions.**  For both couplings at once there is no nuisance: the statistic of toy t at a tested grid point
is :math:`q_t(\theta_k) = -2[\ell_t(\theta_k) - \max_\theta \ell_t(\theta)]` (grid maximum, as
:func:`~nextsm.sbi.coverage.statistics_at_truth`), toys at :math:`\theta_k` itself, and the region is
:math:`\{\theta_k : q_D(\theta_k) \le c_{\rm CL}(\theta_k)\}` (:class:`JointBelt`).  Only the points near the
Asimov region are tested (:func:`expected_neyman_region`: Asimov :math:`q \le q_{\max}`); a region that
reaches an untested point is flagged open.

**Expected intervals.**  :meth:`ProfileBelt.intervals` of the SM toys gives the distribution of the intervals;
the median ends are the expected interval, the interval of the Asimov data a quick approximation to it.

The toys come from a callable ``toy_log_likelihood(theta_true) -> (n_toys, n0 * n1)`` (log likelihoods on
:func:`~nextsm.sbi.inference.grid_points`), e.g. :func:`~nextsm.sbi.coverage.poisson_pseudo_data` followed by
:func:`~nextsm.sbi.coverage.unbinned_toy_log_likelihood`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.inference.neyman import Intervals, intervals_from_excess
from nextsm.sbi import inference
from nextsm.sbi.errors import SBIError

__all__ = ["JointBelt", "ProfileBelt", "conditional_nuisance", "expected_neyman_intervals", "expected_neyman_region",
           "joint_belt", "joint_statistics", "profile_belt", "profile_statistics"]

FloatArray = NDArray[np.float64]
#: a progress callback wraps an iterable of work items (e.g. a rich progress bar)
Progress = Callable[[Iterable[Any]], Iterable[Any]]


def _axes(axis0: ArrayLike, axis1: ArrayLike) -> tuple[FloatArray, FloatArray]:
    a0, a1 = np.asarray(axis0, dtype=np.float64), np.asarray(axis1, dtype=np.float64)
    for name, a in (("axis0", a0), ("axis1", a1)):
        if a.ndim != 1 or a.size < 3 or np.any(np.diff(a) <= 0):
            raise SBIError(f"parameter '{name}' must be a strictly increasing grid of at least 3 points")
    return a0, a1


def _parameter(parameter: int) -> int:
    if parameter not in (0, 1):
        raise SBIError(f"parameter 'parameter' must be 0 or 1, got {parameter}")
    return parameter


def _q_grid(log_likelihood: ArrayLike, a0: FloatArray, a1: FloatArray, name: str) -> FloatArray:
    ll = np.atleast_2d(np.asarray(log_likelihood, dtype=np.float64))
    if ll.ndim != 2 or ll.shape[1] != a0.size * a1.size:
        raise SBIError(f"parameter '{name}' must have {a0.size * a1.size} columns (the grid), got shape "
                       f"{np.shape(log_likelihood)}")
    return (-2.0 * (ll - ll.max(axis=1, keepdims=True))).reshape(-1, a0.size, a1.size)


def profile_statistics(log_likelihood: ArrayLike, axis0: ArrayLike, axis1: ArrayLike, parameter: int) -> FloatArray:
    """:math:`t(\\psi)` at every grid value of ``parameter`` for every row of ``log_likelihood`` ``(n, n0 * n1)``
    (``axis1`` fastest), ``(n, n_ψ)``; minimised over the other parameter with the parabolic refinement of
    :func:`~nextsm.sbi.inference.row_minima`, as the Asimov profiles."""
    a0, a1 = _axes(axis0, axis1)
    q = _q_grid(log_likelihood, a0, a1, "log_likelihood")
    prof = inference.row_minima(q if _parameter(parameter) == 0 else np.swapaxes(q, 1, 2))
    return prof - prof.min(axis=1, keepdims=True)


def conditional_nuisance(log_likelihood: ArrayLike, axis0: ArrayLike, axis1: ArrayLike, parameter: int) -> FloatArray:
    """The grid value of the other parameter that maximises ``log_likelihood`` ``(n0 * n1,)`` at each grid value
    of ``parameter``: the :math:`\\hat{\\hat\\nu}(\\psi)` the toys of :func:`profile_belt` are generated at."""
    a0, a1 = _axes(axis0, axis1)
    q = _q_grid(log_likelihood, a0, a1, "log_likelihood")[0]
    if _parameter(parameter) == 0:
        return a1[np.argmin(q, axis=1)]
    return a0[np.argmin(q, axis=0)]


@dataclass(frozen=True)
class ProfileBelt:
    """Toy distributions of the profile statistic of ``parameter`` at the tested values ``poi``.

    ``nuisance[k]`` is the other parameter's value in the toys of ``poi[k]``; ``statistics[:, k]`` the toys'
    :math:`t(\\psi_k)` ``(n_toys, K)``."""

    parameter: int
    poi: FloatArray
    nuisance: FloatArray
    statistics: FloatArray

    @property
    def n_toys(self) -> int:
        """Pseudo-experiments per tested value."""
        return int(self.statistics.shape[0])

    def critical(self, cl: float) -> FloatArray:
        """:math:`c_{\\rm CL}(\\psi_k)`: the empirical CL quantile of the toys at each tested value."""
        if not 0 < cl < 1:
            raise SBIError(f"parameter 'cl' must lie in (0, 1), got {cl}")
        return np.quantile(self.statistics, cl, axis=0, method="inverted_cdf")

    def critical_at(self, axis: ArrayLike, cl: float) -> FloatArray:
        """:meth:`critical` linearly interpolated onto ``axis``, which must lie within the tested values."""
        x = np.asarray(axis, dtype=np.float64)
        tol = 1e-9 * float(np.ptp(self.poi))
        if x.min() < self.poi[0] - tol or x.max() > self.poi[-1] + tol:
            raise SBIError(f"parameter 'axis' spans [{x.min():g}, {x.max():g}], beyond the tested values "
                           f"[{self.poi[0]:g}, {self.poi[-1]:g}] of the belt")
        return np.interp(x, self.poi, self.critical(cl))

    def intervals(self, axis: ArrayLike, statistic: ArrayLike, cl: float) -> Intervals:
        """Neyman intervals of data sets with profile statistics ``statistic`` ``(n, len(axis))`` on ``axis``
        (e.g. :func:`profile_statistics`): the hull of :math:`\\{\\psi : t(\\psi) \\le c_{\\rm CL}(\\psi)\\}`."""
        x = np.asarray(axis, dtype=np.float64)
        t = np.atleast_2d(np.asarray(statistic, dtype=np.float64))
        if t.shape[1] != x.size:
            raise SBIError(f"parameter 'statistic' must have {x.size} columns (the axis), got shape {t.shape}")
        return intervals_from_excess(x, t - self.critical_at(x, cl)[None])

    def as_dict(self, cls: tuple[float, ...] = (0.68, 0.95)) -> dict[str, object]:
        """JSON-serialisable critical values (not the toys)."""
        out: dict[str, object] = {"parameter": self.parameter, "poi": self.poi.tolist(),
                                  "nuisance": self.nuisance.tolist(), "n_toys": self.n_toys}
        for cl in cls:
            out[f"critical_{cl}"] = self.critical(cl).tolist()
        return out


def profile_belt(toy_log_likelihood: Callable[[FloatArray], ArrayLike], axis0: ArrayLike, axis1: ArrayLike,
                 parameter: int, poi_index: ArrayLike, nuisance: ArrayLike, *,
                 progress: Progress | None = None) -> ProfileBelt:
    """Generate toys at :math:`(\\psi_k, \\nu_k)` for the grid values ``axis[poi_index]`` of ``parameter`` and
    the nuisance values ``nuisance`` (grid values of the other parameter, e.g. :func:`conditional_nuisance`
    at those indices); return the toys' profile statistics at their truths as a :class:`ProfileBelt`.

    ``toy_log_likelihood(theta_true)`` returns the toys' log likelihoods on the grid ``(n_toys, n0 * n1)``;
    ``progress`` wraps the list of tested points (e.g. a rich progress bar)."""
    a0, a1 = _axes(axis0, axis1)
    p = _parameter(parameter)
    poi_axis, nuis_axis = (a0, a1) if p == 0 else (a1, a0)
    idx = np.asarray(poi_index, dtype=np.int64).ravel()
    nuis = np.asarray(nuisance, dtype=np.float64).ravel()
    if idx.size < 2 or np.any(np.diff(idx) <= 0) or idx[0] < 0 or idx[-1] >= poi_axis.size:
        raise SBIError(f"parameter 'poi_index' must be at least 2 increasing indices into the axis of parameter "
                       f"{p} ({poi_axis.size} points), got {idx.tolist()}")
    if nuis.shape != idx.shape:
        raise SBIError(f"parameter 'nuisance' must have one value per tested point ({idx.size}), got {nuis.size}")
    off = np.abs(nuis_axis[np.argmin(np.abs(nuis_axis[None] - nuis[:, None]), axis=1)] - nuis)
    if np.any(off > 1e-9 * float(np.ptp(nuis_axis))):
        bad = int(np.argmax(off))
        raise SBIError(f"parameter 'nuisance': {nuis[bad]} (tested point {bad}) is not a value of the grid")
    columns = []
    points = list(zip(idx, nuis, strict=True))
    for k, nu in (progress(points) if progress is not None else points):
        truth = np.array([poi_axis[k], nu] if p == 0 else [nu, poi_axis[k]])
        t = profile_statistics(toy_log_likelihood(truth), a0, a1, p)
        columns.append(t[:, k])
    stats = np.stack(columns, axis=1)
    return ProfileBelt(p, poi_axis[idx].copy(), nuis.copy(), stats)


def _in_chunks(toys_at: Callable[[FloatArray, int], ArrayLike], n_toys: int,
               chunk: int) -> Callable[[FloatArray], FloatArray]:
    """``theta -> (n_toys, n_grid)`` log likelihoods from ``toys_at(theta, n)``, ``chunk`` toys at a time."""
    def toy_log_likelihood(theta: FloatArray) -> FloatArray:
        return np.concatenate([np.atleast_2d(toys_at(theta, min(chunk, n_toys - s))) for s in range(0, n_toys, chunk)])
    return toy_log_likelihood


def _ends(iv: Intervals, axis: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Interval ends with those at the scan edge (the set may go on) as ∓inf."""
    return np.where(iv.lower <= axis[0], -np.inf, iv.lower), np.where(iv.at_upper_edge, np.inf, iv.upper)


def expected_neyman_intervals(toys_at: Callable[[FloatArray, int], ArrayLike], asimov_log_likelihood: ArrayLike,
                              axis: ArrayLike, theta_true: ArrayLike, n_toys: int, *, step: int = 2,
                              parameter_names: tuple[str, ...] | list[str] = ("theta0", "theta1"),
                              cls: tuple[float, ...] = (0.68, 0.95), chunk: int = 250,
                              progress: Progress | None = None) -> dict[str, object]:
    """Expected Neyman intervals of both parameters on the grid ``axis × axis``; JSON-serialisable.

    ``toys_at(theta, n)`` returns the log likelihoods ``(n, len(axis)**2)`` of ``n`` pseudo-experiments drawn at
    ``theta``; ``asimov_log_likelihood`` ``(len(axis)**2,)`` is that of the Asimov data at ``theta_true`` (a grid
    point).  Per parameter: a :func:`profile_belt` at every ``step``-th grid value (and the last), toys at the
    Asimov conditional nuisance; the Asimov data's interval; the median ends of the Neyman intervals of
    ``n_toys`` toys at ``theta_true`` and the fraction of them that contain it (its coverage there); and, for
    comparison, the Wilks coverage of the same toys.  Ends at the scan edge are reported as ``None`` (Asimov)
    or ±inf (median)."""
    ax = np.asarray(axis, dtype=np.float64)
    truth = np.asarray(theta_true, dtype=np.float64)
    if n_toys < 1 or step < 1:
        raise SBIError(f"parameters 'n_toys' and 'step' must be at least 1, got {n_toys} and {step}")
    if truth.shape != (2,):
        raise SBIError(f"parameter 'theta_true' must be a point of the 2-D grid, got {truth.tolist()}")
    k_true = [inference.grid_index(ax, float(v), f"theta_true[{i}]") for i, v in enumerate(truth)]
    idx = np.arange(0, ax.size, step)
    if idx[-1] != ax.size - 1:
        idx = np.append(idx, ax.size - 1)

    toy_log_likelihood = _in_chunks(toys_at, n_toys, chunk)

    data_ll = toy_log_likelihood(truth)
    out: dict[str, object] = {"n_toys": n_toys, "step": step, "theta_true": truth.tolist()}
    for p, name in enumerate(parameter_names):
        nuis = conditional_nuisance(asimov_log_likelihood, ax, ax, p)[idx]
        belt = profile_belt(toy_log_likelihood, ax, ax, p, idx, nuis, progress=progress)
        t_asimov = profile_statistics(asimov_log_likelihood, ax, ax, p)
        t_data = profile_statistics(data_ll, ax, ax, p)
        res: dict[str, object] = {"belt": belt.as_dict(cls)}
        for cl in cls:
            lo_a, hi_a = _ends(belt.intervals(ax, t_asimov, cl), ax)
            ivs = belt.intervals(ax, t_data, cl)
            lo, hi = _ends(ivs, ax)
            res[str(cl)] = {
                "asimov": [float(lo_a[0]) if np.isfinite(lo_a[0]) else None,
                           float(hi_a[0]) if np.isfinite(hi_a[0]) else None],
                "median": [float(np.median(lo)), float(np.median(hi))],
                "coverage": float(np.mean((ivs.lower <= truth[p]) & (ivs.upper >= truth[p]))),
                "wilks_coverage": float(np.mean(t_data[:, k_true[p]] < inference.contour_threshold(cl, 1)))}
        out[name] = res
    return out


def joint_statistics(log_likelihood: ArrayLike, axis0: ArrayLike, axis1: ArrayLike) -> FloatArray:
    """:math:`q(\\theta) = -2[\\ell(\\theta) - \\max\\ell]` on the grid for every row of ``log_likelihood``
    ``(n, n0 * n1)`` (``axis1`` fastest), ``(n, n0, n1)``."""
    a0, a1 = _axes(axis0, axis1)
    return _q_grid(log_likelihood, a0, a1, "log_likelihood")


@dataclass(frozen=True)
class JointBelt:
    """Toy distributions of the joint statistic :math:`q_t(\\theta_k)` at the tested grid points.

    ``tested`` ``(n0, n1)`` marks the tested points; ``statistics[:, k]`` ``(n_toys, K)`` holds the toys' statistic
    at the k-th of them in C order (``np.argwhere(tested)``), each from toys generated there."""

    axis0: FloatArray
    axis1: FloatArray
    tested: NDArray[np.bool_]
    statistics: FloatArray

    @property
    def n_toys(self) -> int:
        """Pseudo-experiments per tested point."""
        return int(self.statistics.shape[0])

    @property
    def points(self) -> FloatArray:
        """The tested points ``(K, 2)``."""
        idx = np.argwhere(self.tested)
        return np.stack([self.axis0[idx[:, 0]], self.axis1[idx[:, 1]]], axis=1)

    def critical(self, cl: float) -> FloatArray:
        """:math:`c_{\\rm CL}(\\theta_k)` ``(K,)``: the empirical CL quantile of the toys at each tested point."""
        if not 0 < cl < 1:
            raise SBIError(f"parameter 'cl' must lie in (0, 1), got {cl}")
        return np.quantile(self.statistics, cl, axis=0, method="inverted_cdf")

    def critical_map(self, cl: float) -> FloatArray:
        """:meth:`critical` on the grid ``(n0, n1)``, NaN at the points not tested."""
        out = np.full(self.tested.shape, np.nan)
        out[self.tested] = self.critical(cl)
        return out

    def region(self, q: ArrayLike, cl: float) -> NDArray[np.bool_]:
        """The Neyman regions :math:`\\{\\theta_k : q(\\theta_k) \\le c_{\\rm CL}(\\theta_k)\\}` of data sets with
        statistics ``q`` ``(n, n0, n1)`` (:func:`joint_statistics`), ``(n, n0, n1)``; untested points are outside."""
        qq = np.asarray(q, dtype=np.float64)
        if qq.ndim == 2:
            qq = qq[None]
        if qq.shape[1:] != self.tested.shape:
            raise SBIError(f"parameter 'q' must have the grid shape {self.tested.shape} in its last two axes, got "
                           f"{np.shape(q)}")
        crit = self.critical_map(cl)
        return self.tested[None] & (qq <= np.where(self.tested, crit, np.inf)[None])

    def is_open(self, region: ArrayLike) -> NDArray[np.bool_]:
        """Per region ``(n, n0, n1)``: does it contain a point next to (4-neighbourhood) an untested point or on the
        grid edge?  Then the region may go on beyond what was tested."""
        r = np.asarray(region, dtype=bool)
        if r.ndim == 2:
            r = r[None]
        return np.any(r & _edge(self.tested)[None], axis=(1, 2))

    def as_dict(self, cls: tuple[float, ...] = (0.68, 0.95)) -> dict[str, object]:
        """JSON-serialisable critical maps (None where untested), not the toys."""
        out: dict[str, object] = {"axis0": self.axis0.tolist(), "axis1": self.axis1.tolist(),
                                  "n_tested": int(self.tested.sum()), "n_toys": self.n_toys}
        for cl in cls:
            m = self.critical_map(cl)
            out[f"critical_{cl}"] = [[None if np.isnan(v) else float(v) for v in row] for row in m]
        return out


def joint_belt(toy_log_likelihood: Callable[[FloatArray], ArrayLike], axis0: ArrayLike, axis1: ArrayLike,
               tested: ArrayLike, *, progress: Progress | None = None) -> JointBelt:
    """Generate toys at every tested point (``tested``: a boolean mask ``(n0, n1)``) and return their joint
    statistics there as a :class:`JointBelt`; ``toy_log_likelihood(theta_true)`` returns ``(n_toys, n0 * n1)``
    log likelihoods on the grid, ``progress`` wraps the list of tested points."""
    a0, a1 = _axes(axis0, axis1)
    mask = np.asarray(tested)
    if mask.dtype != bool or mask.shape != (a0.size, a1.size):
        raise SBIError(f"parameter 'tested' must be a boolean mask of the grid shape ({a0.size}, {a1.size}), got "
                       f"{mask.dtype} {mask.shape}")
    idx = np.argwhere(mask)
    if idx.shape[0] == 0:
        raise SBIError("parameter 'tested' marks no grid point")
    columns = []
    points = [tuple(int(v) for v in row) for row in idx]
    for i, j in (progress(points) if progress is not None else points):
        q = joint_statistics(toy_log_likelihood(np.array([a0[i], a1[j]])), a0, a1)
        columns.append(q[:, i, j])
    return JointBelt(a0, a1, mask.copy(), np.stack(columns, axis=1))


def _edge(region: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The points of a 2-D region with a 4-neighbour outside it (or on the grid edge)."""
    padded = np.pad(region, 1, constant_values=False)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return region & ~inner


def _extent(region: NDArray[np.bool_], axis: FloatArray, along: int) -> list[float | None]:
    """Lowest and highest grid value of ``axis`` (parameter ``along``) inside a 2-D region; None if empty."""
    inside = np.any(region, axis=1 - along)
    if not inside.any():
        return [None, None]
    k = np.flatnonzero(inside)
    return [float(axis[k[0]]), float(axis[k[-1]])]


def expected_neyman_region(toys_at: Callable[[FloatArray, int], ArrayLike], asimov_log_likelihood: ArrayLike,
                           axis: ArrayLike, theta_true: ArrayLike, n_toys: int, *, q_max: float | None = None,
                           parameter_names: tuple[str, ...] | list[str] = ("theta0", "theta1"),
                           cls: tuple[float, ...] = (0.68, 0.95), chunk: int = 250,
                           progress: Progress | None = None) -> dict[str, object]:
    """Expected joint Neyman region of both parameters on the grid ``axis × axis``; JSON-serialisable.

    ``toys_at(theta, n)`` returns ``(n, len(axis)**2)`` toy log likelihoods at ``theta``; the tested points are
    those where the Asimov statistic (``asimov_log_likelihood`` at ``theta_true``, a grid point) is at most
    ``q_max`` (default three times :math:`\\chi^2_2` at the largest CL), and ``theta_true`` itself.  Per CL: the
    Neyman and the Wilks region of the Asimov data (grid points, extent along each parameter, ``open`` if the
    Neyman region touches the untested rim), the critical value at the truth, :math:`c/\\chi^2_2` (min, median,
    max) over the tested points and over the edge of the Neyman region (where it decides the region), and the Wilks
    coverage at the truth of the toys generated there."""
    ax = np.asarray(axis, dtype=np.float64)
    truth = np.asarray(theta_true, dtype=np.float64)
    if n_toys < 1:
        raise SBIError(f"parameter 'n_toys' must be at least 1, got {n_toys}")
    if truth.shape != (2,):
        raise SBIError(f"parameter 'theta_true' must be a point of the 2-D grid, got {truth.tolist()}")
    i_true, j_true = (inference.grid_index(ax, float(v), f"theta_true[{i}]") for i, v in enumerate(truth))
    q_asimov = joint_statistics(asimov_log_likelihood, ax, ax)[0]
    limit = 3.0 * inference.contour_threshold(max(cls), 2) if q_max is None else float(q_max)
    if not limit > 0:
        raise SBIError(f"parameter 'q_max' must be positive, got {q_max}")
    tested = q_asimov <= limit
    tested[i_true, j_true] = True

    toy_log_likelihood = _in_chunks(toys_at, n_toys, chunk)

    belt = joint_belt(toy_log_likelihood, ax, ax, tested, progress=progress)
    k_true = int(tested.ravel()[: i_true * ax.size + j_true].sum())  # its column in the belt (C order)
    out: dict[str, object] = {"n_toys": n_toys, "q_max": limit, "theta_true": truth.tolist(),
                              "belt": belt.as_dict(cls)}
    for cl in cls:
        chi2 = inference.contour_threshold(cl, 2)
        neyman_region = belt.region(q_asimov, cl)[0]
        wilks_region = q_asimov < chi2
        ratio_map = belt.critical_map(cl) / chi2
        ratio, on_edge = ratio_map[tested], ratio_map[_edge(neyman_region)]
        out[str(cl)] = {
            "neyman_points": int(neyman_region.sum()), "wilks_points": int(wilks_region.sum()),
            "open": bool(belt.is_open(neyman_region)[0]),
            "neyman_extent": {name: _extent(neyman_region, ax, p) for p, name in enumerate(parameter_names)},
            "wilks_extent": {name: _extent(wilks_region, ax, p) for p, name in enumerate(parameter_names)},
            "critical_at_truth": float(belt.critical(cl)[k_true]), "chi2": chi2,
            "critical_over_chi2": [float(ratio.min()), float(np.median(ratio)), float(ratio.max())],
            "critical_over_chi2_on_edge": ([float(on_edge.min()), float(np.median(on_edge)), float(on_edge.max())]
                                           if on_edge.size else None),
            "wilks_coverage_at_truth": float(np.mean(belt.statistics[:, k_true] < chi2))}
    return out
