"""A small real run (2 walkers × 30 steps on the real database) and its report, made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

#: the run: the same steps as `nextsm walk --walkers 2 --steps 30 --seed 2`
WALKERS, STEPS, SEED = 2, 30, 2


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, database, database_path) -> Path:
    from nextsm.machine import Combinability
    from nextsm.machine.store import RunStore
    from nextsm.machine.walker import Walker
    from nextsm.theory import Predictor

    folder = tmp_path_factory.mktemp("run")
    store = RunStore(folder)
    try:
        store.set_meta("settings", {"walkers": WALKERS, "steps": STEPS, "seed": SEED, "rule": "rjmcmc",
                                    "database": str(database_path)})
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
