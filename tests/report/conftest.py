"""A small real run (2 walkers × 30 steps on the real database) and its report, made once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nextsm.machine.store import RunStore, StepRecord

#: the run: the same steps as `nextsm walk --walkers 2 --steps 30 --seed 2`
WALKERS, STEPS, SEED = 2, 30, 2
#: the command line the run records (it is made in-process, with the run's settings and provenance)
COMMAND = f"nextsm walk --walkers {WALKERS} --steps {STEPS} --seed {SEED}"
#: the model of the made-up runs of :func:`make_run`
LSP_ONLY = {"masses": {"1000022": 300.0}}
#: K of the made-up study's runs (:func:`study`)
STUDY_REAL, STUDY_FAKES = [1.0, 4.5, 3.0], [0.5, 2.0, 3.5, 5.5]


def make_run(folder: Path, ks: list[float]) -> None:
    """A made-up one-walker run whose steps have the K values ``ks`` (no database involved; settings only, as
    runs made before provenance was recorded)."""
    store = RunStore(folder)
    try:
        store.set_meta("settings", {"walkers": 1, "steps": len(ks), "seed": 7, "rule": "rjmcmc", "database": None})
        for i, k in enumerate(ks, start=1):
            store.append(StepRecord(0, i, LSP_ONLY, k, 1.0, [], [], "mass", "", True, LSP_ONLY, k, {}, 0.01))
    finally:
        store.close()


@pytest.fixture
def study(tmp_path) -> Path:
    """A study folder laid out as `nextsm study` writes it, with one real and four fake runs of known K_max."""
    (tmp_path / "study.json").write_text(json.dumps({"fakes": 4, "real_runs": 1}), encoding="utf-8")
    make_run(tmp_path / "real-0", STUDY_REAL)
    for i, k in enumerate(STUDY_FAKES):
        make_run(tmp_path / "fakes" / f"fake-{i:03d}" / "run", [k - 1.0, k])
    return tmp_path


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, database, database_path) -> Path:
    from nextsm.machine import Combinability
    from nextsm.machine.run import prepare
    from nextsm.machine.store import RunStore
    from nextsm.machine.walker import Walker
    from nextsm.theory import Predictor

    folder = tmp_path_factory.mktemp("run")
    prepare(folder, {"walkers": WALKERS, "steps": STEPS, "seed": SEED, "rule": "rjmcmc",
                     "database": str(database_path)}, False, options={"command": COMMAND},
            runner={"kind": "in-process"})
    store = RunStore(folder)
    try:
        predictor, lists = Predictor(database), Combinability.load()
        for walker in range(WALKERS):
            Walker(walker, SEED, predictor, lists, store).run(STEPS)
    finally:
        store.close()
    return folder


@pytest.fixture(scope="session")
def small_report(small_run, tmp_path_factory) -> Path:
    """``index.html`` of the report on :func:`small_run`."""
    from nextsm.report import write_report

    return write_report(small_run, tmp_path_factory.mktemp("report"))
