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
from nextsm.sbi import coverage, inference
from nextsm.sbi.errors import SBIError

__all__ = ["ProfileBelt", "conditional_nuisance", "expected_neyman_intervals", "profile_belt", "profile_statistics"]

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
    k_true = [coverage._grid_index(ax, float(v), f"theta_true[{i}]") for i, v in enumerate(truth)]
    idx = np.arange(0, ax.size, step)
    if idx[-1] != ax.size - 1:
        idx = np.append(idx, ax.size - 1)

    def toy_log_likelihood(theta: FloatArray) -> FloatArray:
        return np.concatenate([np.atleast_2d(toys_at(theta, min(chunk, n_toys - s))) for s in range(0, n_toys, chunk)])

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
