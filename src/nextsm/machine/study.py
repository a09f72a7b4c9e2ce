"""A whole study in one call: N fake databases, the walkers on each and on the real database, the global p-value.

Layout of a study folder::

    STUDY/study.json           settings (a resumed study must have the same ones)
    STUDY/fakes/fake-000/      fake.json (seed = base seed + index) and run/ (the walk on it)
    STUDY/real-0/              walks on the real database (seeds base seed + 1000 + i)
    STUDY/pvalue.json          K_max per run and the p-value (also STUDY/pvalue.png with the plot extra)

Every piece is resumable: a fake whose ``fake.json`` exists is not drawn again (the same seed would draw the same
fake anyway), a walk resumes where it stopped (:func:`~nextsm.machine.run.run_local` with ``resume``), so a killed
study continues with ``resume=True`` and loses no committed step.  With ``inject`` every fake carries that signal
(closure tests); ``fixed_backgrounds``/``fixed_signals`` give the technical closure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nextsm.machine.run import RunError

__all__ = ["StudySettings", "closure_summary", "run_study"]

#: a found mass matches the injected one within this fraction (the closure criterion)
MASS_TOLERANCE = 0.10


@dataclass(frozen=True)
class StudySettings:
    """What a study does (module docstring)."""

    fakes: int = 10
    real_runs: int = 1
    walkers: int = 4
    steps: int = 300
    seed: int = 1
    fudge: float = 1.0
    inject: dict[str, Any] | None = None
    fixed_backgrounds: bool = False
    fixed_signals: bool = False
    max_mass_dist: float = 100.0
    rule: str = "rjmcmc"


def _prepare(folder: Path, settings: StudySettings, resume: bool) -> None:
    path = folder / "study.json"
    if path.exists():
        if not resume:
            raise RunError(f"{folder}: a study exists here; pass --resume to continue it or choose another --out")
        old = json.loads(path.read_text(encoding="utf-8"))
        for key, value in asdict(settings).items():
            if key in ("fakes", "real_runs", "steps"):  # a study may be extended
                continue
            if old.get(key) != value:
                raise RunError(f"{path}: the study was started with {key}={old.get(key)!r}, not {value!r}")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(settings), indent=1), encoding="utf-8")


def run_study(folder: str | Path, settings: StudySettings, *, database: str | None = None, resume: bool = False,
              processes: int | None = None, scheduler: str | None = None, use_dask: bool = False,
              log: Callable[[str], None] | None = None,
              progress: Callable[[str, dict[int, int]], None] | None = None) -> dict[str, Any]:
    """Run the study in ``folder`` (module docstring); returns the content of ``pvalue.json``."""
    from nextsm.database import DatabaseSource, load_database
    from nextsm.fake import FAKE_FILE, FakeGenerator, FakeSettings
    from nextsm.machine.pvalue import global_pvalue, k_max
    from nextsm.machine.run import run_dask, run_local

    folder = Path(folder)
    _prepare(folder, settings, resume)
    say = log or (lambda message: None)
    fake_dirs = [folder / "fakes" / f"fake-{i:03d}" for i in range(settings.fakes)]
    todo = [d for d in fake_dirs if not (d / FAKE_FILE).exists()]
    if todo:
        t0 = time.perf_counter()
        db = load_database(database)
        with DatabaseSource(db.path) as source:
            generator = FakeGenerator(db, FakeSettings(fudge=settings.fudge,
                                                       fixed_backgrounds=settings.fixed_backgrounds,
                                                       fixed_signals=settings.fixed_signals,
                                                       max_mass_dist=settings.max_mass_dist), source=source)
        model, predictor = None, None
        if settings.inject is not None:
            from nextsm.model.protomodel import ProtoModel
            from nextsm.theory.predictions import Predictor

            model, predictor = ProtoModel.from_dict(settings.inject), Predictor(db)
        for d in todo:
            seed = settings.seed + fake_dirs.index(d)
            generator.sample(np.random.default_rng(seed), inject=model, predictor=predictor, seed=seed).write(d)
        say(f"{len(todo)} fakes drawn in {time.perf_counter() - t0:.1f} s")

    def walk(out: Path, db_path: str | None, seed: int, label: str) -> None:
        kwargs: dict[str, Any] = {"walkers": settings.walkers, "steps": settings.steps, "seed": seed,
                                  "database": db_path, "rule": settings.rule, "resume": True,
                                  "progress": (lambda counts: progress(label, counts)) if progress else None}
        t0 = time.perf_counter()
        if scheduler or use_dask:
            run_dask(out, scheduler=scheduler, n_workers=processes or 2, **kwargs)
        else:
            run_local(out, processes=processes, **kwargs)
        say(f"{label}: K_max = {k_max(out):.2f} ({time.perf_counter() - t0:.0f} s)")

    real_dirs = [folder / f"real-{i}" for i in range(settings.real_runs)]
    for i, d in enumerate(real_dirs):
        walk(d, database, settings.seed + 1000 + i, d.name)
    for i, d in enumerate(fake_dirs):
        walk(d / "run", str(d), settings.seed + i, d.name)
    real = [k_max(d) for d in real_dirs]
    fakes = [k_max(d / "run") for d in fake_dirs]
    out: dict[str, Any] = {"real": {d.name: k for d, k in zip(real_dirs, real, strict=True)},
                           "fakes": {d.name: k for d, k in zip(fake_dirs, fakes, strict=True)}}
    if real and len(fakes) >= 2:
        result = global_pvalue(real, fakes)
        out["pvalue"] = result.to_dict()
        try:
            from nextsm.machine.pvalue import plot_k_distribution

            plot_k_distribution(result, folder / "pvalue.png")
        except ImportError:  # the plot extra is optional
            pass
    if settings.inject is not None:
        out["closure"] = closure_summary([d / "run" for d in fake_dirs], settings.inject)
    (folder / "pvalue.json").write_text(json.dumps(out, indent=1), encoding="utf-8")
    return out


def _family(pid: int) -> frozenset[int]:
    from nextsm.machine.moves import MERGER_GROUPS

    return next((g for g in MERGER_GROUPS if pid in g), frozenset({pid}))


def closure_summary(runs: list[Path], injected: dict[str, Any]) -> dict[str, Any]:
    """Does the best model of each run contain the injected particles, at masses within 10 %?

    Particles of one merger group (the light squarks X_d, X_u, X_s, X_c; X_t^1,2; X_b^1,2; X_W^1,2; X_Z^2,3) count as
    the same particle: the LHC results cannot tell a d̃ from an s̃ (P21 counts "X_q").  Per run: the best model's
    particles and masses, ``same_content`` (one particle per injected one, nothing else) and ``masses_ok`` (every
    injected particle matched within :data:`MASS_TOLERANCE`); overall, per injected particle, the fraction of runs in
    which it was found (present, and within the tolerance).
    """
    from nextsm.machine.store import RunStore
    from nextsm.model.protomodel import ProtoModel

    truth = ProtoModel.from_dict(injected).masses
    rows: list[dict[str, Any]] = []
    for run in runs:
        store = RunStore(run)
        try:
            top = store.hiscores(1)
        finally:
            store.close()
        if not top:
            rows.append({"run": str(run), "best": None, "same_content": False, "masses_ok": False, "within": {},
                         "found": {}})
            continue
        best = ProtoModel.from_dict(top[0].model).masses
        found: dict[str, int | None] = {}
        within: dict[str, bool] = {}
        for pid, m in truth.items():
            candidates = [q for q in best if q in _family(pid)]
            match = min(candidates, key=lambda q: abs(best[q] - m)) if candidates else None
            found[str(pid)] = match
            within[str(pid)] = match is not None and abs(best[match] - m) <= MASS_TOLERANCE * m
        matched = {q for q in found.values() if q is not None}
        rows.append({"run": str(run), "K": top[0].K, "best": {str(pid): m for pid, m in best.items()},
                     "same_content": len(matched) == len(truth) == len(best),
                     "masses_ok": all(within.values()), "within": within, "found": found})
    n = max(len(rows), 1)
    per_particle = {str(pid): {"injected_mass": m,
                               "found": sum(1 for r in rows if r["found"].get(str(pid)) is not None) / n,
                               "within_tolerance": sum(1 for r in rows if r["within"].get(str(pid))) / n}
                    for pid, m in truth.items()}
    return {"runs": rows, "particles": per_particle,
            "same_content": sum(r["same_content"] for r in rows) / n,
            "all_masses_ok": sum(r["masses_ok"] for r in rows) / n}
