"""Many walkers: one task per walker, all writing to the run's SQLite store.

:func:`run_walker` is the unit of work; :func:`run_local` runs the walkers in a local process pool,
:func:`run_dask` on a Dask cluster (a scheduler address, e.g. one started by dask-jobqueue on a batch system, or a
``LocalCluster``).  Locally, the walkers are split over the processes, those of one process run one after the
other and share its grids (:func:`run_walkers`); on Dask every walker is a task of its own, so that a lost worker
costs one walker's restart.  Both report progress by polling the store.  A walker task that dies with its worker is
resubmitted and resumes from its last committed step, so a lost worker costs no step (the store must be on a
file system all workers see).  Killing the run at any moment loses no committed
step; calling it again with ``resume=True`` continues every walker where it stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from nextsm.errors import NextsmError

__all__ = ["RunError", "run_dask", "run_local", "run_walker", "run_walkers"]


class RunError(NextsmError):
    """A run folder cannot be used as asked (exists without --resume, or settings differ)."""


def run_walker(folder: str, walker_id: int, seed: int, steps: int, database: str | None = None,
               rule: str = "rjmcmc") -> int:
    """Run (or resume) walker ``walker_id`` of the run in ``folder`` up to ``steps`` steps; returns its step count."""
    return run_walkers(folder, [walker_id], seed, steps, database, rule)[walker_id]


def run_walkers(folder: str, walker_ids: list[int], seed: int, steps: int, database: str | None = None,
                rule: str = "rjmcmc") -> dict[int, int]:
    """Run (or resume) several walkers one after the other in this process, sharing one :class:`Predictor`.

    The grids a walk builds on first use (most of a short walk's time) are then built once per process, not
    once per walker.  Returns the step count per walker.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from nextsm.database import load_database
    from nextsm.machine.combinability import Combinability
    from nextsm.machine.store import RunStore
    from nextsm.machine.walker import Walker
    from nextsm.theory.predictions import Predictor

    predictor = Predictor(load_database(database))
    combinability = Combinability.load()
    store = RunStore(folder)
    done = {}
    try:
        for walker_id in walker_ids:
            walker = Walker(walker_id, seed, predictor, combinability, store, rule=rule)  # type: ignore[arg-type]
            walker.run(steps)
            done[walker_id] = walker.step
        return done
    finally:
        store.close()


def prepare(folder: Path, settings: dict[str, Any], resume: bool) -> None:
    """Create the run folder, or check that a resumed run has the same settings."""
    from nextsm.machine.store import RunStore

    exists = (folder / "run.sqlite").exists()
    if exists and not resume:
        raise RunError(f"{folder}: a run exists here; pass --resume to continue it or choose another --out")
    store = RunStore(folder)
    try:
        old = store.meta().get("settings")
        if old is None:
            store.set_meta("settings", settings)
        else:
            for key in ("seed", "rule"):
                if old.get(key) != settings.get(key):
                    raise RunError(f"{folder}: the run was started with {key}={old.get(key)!r}, "
                                   f"not {settings.get(key)!r}")
    finally:
        store.close()


def run_local(folder: str | Path, *, walkers: int, steps: int, seed: int, database: str | None = None,
              rule: str = "rjmcmc", resume: bool = False, processes: int | None = None,
              progress: Callable[[dict[int, int]], None] | None = None, poll: float = 0.5) -> dict[int, int]:
    """Run ``walkers`` walkers of ``steps`` steps each in local processes; returns the step count per walker."""
    from nextsm.machine.store import RunStore

    folder = Path(folder)
    prepare(folder, {"walkers": walkers, "steps": steps, "seed": seed, "rule": rule, "database": database}, resume)
    monitor = RunStore(folder)
    try:
        n_proc = processes or min(walkers, os.cpu_count() or 1)
        with ProcessPoolExecutor(max_workers=n_proc) as pool:
            # walkers i, i + n, i + 2n, ... share process i (and its grids)
            futures = [pool.submit(run_walkers, str(folder), list(range(i, walkers, n_proc)), seed, steps, database,
                                   rule) for i in range(min(n_proc, walkers))]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=poll)
                if progress is not None:
                    progress(monitor.count())
            for f in futures:
                f.result()  # re-raise a walker's error
        return monitor.count()
    finally:
        monitor.close()


def run_dask(folder: str | Path, *, walkers: int, steps: int, seed: int, database: str | None = None,
             rule: str = "rjmcmc", resume: bool = False, scheduler: str | None = None, n_workers: int = 2,
             retries: int = 5, progress: Callable[[dict[int, int]], None] | None = None,
             poll: float = 0.5) -> dict[int, int]:
    """Run the walkers as Dask tasks (needs the ``dask`` extra).

    ``scheduler`` is the address of a running scheduler; without it a ``LocalCluster`` of ``n_workers`` worker
    processes is started for the run.  Every task may be retried ``retries`` times (a killed worker).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the dask extra is part of the test command
        raise RunError("Dask runs need the 'dask' extra: pip install 'nextsm[dask]'") from exc
    from nextsm.machine.store import RunStore

    folder = Path(folder).resolve()
    prepare(folder, {"walkers": walkers, "steps": steps, "seed": seed, "rule": rule, "database": database}, resume)
    cluster = None if scheduler else LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                                  dashboard_address=None)
    client = Client(scheduler or cluster)
    monitor = RunStore(folder)
    try:
        futures = [client.submit(run_walker, str(folder), i, seed, steps, database, rule, key=f"walker-{i}-{seed}",
                                 retries=retries, pure=False) for i in range(walkers)]
        while not all(f.done() for f in futures):
            time.sleep(poll)
            if progress is not None:
                progress(monitor.count())
        client.gather(futures)  # re-raise a walker's error
        return monitor.count()
    finally:
        monitor.close()
        client.close()
        if cluster is not None:
            cluster.close()
