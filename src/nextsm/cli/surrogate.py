"""``nextsm surrogate``: training sets, training and listing of neural surrogates of pyhf workspaces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from nextsm.cli.common import database_option


@click.group()
def surrogate() -> None:
    """Neural surrogates of the full pyhf likelihoods (docs/surrogates.md)."""


def _workspace(analysis_name: str, workspace: str | None, database_path: str | None):  # type: ignore[no-untyped-def]
    from nextsm.database import load_database

    db = load_database(database_path)
    try:
        analysis = db.analysis(analysis_name)
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from None
    files = list(analysis.info.json_files or {})
    if not files:
        raise click.UsageError(f"analysis '{analysis.name}' has no pyhf workspaces (field 'jsonFiles')")
    if workspace is None:
        if len(files) > 1:
            raise click.UsageError(f"analysis '{analysis.name}' has {len(files)} workspaces; pick one with "
                                   f"--workspace ({', '.join(files)})")
        workspace = files[0]
    if workspace not in files:
        raise click.UsageError(f"--workspace {workspace}: not in jsonFiles of {analysis.name} ({', '.join(files)})")
    return db, analysis, workspace


@surrogate.command("labels")
@click.argument("analysis_name")
@database_option
@click.option("--workspace", default=None, help="Workspace file (needed if the analysis has several).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Training-set folder.")
@click.option("--n", "n_points", type=click.IntRange(min=1), default=2000, show_default=True, help="Hypotheses.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--chunk-size", type=click.IntRange(min=1), default=25, show_default=True)
@click.option("--backend", type=click.Choice(["jax", "numpy"]), default="jax", show_default=True,
              help="pyhf backend of the fits (jax: the 'jax' extra, ~6× faster).")
@click.option("--fitter", type=click.Choice(["slsqp", "batched"]), default="slsqp", show_default=True,
              help="slsqp: one pyhf fit per hypothesis; batched: a chunk at once by a vectorised quasi-Newton "
                   "solver (jax backend; SLSQP for the hypotheses it leaves unconverged), 10-20x faster on "
                   "workspaces with many nuisance parameters.")
def labels_command(analysis_name: str, database_path: str | None, workspace: str | None, out: Path, n_points: int,
                   seed: int, processes: int, chunk_size: int, backend: str, fitter: str) -> None:
    """Sample signal hypotheses and label them with pyhf profile fits (resumable: run it again to continue)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from nextsm.surrogates.labels import generate_labels

    _, analysis, workspace = _workspace(analysis_name, workspace, database_path)
    with Progress(TextColumn(f"[bold]labelling {analysis.name}/{workspace}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("chunks", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = generate_labels(out, analysis, workspace, n=n_points, seed=seed, database=database_path,
                                 processes=processes, chunk_size=chunk_size, backend=backend, fitter=fitter,
                                 progress=progress)
    click.echo(f"{len(result.signals)} labelled hypotheses in {out}")


@surrogate.command("train")
@click.argument("labels_folders", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Surrogate path without suffix (writes OUT.json and OUT.npz).")
@click.option("--hidden", default="128,128,128", show_default=True, help="Hidden layer widths.")
@click.option("--epochs", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--schedule", type=click.Choice(["plateau", "cosine"]), default="plateau", show_default=True,
              help="Learning rate: halved on validation plateaus, or cosine-annealed over --epochs.")
@click.option("--ensemble", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
              help="AdamW learning rate.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="AdamW decoupled weight decay.")
@click.option("--q-scale", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="q_0 of the loss: squared absolute error for |q| << q_0, relative beyond (nextsm.surrogates.train).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads (more threads on a busy 2-core machine are slower).")
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Ensemble members trained at the same time, one process each (same members as one process).")
@click.option("--reference-points", type=click.IntRange(min=1), default=40, show_default=True,
              help="Labelled hypotheses kept out of training and stored in the card (the contract test's check).")
@click.option("--baseline/--no-baseline", default=None,
              help="Learn only the difference to independent Poisson counts (LABELS_FOLDER/baseline.npz, written by "
                   "`nextsm surrogate labels`, or `nextsm surrogate baseline` for older folders).  Default: use it "
                   "if the folder has it.")
def train_command(labels_folders: tuple[Path, ...], out: Path, hidden: str, epochs: int, patience: int,
                  schedule: str, ensemble: int, seed: int, lr: float, weight_decay: float, q_scale: float,
                  threads: int, processes: int, reference_points: int, baseline: bool | None) -> None:
    """Train a surrogate on one training set, or on several of the same workspace and sampling drawn with
    different seeds (pooled in the order given), with the `torch` extra, and save it with its model card."""
    try:
        from nextsm.surrogates.train import train_surrogate
    except ImportError as exc:
        raise click.UsageError(f"training needs the 'torch' extra: pip install 'nextsm[torch]' ({exc})") from None
    import numpy as np

    from nextsm.surrogates.io import save
    from nextsm.surrogates.labels import load_labels, merge_label_sets

    data = merge_label_sets([load_labels(f) for f in labels_folders], [str(f) for f in labels_folders])
    labels_folder = ", ".join(str(f) for f in labels_folders)
    meta = data.meta
    if baseline is None:
        baseline = data.baseline is not None
    if baseline and data.baseline is None:
        raise click.UsageError(f"{labels_folder}: no baseline.npz; run `nextsm surrogate baseline {labels_folder}` "
                               "or pass --no-baseline")
    # NaN labels: every fit of that hypothesis ended at a negative expected count (labels._physical_nll)
    usable = np.all(np.isfinite(data.labels), axis=1)
    unusable = int(np.count_nonzero(~usable))
    if unusable > 0.05 * len(usable):
        raise click.UsageError(f"{labels_folder}: {unusable} of {len(usable)} hypotheses have no physical fit "
                               "(NaN labels); more than 5 % means the workspace or the sampling is at fault")
    all_s, all_q = data.signals[usable], data.labels[usable]
    if len(all_s) <= 2 * reference_points:
        raise click.UsageError(f"{labels_folder}: {len(all_s)} labelled hypotheses are too few")
    # the last hypotheses never enter training: exact pyhf q's for the card (tests/surrogates/test_contract.py)
    signals, labels = all_s[:-reference_points], all_q[:-reference_points]
    ref_s, ref_q = all_s[-reference_points:], all_q[-reference_points:]
    widths = tuple(int(w) for w in hidden.split(",") if w.strip())
    card = {"analysis": meta["analysis"], "workspace": meta["file"], "workspace_sha256": meta["workspace_sha256"],
            "training_set": {"folders": [str(f) for f in labels_folders], "n": len(all_s),
                             "unphysical_dropped": unusable,
                             "seed": meta["seed"], "sampling": meta["sampling"]},
            "monotonic": True, "monotonic_tolerance": 0.05,  # the accuracy target on |Δq|
            "reference_points": {"signal": ref_s.tolist(), "q": ref_q.tolist(), "atol": 0.5, "rtol": 0.05}}
    network, report = train_surrogate(signals, labels, hidden=widths, epochs=epochs, patience=patience,
                                      schedule=schedule, ensemble=ensemble, seed=seed, lr=lr,  # type: ignore[arg-type]
                                      weight_decay=weight_decay, q_scale=q_scale, progress=True, threads=threads,
                                      processes=processes,
                                      name=f"{meta['analysis']}/{meta['file']}", region_names=meta["regions"],
                                      card=card, baseline=data.baseline if baseline else None)
    network = with_reference_points_inside(network)
    paths = save(network, out)
    click.echo(json.dumps(network.card.get("accuracy", {}), indent=1))
    click.echo(f"saved {paths[0]} and {paths[1]} ({report.seconds:.0f} s of training)")


def with_reference_points_inside(network: Any) -> Any:
    """The network with only those reference points of its card that lie inside its trained domain (held-out
    hypotheses can exceed the largest training yield of a region)."""
    import dataclasses

    import numpy as np

    ref = dict(network.card["reference_points"])
    inside = network.check_domain(np.array(ref["signal"]))
    ref["signal"] = [s for s, ok in zip(ref["signal"], inside, strict=True) if ok]
    ref["q"] = [q for q, ok in zip(ref["q"], inside, strict=True) if ok]
    return dataclasses.replace(network, card={**network.card, "reference_points": ref})


@surrogate.command("continue")
@click.argument("labels_folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@database_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="New training-set folder (the source is not modified).")
@click.option("--variant", type=click.Choice(["observed", "apriori", "asimov_observed", "asimov_apriori"]),
              default="observed", show_default=True)
@click.option("--neighbours", type=click.IntRange(min=1), default=4, show_default=True,
              help="Starts per hypothesis: the optima of this many nearest hypotheses.")
@click.option("--sweeps", type=click.IntRange(min=1), default=2, show_default=True)
def continue_command(labels_folder: Path, database_path: str | None, out: Path, variant: str, neighbours: int,
                     sweeps: int) -> None:
    """Re-fit every hypothesis of LABELS_FOLDER from its neighbours' optima and keep the lowest minimum
    (for workspaces whose profile has several minima; nextsm.surrogates.continuation).  Resumable: an interrupted
    run continues from OUT.continue.npz."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nextsm.database import DatabaseSource, load_database
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.surrogates.continuation import continue_labels, write_continued
    from nextsm.surrogates.labels import load_labels
    from nextsm.surrogates.network import VARIANTS

    data = load_labels(labels_folder)
    db = load_database(database_path)
    with DatabaseSource(db.path) as source:
        model = HistFactoryModel.from_analysis(db.analysis(data.meta["analysis"]), data.meta["file"], source,
                                               backend="jax")
    column = VARIANTS.index(variant)
    with Progress(TextColumn(f"[bold]continuing {data.meta['analysis']}/{data.meta['file']} ({variant})"),
                  BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task("fits", total=len(data.signals) * (1 + neighbours))
        # progress is kept beside OUT, so an interrupted run resumes where it stopped
        checkpoint = out.with_name(f"{out.name}.continue.npz")
        result = continue_labels(model, data.signals, data.labels[:, column], variant, neighbours=neighbours,
                                 sweeps=sweeps, progress=lambda k: bar.advance(task, k), checkpoint=checkpoint)
    write_continued(labels_folder, out, variant, result, {"neighbours": neighbours, "sweeps": sweeps})
    checkpoint.unlink(missing_ok=True)
    click.echo(f"{result.improved} of {len(result.q)} labels lowered (by up to {result.largest_decrease:.3g} in q); "
               f"{result.fits} fits, {result.failed_fits} failed; written to {out}")


@surrogate.command("baseline")
@click.argument("labels_folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@database_option
def baseline_command(labels_folder: Path, database_path: str | None) -> None:
    """Write LABELS_FOLDER/baseline.npz (the Poisson baseline of the training set's workspace)."""
    from nextsm.database import DatabaseSource, load_database
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.surrogates.labels import load_labels, write_baseline

    meta = load_labels(labels_folder).meta
    db = load_database(database_path)
    with DatabaseSource(db.path) as source:
        model = HistFactoryModel.from_analysis(db.analysis(meta["analysis"]), meta["file"], source)
    click.echo(f"wrote {write_baseline(labels_folder, model)}")


@surrogate.command("pack")
@click.argument("labels_folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
def pack_command(labels_folder: Path, archive: Path) -> None:
    """Write the finished labels of LABELS_FOLDER to ARCHIVE (.npz; the hypotheses are re-drawn from the seed)."""
    from nextsm.surrogates.archive import pack_labels
    from nextsm.surrogates.labels import load_labels

    done = len(load_labels(labels_folder).labels)
    path = pack_labels(labels_folder, archive)
    click.echo(f"{done} labels of {labels_folder} packed into {path} ({path.stat().st_size / 1e6:.2f} MB)")


@surrogate.command("unpack")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("labels_folder", type=click.Path(file_okay=False, path_type=Path))
@database_option
def unpack_command(archive: Path, labels_folder: Path, database_path: str | None) -> None:
    """Rebuild the training-set folder LABELS_FOLDER from ARCHIVE (adds the chunks the folder lacks)."""
    from nextsm.surrogates.archive import unpack_labels

    result = unpack_labels(archive, labels_folder, database_path)
    click.echo(f"{len(result.labels)} of {result.meta['n']} hypotheses labelled in {labels_folder}; "
               "`nextsm surrogate labels` resumes it with the same --n, --seed and --chunk-size")


@surrogate.command("list")
def list_command() -> None:
    """The surrogates on the search path (shipped ones and $NEXTSM_SURROGATES)."""
    from nextsm.surrogates.io import load
    from nextsm.surrogates.registry import surrogate_search_path

    for folder in surrogate_search_path():
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            net = load(path.with_suffix(""))
            variants = net.card.get("accuracy", {}).get("variants", {})
            accuracy = "no accuracy figures"
            if variants:  # the worst variant, held out, q <= 30
                accuracy = (f"|Δq| median {max(v['median_abs_error'] for v in variants.values()):.3f}, "
                            f"99 % {max(v['p99_abs_error'] for v in variants.values()):.3f}")
            widths = "×".join(map(str, net.widths[1:-1]))
            click.echo(f"{path.with_suffix('')}\n    {net.name}: {net.n_regions} SRs, {widths}"
                       f"{' + Poisson baseline' if net.has_baseline else ''}, {net.n_members} member(s); {accuracy}")
