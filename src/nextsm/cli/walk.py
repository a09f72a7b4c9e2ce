"""``nextsm walk`` and ``nextsm hiscores``: run walkers on the real database, list the best models."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import click

from nextsm.cli.common import database_option, fmt_number


@click.command()
@database_option
@click.option("--walkers", type=click.IntRange(min=1), default=2, show_default=True, help="Number of walkers.")
@click.option("--steps", type=click.IntRange(min=1), default=100, show_default=True, help="Steps per walker.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder (created; holds run.sqlite).")
@click.option("--seed", type=int, default=1, show_default=True, help="Walker i uses numpy default_rng([seed, i]).")
@click.option("--resume", is_flag=True, help="Continue the run in --out where it stopped.")
@click.option("--rule", type=click.Choice(["rjmcmc", "2021"]), default="rjmcmc", show_default=True,
              help="Acceptance: reversible-jump Metropolis-Hastings on exp(K/2), or the 2021 rule.")
@click.option("--likelihood", type=click.Choice(["best-sr", "surrogates"]), default="best-sr", show_default=True,
              help="best-sr: the best signal region of every analysis (the 2021 machine); surrogates: also the full "
                   "likelihoods of the analyses whose pyhf workspaces have neural surrogates (`nextsm surrogate list`).")
@click.option("--processes", type=click.IntRange(min=1), default=None, help="Local processes (default: cores).")
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786), e.g. from dask-jobqueue.")
@click.option("--dask", "use_dask", is_flag=True, help="Run on a Dask LocalCluster (--processes workers).")
def walk(database_path: str | None, walkers: int, steps: int, out: Path, seed: int, resume: bool, rule: str,
         likelihood: str, processes: int | None, scheduler: str | None, use_dask: bool) -> None:
    """Search protomodel space with WALKERS Markov chains on the database; every step is stored in OUT/run.sqlite.

    The run can be killed at any moment; --resume continues it with no step lost.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nextsm.machine.run import run_local
    from nextsm.machine.store import RunStore

    options = _options()
    total = walkers * steps
    start = time.monotonic()
    with Progress(TextColumn("[bold]walking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[info]}")) as bar:
        task = bar.add_task("walk", total=total, info="starting (the first steps set up the grids)")
        store = RunStore(out) if (out / "run.sqlite").exists() else None
        first = sum(store.count().values()) if store else 0
        if store:
            store.close()

        def progress(counts: dict[int, int]) -> None:
            done = sum(counts.values())
            rate = (done - first) / max(time.monotonic() - start, 1e-9)
            best = ""
            if done:
                s = RunStore(out)
                try:
                    top = s.hiscores(1)
                finally:
                    s.close()
                if top:
                    best = f"best K {top[0].K:.2f} ({', '.join(_names(top[0].model))})"
            bar.update(task, completed=done, info=f"{rate:.1f} steps/s  {best}")

        if scheduler or use_dask:
            from nextsm.machine.run import run_dask

            counts = run_dask(out, walkers=walkers, steps=steps, seed=seed, database=database_path, rule=rule,
                              likelihood=likelihood, resume=resume, scheduler=scheduler, n_workers=processes or 2,
                              progress=progress, options=options)
        else:
            counts = run_local(out, walkers=walkers, steps=steps, seed=seed, database=database_path, rule=rule,
                               likelihood=likelihood, resume=resume, processes=processes, progress=progress,
                               options=options)
        progress(counts)
    click.echo(f"{sum(counts.values())} steps in {out / 'run.sqlite'}; `nextsm hiscores {out}` lists the best models")


def _options() -> dict[str, Any]:
    """The command line of this process (``command``, quoted) and the options of this call (``params``: every
    parameter, defaults included), for the run's provenance."""
    params = click.get_current_context().params
    return {"command": shlex.join(["nextsm", *sys.argv[1:]]),
            "params": {k: str(v) if isinstance(v, Path) else v for k, v in params.items()}}


def _names(model: dict) -> list[str]:
    from nextsm.model.particles import PARTICLES

    return [f"{PARTICLES[int(p)].name} {m:.0f}" for p, m in sorted(model["masses"].items(), key=lambda x: x[1])]


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-n", type=click.IntRange(min=1), default=10, show_default=True, help="How many.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (models as protomodel JSON).")
def hiscores(run: Path, n: int, as_json: bool) -> None:
    """The N best distinct models of RUN (all walkers), by K, among those the critics let pass."""
    from rich.console import Console
    from rich.table import Table

    from nextsm.machine.store import RunStore

    if not (run / "run.sqlite").exists():
        raise click.BadParameter(f"{run} holds no run.sqlite", param_hint="RUN")
    store = RunStore(run)
    try:
        top = store.hiscores(n)
        counts = store.count()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([{"K": r.K, "mu_hat": r.mu_hat, "walker": r.walker, "step": r.step, "model": r.model,
                                "combination": r.combination} for r in top], indent=1))
        return
    table = Table(title=f"{run}: {sum(counts.values())} steps of {len(counts)} walkers",
                  caption="μ̂: fitted at the κ's the model was proposed with (μ̂κ: its signal strength multipliers)")
    for col in ("K", "μ̂", "walker:step", "particles (GeV)", "combination"):
        table.add_column(col)
    for r in top:
        table.add_row(fmt_number(r.K, 4), fmt_number(r.mu_hat), f"{r.walker}:{r.step}", ", ".join(_names(r.model)),
                      ", ".join(c["analysis"] for c in r.combination)[:60])
    Console().print(table)
