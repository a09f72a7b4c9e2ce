"""Benchmark and validation of a trained surrogate against pyhf, in the same run.

    python benchmarks/bench_surrogate.py SURROGATE [--shapes 200] [--processes 2] [--backend jax]
                                         [--json OUT] [--cache FILE] [--skip-limits]

SURROGATE is a path without suffix (``.json``/``.npz``, :mod:`nextsm.surrogates.io`).

*Limits.* For ``--shapes`` random signal shapes (the training sampler's shapes with a fresh seed; equal directions
counted once, so a workspace with one or a few regions has fewer distinct shapes) it computes the observed and
expected 95 % CLs upper limits on a global signal strength with the surrogate (numpy) and with pyhf (the
workspace's :class:`HistFactoryModel`) and reports the relative differences. The pyhf limits are appended, one
JSON line per shape, to ``--cache`` (default: beside ``--json``), so an interrupted run resumes where it stopped.

*Reference.* ``--reference slsqp`` (default) fits every shape's limit with pyhf's SLSQP, one shape after the other;
``--reference batched`` computes the limits of all shapes together with the same pyhf likelihood and a vectorised
minimiser (:class:`~nextsm.likelihoods.histfactory_batched_model.BatchedHistFactoryModel`, SLSQP for the fits it
leaves unconverged), in groups of ``--group`` shapes appended to ``<cache>.batched.jsonl``.  Where both caches hold
a shape, the JSON reports the largest relative difference of the two references (``batched_vs_slsqp_rel_max``).

*Speed.* Both sides single-threaded (one BLAS thread, one XLA thread) and warmed up: the best of five batched
surrogate evaluations of 10⁴ hypotheses (all four variants) against the best of three repetitions of the four
pyhf profile fits of 10 of the same hypotheses. ``--skip-limits`` measures only this and keeps the limit figures
already in ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

_ONE_XLA_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _exact_model(surrogate: str, backend: str):  # type: ignore[no-untyped-def]
    """The surrogate's workspace as a :class:`HistFactoryModel` (one XLA thread)."""
    os.environ.setdefault("XLA_FLAGS", _ONE_XLA_THREAD)
    from nextsm.database import DatabaseSource, load_database
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.surrogates.io import load

    card = load(surrogate).card
    db = load_database()
    with DatabaseSource(db.path) as source:
        return HistFactoryModel.from_analysis(db.analysis(card["analysis"]), card["workspace"], source,
                                              backend=backend)


def _append(cache: str, rows: list[tuple[int, float, float]]) -> None:
    with open(cache, "a") as handle:
        for k, obs, exp in rows:
            handle.write(json.dumps({"k": k, "obs": float(obs), "exp": float(exp)}) + "\n")


def _pyhf_limits(surrogate: str, shapes: list[tuple[int, list[float]]], backend: str, cache: str) -> int:
    """Append ``{"k", "obs", "exp"}`` per shape to ``cache``; return how many were done."""
    model = _exact_model(surrogate, backend)
    for n, (k, s) in enumerate(shapes):
        sig = np.array([s])
        t0 = time.perf_counter()
        _append(cache, [(k, model.upper_limit(sig)[0], model.upper_limit(sig, expected="apriori")[0])])
        print(f"  pyhf limits of shape {k} ({n + 1}/{len(shapes)} here) in {time.perf_counter() - t0:.1f} s",
              flush=True)
    return len(shapes)


def _batched_limits(surrogate: str, shapes: list[tuple[int, list[float]]], cache: str, group: int) -> int:
    """:func:`_pyhf_limits` with :class:`BatchedHistFactoryModel`: ``group`` shapes per batched limit."""
    from nextsm.likelihoods.histfactory_batched_model import BatchedHistFactoryModel

    model = BatchedHistFactoryModel(_exact_model(surrogate, "jax"), batch=min(group, 100))
    for start in range(0, len(shapes), group):
        part = shapes[start:start + group]
        sig = np.array([s for _, s in part])
        t0 = time.perf_counter()
        obs = model.upper_limit(sig)
        exp = model.upper_limit(sig, expected="apriori")
        _append(cache, [(k, o, e) for (k, _), o, e in zip(part, obs, exp, strict=True)])
        print(f"  batched pyhf limits of {len(part)} shapes ({start + len(part)}/{len(shapes)}) in "
              f"{time.perf_counter() - t0:.1f} s; SLSQP re-fits so far {model.fallbacks}, fits without a physical "
              f"minimum {model.unphysical}", flush=True)
    return len(shapes)


def _read_cache(path: Path) -> dict[int, tuple[float, float]]:
    done: dict[int, tuple[float, float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[int(row["k"])] = (float(row["obs"]), float(row["exp"]))
    return done


def _best_of(repeats: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return float(best)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("surrogate")
    parser.add_argument("--shapes", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--backend", default="jax")
    parser.add_argument("--seed", type=int, default=99)
    parser.add_argument("--json", default=None)
    parser.add_argument("--cache", default=None, help="pyhf limits per shape (JSON lines), for resuming")
    parser.add_argument("--reference", choices=("slsqp", "batched"), default="slsqp",
                        help="pyhf limits one SLSQP shape at a time, or all shapes batched (module docstring)")
    parser.add_argument("--group", type=int, default=100, help="shapes per batched limit (--reference batched)")
    parser.add_argument("--skip-limits", action="store_true", help="only the speed; keep the limits in --json")
    args = parser.parse_args()
    os.environ.setdefault("XLA_FLAGS", _ONE_XLA_THREAD)

    from nextsm.database import DatabaseSource, load_database
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.surrogates.io import load
    from nextsm.surrogates.labels import labels, sample_signals
    from nextsm.surrogates.likelihood import SurrogateLikelihood
    from nextsm.theory.compiled import single_threaded_blas

    net = load(args.surrogate)
    db = load_database()
    analysis = db.analysis(net.card["analysis"])
    regions = list(net.region_names)
    b = np.array([analysis.dataset(r).expected_bg or 1.0 for r in regions])
    db_err = np.array([analysis.dataset(r).bg_error or 0.0 for r in regions])
    out: dict[str, float] = {}
    if args.json and Path(args.json).exists():
        out = json.loads(Path(args.json).read_text())
    if not args.skip_limits:
        out.update(_limits(args, net, b, db_err, SurrogateLikelihood, sample_signals))

    # speed: the same 10^4 hypotheses; pyhf fits 10 of them (per hypothesis: four profile fits)
    many = sample_signals(10_000, b, db_err, np.random.default_rng(1))
    with single_threaded_blas():
        net.evaluate(many[:100], outside="ignore")
        out["surrogate_per_hypothesis_s"] = _best_of(5, lambda: net.evaluate(many, outside="ignore")) / len(many)
        with DatabaseSource(db.path) as source:
            exact = HistFactoryModel.from_analysis(analysis, net.card["workspace"], source, backend=args.backend)
            labels(exact, many[:2])  # compile and cache the background fits
            out["pyhf_per_hypothesis_s"] = _best_of(3, lambda: labels(exact, many[2:12])) / 10
    out["speedup"] = out["pyhf_per_hypothesis_s"] / out["surrogate_per_hypothesis_s"]
    out["speed_protocol"] = "one thread each, warmed; best of 5 (surrogate, 1e4) / best of 3 (pyhf, 10)"  # type: ignore[assignment]
    for key, value in out.items():
        print(f"{key:28s} {value:12.5g}" if isinstance(value, float | int) else f"{key:28s} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


def _limits(args, net, b, db_err, SurrogateLikelihood, sample_signals) -> dict[str, float]:  # type: ignore[no-untyped-def]
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

    slsqp_cache = Path(args.cache or (str(args.json or "bench_surrogate") + f".seed{args.seed}.pyhf.jsonl"))
    cache = slsqp_cache if args.reference == "slsqp" else slsqp_cache.with_suffix(".batched.jsonl")
    done = _read_cache(cache)
    todo = [(k, shapes[k].tolist()) for k in range(len(shapes)) if k not in done]
    if done:
        print(f"{len(done)} pyhf limits read from {cache}, {len(todo)} to go", flush=True)
    t0 = time.perf_counter()
    if todo and args.reference == "batched":
        _batched_limits(args.surrogate, todo, str(cache), args.group)
    elif todo:
        chunks = [todo[i :: args.processes] for i in range(args.processes)]
        with ProcessPoolExecutor(args.processes) as pool:
            list(pool.map(_pyhf_limits, [args.surrogate] * args.processes, chunks, [args.backend] * args.processes,
                          [str(cache)] * args.processes))
    t_pyhf = time.perf_counter() - t0
    done = _read_cache(cache)
    pyhf = np.array([done[k] for k in range(len(shapes))])
    rel_obs = ul_s / pyhf[:, 0] - 1
    rel_exp = ul_s_exp / pyhf[:, 1] - 1
    cross: dict[str, float] = {}
    if args.reference == "batched":
        slsqp = _read_cache(slsqp_cache)
        common = [k for k in range(len(shapes)) if k in slsqp]
        if common:
            diff = [abs(done[k][i] / slsqp[k][i] - 1) for k in common for i in (0, 1)]
            cross = {"batched_vs_slsqp_shapes": len(common), "batched_vs_slsqp_rel_max": float(max(diff))}
    return {
        **cross,
        "reference": args.reference,  # type: ignore[dict-item]
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


if __name__ == "__main__":
    raise SystemExit(main())
