"""Many walkers: one task per walker, all writing to the run's SQLite store.

:func:`run_walker` is the unit of work; :func:`run_local` runs the walkers in a local process pool,
:func:`run_dask` on a Dask cluster (a scheduler address, e.g. one started by dask-jobqueue on a batch system, or a
``LocalCluster``).  Locally, the walkers are split over the processes, those of one process run one after the
other and share its grids (:func:`run_walkers`); on Dask every walker is a task of its own, so that a lost worker
costs one walker's restart.  Both report progress by polling the store.  A walker task that dies with its worker is
resubmitted and resumes from its last committed step, so a lost worker costs no step (the store must be on a
file system all workers see).  Killing the run at any moment loses no committed
step; calling it again with ``resume=True`` continues every walker where it stopped.

:func:`prepare` records the run's settings and provenance when the run is created (:func:`provenance`: nextsm
version, database path, version and content hash, seed, walkers, steps, options, start time, Python and numpy
versions) and one entry per resumption; a run is resumed only with its seed, rule and database.  None of this
touches what the walkers compute.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nextsm.errors import NextsmError

__all__ = ["RunError", "database_provenance", "prepare", "provenance", "run_dask", "run_local", "run_walker",
           "run_walkers"]


class RunError(NextsmError):
    """A run folder cannot be used as asked (exists without --resume, or settings differ)."""


#: what the walkers' K uses: the best SR of every analysis (the 2021 machine), or in addition the full likelihoods
#: of the analyses whose pyhf workspaces all have neural surrogates
LIKELIHOODS = ("best-sr", "surrogates")


def run_walker(folder: str, walker_id: int, seed: int, steps: int, database: str | None = None,
               rule: str = "rjmcmc", likelihood: str = "best-sr") -> int:
    """Run (or resume) walker ``walker_id`` of the run in ``folder`` up to ``steps`` steps; returns its step count."""
    return run_walkers(folder, [walker_id], seed, steps, database, rule, likelihood)[walker_id]


def run_walkers(folder: str, walker_ids: list[int], seed: int, steps: int, database: str | None = None,
                rule: str = "rjmcmc", likelihood: str = "best-sr") -> dict[int, int]:
    """Run (or resume) several walkers one after the other in this process, sharing one :class:`Predictor`.

    The grids a walk builds on first use (most of a short walk's time) are then built once per process, not
    once per walker.  ``likelihood`` is one of :data:`LIKELIHOODS`.  Returns the step count per walker.
    """
    if likelihood not in LIKELIHOODS:
        raise RunError(f"parameter 'likelihood' must be one of {LIKELIHOODS}, got {likelihood!r}")
    from nextsm.database import DatabaseSource, load_database
    from nextsm.machine.combinability import Combinability
    from nextsm.machine.store import RunStore
    from nextsm.machine.walker import Walker
    from nextsm.theory.compiled import single_threaded_blas
    from nextsm.theory.predictions import Predictor

    db = load_database(database)
    # with surrogates: the database files let a hypothesis outside a surrogate's domain fall back to pyhf
    source = DatabaseSource(db.path) if likelihood == "surrogates" else None
    predictor = Predictor(db, source=source, surrogates=likelihood == "surrogates")
    combinability = Combinability.load()
    store = RunStore(folder)
    done = {}
    try:
        # one BLAS thread per walker process (an environment variable is too late where numpy is already imported,
        # as in a forked pool worker): a surrogate's small matrix products on a busy machine otherwise spin threads
        # for milliseconds each (measured: 0.40 s instead of 0.11 s for one evaluation)
        with single_threaded_blas():
            for walker_id in walker_ids:
                walker = Walker(walker_id, seed, predictor, combinability, store, rule=rule)  # type: ignore[arg-type]
                walker.run(steps)
                done[walker_id] = walker.step
        return done
    finally:
        store.close()
        if source is not None:
            source.close()


def database_provenance(database: str | None) -> dict[str, Any]:
    """Path (as given and as found), version and content hash of the database a run uses.

    A database that cannot be loaded here (e.g. one only the workers of a remote Dask cluster see) is recorded
    with ``version`` and ``content_hash`` ``None`` and the reason in ``error``.
    """
    from nextsm.database import load_database

    try:
        db = load_database(database)
    except NextsmError as exc:
        return {"argument": database, "path": None, "version": None, "content_hash": None, "error": str(exc)}
    return {"argument": database, "path": db.path, "version": db.version, "content_hash": db.content_hash}


def provenance(settings: Mapping[str, Any], database: Mapping[str, Any], *,
               options: Mapping[str, Any] | None = None, runner: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a run records when it is created (:data:`~nextsm.machine.store.PROVENANCE`).

    ``settings`` are the run's settings (seed, walkers, steps, rule, database argument), ``database`` its
    :func:`database_provenance`, ``options`` the command-line options it was started with (``None`` from Python)
    and ``runner`` how the walkers run (local processes or Dask).
    """
    import numpy as np
    import scipy

    from nextsm import __version__

    return {"nextsm_version": __version__, "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "seed": settings.get("seed"), "walkers": settings.get("walkers"), "steps": settings.get("steps"),
            "rule": settings.get("rule"), "database": dict(database), "settings": dict(settings),
            "options": None if options is None else dict(options), "runner": None if runner is None else dict(runner),
            "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "platform": platform.platform()}


def prepare(folder: Path, settings: dict[str, Any], resume: bool, *, options: Mapping[str, Any] | None = None,
            runner: Mapping[str, Any] | None = None) -> None:
    """Create the run folder and record its settings and :func:`provenance`, or check that a resumed run has the
    same seed, rule and database (content hash) and record the resumption.

    Raises
    ------
    RunError
        The folder holds a run and ``resume`` is false, or the run was started with another seed, rule or
        database (the message names the field).
    """
    from nextsm.machine.store import PROVENANCE, RESUMES, SETTINGS, RunStore

    exists = (folder / "run.sqlite").exists()
    if exists and not resume:
        raise RunError(f"{folder}: a run exists here; pass --resume to continue it or choose another --out")
    database = database_provenance(settings.get("database"))
    store = RunStore(folder)
    try:
        meta = store.meta()
        old = meta.get(SETTINGS)
        if old is None:
            store.set_meta(SETTINGS, settings)
            store.set_meta(PROVENANCE, provenance(settings, database, options=options, runner=runner))
            return
        for key in ("seed", "rule", "likelihood"):
            if old.get(key, "best-sr" if key == "likelihood" else None) != settings.get(key):
                raise RunError(f"{folder}: the run was started with {key}={old.get(key)!r}, "
                               f"not {settings.get(key)!r}")
        recorded = (meta.get(PROVENANCE) or {}).get("database", {}).get("content_hash")
        if recorded and database["content_hash"] and recorded != database["content_hash"]:
            raise RunError(f"{folder}: the run was started on a database with content_hash {recorded[:16]}…, not "
                           f"{database['content_hash'][:16]}… ({database['path']}); pass its database with --database")
        store.append_meta(RESUMES, {key: value for key, value in provenance(
            settings, database, options=options, runner=runner).items() if key in _RESUME_FIELDS})
    finally:
        store.close()


#: what a resumption records (the rest of the provenance does not change or is not re-checked)
_RESUME_FIELDS = ("nextsm_version", "started", "steps", "database", "options", "runner", "python", "numpy")


def run_local(folder: str | Path, *, walkers: int, steps: int, seed: int, database: str | None = None,
              rule: str = "rjmcmc", likelihood: str = "best-sr", resume: bool = False, processes: int | None = None,
              progress: Callable[[dict[int, int]], None] | None = None, poll: float = 0.5,
              options: Mapping[str, Any] | None = None) -> dict[int, int]:
    """Run ``walkers`` walkers of ``steps`` steps each in local processes; returns the step count per walker.

    ``options`` (the command line's, recorded in the run's provenance) do not change what is run.
    """
    from nextsm.machine.store import RunStore

    folder = Path(folder)
    n_proc = processes or min(walkers, os.cpu_count() or 1)
    prepare(folder, {"walkers": walkers, "steps": steps, "seed": seed, "rule": rule, "likelihood": likelihood,
                     "database": database}, resume, options=options, runner={"kind": "local", "processes": n_proc})
    monitor = RunStore(folder)
    try:
        with ProcessPoolExecutor(max_workers=n_proc) as pool:
            # walkers i, i + n, i + 2n, ... share process i (and its grids)
            futures = [pool.submit(run_walkers, str(folder), list(range(i, walkers, n_proc)), seed, steps, database,
                                   rule, likelihood) for i in range(min(n_proc, walkers))]
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
             rule: str = "rjmcmc", likelihood: str = "best-sr", resume: bool = False, scheduler: str | None = None, n_workers: int = 2,
             retries: int = 5, progress: Callable[[dict[int, int]], None] | None = None,
             poll: float = 0.5, options: Mapping[str, Any] | None = None) -> dict[int, int]:
    """Run the walkers as Dask tasks (needs the ``dask`` extra).

    ``scheduler`` is the address of a running scheduler; without it a ``LocalCluster`` of ``n_workers`` worker
    processes is started for the run.  Every task may be retried ``retries`` times (a killed worker).  ``options``
    as for :func:`run_local`.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the dask extra is part of the test command
        raise RunError("Dask runs need the 'dask' extra: pip install 'nextsm[dask]'") from exc
    from nextsm.machine.store import RunStore

    folder = Path(folder).resolve()
    prepare(folder, {"walkers": walkers, "steps": steps, "seed": seed, "rule": rule, "likelihood": likelihood,
                     "database": database}, resume, options=options, runner={"kind": "dask", "scheduler": scheduler,
                                     "n_workers": None if scheduler else n_workers, "retries": retries})
    cluster = None if scheduler else LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                                  dashboard_address=None)
    client = Client(scheduler or cluster)
    monitor = RunStore(folder)
    try:
        futures = [client.submit(run_walker, str(folder), i, seed, steps, database, rule, likelihood,
                                 key=f"walker-{i}-{seed}",
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
