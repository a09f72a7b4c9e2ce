"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from nextsm.database import Database, DatabaseSource, LoadInfo, load_database

database_option = click.option(
    "--database", "database_path", type=click.Path(exists=True, dir_okay=True), default=None,
    help="SModelS database folder or .tar.gz (default: $NEXTSM_DATABASE, then ../shared/data/...).",
)
no_cache_option = click.option("--no-cache", is_flag=True, help="Ignore the compiled cache (cold build).")


def fake_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How fakes are drawn (``nextsm.fake.FakeSettings``): --fudge, --inject, --fixed-backgrounds, --fixed-signals,
    --max-mass-dist (shared by ``nextsm fakedb`` and ``nextsm study``)."""
    options = [
        click.option("--fudge", type=click.FloatRange(min=0.0, min_open=True), default=1.0, show_default=True,
                     help="Factor on every background uncertainty of the fakes."),
        click.option("--inject", "inject_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     default=None, help="Protomodel JSON whose predicted signal is added (closure tests)."),
        click.option("--fixed-backgrounds", is_flag=True,
                     help="No background fluctuation: counts = expected backgrounds, UL_obs = UL_exp."),
        click.option("--fixed-signals", is_flag=True, help="Add the injected yields themselves (no Poisson draw)."),
        click.option("--max-mass-dist", type=click.FloatRange(min=0.0, min_open=True), default=100.0,
                     show_default=True,
                     help="GeV: the injected σ×BR is added to UL-map points this close to the model's masses."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_with_progress(path: str | None, *, no_cache: bool = False) -> tuple[Database, LoadInfo]:
    """Load the database, showing a progress bar while a cold build runs."""
    from rich.progress import Progress

    info: list[LoadInfo] = []
    with Progress(transient=True) as bar:
        def progress(folders: Iterable[str]) -> Iterable[str]:
            items = list(folders)
            task = bar.add_task("compiling database", total=len(items))
            for item in items:
                yield item
                bar.advance(task)

        db = load_database(path, use_cache=not no_cache, progress=progress, info=info)
    return db, info[0]


def fmt_number(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, ``-`` for None, NaN or infinity (tables)."""
    import math

    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}"


@contextmanager
def workspace_source(db: Database, needed: bool) -> Iterator[DatabaseSource | None]:
    """The database files (for pyhf workspaces) if ``needed``, closed afterwards; else ``None``."""
    if not needed:
        yield None
        return
    source = DatabaseSource(db.path)
    try:
        yield source
    finally:
        source.close()
