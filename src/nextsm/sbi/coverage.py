r"""Coverage of likelihood-ratio intervals with pseudo-experiments drawn from a weighted sample.

Asimov intervals (:mod:`~nextsm.sbi.inference`) say how wide an interval *would* be if Wilks' theorem held for the
likelihood one has.  With a learned ratio :math:`\hat r(x|\theta)` it need not: an over-confident
:math:`\hat r` (a signal/background ratio that separates better than the truth, say) gives intervals that are too
narrow, and nothing in the Asimov scan shows it.  Pseudo-experiments do.

**The toy world.**  A held-out weighted sample :math:`\{x_i, w_i(\theta)\}` defines the truth: a pseudo-experiment
at :math:`\theta_{\rm true}` takes every event :math:`c_i \sim \mathrm{Poisson}(L\,w_i(\theta_{\rm true}))` times.
By Poisson splitting this is the same as a Poisson number of events :math:`n \sim \mathrm{Poisson}(L\sigma)` drawn
from the weighted sample, so the toys are exact draws of the sample's own (discrete) distribution, whose binned
version is what the histogram templates use.  The estimator is a fixed function, trained elsewhere.

**Statistics.**  For each toy :math:`t` the log likelihood on a grid, unbinned

.. math::

    \ell_t(\theta) = -L[\sigma(\theta) - \sigma_{\rm ref}] + n_t \log\frac{\sigma(\theta)}{\sigma_{\rm ref}}
        + \sum_i c_{ti} \log\hat r(x_i|\theta),

or binned, :math:`\ell_t(\theta) = \sum_b [n_{tb}\log\nu_b(\theta) - \nu_b(\theta)]` with
:math:`n_{tb} = \sum_{i\in b} c_{ti}`.  Then :math:`q_t(\theta) = -2[\ell_t(\theta) - \max\ell_t]`, the joint
statistic at the truth and the profile statistic of each parameter (minimised over the other with the same
parabolic refinement as the Asimov profiles, :func:`~nextsm.sbi.inference.row_minima`).  The Wilks interval of a
toy contains the truth iff its statistic at the truth is below :math:`\chi^2_k(\mathrm{CL})`; the fraction of
toys that do is the coverage, with binomial error :math:`\sqrt{p(1-p)/T}`.  Exact ratios give nominal coverage up
to asymptotics; an over-confident ratio under-covers (tests/sbi/test_coverage.py).

References: Cowan, Cranmer, Gross, Vitells 2011 (arXiv:1007.1727) for the asymptotics; Cranmer, Pavez, Louppe
2015 (arXiv:1506.02169, §4) for calibrating learned ratios with toys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi import histograms, inference
from nextsm.sbi.errors import SBIError

__all__ = ["Coverage", "ToyStatistics", "bin_count_log_likelihood", "binned_toy_log_likelihood", "coverage",
           "coverage_summary", "poisson_bin_counts", "poisson_pseudo_data", "statistics_at_truth",
           "unbinned_toy_log_likelihood"]

FloatArray = NDArray[np.float64]


def poisson_pseudo_data(expected: ArrayLike, n_toys: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Counts :math:`c_{ti} \\sim \\mathrm{Poisson}(\\lambda_i)` of each event in each toy, ``(n_toys, N)``.

    ``expected`` holds :math:`\\lambda_i = L\\,w_i(\\theta_{\\rm true})` (``inference.asimov_weights``)."""
    lam = np.asarray(expected, dtype=np.float64)
    if lam.ndim != 1:
        raise SBIError(f"parameter 'expected' must be one-dimensional, got shape {lam.shape}")
    bad = np.flatnonzero(~np.isfinite(lam) | (lam < 0))
    if bad.size:
        raise SBIError(f"parameter 'expected': {bad.size} events have negative or non-finite expected counts "
                       f"(first: event {bad[0]}, {lam[bad[0]]})")
    if n_toys < 1:
        raise SBIError(f"parameter 'n_toys' must be at least 1, got {n_toys}")
    return rng.poisson(lam, size=(n_toys, lam.size))


def _counts(counts: ArrayLike, n_events: int) -> FloatArray:
    c = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    if c.ndim != 2 or c.shape[1] != n_events:
        raise SBIError(f"parameter 'counts' must have shape (n_toys, {n_events}), got {np.shape(counts)}")
    return c


def unbinned_toy_log_likelihood(log_r: ArrayLike, counts: ArrayLike, xsec: ArrayLike, xsec_ref: float,
                                luminosity: float) -> FloatArray:
    """:math:`\\ell_t(\\theta_j)` of the extended unbinned likelihood for every toy and grid point, ``(n_toys, n_θ)``.

    ``log_r`` is :math:`\\log\\hat r(x_i|\\theta_j)` ``(n_θ, N)``; ``counts`` from :func:`poisson_pseudo_data`.
    Equal, toy by toy, to :func:`~nextsm.sbi.inference.extended_log_likelihood` with the counts as weights."""
    lr = np.atleast_2d(np.asarray(log_r, dtype=np.float64))
    c = _counts(counts, lr.shape[1])
    sig = np.asarray(xsec, dtype=np.float64)
    if sig.shape != (lr.shape[0],):
        raise SBIError(f"parameter 'xsec' must have shape ({lr.shape[0]},), got {sig.shape}")
    if np.any(sig <= 0) or xsec_ref <= 0:
        raise SBIError("parameter 'xsec' must be positive")
    n = c.sum(axis=1)
    return -luminosity * (sig - xsec_ref)[None] + n[:, None] * np.log(sig / xsec_ref)[None] + c @ lr.T


def binned_toy_log_likelihood(expected: ArrayLike, bin_index: ArrayLike, counts: ArrayLike, *,
                              floor: float = 1e-9) -> FloatArray:
    """Poisson :math:`\\ell_t(\\theta_j) = \\sum_b [n_{tb}\\log\\nu_b(\\theta_j) - \\nu_b(\\theta_j)]`, ``(n_toys, n_θ)``.

    ``expected`` :math:`\\nu_b(\\theta_j)` ``(n_θ, B)`` (``histograms.expected_counts``), ``bin_index`` the bin of
    every event ``(N,)`` (``Binning.index``), ``counts`` ``(n_toys, N)``.  Same convention as
    :func:`~nextsm.sbi.histograms.binned_log_likelihood`."""
    nu = np.atleast_2d(np.asarray(expected, dtype=np.float64))
    idx = np.asarray(bin_index, dtype=np.int64)
    return bin_count_log_likelihood(nu, histograms.bin_sums(idx, _counts(counts, idx.size), nu.shape[1]), floor=floor)


def bin_count_log_likelihood(expected: ArrayLike, bin_counts: ArrayLike, *, floor: float = 1e-9) -> FloatArray:
    """The same Poisson :math:`\\ell_t(\\theta_j)` from the toys' bin counts :math:`n_{tb}` ``(n_toys, B)``."""
    nu = np.clip(np.atleast_2d(np.asarray(expected, dtype=np.float64)), floor, None)
    n = np.atleast_2d(np.asarray(bin_counts, dtype=np.float64))
    if n.shape[1] != nu.shape[1]:
        raise SBIError(f"parameter 'bin_counts' must have {nu.shape[1]} columns (the bins), got shape {n.shape}")
    return n @ np.log(nu).T - nu.sum(axis=1)[None]


def poisson_bin_counts(expected: ArrayLike, bin_index: ArrayLike, n_bins: int, n_toys: int,
                       rng: np.random.Generator) -> NDArray[np.int64]:
    """Bin counts of ``n_toys`` toys ``(n_toys, n_bins)``, :math:`n_{tb} \\sim \\mathrm{Poisson}(\\sum_{i \\in b}
    \\lambda_i)`: the same distribution as binning :func:`poisson_pseudo_data` (a sum of independent Poisson
    counts is Poisson), at the cost of one draw per bin instead of one per event."""
    lam = np.asarray(expected, dtype=np.float64)
    idx = np.asarray(bin_index, dtype=np.int64)
    if lam.shape != idx.shape:
        raise SBIError(f"parameters 'expected' {lam.shape} and 'bin_index' {idx.shape} must have the same shape")
    if n_toys < 1:
        raise SBIError(f"parameter 'n_toys' must be at least 1, got {n_toys}")
    mean = np.bincount(idx, weights=lam, minlength=n_bins)
    if mean.size != n_bins or np.any(~np.isfinite(mean) | (mean < 0)):
        raise SBIError(f"parameter 'bin_index' must lie in [0, {n_bins}) and 'expected' be finite and non-negative")
    return rng.poisson(mean, size=(n_toys, n_bins))


@dataclass(frozen=True)
class ToyStatistics:
    """Statistics at the truth of each toy: ``joint`` :math:`q_t(\\theta_{\\rm true})` ``(n_toys,)`` (two
    parameters of interest) and ``profile[:, p]`` the profile statistic of parameter ``p`` ``(n_toys, 2)``;
    ``best`` the grid maximum of each toy ``(n_toys, 2)``."""

    theta_true: FloatArray
    joint: FloatArray
    profile: FloatArray
    best: FloatArray


def statistics_at_truth(log_likelihood: ArrayLike, axis0: ArrayLike, axis1: ArrayLike,
                        theta_true: ArrayLike) -> ToyStatistics:
    """Joint and profile statistics at ``theta_true`` (a point of the grid) from ``(n_toys, n0 * n1)`` log
    likelihoods on :func:`~nextsm.sbi.inference.grid_points` (``axis1`` fastest)."""
    a0, a1 = np.asarray(axis0, dtype=np.float64), np.asarray(axis1, dtype=np.float64)
    ll = np.atleast_2d(np.asarray(log_likelihood, dtype=np.float64))
    if ll.shape[1] != a0.size * a1.size:
        raise SBIError(f"parameter 'log_likelihood' must have {a0.size * a1.size} columns, got {ll.shape[1]}")
    truth = np.asarray(theta_true, dtype=np.float64)
    i = inference.grid_index(a0, float(truth[0]), "theta_true[0]")
    j = inference.grid_index(a1, float(truth[1]), "theta_true[1]")
    q = (-2.0 * (ll - ll.max(axis=1, keepdims=True))).reshape(-1, a0.size, a1.size)
    prof0 = inference.row_minima(q)  # (T, n0): minimised over parameter 1
    prof1 = inference.row_minima(np.swapaxes(q, 1, 2))  # (T, n1)
    profile = np.stack([prof0[:, i] - prof0.min(axis=1), prof1[:, j] - prof1.min(axis=1)], axis=1)
    flat = np.argmin(q.reshape(q.shape[0], -1), axis=1)
    best = np.stack([a0[flat // a1.size], a1[flat % a1.size]], axis=1)
    return ToyStatistics(truth, q[:, i, j], profile, best)


@dataclass(frozen=True)
class Coverage:
    """Fraction of toys whose Wilks interval (``dof`` parameters of interest) at ``cl`` contains the truth."""

    cl: float
    dof: int
    covered: int
    n_toys: int

    @property
    def fraction(self) -> float:
        """Covered / toys."""
        return self.covered / self.n_toys

    @property
    def error(self) -> float:
        """Binomial standard error of :attr:`fraction` (at the nominal ``cl`` if none or all are covered)."""
        p = self.fraction if 0 < self.covered < self.n_toys else self.cl
        return float(np.sqrt(p * (1 - p) / self.n_toys))

    def as_dict(self) -> dict[str, float | int]:
        """JSON-serialisable summary."""
        return {"cl": self.cl, "dof": self.dof, "covered": self.covered, "n_toys": self.n_toys,
                "fraction": self.fraction, "error": self.error}


def coverage(q_at_truth: ArrayLike, cl: float, dof: int) -> Coverage:
    """:class:`Coverage` of toys with statistics ``q_at_truth`` against :math:`\\chi^2_{\\rm dof}(cl)`."""
    q = np.asarray(q_at_truth, dtype=np.float64).ravel()
    if q.size == 0:
        raise SBIError("parameter 'q_at_truth' is empty")
    if not 0 < cl < 1:
        raise SBIError(f"parameter 'cl' must lie in (0, 1), got {cl}")
    return Coverage(cl, dof, int(np.sum(q < inference.contour_threshold(cl, dof))), int(q.size))


def coverage_summary(stats: ToyStatistics, parameter_names: tuple[str, ...] | list[str],
                     cls: tuple[float, ...] = (0.68, 0.95)) -> dict[str, object]:
    """JSON-serialisable coverage of the joint (``joint_CL``) and profile (``NAME_CL``) Wilks intervals, with
    the mean and spread of the toys' best fits."""
    if len(parameter_names) != stats.profile.shape[1]:
        raise SBIError(f"parameter 'parameter_names' must name {stats.profile.shape[1]} parameters, "
                       f"got {list(parameter_names)}")
    out: dict[str, object] = {"theta_true": stats.theta_true.tolist(), "n_toys": int(stats.joint.size),
                              "mean_best": stats.best.mean(axis=0).tolist(),
                              "std_best": stats.best.std(axis=0).tolist()}
    for cl in cls:
        out[f"joint_{cl}"] = coverage(stats.joint, cl, stats.profile.shape[1]).as_dict()
        for p, name in enumerate(parameter_names):
            out[f"{name}_{cl}"] = coverage(stats.profile[:, p], cl, 1).as_dict()
    return out
