"""Benchmark and validation of a trained surrogate against pyhf, in the same run.

    python benchmarks/bench_surrogate.py SURROGATE [--shapes 200] [--processes 2] [--backend jax] [--json OUT]

SURROGATE is a path without suffix (``.json``/``.npz``, :mod:`nextsm.surrogates.io`). For ``--shapes`` random
signal shapes (the training sampler's shapes with a fresh seed; equal directions counted once, so a workspace with
one or a few regions has fewer distinct shapes) it computes the observed and expected 95 % CLs
upper limits on a global signal strength with the surrogate (numpy) and with pyhf (the workspace's
:class:`HistFactoryModel`) and reports the relative differences; then it times one batched surrogate evaluation of
10⁴ hypotheses against pyhf profile fits of the same hypotheses (a subset, extrapolated per hypothesis).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


def _pyhf_limits(surrogate: str, shapes: list[list[float]], backend: str) -> list[tuple[float, float]]:
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    from nextsm.database import DatabaseSource, load_database
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.surrogates.io import load

    net = load(surrogate)
    db = load_database()
    with DatabaseSource(db.path) as source:
        model = HistFactoryModel.from_analysis(db.analysis(net.card["analysis"]), net.card["workspace"], source,
                                               backend=backend)
        out = []
        for k, s in enumerate(shapes):
            sig = np.array([s])
            t0 = time.perf_counter()
            out.append((float(model.upper_limit(sig)[0]), float(model.upper_limit(sig, expected="apriori")[0])))
            print(f"  pyhf limits {k + 1}/{len(shapes)} in {time.perf_counter() - t0:.1f} s", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("surrogate")
    parser.add_argument("--shapes", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--backend", default="jax")
    parser.add_argument("--seed", type=int, default=99)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from nextsm.database import load_database
    from nextsm.surrogates.io import load
    from nextsm.surrogates.labels import sample_signals
    from nextsm.surrogates.likelihood import SurrogateLikelihood

    net = load(args.surrogate)
    db = load_database()
    analysis = db.analysis(net.card["analysis"])
    regions = list(net.region_names)
    b = np.array([analysis.dataset(r).expected_bg or 1.0 for r in regions])
    db_err = np.array([analysis.dataset(r).bg_error or 0.0 for r in regions])
    rng = np.random.default_rng(args.seed)
    shapes = sample_signals(4 * args.shapes, b, db_err, rng)
    shapes = shapes[np.sum(shapes, axis=1) > 0][: args.shapes]
    shapes = shapes / np.sum(shapes, axis=1, keepdims=True) * np.sum(b) ** 0.5  # shape only: the limit scales it
    # the limit of c·s is UL(s)/c: equal directions are one test (a one-region workspace has a single shape)
    _, first = np.unique(np.round(shapes, 12), axis=0, return_index=True)
    shapes = shapes[np.sort(first)]
    model = SurrogateLikelihood(net, outside="ignore")
    t0 = time.perf_counter()
    ul_s = model.upper_limit(shapes)
    ul_s_exp = model.upper_limit(shapes, expected="apriori")
    t_sur = time.perf_counter() - t0
    chunks = [shapes[i :: args.processes].tolist() for i in range(args.processes)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.processes) as pool:
        parts = list(pool.map(_pyhf_limits, [args.surrogate] * args.processes, chunks, [args.backend] * args.processes))
    t_pyhf = time.perf_counter() - t0
    pyhf = np.empty((len(shapes), 2))
    for i in range(args.processes):
        pyhf[i :: args.processes] = np.array(parts[i])
    rel_obs = ul_s / pyhf[:, 0] - 1
    rel_exp = ul_s_exp / pyhf[:, 1] - 1
    out: dict[str, float] = {
        "shapes": len(shapes),
        "ul_obs_rel_median": float(np.median(np.abs(rel_obs))),
        "ul_obs_rel_max": float(np.max(np.abs(rel_obs))),
        "ul_obs_within_5pct": float(np.mean(np.abs(rel_obs) <= 0.05)),
        "ul_exp_rel_median": float(np.median(np.abs(rel_exp))),
        "ul_exp_rel_max": float(np.max(np.abs(rel_exp))),
        "ul_exp_within_5pct": float(np.mean(np.abs(rel_exp) <= 0.05)),
        "limits_surrogate_s": t_sur,
        "limits_pyhf_wall_s": t_pyhf,
    }
    # speed: one batched evaluation of 10^4 hypotheses vs profile fits of a few of them
    many = sample_signals(10_000, b, db_err, np.random.default_rng(1))
    t0 = time.perf_counter()
    net.evaluate(many, outside="ignore")
    out["surrogate_per_hypothesis_s"] = (time.perf_counter() - t0) / len(many)
    from nextsm.database import DatabaseSource
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.surrogates.labels import labels

    with DatabaseSource(db.path) as source:
        exact = HistFactoryModel.from_analysis(analysis, net.card["workspace"], source, backend=args.backend)
        labels(exact, many[:2])  # compile and cache the background fits
        t0 = time.perf_counter()
        labels(exact, many[2:12])
        out["pyhf_per_hypothesis_s"] = (time.perf_counter() - t0) / 10
    out["speedup"] = out["pyhf_per_hypothesis_s"] / out["surrogate_per_hypothesis_s"]
    for key, value in out.items():
        print(f"{key:28s} {value:12.5g}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
