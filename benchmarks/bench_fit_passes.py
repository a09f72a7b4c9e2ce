"""The batched profile fits in passes (:data:`~nextsm.likelihoods.histfactory_batch.PASSES`) against one pass of
40 iterations, on the same hypotheses, in the same run.

    python benchmarks/bench_fit_passes.py [--analysis ATLAS-SUSY-2018-16-eff]
        [--workspace EWKinos_bkgonly_SR2lOnly.json] [--n 100] [--seed 5] [--json OUT]

``--n`` hypotheses are drawn by the training-set sampler (:func:`nextsm.surrogates.labels.sample_signals`) and
fitted on the observed data twice by each fitter (jax backend, one XLA thread); the second call is timed, so
compilation is excluded.  Reported per fitter: CPU seconds of the batched fits, the rows left unconverged and the
CPU seconds of their SLSQP re-fits (what labelling does with them), and, over rows both converge on, the largest
difference in q = 2 ΔNLL.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np


def _timed(fit: Any, signals: np.ndarray) -> tuple[Any, float]:
    fit(signals)  # compile every pass's batch shape
    start = time.process_time()
    result = fit(signals)
    return result, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--analysis", default="ATLAS-SUSY-2018-16-eff")
    parser.add_argument("--workspace", default="EWKinos_bkgonly_SR2lOnly.json")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--database", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

    from nextsm.database import DatabaseSource, load_database
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.likelihoods.histfactory_batch import PASSES, FitPass
    from nextsm.surrogates.labels import _regions, draw_signals

    db = load_database(args.database)
    analysis = db.analysis(args.analysis)
    with DatabaseSource(db.path) as source:
        model = HistFactoryModel.from_analysis(analysis, args.workspace, source, backend="jax")
    signals = draw_signals(analysis, _regions(analysis, args.workspace), args.n, args.seed)

    fitters = {"passes": PASSES, "one pass of 40": (FitPass(40, args.n),)}
    results: dict[str, Any] = {}
    for name, passes in fitters.items():
        fit = model.batched_profile("observed", passes=passes)
        result, seconds = _timed(fit, signals)
        start = time.process_time()
        for row in signals[~result.converged]:
            model.nll(1.0, row[None, :], data="observed")  # the SLSQP re-fit labelling does
        results[name] = {"cpu_seconds": seconds, "unconverged": int(np.count_nonzero(~result.converged)),
                         "slsqp_seconds": time.process_time() - start, "nll": result.nll,
                         "converged": result.converged}
    a, c = results["passes"], results["one pass of 40"]
    both = a["converged"] & c["converged"]
    report = {
        "analysis": args.analysis, "workspace": args.workspace, "n": args.n, "seed": args.seed,
        "passes": [p.iterations for p in PASSES],
        "cpu_seconds": {k: round(v["cpu_seconds"], 2) for k, v in results.items()},
        "speed_up_batched_fits": round(c["cpu_seconds"] / a["cpu_seconds"], 2),
        "unconverged": {k: v["unconverged"] for k, v in results.items()},
        "slsqp_refit_seconds": {k: round(v["slsqp_seconds"], 2) for k, v in results.items()},
        "speed_up_with_refits": round((c["cpu_seconds"] + c["slsqp_seconds"])
                                      / (a["cpu_seconds"] + a["slsqp_seconds"]), 2),
        "max_abs_dq_where_both_converged": float(2 * np.max(np.abs(a["nll"][both] - c["nll"][both])))
        if both.any() else None,
        "both_converged": int(np.count_nonzero(both)),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
