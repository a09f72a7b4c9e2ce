"""Benchmark: nextsm.sbi against MadMiner 0.9.6 on the same toy events and the same network (issue 7).

Three measurements, each taken in the same run for both sides (read the ratios, not the absolute times):

a. **Augmented sampling** of a ratio training set (n_θ numerator points, ``n_per_theta`` events each plus as
   many reference events, with the joint ratio and score): nextsm's ``ratio_training_set`` (default
   ``method="auto"``: mixture-envelope rejection, O(n_per_theta · log N) per θ, with the inverse CDF where the
   acceptance is low; the acceptance rates of the θ points are recorded, and the old weight-matrix + inverse-CDF
   path is also timed at the small n_θ) against MadMiner's ``SampleAugmenter.sample_train_ratio``
   (one pass per θ over the HDF5 file for σ, one for ∇σ, one for the unweighting, for the numerator and again
   for the reference).  MadMiner is measured at a few n_θ per event count N; its time is fitted with
   t = a + b·n_θ and **extrapolated** to the n_θ that nextsm runs directly (10⁴).
b. **ALICES training throughput** (training rows per second) on identical arrays (x, θ, y, r_xz, t_xz) with the
   same MLP (hidden layers, activation), batch size, epochs, Adam with the same exponential learning-rate decay
   and a 20 % validation split.  MadMiner runs with ``n_workers=0`` (its default of 8 DataLoader worker
   processes would use more cores than nextsm gets).  MadMiner averages the score loss over the p = 2
   components, nextsm sums it, so nextsm gets α/p for the same loss.
c. **Evaluation** of log r̂(x|θ) for ``n_eval`` events on a square θ grid: ``Estimator.log_ratio`` against
   ``ParameterizedRatioEstimator.evaluate_log_likelihood_ratio``.  MadMiner is measured on evenly spaced subsets
   of the grid (it loops over θ), fitted linearly and extrapolated to the full grid; nextsm runs the full grid.

Same data: the orchestrator (this file, run with nextsm's Python) simulates the exact toy
(``ToyEFTSimulator``), writes the events, θ points and training arrays to ``.npz`` files in a temporary
directory and runs two workers, this same file with ``--role nextsm`` (nextsm's Python) and ``--role madminer``
(``--madminer-python``, a venv with ``madminer==0.9.6``).  The MadMiner worker turns the events into a MadMiner
HDF5 file with MadMiner's own I/O: ``MadMiner.add_parameter``/``add_benchmark`` (the toy's six benchmarks),
``set_morphing(max_overall_power=2)``, ``MadMiner.save`` and ``madminer.utils.interfaces.hdf5.save_events``.
It checks that MadMiner's morphing coefficients, their gradients and σ(θ) equal nextsm's, and the
orchestrator checks MadMiner's sampled r_xz and t_xz against nextsm's ``joint_quantities`` for the same events.
Nothing is pickled; workers report JSON.

Threads: every worker gets ``OMP/OPENBLAS/MKL_NUM_THREADS=1`` and ``torch.set_num_threads(1)``; each side is
warmed up before timing; timings are best-of-``repeat``.  MadMiner cannot select all events for its "train"
partition (a split of 0 is rejected), so it samples ``partition="test"`` with ``test_split=1``, i.e. events
1 … N−1 of the file.

Usage (from the repository root; 2 cores, keep it niced)::

    nice -n 10 .venv/bin/python benchmarks/bench_sbi_madminer.py \\
        --madminer-python /work/mm-venv/bin/python --json benchmarks/results/sbi_madminer.json
    nice -n 10 .venv/bin/python benchmarks/bench_sbi_madminer.py --madminer-python ... --quick   # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")

FULL = {
    "seed": 2026, "event_sizes": [100_000, 1_000_000], "n_per_theta": 200,
    "madminer_n_theta": {"100000": [10, 30, 100], "1000000": [10, 30, 100]},
    "nextsm_n_theta": [10, 30, 100, 10_000], "sampling_repeat": 2, "sampling_repeat_large": 1,
    "train_events": 100_000, "train_n_theta": 500, "train_n_per_theta": 200,
    "hidden": [64, 64], "activation": "tanh", "epochs": 5, "batch_size": 512, "lr": 1e-3, "lr_final": 1e-4,
    "alpha": 1.0, "train_repeat": 2,
    "n_eval": 10_000, "grid": [-0.5, 0.5, 41], "madminer_eval_n_theta": [41, 164], "eval_repeat": 2,
}
QUICK = {
    **FULL, "event_sizes": [10_000, 30_000], "madminer_n_theta": {"10000": [2, 5], "30000": [2, 5]},
    "nextsm_n_theta": [2, 5, 300], "sampling_repeat": 1, "train_events": 20_000, "train_n_theta": 50,
    "train_n_per_theta": 100, "epochs": 1, "train_repeat": 1, "n_eval": 2_000, "grid": [-0.5, 0.5, 11],
    "madminer_eval_n_theta": [4, 11], "eval_repeat": 1,
}
PARAMETERS = ("c_odd", "c_even")
BENCHMARK_NAMES = tuple(f"b{i}" for i in range(6))


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Smallest wall time of ``repeat`` calls and the last result."""
    wall, _, out = best_of_both(fn, repeat)
    return wall, out


def best_of_both(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Smallest wall time and smallest process CPU time of ``repeat`` calls, and the last result.

    The workers are single-threaded, so the CPU time is the work done; on a loaded machine (a niced job gets a
    small share of the cores) it is the load-independent measure, the wall time is not.
    """
    wall, cpu, out = np.inf, np.inf, None
    for _ in range(max(1, repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu, out


def linear_fit(n: list[int], t: list[float]) -> dict[str, float]:
    """Least-squares t = a + b·n and the largest relative residual (a check of linearity)."""
    nn, tt = np.asarray(n, float), np.asarray(t, float)
    b, a = np.polyfit(nn, tt, 1) if len(set(n)) > 1 else (tt[0] / nn[0], 0.0)
    return {"a": float(a), "b": float(b), "max_rel_residual": float(np.max(np.abs(a + b * nn - tt) / tt))}


def grid_points(lo: float, hi: float, n: int) -> np.ndarray:
    axis = np.linspace(lo, hi, n)
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)


def eval_subset(n_grid: int, k: int) -> np.ndarray:
    """``k`` evenly spaced indices into a grid of ``n_grid`` points."""
    return np.unique(np.round(np.linspace(0, n_grid - 1, k)).astype(np.int64))


def limit_torch_threads() -> None:
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # already set
        torch.set_num_interop_threads(1)


# ---------------------------------------------------------------------------------------------- data (nextsm)
def export_events(events: Any, path: Path) -> None:
    """Write a ``WeightedEvents`` as the plain arrays the MadMiner worker reads (npz, no pickle).

    ``sampling_ids`` follow MadMiner's convention: the benchmark an event was generated at (0, the SM, for the
    toy's signal) and −1 for background; ``n_signal_per_benchmark`` counts the signal events per benchmark.
    """
    proc = np.asarray(events.process)
    np.savez(path, x=events.x, benchmark_weights=events.benchmark_weights, benchmarks=events.morphing.benchmarks,
             sampling_ids=np.where(proc == 0, 0, -1).astype(np.int64),
             n_signal_per_benchmark=np.array([int((proc == 0).sum())] + [0] * (events.morphing.n_benchmarks - 1)),
             n_background=np.array(int((proc != 0).sum())), observable_names=np.array(events.observable_names))


def load_exported(path: Path) -> Any:
    from nextsm.sbi.events import WeightedEvents
    from nextsm.sbi.morphing import Morphing

    d = np.load(path)
    morphing = Morphing(d["benchmarks"], 2, PARAMETERS)
    process = np.where(d["sampling_ids"] < 0, 1, 0).astype(np.int64)
    return WeightedEvents(d["x"], d["benchmark_weights"], morphing, process,
                          tuple(str(s) for s in d["observable_names"]), ("signal", "background"))


def prepare(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    from nextsm.sbi.sampling import ratio_training_set
    from nextsm.sbi.simulators import ToyEFTSimulator

    sim = ToyEFTSimulator()
    rng = np.random.default_rng(cfg["seed"])
    for n in cfg["event_sizes"]:
        export_events(sim.simulate(n, rng), work / f"events_{n}.npz")
    n_theta_max = max(max(cfg["nextsm_n_theta"]), *(max(v) for v in cfg["madminer_n_theta"].values()))
    np.savez(work / "thetas.npz", theta=rng.uniform(-1, 1, (n_theta_max, 2)))
    if cfg.get("sampling_only"):
        return {"morphing_checks": morphing_checks(cfg, work)}
    train_events = sim.simulate(cfg["train_events"], rng)
    ts = ratio_training_set(train_events, rng.uniform(-1, 1, (cfg["train_n_theta"], 2)), cfg["train_n_per_theta"],
                            rng)
    keep = np.isfinite(ts.log_r_xz) & np.all(np.isfinite(ts.t_xz), axis=1)
    perm = rng.permutation(np.flatnonzero(keep))
    np.savez(work / "train.npz", x=ts.x[perm], theta=ts.theta[perm], y=ts.y[perm], log_r_xz=ts.log_r_xz[perm],
             t_xz=ts.t_xz[perm])
    x_eval = sim.sample(np.zeros(2), cfg["n_eval"], rng)[0]
    grid = grid_points(*cfg["grid"][:2], int(cfg["grid"][2]))
    np.savez(work / "eval.npz", x=x_eval, grid=grid)
    g = sim.marginal_components(x_eval)
    exact = (np.log(sim.morphing.components(grid) @ g.T) - np.log(sim.morphing.components(np.zeros((1, 2))) @ g.T)
             - np.log(sim.xsec(grid) / sim.xsec(np.zeros((1, 2))))[:, None])
    return {"n_train_rows": len(perm), "exact_log_r": exact, "morphing_checks": morphing_checks(cfg, work)}


def morphing_checks(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    """nextsm's morphing coefficients, gradients and σ at five θ of the smallest sample, for the MadMiner worker."""
    n = cfg["event_sizes"][0]
    ev = load_exported(work / f"events_{n}.npz")
    th = np.load(work / "thetas.npz")["theta"][:5]
    return {"theta": th.tolist(), "coefficients": ev.morphing.coefficients(th).tolist(),
            "coefficient_gradients": ev.morphing.coefficient_gradients(th).tolist(),
            "xsec": ev.xsec(th).tolist(), "n_events": n}


# ---------------------------------------------------------------------------------------------- nextsm worker
def run_nextsm(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    limit_torch_threads()
    from nextsm.sbi.sampling import EnvelopeSampler, TrainingSet, ratio_training_set
    from nextsm.sbi.training import TrainConfig, train_estimator

    out: dict[str, Any] = {"sampling": {}, "versions": {"numpy": np.__version__}}
    import torch

    import nextsm

    out["versions"].update(torch=torch.__version__, nextsm=getattr(nextsm, "__version__", "?"))
    thetas = np.load(work / "thetas.npz")["theta"]
    rng = np.random.default_rng(cfg["seed"] + 1)
    for n in cfg["event_sizes"]:
        t_load, c_load, events = best_of_both(lambda n=n: load_exported(work / f"events_{n}.npz"), 1)
        ratio_training_set(events, thetas[:64], cfg["n_per_theta"], rng)  # warm-up (page faults, caches)
        res = {"load_seconds": t_load, "load_cpu_seconds": c_load, "seconds": {}}
        for k in cfg["nextsm_n_theta"]:
            repeat = cfg["sampling_repeat_large"] if k * n > 2e8 else cfg["sampling_repeat"]
            t, c, ts = best_of_both(lambda k=k, events=events: ratio_training_set(events, thetas[:k],
                                                                                   cfg["n_per_theta"], rng), repeat)
            res["seconds"][str(k)] = t
            res.setdefault("cpu_seconds", {})[str(k)] = c
            res.setdefault("rows", {})[str(k)] = len(ts)
            print(f"  nextsm sampling N={n:.0e} n_theta={k}: {t:.3f} s (cpu {c:.3f} s)", flush=True)
            if k <= 100:
                t, c, _ = best_of_both(lambda k=k, events=events: ratio_training_set(
                    events, thetas[:k], cfg["n_per_theta"], rng, method="inverse-cdf"), repeat)
                res.setdefault("seconds_inverse_cdf", {})[str(k)] = t
                res.setdefault("cpu_seconds_inverse_cdf", {})[str(k)] = c
                print(f"  nextsm sampling N={n:.0e} n_theta={k}, method='inverse-cdf': {t:.3f} s (cpu {c:.3f} s)",
                      flush=True)
        acc = EnvelopeSampler.from_events(events).acceptance(thetas[:max(cfg["nextsm_n_theta"])])
        auto_threshold = max(0.01, cfg["n_per_theta"] / (8.0 * n))  # sample_events' default min_acceptance
        res["acceptance"] = {"min": float(acc.min()), "median": float(np.median(acc)), "mean": float(acc.mean()),
                             "max": float(acc.max()), "fraction_inverse_cdf": float(np.mean(acc < auto_threshold))}
        print(f"  acceptance over {acc.size} theta: {res['acceptance']}", flush=True)
        out["sampling"][str(n)] = res
    if cfg.get("sampling_only"):
        return out

    d = np.load(work / "train.npz")
    data = TrainingSet(d["x"], d["theta"], d["y"], d["log_r_xz"], d["t_xz"], np.ones(len(d["x"])), np.zeros(2))
    n_par = data.theta.shape[1]

    def config(epochs: int) -> TrainConfig:
        return TrainConfig(hidden=tuple(cfg["hidden"]), activation=cfg["activation"], epochs=epochs,
                           batch_size=cfg["batch_size"], lr=cfg["lr"], lr_final=cfg["lr_final"],
                           alpha=cfg["alpha"] / n_par, validation_fraction=0.2, patience=epochs + 1)

    names = {"parameter_names": PARAMETERS, "observable_names": ("x_energy", "x_phi", "x_eta")}
    warm = TrainingSet(*(getattr(data, f)[:4096] for f in ("x", "theta", "y", "log_r_xz", "t_xz", "sample_weight")),
                       data.theta_ref)
    train_estimator("alices", warm, config(1), np.random.default_rng(0), **names)  # warm-up
    t_train, est = best_of(lambda: train_estimator("alices", data, config(cfg["epochs"]), np.random.default_rng(0),
                                                   **names), cfg["train_repeat"])
    n_rows = len(data) - max(1, round(0.2 * len(data)))
    out["training"] = {"seconds": t_train, "train_rows": n_rows, "epochs": cfg["epochs"],
                       "rows_per_second": n_rows * cfg["epochs"] / t_train,
                       "epochs_run": len(est.card["histories"][0]["train"])}
    print(f"  nextsm ALICES training: {t_train:.2f} s", flush=True)

    e = np.load(work / "eval.npz")
    est.log_ratio(e["x"][:1000], e["grid"][:50])  # warm-up
    t_eval, lr = best_of(lambda: est.log_ratio(e["x"], e["grid"]), cfg["eval_repeat"])
    out["evaluation"] = {"seconds": t_eval, "n_theta": len(e["grid"]), "n_x": len(e["x"])}
    np.savez(work / "nextsm_log_r.npz", log_r=lr.astype(np.float32))
    print(f"  nextsm evaluation of {len(e['grid'])} theta x {len(e['x'])} events: {t_eval:.2f} s", flush=True)
    return out


# ---------------------------------------------------------------------------------------------- MadMiner worker
def write_madminer_file(events_npz: Path, h5: Path) -> None:
    """The events as a MadMiner HDF5 file, written by MadMiner's own setup and I/O functions."""
    from collections import OrderedDict

    from madminer.core import MadMiner
    from madminer.models import Observable
    from madminer.utils.interfaces.hdf5 import save_events

    d = np.load(events_npz)
    miner = MadMiner()
    for i, name in enumerate(PARAMETERS):
        miner.add_parameter("dim6", i + 1, name, morphing_max_power=2, parameter_range=(-1.0, 1.0))
    for name, bench in zip(BENCHMARK_NAMES, d["benchmarks"], strict=True):
        miner.add_benchmark({p: float(v) for p, v in zip(PARAMETERS, bench, strict=True)}, name, verbose=False)
    miner.set_morphing(max_overall_power=2, include_existing_benchmarks=True)
    if list(miner.benchmarks) != list(BENCHMARK_NAMES):
        raise RuntimeError(f"MadMiner changed the morphing basis: {list(miner.benchmarks)}")
    miner.save(str(h5))
    names = [str(s) for s in d["observable_names"]]
    observables = OrderedDict((n, Observable(n, "None")) for n in names)
    observations = OrderedDict((n, d["x"][:, i]) for i, n in enumerate(names))
    weights = {b: d["benchmark_weights"][:, i] for i, b in enumerate(BENCHMARK_NAMES)}
    save_events(str(h5), True, observables, observations, weights, d["sampling_ids"].tolist(),
                d["n_signal_per_benchmark"].tolist(), int(d["n_background"]))


def run_madminer(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    import logging
    from importlib.metadata import version

    limit_torch_threads()
    logging.getLogger("madminer").setLevel(logging.ERROR)
    import torch
    from madminer.ml import ParameterizedRatioEstimator
    from madminer.sampling import SampleAugmenter, benchmark, morphing_points

    out: dict[str, Any] = {"sampling": {}, "versions": {"madminer": version("madminer"), "numpy": np.__version__,
                                                        "torch": torch.__version__}}
    thetas = np.load(work / "thetas.npz")["theta"]
    checks = json.loads((work / "morphing_checks.json").read_text())
    np.random.seed(cfg["seed"] + 2)  # noqa: NPY002 (MadMiner draws from numpy's global RNG)
    split = {"partition": "test", "test_split": 1.0, "validation_split": 0.0}
    for n in cfg["event_sizes"]:
        h5 = work / f"madminer_{n}.h5"
        t0 = time.perf_counter()
        write_madminer_file(work / f"events_{n}.npz", h5)
        t_write = time.perf_counter() - t0
        t_init, sampler = best_of(lambda h5=h5: SampleAugmenter(str(h5)), 1)
        if checks and checks["n_events"] == n:
            th = np.asarray(checks["theta"])
            coeff = np.array([sampler._get_theta_benchmark_matrix(t) for t in th])
            grad = np.array([sampler._get_dtheta_benchmark_matrix(t) for t in th])
            xsec = sampler.xsecs([t for t in th], partition="all")[0]
            out["morphing_check"] = {
                "coefficients_max_abs_diff": float(np.max(np.abs(coeff - np.asarray(checks["coefficients"])))),
                "gradients_max_abs_diff": float(np.max(np.abs(grad - np.asarray(checks["coefficient_gradients"])))),
                "xsec_max_rel_diff": float(np.max(np.abs(xsec / np.asarray(checks["xsec"]) - 1)))}
        sampler.sample_train_ratio(morphing_points(thetas[:2]), benchmark("b0"), 2 * 2 * cfg["n_per_theta"],
                                   **split)  # warm-up
        res = {"write_hdf5_seconds": t_write, "init_seconds": t_init, "seconds": {}}
        for k in cfg["madminer_n_theta"][str(n)]:
            repeat = cfg["sampling_repeat_large"] if k * n > 2e7 else cfg["sampling_repeat"]
            t, c, sample = best_of_both(lambda k=k, sampler=sampler: sampler.sample_train_ratio(
                morphing_points(thetas[:k]), benchmark("b0"), 2 * k * cfg["n_per_theta"], **split), repeat)
            res["seconds"][str(k)] = t
            res.setdefault("cpu_seconds", {})[str(k)] = c
            res.setdefault("rows", {})[str(k)] = int(sample[0].shape[0])
            print(f"  MadMiner sampling N={n:.0e} n_theta={k}: {t:.3f} s (cpu {c:.3f} s)", flush=True)
            if n == cfg["event_sizes"][0] and k == cfg["madminer_n_theta"][str(n)][0]:
                x, theta0, _, y, r_xz, t_xz, _ = sample
                np.savez(work / "madminer_sample.npz", x=x, theta=theta0, y=y, r_xz=r_xz, t_xz=t_xz)
        out["sampling"][str(n)] = res
    if cfg.get("sampling_only"):
        return out

    d = np.load(work / "train.npz")
    arrays = {"x": d["x"], "y": (1.0 - d["y"]).reshape(-1, 1), "theta": d["theta"],
              "r_xz": np.exp(d["log_r_xz"]).reshape(-1, 1), "t_xz": d["t_xz"]}  # MadMiner: y = 0 for the numerator

    def train(epochs: int, rows: slice = slice(None)) -> ParameterizedRatioEstimator:
        est = ParameterizedRatioEstimator(n_hidden=tuple(cfg["hidden"]), activation=cfg["activation"])
        est.train("alices", **{k: v[rows] for k, v in arrays.items()}, alpha=cfg["alpha"], optimizer="adam",
                  n_epochs=epochs, batch_size=cfg["batch_size"], initial_lr=cfg["lr"], final_lr=cfg["lr_final"],
                  validation_split=0.2, early_stopping=True, n_workers=0, verbose="none")
        return est

    torch.manual_seed(0)
    train(1, slice(0, 4096))  # warm-up
    t_train, est = best_of(lambda: train(cfg["epochs"]), cfg["train_repeat"])
    n_rows = len(d["x"]) - int(np.floor(0.2 * len(d["x"])))
    out["training"] = {"seconds": t_train, "train_rows": n_rows, "epochs": cfg["epochs"],
                       "rows_per_second": n_rows * cfg["epochs"] / t_train}
    print(f"  MadMiner ALICES training: {t_train:.2f} s", flush=True)

    e = np.load(work / "eval.npz")
    est.evaluate_log_likelihood_ratio(x=e["x"][:1000], theta=e["grid"][:5])  # warm-up
    res = {"seconds": {}, "n_x": len(e["x"]), "n_grid": len(e["grid"])}
    for k in cfg["madminer_eval_n_theta"]:
        idx = eval_subset(len(e["grid"]), k)
        t, (lr, _) = best_of(lambda idx=idx: est.evaluate_log_likelihood_ratio(x=e["x"], theta=e["grid"][idx]),
                             cfg["eval_repeat"] if k == cfg["madminer_eval_n_theta"][0] else 1)
        res["seconds"][str(len(idx))] = t
        print(f"  MadMiner evaluation of {len(idx)} theta x {len(e['x'])} events: {t:.2f} s", flush=True)
        np.savez(work / f"madminer_log_r_{len(idx)}.npz", index=idx, log_r=np.asarray(lr, np.float32))
    out["evaluation"] = res
    return out


# ---------------------------------------------------------------------------------------------- orchestrator
def run_worker(python: str, role: str, work: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, **dict.fromkeys(THREAD_VARS, "1")}
    (work / "config.json").write_text(json.dumps(cfg))
    cmd = [python, str(Path(__file__).resolve()), "--role", role, "--workdir", str(work)]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    result = json.loads((work / f"result_{role}.json").read_text())
    result["worker_wall_seconds"] = time.perf_counter() - t0
    return result


def gold_check(work: Path, n_events: int) -> dict[str, float]:
    """MadMiner's sampled r_xz, t_xz against nextsm's ``joint_quantities`` for the same events and θ."""
    from nextsm.sbi.sampling import joint_quantities

    events = load_exported(work / f"events_{n_events}.npz")
    s = np.load(work / "madminer_sample.npz")
    key = {row.tobytes(): i for i, row in enumerate(events.x.astype(np.float32))}
    idx = np.array([key.get(row.astype(np.float32).tobytes(), -1) for row in s["x"]])
    ok = idx >= 0
    log_r, t = joint_quantities(events, idx[ok], s["theta"][ok].astype(np.float64), np.zeros(2))
    with np.errstate(divide="ignore"):
        d_lr = np.abs(np.log(s["r_xz"][ok, 0].astype(np.float64)) - log_r)
    return {"matched_fraction": float(ok.mean()), "log_r_xz_max_abs_diff": float(np.nanmax(d_lr)),
            "t_xz_max_abs_diff": float(np.max(np.abs(s["t_xz"][ok] - t)))}


def summarise(cfg: dict[str, Any], nx: dict[str, Any], mm: dict[str, Any], prep: dict[str, Any],
              work: Path) -> dict[str, Any]:
    summary: dict[str, Any] = {"sampling": {}, "training": {}, "evaluation": {}}
    big = max(cfg["nextsm_n_theta"])
    for n in cfg["event_sizes"]:
        m, x = mm["sampling"][str(n)], nx["sampling"][str(n)]
        ks = [int(k) for k in m["seconds"]]
        fit = linear_fit(ks, [m["seconds"][str(k)] for k in ks])
        extrap = fit["a"] + fit["b"] * big
        nextsm_big = x["seconds"][str(big)] + x["load_seconds"]
        same = {str(k): m["seconds"][str(k)] / x["seconds"][str(k)] for k in ks if str(k) in x["seconds"]}
        cpu_fit = linear_fit(ks, [m["cpu_seconds"][str(k)] for k in ks])
        cpu_extrap = cpu_fit["a"] + cpu_fit["b"] * big
        nextsm_big_cpu = x["cpu_seconds"][str(big)] + x["load_cpu_seconds"]
        summary["sampling"][str(n)] = {
            "cpu": {"madminer_seconds_per_theta": cpu_fit["b"], "madminer_fit": cpu_fit,
                    "madminer_extrapolated_seconds": cpu_extrap, "nextsm_seconds": nextsm_big_cpu,
                    "ratio_extrapolated": cpu_extrap / nextsm_big_cpu,
                    "ratio_same_n_theta_measured": {str(k): m["cpu_seconds"][str(k)] / x["cpu_seconds"][str(k)]
                                                    for k in ks if str(k) in x["cpu_seconds"]}},
            "madminer_seconds_per_theta": fit["b"], "madminer_fit": fit,
            "madminer_extrapolated_seconds": extrap, "nextsm_seconds": nextsm_big, "n_theta": big,
            "nextsm_seconds_per_theta": nextsm_big / big, "ratio_extrapolated": extrap / nextsm_big,
            "ratio_same_n_theta_measured": same, "acceptance": x["acceptance"],
            "ratio_same_n_theta_inverse_cdf": {str(k): m["seconds"][str(k)] / x["seconds_inverse_cdf"][str(k)]
                                               for k in ks if str(k) in x.get("seconds_inverse_cdf", {})}}
    if cfg.get("sampling_only"):
        return summary
    summary["training"] = {"madminer_rows_per_second": mm["training"]["rows_per_second"],
                           "nextsm_rows_per_second": nx["training"]["rows_per_second"],
                           "ratio": nx["training"]["rows_per_second"] / mm["training"]["rows_per_second"]}
    ev = mm["evaluation"]
    ks = [int(k) for k in ev["seconds"]]
    fit = linear_fit(ks, [ev["seconds"][str(k)] for k in ks])
    n_grid = nx["evaluation"]["n_theta"]
    extrap = fit["a"] + fit["b"] * n_grid
    exact = prep["exact_log_r"]
    lr_nx = np.load(work / "nextsm_log_r.npz")["log_r"].astype(np.float64)
    m_file = np.load(work / f"madminer_log_r_{max(ks)}.npz")
    idx, lr_mm = m_file["index"], m_file["log_r"].astype(np.float64)
    summary["evaluation"] = {
        "madminer_fit": fit, "madminer_extrapolated_seconds": extrap, "nextsm_seconds": nx["evaluation"]["seconds"],
        "ratio_extrapolated": extrap / nx["evaluation"]["seconds"],
        "madminer_seconds_per_theta": fit["b"], "nextsm_seconds_per_theta": nx["evaluation"]["seconds"] / n_grid,
        "rmse_vs_exact_on_madminer_subset": {
            "nextsm": float(np.sqrt(np.mean((lr_nx[idx] - exact[idx]) ** 2))),
            "madminer": float(np.sqrt(np.mean((lr_mm - exact[idx]) ** 2))),
            "trivial_log_r_0": float(np.sqrt(np.mean(exact[idx] ** 2)))},
        "rmse_nextsm_full_grid": float(np.sqrt(np.mean((lr_nx - exact) ** 2)))}
    return summary


def print_summary(s: dict[str, Any]) -> None:
    print("\naugmented sampling (ratio training set):")
    for n, r in s["sampling"].items():
        print(f"  N={int(n):.0e}: MadMiner {r['madminer_seconds_per_theta']:.3f} s/theta (fit, max residual "
              f"{100 * r['madminer_fit']['max_rel_residual']:.0f} %), extrapolated to {r['n_theta']} theta: "
              f"{r['madminer_extrapolated_seconds']:.0f} s; nextsm measured {r['nextsm_seconds']:.1f} s "
              f"-> ratio {r['ratio_extrapolated']:.0f}x (same n_theta: "
              + ", ".join(f"{k}: {v:.0f}x" for k, v in r["ratio_same_n_theta_measured"].items()) + "; inverse CDF: "
              + ", ".join(f"{k}: {v:.0f}x" for k, v in r["ratio_same_n_theta_inverse_cdf"].items())
              + f"); acceptance min {r['acceptance']['min']:.2f}, median {r['acceptance']['median']:.2f}")
        c = r["cpu"]
        print(f"    CPU time: MadMiner {c['madminer_seconds_per_theta']:.3f} s/theta, extrapolated "
              f"{c['madminer_extrapolated_seconds']:.0f} s; nextsm {c['nextsm_seconds']:.1f} s -> ratio "
              f"{c['ratio_extrapolated']:.0f}x (same n_theta: "
              + ", ".join(f"{k}: {v:.0f}x" for k, v in c["ratio_same_n_theta_measured"].items()) + ")")
    if not s["training"]:
        return
    t = s["training"]
    print(f"ALICES training: MadMiner {t['madminer_rows_per_second']:.0f} rows/s, nextsm "
          f"{t['nextsm_rows_per_second']:.0f} rows/s -> {t['ratio']:.1f}x")
    e = s["evaluation"]
    print(f"evaluation: MadMiner {e['madminer_seconds_per_theta'] * 1e3:.1f} ms/theta (extrapolated "
          f"{e['madminer_extrapolated_seconds']:.0f} s), nextsm {e['nextsm_seconds']:.1f} s -> "
          f"{e['ratio_extrapolated']:.1f}x; RMSE vs exact {e['rmse_vs_exact_on_madminer_subset']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--madminer-python", default="/work/mm-venv/bin/python",
                        help="Python of a venv with madminer==0.9.6")
    parser.add_argument("--quick", action="store_true", help="smoke run at small sizes (about a minute)")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    parser.add_argument("--keep", type=Path, help="use this directory for the exchanged files and keep it")
    parser.add_argument("--sampling-only", action="store_true",
                        help="measure (a) only; no training set, training or evaluation")
    parser.add_argument("--madminer-n-theta", type=lambda v: [int(k) for k in v.split(",")],
                        help="comma-separated n_theta at which MadMiner (and nextsm) are timed at every N, e.g. 3,10")
    parser.add_argument("--role", choices=("nextsm", "madminer"), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role is not None:  # worker
        cfg = json.loads((args.workdir / "config.json").read_text())
        result = (run_nextsm if args.role == "nextsm" else run_madminer)(cfg, args.workdir)
        (args.workdir / f"result_{args.role}.json").write_text(json.dumps(result, indent=1))
        return 0

    cfg = dict(QUICK if args.quick else FULL)
    cfg["sampling_only"] = args.sampling_only
    if args.madminer_n_theta:
        cfg["madminer_n_theta"] = {str(n): args.madminer_n_theta for n in cfg["event_sizes"]}
        cfg["nextsm_n_theta"] = sorted({*args.madminer_n_theta, max(cfg["nextsm_n_theta"])})
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_sbi_mm_") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"preparing toy events in {work} ...", flush=True)
        prep = prepare(cfg, work)
        (work / "morphing_checks.json").write_text(json.dumps(prep["morphing_checks"]))
        print("nextsm worker:", flush=True)
        nx = run_worker(sys.executable, "nextsm", work, cfg)
        print("MadMiner worker:", flush=True)
        mm = run_worker(args.madminer_python, "madminer", work, cfg)
        summary = summarise(cfg, nx, mm, prep, work)
        gold = gold_check(work, cfg["event_sizes"][0])
    print_summary(summary)
    print(f"same data: {mm.get('morphing_check')}; sampled gold vs nextsm: {gold}")
    result = {"command": " ".join(["nice -n 10", ".venv/bin/python", *sys.argv]), "quick": args.quick,
              "settings": cfg, "n_train_rows": prep.get("n_train_rows"), "summary": summary,
              "consistency": {"morphing": mm.get("morphing_check"), "sampled_gold": gold},
              "nextsm": nx, "madminer": mm,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_before": load_before,
                          "load_after": os.getloadavg(), "threads": 1,
                          "wall_seconds": time.perf_counter() - t_start}}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"total wall time {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
