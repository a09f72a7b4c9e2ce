"""``nextsm study``: fakes, walks and the global p-value (or a closure test) in one resumable command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from nextsm.cli.common import database_option, fake_options


@click.command()
@database_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Study folder.")
@click.option("--fakes", type=click.IntRange(min=0), default=10, show_default=True, help="Number of fake databases.")
@click.option("--real-runs", type=click.IntRange(min=0), default=1, show_default=True,
              help="Walks on the real database.")
@click.option("--walkers", type=click.IntRange(min=1), default=4, show_default=True, help="Walkers per run.")
@click.option("--steps", type=click.IntRange(min=1), default=300, show_default=True, help="Steps per walker.")
@click.option("--seed", type=int, default=1, show_default=True, help="Fake i uses seed + i, real run i seed + 1000 + i.")
@fake_options
@click.option("--rule", type=click.Choice(["rjmcmc", "2021"]), default="rjmcmc", show_default=True)
@click.option("--resume", is_flag=True, help="Continue the study in --out.")
@click.option("--processes", type=click.IntRange(min=1), default=None, help="Local processes (default: cores).")
@click.option("--scheduler", default=None, help="Dask scheduler address for the walks.")
@click.option("--dask", "use_dask", is_flag=True, help="Walk on a Dask LocalCluster.")
def study(database_path: str | None, out: Path, fakes: int, real_runs: int, walkers: int, steps: int, seed: int,
          fudge: float, inject_file: Path | None, fixed_backgrounds: bool, fixed_signals: bool,
          max_mass_dist: float, rule: str, resume: bool, processes: int | None, scheduler: str | None,
          use_dask: bool) -> None:
    """Draw FAKES fake databases, walk on each and on the real database, and compute the global p-value.

    Results go to OUT/pvalue.json (K_max per run, the p-value; with --inject the closure summary) and
    OUT/pvalue.png.  Kill it at any moment; --resume continues.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nextsm.machine.study import StudySettings, run_study

    console = Console()
    inject = json.loads(inject_file.read_text(encoding="utf-8")) if inject_file else None
    settings = StudySettings(fakes=fakes, real_runs=real_runs, walkers=walkers, steps=steps, seed=seed, fudge=fudge,
                             inject=inject, fixed_backgrounds=fixed_backgrounds, fixed_signals=fixed_signals,
                             max_mass_dist=max_mass_dist, rule=rule)
    tasks: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        def progress(label: str, counts: dict[int, int]) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=walkers * steps)
            bar.update(tasks[label], completed=sum(counts.values()))

        result = run_study(out, settings, database=database_path, resume=resume, processes=processes,
                           scheduler=scheduler, use_dask=use_dask, log=bar.console.print, progress=progress)
    p = result.get("pvalue")
    if p:
        kde = "-" if p["p"] is None else f"{p['p']:.3g}"
        console.print(f"global p-value (KDE) {kde}, empirical {p['fraction']:.3g} ± "
                      f"{p['fraction_error']:.2g} at K̄_real = {p['k_real_mean']:.2f}")
    closure = result.get("closure")
    if closure:
        console.print(f"closure: same particles in {closure['same_content']:.0%} of the runs, all injected masses "
                      f"within 10 % in {closure['all_masses_ok']:.0%}")
        for pid, row in closure["particles"].items():
            console.print(f"  {pid} ({row['injected_mass']:g} GeV): found in {row['found']:.0%}, "
                          f"within 10 % in {row['within_tolerance']:.0%}")
    console.print(f"results in {out / 'pvalue.json'}")
