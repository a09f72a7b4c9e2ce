"""``nextsm plot``: one figure of the report as PNG, PDF or SVG."""

from __future__ import annotations

from pathlib import Path

import click

from nextsm.cli.common import database_option
from nextsm.cli.report import combinability_option, rank_option, stage_progress
from nextsm.report.build import PLOT_KINDS


@click.command()
@click.argument("kind", type=click.Choice(PLOT_KINDS))
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file; the format follows the suffix (.png, .pdf, .svg).")
@database_option
@combinability_option
@rank_option
def plot(kind: str, run: Path, out: Path, database_path: str | None, combinability_folder: str | None,
         rank: int) -> None:
    """Draw the KIND figure of RUN (a run or, for pvalue, a study folder) to --out.

    \b
    ruler          mass spectrum of the best model, particles annotated with the results preferring/constraining them
    decays         decay graph of the best model with BRs
    k-history      K of every walker per step
    combinability  combinability matrix of the results involved with the best model
    pvalue         K_max distribution of a study's fake runs, the real K_max and the global p-value

    ruler, decays and combinability evaluate the model on the database (--database; default: the run's).
    """
    from nextsm.report.build import write_plot

    with stage_progress(f"plot {kind}") as progress:
        path = write_plot(kind, run, out, database=database_path, combinability=combinability_folder, rank=rank,
                          progress=progress)
    click.echo(f"{kind} plot written to {path}")
