"""Benchmark: full theory prediction of a protomodel against the whole database, nextsm vs SModelS 3.2.1.

Per model point both codes do the same work: cross sections at 8 and 13 TeV (nextsm: reference tables × κ;
SModelS: read from the SLHA file nextsm writes, which holds the very same numbers), decomposition with the
proto-model machine's settings (σ cut 0.02 fb, minimum mass gap 10 GeV, both compressions), matching to every
txname of the database, clustering, and r_obs / r_exp of every prediction (SModelS: ``theoryPredictionsFor``
with ``useBestDataset=False`` plus ``getRValue`` observed and expected).  nextsm additionally computes the
likelihood numbers (−ln L(1), −ln L(0), μ̂) of every UL result and of the best SR of every EM analysis.

The model points are the 4–6 particle protomodels of ``tests/fixtures/theory/validation_models.json`` with
every non-LSP mass scaled by an independent U(0.95, 1.05) factor (seeded; kinematically closed points are
redrawn), so that every point needs new grid interpolations.  Both codes are warmed up first on the unscaled
models (grid set-up, triangulations: a one-off cost per process).  Two nextsm timings are given:

* **new point**: every mass differs from anything seen before (the benchmark's definition);
* **walker step**: one mass changed by ≤ 5 % (what a walker's mass move costs; other elements hit the caches).

CPU time (``time.process_time``) with single-threaded BLAS; the median over points and the ratio are reported.

Usage::

    python benchmarks/bench_predictions.py [--points 30] [--smodels-database DIR] [--json OUT.json]

``--smodels-database`` is an unpacked SModelS database v3.0.0 folder (SModelS builds its ``db3.pcl`` there on
first use, ~6-15 min); by default the shared archive is unpacked to ``~/.cache/nextsm/smodels-database-3.0.0``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from nextsm.database import load_database
from nextsm.database.source import locate_database
from nextsm.model.protomodel import ProtoModel
from nextsm.model.slha import to_slha
from nextsm.theory.predictions import Predictor

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "fixtures" / "theory" / "validation_models.json"
LSP = 1000022


def smodels_folder(explicit: str | None) -> Path:
    """An unpacked SModelS database folder (unpacking the shared archive into the user cache if needed)."""
    if explicit:
        return Path(explicit)
    target = Path.home() / ".cache" / "nextsm" / "smodels-database-3.0.0"
    folder = target / "smodels-database"
    if not (folder / "version").exists():
        archive = locate_database()
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    return folder


def scaled(model: ProtoModel, rng: np.random.Generator, only: int | None = None) -> ProtoModel:
    """The model with its non-LSP masses (or only mass ``only``) scaled by U(0.95, 1.05); kinematics kept."""
    for _ in range(100):
        masses = {k: (v * rng.uniform(0.95, 1.05) if k != LSP and (only is None or k == only) else v)
                  for k, v in model.masses.items()}
        candidate = ProtoModel(masses=masses, decays=model.decays, ssmultipliers=model.ssmultipliers,
                               xsecs=model.xsecs)
        try:
            candidate.validate()
        except Exception:
            continue
        return candidate
    return model


class SModelSRunner:
    """SModelS 3.2.1 with the same settings; ``run`` returns the number of predictions."""

    def __init__(self, folder: Path) -> None:
        from smodels.experiment.databaseObj import Database

        self.database = Database(str(folder))
        self.tmp = Path(tempfile.mkdtemp(prefix="nextsm-bench-"))

    def run(self, slha: str) -> int:
        from smodels.base.model import Model
        from smodels.base.physicsUnits import GeV, fb
        from smodels.base.smodelsLogging import setLogLevel
        from smodels.decomposition import decomposer
        from smodels.matching.theoryPrediction import theoryPredictionsFor
        from smodels.share.models.mssm import BSMList
        from smodels.share.models.SMparticles import SMList
        from smodels.statistics.basicStats import observed

        setLogLevel("error")
        path = self.tmp / "point.slha"
        path.write_text(slha)
        model = Model(BSMparticles=BSMList, SMparticles=SMList)
        model.updateParticles(inputFile=str(path), ignorePromptQNumbers=["eCharge", "colordim", "spin"])
        top = decomposer.decompose(model, sigmacut=0.02 * fb, massCompress=True, invisibleCompress=True,
                                   minmassgap=10 * GeV)
        predictions = theoryPredictionsFor(self.database, top, useBestDataset=False, combinedResults=False)
        from smodels.statistics.basicStats import apriori

        for p in predictions:
            p.getRValue(evaluationType=observed)
            p.getRValue(evaluationType=apriori)
        return len(predictions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=30, help="number of model points")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smodels-database", default=None, help="unpacked SModelS database folder")
    parser.add_argument("--no-smodels", action="store_true", help="time nextsm only")
    parser.add_argument("--json", dest="json_out", default=None, help="write the results here")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    zoo = [(m["name"], ProtoModel.from_dict(m["model"])) for m in json.loads(MODELS.read_text())]
    base = [(n, m) for n, m in zoo if len(m.masses) >= 4]
    points = [(base[i % len(base)][0], scaled(base[i % len(base)][1], rng)) for i in range(args.points)]

    t0 = time.process_time()
    db = load_database()
    predictor = Predictor(db)
    for _, m in zoo:
        predictor.predict(m)
    warm_nextsm = time.process_time() - t0

    nextsm_new, nextsm_step, n_pred = [], [], []
    for _name, m in points:
        t = time.process_time()
        n_pred.append(len(predictor.predict(m)))
        nextsm_new.append(time.process_time() - t)
        moved = scaled(m, rng, only=int(rng.choice([k for k in m.masses if k != LSP])))
        t = time.process_time()
        predictor.predict(moved)
        nextsm_step.append(time.process_time() - t)

    result: dict[str, Any] = {
        "points": args.points,
        "particles": [len(m.masses) for _, m in points],
        "nextsm_warmup_cpu_s": warm_nextsm,
        "nextsm_new_point_ms": [1e3 * t for t in nextsm_new],
        "nextsm_walker_step_ms": [1e3 * t for t in nextsm_step],
        "nextsm_predictions": n_pred,
        "nextsm_median_new_point_ms": 1e3 * statistics.median(nextsm_new),
        "nextsm_median_walker_step_ms": 1e3 * statistics.median(nextsm_step),
    }
    if not args.no_smodels:
        runner = SModelSRunner(smodels_folder(args.smodels_database))
        for _, m in zoo:  # warm-up: SModelS' one-off grid set-up
            if len(m.masses) >= 4:
                runner.run(to_slha(m, predictor.cross_sections(m)))
        smodels_times, smodels_pred = [], []
        for _, m in points:
            slha = to_slha(m, predictor.cross_sections(m))
            t = time.process_time()
            smodels_pred.append(runner.run(slha))
            smodels_times.append(time.process_time() - t)
        result.update({
            "smodels_ms": [1e3 * t for t in smodels_times],
            "smodels_predictions": smodels_pred,
            "smodels_median_ms": 1e3 * statistics.median(smodels_times),
            "ratio_median_new_point": statistics.median(smodels_times) / statistics.median(nextsm_new),
            "ratio_median_walker_step": statistics.median(smodels_times) / statistics.median(nextsm_step),
        })
    for key, value in result.items():
        if not isinstance(value, list):
            print(f"{key:32s} {value:.4g}" if isinstance(value, float) else f"{key:32s} {value}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
