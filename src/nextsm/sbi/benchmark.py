"""End-to-end validation of every estimator against the exact toy (used by ``validation/sbi_toy.py`` and the tests).

Steps: weighted training, Asimov and test samples from :class:`~nextsm.sbi.simulators.ToyEFTSimulator`;
training sets by vectorised unweighting; each estimator trained; per-event :math:`\\log\\hat r` RMSE vs the
exact :math:`\\log r` on exact samples at test points; :math:`E_{\\rm ref}[\\hat r] - 1` on a θ grid; Asimov
extended-likelihood profile intervals (68/95 %) vs the exact ones; SALLY and observable histograms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nextsm.sbi import diagnostics, histograms, inference
from nextsm.sbi.estimators import Estimator
from nextsm.sbi.estimators.ratio import xsec_quadratic_form
from nextsm.sbi.sampling import ratio_training_set, score_training_set
from nextsm.sbi.simulators import ToyEFTSimulator
from nextsm.sbi.training import TrainConfig, train_estimator

__all__ = ["TEST_THETAS", "ToyValidationSettings", "run_toy_validation"]

TEST_THETAS = np.array([[0.3, 0.0], [0.0, 0.3], [-0.4, 0.4], [0.6, -0.6]])


@dataclass(frozen=True)
class ToyValidationSettings:
    """Scale of a validation run (defaults: the CI scale, seconds per estimator)."""

    n_train_events: int = 60_000
    n_asimov_events: int = 20_000
    n_theta: int = 200
    n_per_theta: int = 150
    n_sally: int = 30_000
    n_test: int = 3_000
    luminosity: float = 30.0
    grid: tuple[float, float, int] = (-0.5, 0.5, 31)
    prior: float = 1.0
    methods: tuple[str, ...] = ("carl", "alice", "alices", "alices_ma", "sally")
    n_members: int = 1
    histogram_bins: int = 8
    config: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=12))


def _scan_intervals(axis: NDArray[np.float64], ll: NDArray[np.float64]) -> dict[str, Any]:
    scan = inference.scan_2d(axis, axis, ll)
    out: dict[str, Any] = {"q": scan.q.tolist()}
    for p, name in enumerate(("c_odd", "c_even")):
        ax, q = inference.profile(scan, p)
        out[name] = {"q": q.tolist()}
        for cl in (0.68, 0.95):
            iv = inference.interval_from_profile(ax, q, cl)
            out[name][str(cl)] = [iv.low, iv.high]
    return out


def run_toy_validation(settings: ToyValidationSettings, rng: np.random.Generator, *,
                       simulator: ToyEFTSimulator | None = None) -> dict[str, Any]:
    """Run the validation; returns a JSON-serialisable dict (estimators under ``"estimators"`` are objects)."""
    sim = simulator or ToyEFTSimulator()
    s = settings
    train_events = sim.simulate(s.n_train_events, rng)
    asimov_events = sim.simulate(s.n_asimov_events, rng)
    ref = np.zeros(2)
    thetas = rng.uniform(-s.prior, s.prior, (s.n_theta, 2))
    t0 = time.perf_counter()
    ratio_set = ratio_training_set(train_events, thetas, s.n_per_theta, rng)
    sampling_seconds = time.perf_counter() - t0
    sally_set = score_training_set(train_events, s.n_sally, rng)
    xsec_form = xsec_quadratic_form(train_events.morphing, sim.xsec_components())

    estimators: dict[str, Estimator] = {}
    timings: dict[str, float] = {}
    for label in s.methods:
        method = label.removesuffix("_ma")
        config = TrainConfig(**{**s.config.__dict__, "morphing_aware": label.endswith("_ma")})
        t0 = time.perf_counter()
        data = sally_set if method == "sally" else ratio_set
        estimators[label] = train_estimator(method, data, config, rng, xsec_form=xsec_form,
                                            n_members=s.n_members, parameter_names=sim.parameter_names,
                                            observable_names=sim.observable_names)
        timings[label] = time.perf_counter() - t0

    # per-event log r RMSE on exact samples at the test points
    rmse: dict[str, float] = {}
    test = [sim.sample(th, s.n_test, rng)[0] for th in TEST_THETAS]
    exact_lr = [sim.log_marginal(x, th[None])[0] - sim.log_marginal(x, ref[None])[0] for x, th in zip(test, TEST_THETAS,
                                                                                                    strict=True)]
    exact_score = sim.marginal_score(np.concatenate(test), ref[None])[0]
    for label, est in estimators.items():
        if est.kind == "score":
            t_hat = est.score(np.concatenate(test))
            rmse[label + "_score"] = float(np.sqrt(np.mean((t_hat - exact_score) ** 2)))
            rmse["trivial_score_baseline"] = float(np.sqrt(np.mean(exact_score**2)))  # t̂ = 0
            continue
        errs = [est.log_ratio(x, th[None])[0] - e for x, th, e in zip(test, TEST_THETAS, exact_lr, strict=True)]
        rmse[label] = float(np.sqrt(np.mean(np.concatenate(errs) ** 2)))
    rmse["exact_log_r_std"] = float(np.std(np.concatenate(exact_lr)))
    rmse["trivial_baseline"] = float(np.sqrt(np.mean(np.concatenate(exact_lr) ** 2)))  # log r̂ = 0

    # Asimov intervals at the SM
    axis = np.linspace(*s.grid[:2], int(s.grid[2]))
    pts = inference.grid_points(axis, axis)
    w_asimov = inference.asimov_weights(asimov_events, ref, s.luminosity)
    xsec = asimov_events.xsec(pts)
    xsec_ref = float(asimov_events.xsec(ref[None])[0])
    g = sim.marginal_components(asimov_events.x)
    alpha = sim.morphing.components(pts)
    exact_grid = np.log(alpha @ g.T) - np.log(sim.morphing.components(ref[None]) @ g.T) - np.log(
        sim.xsec(pts) / sim.xsec(ref[None]))[:, None]
    intervals: dict[str, Any] = {"exact": _scan_intervals(axis, inference.extended_log_likelihood(
        exact_grid, w_asimov, xsec, xsec_ref, s.luminosity))}
    calibration: dict[str, float] = {}
    w_ref = asimov_events.weights(ref[None])[0]
    cal_thetas = rng.uniform(-s.prior * 0.8, s.prior * 0.8, (20, 2))
    for label, est in estimators.items():
        if est.kind == "score":
            continue
        lr = est.log_ratio(asimov_events.x, pts)
        intervals[label] = _scan_intervals(axis, inference.extended_log_likelihood(lr, w_asimov, xsec, xsec_ref,
                                                                                   s.luminosity))
        e = diagnostics.expectation(est.log_ratio(asimov_events.x, cal_thetas), w_ref)
        calibration[label] = float(np.max(np.abs(e - 1)))
        calibration[label + "_exact_sample"] = float(np.max(np.abs(diagnostics.expectation(
            np.log(sim.morphing.components(cal_thetas) @ g.T) - np.log(sim.morphing.components(ref[None]) @ g.T)
            - np.log(sim.xsec(cal_thetas) / sim.xsec(ref[None]))[:, None], w_ref) - 1)))

    # histograms: SALLY (fixed and adaptive) and classical observables
    weights_grid = asimov_events.weights(pts)
    features: dict[str, NDArray[np.float64]] = {
        "observables": np.stack([asimov_events.x[:, 0], np.sin(asimov_events.x[:, 1])], axis=1)}
    if "sally" in estimators:
        features["sally"] = estimators["sally"].score(asimov_events.x)
    for name, feat in features.items():
        for mode in ("fixed", "adaptive"):
            binning = (histograms.fixed_binning(feat, s.histogram_bins) if mode == "fixed"
                       else histograms.adaptive_binning(feat, w_ref, s.histogram_bins))
            nu = histograms.expected_counts(binning, feat, weights_grid, s.luminosity)
            observed = histograms.expected_counts(binning, feat, w_asimov[None] / s.luminosity, s.luminosity)[0]
            intervals[f"{name}_hist_{mode}"] = _scan_intervals(axis, histograms.binned_log_likelihood(nu, observed))

    agreement: dict[str, dict[str, float]] = {}
    for label, res in intervals.items():
        if label == "exact":
            continue
        agreement[label] = {}
        for par in ("c_odd", "c_even"):
            for cl in ("0.68", "0.95"):
                lo, hi = res[par][cl]
                elo, ehi = intervals["exact"][par][cl]
                agreement[label][f"{par}_{cl}"] = float((hi - lo) / (ehi - elo) - 1)
    return {"settings": {k: (v.__dict__ if isinstance(v, TrainConfig) else v) for k, v in s.__dict__.items()},
            "rmse": rmse, "calibration": calibration, "intervals": intervals, "width_rel_diff": agreement,
            "timings": {"sampling_ratio_set": sampling_seconds, **timings}, "axis": axis.tolist(),
            "estimators": estimators}
