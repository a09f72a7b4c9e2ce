"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import click

from nextsm.database import Database, DatabaseSource, LoadInfo, load_database

database_option = click.option(
    "--database", "database_path", type=click.Path(exists=True, dir_okay=True), default=None,
    help="SModelS database folder or .tar.gz (default: $NEXTSM_DATABASE, then ../shared/data/...).",
)
no_cache_option = click.option("--no-cache", is_flag=True, help="Ignore the compiled cache (cold build).")


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
