"""CLs limits through a HistFactory model with and without its ``evaluation_scope``, in the same run.

    python benchmarks/bench_backend_scope.py [--analysis ATLAS-SUSY-2018-04-eff] [--workspace NAME]
        [--also-load ATLAS-SUSY-2018-16-eff:EWKinos_bkgonly_SR2lOnly.json] [--shapes 2] [--seed 3] [--json OUT]

pyhf keeps one global backend, and ``pyhf.set_backend`` re-indexes every live pyhf model.  A
:class:`~nextsm.likelihoods.histfactory.HistFactoryModel` on the jax backend therefore switches the backend in
and out of each call unless it runs inside :meth:`~nextsm.likelihoods.base.StatisticalModel.evaluation_scope`,
which the limit functions of :mod:`nextsm.likelihoods.limits` now enter.  The *unscoped* reference is the same
model behind a delegating wrapper whose scope does nothing (the behaviour before the scope existed): every fit
switches twice.  Both compute the observed and the a-priori expected 95 % CLs upper limit on μ for ``--shapes``
signal shapes drawn by the training-set sampler; the first shape is computed once beforehand (jax compilation
excluded).  Reported: CPU seconds per shape of each, their ratio, the number of ``pyhf.set_backend`` calls, and
the largest relative difference of the limits (they must agree: the scope changes no arithmetic).
``--also-load`` keeps further workspaces alive, as a walker or labeller holding several models does; each
makes every switch dearer.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np


class Unscoped:
    """``model`` with a no-op ``evaluation_scope``: every call switches pyhf's backend on its own."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def evaluation_scope(self) -> nullcontext[None]:
        return nullcontext()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def _limits(model: Any, signals: np.ndarray) -> tuple[np.ndarray, float]:
    from nextsm.likelihoods.limits import upper_limit

    start = time.process_time()
    out = np.array([[upper_limit(model, s[None, :], expected=e)[0] for e in ("observed", "apriori")]
                    for s in signals])
    return out, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--analysis", default="ATLAS-SUSY-2018-04-eff")
    parser.add_argument("--workspace", default=None, help="workspace file (default: the analysis' first)")
    parser.add_argument("--also-load", nargs="*", default=[], metavar="ANALYSIS:WORKSPACE")
    parser.add_argument("--shapes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--database", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

    import pyhf

    from nextsm.database import DatabaseSource, load_database
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.surrogates.labels import _regions, draw_signals

    db = load_database(args.database)
    analysis = db.analysis(args.analysis)
    workspace = args.workspace or analysis.workspace_files[0]
    with DatabaseSource(db.path) as source:
        model = HistFactoryModel.from_analysis(analysis, workspace, source, backend="jax")
        kept = [HistFactoryModel.from_analysis(db.analysis(a), w, source, backend="jax")
                for a, w in (item.split(":", 1) for item in args.also_load)]
    signals = draw_signals(analysis, _regions(analysis, workspace), args.shapes + 1, args.seed)

    pyhf.set_backend("numpy", "scipy", precision="64b")  # the caller's backend, as in a walker
    _limits(model, signals[:1])  # compile
    switches = [0]
    original = pyhf.set_backend

    def counted(*a: Any, **k: Any) -> Any:
        switches[0] += 1
        return original(*a, **k)

    pyhf.set_backend = counted
    try:
        results: dict[str, Any] = {}
        for name, target in (("scoped", model), ("unscoped", Unscoped(model))):
            switches[0] = 0
            limits, cpu = _limits(target, signals[1:])
            results[name] = {"cpu_seconds_per_shape": cpu / args.shapes, "set_backend_calls": switches[0],
                             "limits": limits.tolist()}
    finally:
        pyhf.set_backend = original
    scoped, unscoped = (np.array(results[k]["limits"]) for k in ("scoped", "unscoped"))
    summary = {
        "analysis": args.analysis, "workspace": workspace, "also_loaded": args.also_load, "shapes": args.shapes,
        "seed": args.seed, "live_models": 1 + len(kept),
        "speedup": results["unscoped"]["cpu_seconds_per_shape"] / results["scoped"]["cpu_seconds_per_shape"],
        "max_rel_limit_difference": float(np.max(np.abs(scoped - unscoped) / np.abs(unscoped))),
        **results,
    }
    line = (f"{args.analysis} ({1 + len(kept)} live pyhf models), {args.shapes} shapes, obs + exp limit: "
            f"scoped {results['scoped']['cpu_seconds_per_shape']:.1f} s/shape "
            f"({results['scoped']['set_backend_calls']} set_backend), unscoped "
            f"{results['unscoped']['cpu_seconds_per_shape']:.1f} s/shape "
            f"({results['unscoped']['set_backend_calls']} set_backend): {summary['speedup']:.1f}x; "
            f"limits differ by <= {summary['max_rel_limit_difference']:.1e}")
    print(line)
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
