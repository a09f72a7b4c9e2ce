"""Gather what a report shows from a run folder (or a study folder) into a :class:`~nextsm.report.data.ReportData`.

The run store gives the metadata (the run's settings and the provenance recorded when it was created), the K
history of every walker and the hiscores without the database.  The best model is then evaluated again on the
database with :func:`nextsm.machine.explain.explain`, which evaluates exactly as the walker does (K with
μ̂ ≤ μ_max and both critics at μ̂, so K equals the stored K on the same database) and gives the best-combination
table and ΔK when a particle or an analysis is removed, all from that one evaluation.  A *study* folder (``study.json``, see :mod:`nextsm.machine.study`) adds the
K_max of every run and the global p-value; its best real run (else its best fake run) is reported.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nextsm.machine.store import PROVENANCE, SETTINGS, RunStore, StepRecord
from nextsm.report.data import (
    BestModel,
    CombinabilityData,
    CombinationRow,
    DecayRow,
    HiscoreRow,
    ParticleRow,
    ProductionRow,
    PValueData,
    ReportData,
    ReportError,
    ResultRow,
    RunInfo,
    WalkerHistory,
)
from nextsm.report.names import channel_label, particle_label, tex_label

__all__ = ["collect", "evaluate_best", "find_run", "hiscore_rows", "read_histories", "study_pvalue",
           "walker_predictor"]

#: a result "constrains" a particle in the ruler plot if its r_exp at μ̂ is at least this
R_EXP_CONSTRAINS = 0.05
#: how many constraining results are listed per particle (ruler) and overall (r-value table)
N_CONSTRAIN_PER_PARTICLE = 3
N_CONSTRAINING = 12


def _label(analysis: str, dataset: str | None) -> str:
    return f"{analysis}:{dataset}" if dataset else analysis


def find_run(folder: str | Path) -> tuple[Path, Path | None]:
    """The run to report on and the study folder (``None`` for a plain run).

    A study folder's run is its real run with the highest K_max, else its fake run with the highest K_max.

    Raises
    ------
    ReportError
        ``folder`` holds neither ``run.sqlite`` nor ``study.json``, or the study has no run yet.
    """
    folder = Path(folder)
    if (folder / "run.sqlite").is_file():
        return folder, None
    if not (folder / "study.json").is_file():
        raise ReportError(f"{folder}: not a run folder (no run.sqlite) nor a study folder (no study.json)")
    from nextsm.machine.pvalue import PValueError, k_max

    for runs in (_study_runs(folder)[0], _study_runs(folder)[1]):
        scored = []
        for run in runs:
            try:
                scored.append((k_max(run), run))
            except PValueError:
                continue
        if scored:
            return max(scored, key=lambda x: x[0])[1], folder
    raise ReportError(f"{folder}: the study has no run with a finite K yet (real-*/run.sqlite, fakes/*/run)")


def _study_runs(study: Path) -> tuple[list[Path], list[Path]]:
    real = sorted(d for d in study.glob("real-*") if (d / "run.sqlite").is_file())
    fakes = sorted(d / "run" for d in (study / "fakes").glob("fake-*") if (d / "run" / "run.sqlite").is_file())
    return real, fakes


def study_pvalue(study: str | Path) -> PValueData:
    """K_max of every run of the study in ``study`` and, with ≥ 1 real and ≥ 2 fake runs, the global p-value."""
    from nextsm.machine.pvalue import PValueError, global_pvalue, k_max

    study = Path(study)
    real, fakes = _study_runs(study)
    k_real: dict[str, float] = {}
    k_fakes: dict[str, float] = {}
    for runs, out in ((real, k_real), (fakes, k_fakes)):
        for run in runs:
            try:
                out[str(run.relative_to(study))] = k_max(run)
            except PValueError:
                continue
    try:
        result = global_pvalue(list(k_real.values()), list(k_fakes.values())).to_dict()
        note = ""
    except PValueError as exc:
        result, note = None, str(exc)
    return PValueData(str(study), k_real, k_fakes, result, note)


def read_histories(store: RunStore) -> list[WalkerHistory]:
    """The K history of every walker of the run."""
    rows: dict[int, list[StepRecord]] = {}
    for r in store.steps():
        rows.setdefault(r.walker, []).append(r)
    return [WalkerHistory(w, [r.step for r in rs], [r.K for r in rs], [r.current_K for r in rs],
                          [r.accepted for r in rs]) for w, rs in sorted(rows.items())]


def _masses(model: dict[str, Any]) -> list[tuple[str, float]]:
    return [(particle_label(int(p)), float(m)) for p, m in sorted(model["masses"].items(), key=lambda x: x[1])]


def hiscore_rows(records: Sequence[StepRecord]) -> list[HiscoreRow]:
    """The hiscore table (``records`` as :meth:`RunStore.hiscores` gives them, best first)."""
    return [HiscoreRow(i + 1, float(r.K or 0.0), r.mu_hat, r.walker, r.step, _masses(r.model),
                       [_label(c["analysis"], c.get("dataset")) for c in r.combination], r.model)
            for i, r in enumerate(records)]


def _run_info(folder: Path, store: RunStore, histories: list[WalkerHistory], db: Any | None) -> RunInfo:
    from nextsm import __version__

    meta = store.meta()
    settings = meta.get(SETTINGS, {})
    seconds = [r.seconds for r in store.steps() if r.seconds]
    return RunInfo(
        folder=str(folder), walkers=len(histories), steps=sum(len(h.step) for h in histories),
        seed=settings.get("seed"), rule=settings.get("rule"),
        database=str(db.path) if db is not None else str(settings.get("database") or "default"),
        database_version=db.version if db is not None else "", database_hash=db.content_hash if db is not None else "",
        code_version=__version__, step_seconds=float(sum(seconds)),
        median_step_ms=1e3 * statistics.median(seconds) if seconds else 0.0, settings=settings,
        recorded=meta.get(PROVENANCE) or {})


@contextmanager
def walker_predictor(db: Any, settings: dict[str, Any]) -> Iterator[Any]:
    """The :class:`~nextsm.theory.predictions.Predictor` the run's walkers used: with ``settings.likelihood ==
    "surrogates"`` the analyses with neural surrogates enter with their full likelihoods (the database files open
    for the fall-back to pyhf), otherwise the best signal region of every analysis."""
    from nextsm.database import DatabaseSource
    from nextsm.theory.predictions import Predictor

    if settings.get("likelihood", "best-sr") != "surrogates":
        yield Predictor(db)
        return
    with DatabaseSource(db.path) as source:
        yield Predictor(db, source=source, surrogates=True)


def _combination_row(row: dict[str, Any]) -> CombinationRow:
    """A row of :attr:`nextsm.machine.explain.Explanation.combination` (at μ̂) for the report."""
    events = "signal_events" in row
    return CombinationRow(row["analysis"], row["dataset"], row["type"], row["sqrts"], row["txnames"],
                          row.get("observed"), row.get("expected"), row.get("bg_error"), row["Z"],
                          row["signal_events"] if events else row["signal_fb"], "events" if events else "fb",
                          row["r_obs"], row["r_exp"])


def evaluate_best(record: StepRecord, predictor: Any, combinability: Any, *, rank: int = 1,
                  contributions: bool = True) -> BestModel:
    """Evaluate and explain the model of ``record`` (module docstring)."""
    from nextsm.machine.combiner import combinability_matrix
    from nextsm.machine.explain import explain
    from nextsm.model.protomodel import ProtoModel
    from nextsm.theory.predictions import best_results

    model = ProtoModel.from_dict(record.model)
    explanation = explain(model, predictor, combinability, contributions=contributions)
    ts = explanation.statistic
    mu = ts.mu_hat
    xsecs = predictor.cross_sections(model)
    combined = {p.key for p in ts.combination}
    results = sorted(best_results(explanation.predictions), key=lambda p: -(p.r_obs or 0.0))

    def row(p: Any) -> ResultRow:
        return ResultRow(p.analysis, p.dataset, p.type, p.sqrts, list(p.txnames),
                         None if p.r_obs is None else p.r_obs * mu, None if p.r_exp is None else p.r_exp * mu,
                         sorted({particle_label(abs(q)) for q in p.particles}), p.key in combined)

    constraining = [row(p) for p in results[:N_CONSTRAINING] if p.r_obs is not None]
    particles = []
    for pdg, mass in sorted(model.masses.items(), key=lambda x: x[1]):
        prefer = [_label(p.analysis, p.dataset) for p in ts.combination if pdg in {abs(q) for q in p.particles}]
        sensitive = sorted((p for p in results if p.key not in combined and pdg in {abs(q) for q in p.particles}
                            and (p.r_exp or 0.0) * mu >= R_EXP_CONSTRAINS), key=lambda p: -(p.r_exp or 0.0))
        particles.append(ParticleRow(pdg, particle_label(pdg), tex_label(pdg), mass,
                                     explanation.particle_contributions.get(pdg), prefer,
                                     [_label(p.analysis, p.dataset) for p in sensitive[:N_CONSTRAIN_PER_PARTICLE]]))
    decays = [DecayRow(m, particle_label(m), list(c), channel_label(c), br)
              for m in sorted(model.decays, key=lambda q: -model.masses.get(q, 0.0))
              for c, br in sorted(model.decays[m].items(), key=lambda x: -x[1])]
    productions = [ProductionRow(list(pair), " ".join(particle_label(q) for q in pair), kappa, kappa * mu,
                                 {f"{s:g}": xsecs.get(s, {}).get(pair, 0.0) * mu for s in sorted(xsecs)})
                   for pair, kappa in sorted(model.ssmultipliers.items(),
                                             key=lambda x: -max((t.get(x[0], 0.0) for t in xsecs.values()), default=0))]

    involved = [r for r in explanation.results
                if r.prediction.key in combined or (r.prediction.r_exp or 0.0) * mu >= R_EXP_CONSTRAINS]
    involved = sorted(involved, key=lambda r: (r.prediction.key not in combined, -(r.prediction.r_exp or 0.0)))
    involved = involved[:max(N_CONSTRAINING, len(combined))]
    matrix = combinability_matrix([r.result_id for r in involved], combinability.combinable)
    combinability_data = CombinabilityData([_label(r.prediction.analysis, r.prediction.dataset) for r in involved],
                                           matrix.tolist(), [r.prediction.key in combined for r in involved])
    absorbed = ProtoModel(masses=model.masses, decays=model.decays,
                          ssmultipliers={p: k * mu for p, k in model.ssmultipliers.items()}, xsecs=model.xsecs)
    return BestModel(
        rank=rank, walker=record.walker, step=record.step, stored_K=float(record.K or -math.inf),
        K=explanation.K, llr=ts.llr, log_prior=ts.log_prior, mu_hat=mu, mu_max=explanation.mu_max, Z=ts.Z,
        critics=[explanation.fast.to_dict(), explanation.slow.to_dict()], particles=particles, decays=decays,
        productions=productions, combination=[_combination_row(r) for r in explanation.combination],
        analysis_contributions=dict(explanation.analysis_contributions), constraining=constraining,
        combinability=combinability_data, model=model.to_dict(), model_absorbed=absorbed.to_dict())


def collect(folder: str | Path, *, database: str | None = None, combinability: str | None = None,
            n_hiscores: int = 10, rank: int = 1, contributions: bool = True, evaluate: bool = True,
            progress: Callable[[str], None] | None = None) -> ReportData:
    """Everything a report on the run (or study) in ``folder`` shows.

    Parameters
    ----------
    database:
        The database to evaluate the best model on; default: the one the run was made with (its stored
        ``settings.database``), else the usual lookup.
    combinability:
        The combinability folder (default: :func:`~nextsm.machine.combinability.locate_combinability`).
    n_hiscores, rank:
        Length of the hiscore table; which of its models is explained (1 = the best).
    contributions:
        Compute ΔK when each particle and each combined analysis is removed.
    evaluate:
        Evaluate the model on the database; without it only metadata, histories and hiscores are collected.
    progress:
        Called with the name of each stage as it starts.
    """
    say = progress or (lambda stage: None)
    run, study = find_run(folder)
    say("reading the run")
    store = RunStore(run)
    try:
        histories = read_histories(store)
        top = store.hiscores(max(n_hiscores, rank))
        settings = store.meta().get(SETTINGS, {})
        db = lists = None
        best = None
        if evaluate and len(top) >= rank:
            say("loading the database")
            from nextsm.database import load_database
            from nextsm.machine.combinability import Combinability

            path = database or settings.get("database")
            if database is None and path is not None and not Path(path).exists() \
                    and (run.parent / "fake.json").is_file():
                path = str(run.parent)  # a study's fake run: its fake database is the folder above it
            if path is not None and not Path(path).exists():
                raise ReportError(f"{run / 'run.sqlite'}: settings.database {path!r} does not exist; "
                                  "pass --database")
            db = load_database(path)
            lists = Combinability.load(combinability)
        info = _run_info(run, store, histories, db)
    finally:
        store.close()
    if db is not None:
        say("evaluating the best model" + (" and the contributions" if contributions else ""))
        with walker_predictor(db, settings) as predictor:
            best = evaluate_best(top[rank - 1], predictor, lists, rank=rank, contributions=contributions)
    pvalue = None
    if study is not None:
        say("K_max of the study's runs")
        pvalue = study_pvalue(study)
    return ReportData(title=str(study or run), created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), run=info,
                      walkers=histories, hiscores=hiscore_rows(top[:n_hiscores]), best=best, pvalue=pvalue)
