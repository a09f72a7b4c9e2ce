"""Expected limits from a trained estimator on a weighted (held-out) sample: the ``nextsm sbi limits`` engine.

Ratio estimators: the extended unbinned Asimov likelihood (:func:`~nextsm.sbi.inference.extended_log_likelihood`);
SALLY estimators: a Poisson likelihood of an adaptive histogram of :math:`\\hat t(x)`
(:mod:`~nextsm.sbi.histograms`).  Returns the 2-D scan, the profiles and the 68/95 % Wilks intervals, and on
request their coverage with pseudo-experiments (:mod:`~nextsm.sbi.coverage`) and toy-based Neyman intervals
(:mod:`~nextsm.sbi.neyman`).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi import coverage, histograms, inference
from nextsm.sbi import neyman as neyman_mod
from nextsm.sbi.errors import SBIError
from nextsm.sbi.events import WeightedEvents

__all__ = ["expected_limits"]


class _EstimatorLike(Protocol):
    kind: str
    parameter_names: tuple[str, ...]

    def log_ratio(self, x: ArrayLike, theta: ArrayLike) -> NDArray[np.float64]: ...

    def score(self, x: ArrayLike, theta: ArrayLike | None = None) -> NDArray[np.float64]: ...

    @property
    def theta_ref(self) -> NDArray[np.float64]: ...


def expected_limits(estimator: _EstimatorLike, events: WeightedEvents, theta_true: ArrayLike, luminosity: float,
                    axis: ArrayLike, *, histogram_bins: int = 8, toys: int = 0, neyman: int = 0,
                    neyman_step: int = 2, neyman_2d: bool = False, rng: np.random.Generator | None = None,
                    progress: neyman_mod.Progress | None = None) -> dict[str, Any]:
    """Asimov scan on ``axis × axis`` (two parameters) at ``theta_true``; JSON-serialisable result.

    ``toys`` > 0 also measures the coverage of the Wilks intervals with that many Poisson pseudo-experiments
    drawn from ``events`` at ``theta_true`` (a grid point; :mod:`~nextsm.sbi.coverage`), key ``toy_coverage``.
    ``neyman`` > 0 adds toy-based (Neyman) intervals with that many toys per tested value at every
    ``neyman_step``-th grid value (:func:`~nextsm.sbi.neyman.expected_neyman_intervals`), key ``neyman``;
    ``progress`` wraps their tested values.  ``neyman_2d`` adds the joint Neyman region of both parameters with
    the same number of toys per tested point (:func:`~nextsm.sbi.neyman.expected_neyman_region`), key
    ``neyman_2d``.  ``rng`` is required with toys or Neyman."""
    if events.morphing.n_parameters != 2:
        raise SBIError("parameter 'events': expected limits are implemented for two parameters")
    if neyman_2d and not neyman:
        raise SBIError("parameter 'neyman_2d' needs 'neyman' > 0 toys per tested point")
    if (toys or neyman) and rng is None:
        raise SBIError("parameter 'rng': toys need a numpy.random.Generator")
    ax = np.asarray(axis, dtype=np.float64)
    if toys or neyman:  # before the (slow) evaluation: toys need the truth on the grid
        for i, v in enumerate(np.asarray(theta_true, dtype=np.float64)):
            inference.grid_index(ax, float(v), f"theta_true[{i}]")
    pts = inference.grid_points(ax, ax)
    w_true = inference.asimov_weights(events, theta_true, luminosity)
    if estimator.kind == "score":
        feat = estimator.score(events.x)
        ref_w = events.weights(estimator.theta_ref[None])[0]
        binning = histograms.adaptive_binning(feat, ref_w, histogram_bins)
        nu = histograms.expected_counts(binning, feat, events.weights(pts), luminosity)
        observed = histograms.expected_counts(binning, feat, w_true[None] / luminosity, luminosity)[0]
        ll = histograms.binned_log_likelihood(nu, observed)

        index = binning.index(feat)

        def toy_ll(counts: NDArray[np.int64]) -> NDArray[np.float64]:
            return coverage.binned_toy_log_likelihood(nu, index, counts)
    else:
        xsec, xsec_ref = events.xsec(pts), float(events.xsec(estimator.theta_ref[None])[0])
        log_r = estimator.log_ratio(events.x, pts)
        ll = inference.extended_log_likelihood(log_r, w_true, xsec, xsec_ref, luminosity)

        def toy_ll(counts: NDArray[np.int64]) -> NDArray[np.float64]:
            return coverage.unbinned_toy_log_likelihood(log_r, counts, xsec, xsec_ref, luminosity)
    scan = inference.scan_2d(ax, ax, ll)
    out: dict[str, Any] = {"axis": ax.tolist(), "q": scan.q.tolist(), "best": list(scan.best),
                           "theta_true": np.asarray(theta_true, float).tolist(), "luminosity": luminosity,
                           "p_values": inference.wilks_pvalue(scan.q, 2).tolist(), "profiles": {}}
    for p, name in enumerate(estimator.parameter_names):
        a, q = inference.profile(scan, p)
        out["profiles"][name] = {"q": q.tolist(), "p_values": inference.wilks_pvalue(q, 1).tolist()}
        for cl in (0.68, 0.95):
            iv = inference.interval_from_profile(a, q, cl)
            out["profiles"][name][f"interval_{cl}"] = [iv.low, iv.high]
    if toys:
        assert rng is not None
        lls = [toy_ll(coverage.poisson_pseudo_data(w_true, min(200, toys - start), rng))
               for start in range(0, toys, 200)]
        stats = coverage.statistics_at_truth(np.concatenate(lls), ax, ax, theta_true)
        out["toy_coverage"] = coverage.coverage_summary(stats, list(estimator.parameter_names))
    if neyman:
        assert rng is not None
        gen = rng

        def toys_at(theta: NDArray[np.float64], n: int) -> NDArray[np.float64]:
            return toy_ll(coverage.poisson_pseudo_data(inference.asimov_weights(events, theta, luminosity), n, gen))

        out["neyman"] = neyman_mod.expected_neyman_intervals(
            toys_at, ll, ax, theta_true, neyman, step=neyman_step, parameter_names=estimator.parameter_names,
            progress=progress)
        if neyman_2d:
            out["neyman_2d"] = neyman_mod.expected_neyman_region(
                toys_at, ll, ax, theta_true, neyman, parameter_names=estimator.parameter_names, progress=progress)
    return out
