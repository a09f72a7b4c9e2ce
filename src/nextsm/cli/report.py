"""``nextsm report``: the self-contained HTML report of a run or a study."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from nextsm.cli.common import database_option

combinability_option = click.option(
    "--combinability", "combinability_folder", type=click.Path(exists=True, file_okay=False), default=None,
    help="Combinability lists (default: $NEXTSM_COMBINABILITY, then ../shared/data/combinability).")
rank_option = click.option("--rank", type=click.IntRange(min=1), default=1, show_default=True,
                           help="Which hiscore model to show (1 = the best).")


@contextmanager
def stage_progress(title: str) -> Iterator[Callable[[str], None]]:
    """A rich progress line showing the current stage and the elapsed time; yields the stage callback."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn(f"[bold]{title}[/bold] {{task.description}}"), TimeElapsedColumn(),
                  transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda stage: bar.update(task, description=stage)


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder (default: RUN/report); holds index.html and report.json.")
@database_option
@combinability_option
@click.option("-n", "n_hiscores", type=click.IntRange(min=1), default=10, show_default=True,
              help="Length of the hiscore table.")
@rank_option
@click.option("--no-contributions", is_flag=True, help="Skip ΔK when each particle/analysis is removed.")
def report(run: Path, out: Path | None, database_path: str | None, combinability_folder: str | None,
           n_hiscores: int, rank: int, no_contributions: bool) -> None:
    """Write the HTML report of RUN (a `nextsm walk` folder, or a `nextsm study` folder) to OUT/index.html.

    The page needs no server and no network (figures embedded): run metadata, K history per walker, the
    hiscores, and for the best model the mass ruler, the decay graph, κ and cross sections, the best combination,
    the most constraining r-values, the contributions of each particle and analysis and the combinability
    matrix; for a study also the K_max distribution and the global p-value.  Needs the 'plot' extra.
    """
    from nextsm.report.build import write_report

    out = out or run / "report"
    with stage_progress("report") as progress:
        page = write_report(run, out, database=database_path, combinability=combinability_folder,
                            n_hiscores=n_hiscores, rank=rank, contributions=not no_contributions, progress=progress)
    click.echo(f"report written: open {page.resolve().as_uri()}")
