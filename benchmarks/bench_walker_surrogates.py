"""The walker's step time with surrogate likelihoods against the same walker with pyhf, in the same run.

    python benchmarks/bench_walker_surrogates.py [--steps 150] [--pyhf-models 15] [--seed 3] [--json OUT]

1. A walker (seeded, started at :data:`START`: a stau pair and a chargino, which the surrogate analyses constrain)
   runs ``--steps`` steps on the real database with ``Predictor(surrogates=True)``: the analyses whose pyhf
   workspaces all have shipped surrogates enter K and the critics with their full likelihoods.
2. The same seed walks with the best-SR predictor (the 2021 machine; no full likelihoods) for reference.
3. Every ``k``-th model the surrogate walk visited that has a combined (surrogate) prediction is evaluated again by
   the walker's :func:`~nextsm.machine.walker.evaluate` with the surrogates replaced by the exact pyhf models of the
   same workspaces, and with the surrogates: same hypotheses, ratio of times, and the difference in K.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

#: the walk starts here (step 0 recorded by hand), so that it explores models the surrogate analyses constrain:
#: a light stau pair (ATLAS-SUSY-2018-04) and a wino-like chargino (ATLAS-SUSY-2018-05-ewk, -2018-32, -2019-09)
START = {"masses": {"1000015": 250.0, "1000024": 300.0, "1000022": 50.0},
         "decays": {"1000015": {"1000022,15": 1.0}, "1000024": {"1000022,24": 1.0}},
         "ssmultipliers": {"-1000015,1000015": 0.3, "-1000024,1000024": 0.3}}


def _walk(predictor: Any, combinability: Any, seed: int, steps: int) -> list[Any]:
    from nextsm.machine.store import RunStore, StepRecord
    from nextsm.machine.walker import Walker, evaluate
    from nextsm.model import ProtoModel

    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(folder)
        try:
            start = ProtoModel.from_dict(START)
            k0 = evaluate(start, predictor, combinability).K
            state = dict(np.random.default_rng([seed, 0]).bit_generator.state)
            store.append(StepRecord(0, 0, start.to_dict(), None, None, [], [], "start", "benchmark start", True,
                                    start.to_dict(), k0 if np.isfinite(k0) else None, state))
            Walker(0, seed, predictor, combinability, store).run(steps)
            return [r for r in store.steps(0) if r.step > 0]
        finally:
            store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--pyhf-models", type=int, default=15)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from nextsm.database import DatabaseSource, load_database
    from nextsm.likelihoods.factory import ResultLikelihood
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.machine.combinability import Combinability
    from nextsm.machine.walker import evaluate
    from nextsm.model import ProtoModel
    from nextsm.theory.compiled import single_threaded_blas
    from nextsm.theory.predictions import Predictor

    db = load_database()
    combinability = Combinability.load()
    # one BLAS thread, as in the walkers' processes (machine/run.py)
    with single_threaded_blas(), DatabaseSource(db.path) as source:
        with_surrogates = Predictor(db, source=source, surrogates=True)
        t0 = time.perf_counter()
        surrogate_steps = _walk(with_surrogates, combinability, args.seed, args.steps)
        t_surrogate = time.perf_counter() - t0
        best_sr = Predictor(db)
        t0 = time.perf_counter()
        best_steps = _walk(best_sr, combinability, args.seed, args.steps)
        t_best = time.perf_counter() - t0

        def median_ms(steps: list[Any]) -> float:
            return 1e3 * statistics.median(r.seconds for r in steps)

        print(f"walks of {args.steps} steps: {t_surrogate:.0f} s with surrogates (median step "
              f"{median_ms(surrogate_steps):.0f} ms), {t_best:.0f} s best-SR only ({median_ms(best_steps):.0f} ms)",
              flush=True)

        def found_list(found: Any) -> list[Any]:
            return found if isinstance(found, list) else [found]

        # the pyhf twin: the same predictor, but the surrogate likelihoods replaced by the exact workspaces
        class PyhfTwin(Predictor):
            def _surrogate_model(self, folder: str) -> Any:
                key = f"pyhf:{folder}"
                if key not in self._combined_models:
                    found = with_surrogates._surrogate_model(folder)
                    if found is None:
                        self._combined_models[key] = None
                    else:  # the exact models of the same workspaces, pyhf with the jax backend (its fastest)
                        analysis = self.compiled.database.analysis(folder)
                        models = [ResultLikelihood(r.analysis_id, "histfactory", r.regions,
                                                   HistFactoryModel.from_analysis(analysis, r.note.split()[-1],
                                                                                  source, backend="jax"),
                                                   f"workspace {r.note.split()[-1]}") for r in found_list(found)]
                        self._combined_models[key] = models[0] if len(models) == 1 else models
                return self._combined_models[key]

        twin = PyhfTwin(with_surrogates.compiled, source=source, surrogates=True)
        candidates = [r for r in surrogate_steps if r.K is not None
                      and any(p.type == "combined" for p in with_surrogates.predict(
                          ProtoModel.from_dict(r.model), combine="surrogates", likelihoods="none"))]
        if not candidates:  # no combined result in the best combinations: take models with any K
            candidates = [r for r in surrogate_steps if r.K is not None]
        pick = candidates[:: max(1, len(candidates) // args.pyhf_models)][: args.pyhf_models]
        rows = []
        for r in pick:
            model = ProtoModel.from_dict(r.model)
            evaluate(model, with_surrogates, combinability)  # warm caches of both for this model's grids
            t0 = time.perf_counter()
            ev_s = evaluate(model, with_surrogates, combinability)
            dt_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            ev_p = evaluate(model, twin, combinability)
            dt_p = time.perf_counter() - t0
            rows.append({"step": r.step, "K_surrogate": ev_s.K, "K_pyhf": ev_p.K, "seconds_surrogate": dt_s,
                         "seconds_pyhf": dt_p})
            print(f"step {r.step}: K {ev_s.K:.3f} (surrogate) vs {ev_p.K:.3f} (pyhf); "
                  f"{dt_s * 1e3:.1f} ms vs {dt_p:.2f} s", flush=True)

    finite = [r for r in rows if np.isfinite(r["K_surrogate"]) and np.isfinite(r["K_pyhf"])]
    result = {
        "steps": args.steps,
        "walk_seconds": {"surrogates": t_surrogate, "best_sr": t_best},
        "median_step_ms": {"surrogates": median_ms(surrogate_steps), "best_sr": median_ms(best_steps)},
        "steps_with_combined_results_in_K": sum(any(row.get("type") == "combined" for row in r.combination)
                                                for r in surrogate_steps),
        "models_with_surrogate_predictions": len(candidates),
        "same_models": rows,
        "median_seconds_per_evaluation": {
            "surrogates": statistics.median(r["seconds_surrogate"] for r in rows) if rows else None,
            "pyhf": statistics.median(r["seconds_pyhf"] for r in rows) if rows else None,
        },
        "median_speedup": statistics.median(r["seconds_pyhf"] / r["seconds_surrogate"] for r in rows) if rows else None,
        "max_abs_dK": max((abs(r["K_surrogate"] - r["K_pyhf"]) for r in finite), default=None),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "same_models"}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
