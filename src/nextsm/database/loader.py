"""``load_database``: locate, read (or load from the compiled cache) the SModelS database."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from nextsm.database import cache
from nextsm.database.reader import read_database
from nextsm.database.records import Database
from nextsm.database.source import ENV_VAR, DatabaseSource, locate_database

__all__ = ["LoadInfo", "load_database"]


@dataclass(frozen=True)
class LoadInfo:
    """How a database was loaded (for ``nextsm database info`` and benchmarks)."""

    source: str
    from_cache: bool
    seconds: float
    cache_entry: str | None


def load_database(
    path: str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = True,
    cache_root: str | os.PathLike[str] | None = None,
    skip_bad: bool = False,
    progress: Callable[[Iterable[str]], Iterable[str]] | None = None,
    info: list[LoadInfo] | None = None,
) -> Database:
    """Load the SModelS database.

    Parameters
    ----------
    path:
        A database folder or ``.tar.gz``; if None, ``NEXTSM_DATABASE`` and then the shared copy
        ``../shared/data/smodels-database-3.0.0.tar.gz`` are tried
        (:func:`nextsm.database.source.locate_database`).
    use_cache:
        Read from / write to the compiled cache (:mod:`nextsm.database.cache`).  A warm load of
        the whole database takes about a second; a cold build about 20 s.
    skip_bad:
        Skip malformed analyses with a warning listing them instead of raising.
    progress:
        Optional wrapper for the iterable of analysis folders of a cold build (a progress bar).
    info:
        If a list is given, a :class:`LoadInfo` describing this load is appended to it.

    Examples
    --------
    >>> db = load_database()                      # doctest: +SKIP
    >>> db.analysis("ATLAS-SUSY-2018-04").info.lumi_ifb   # doctest: +SKIP
    139.0
    """
    t0 = time.perf_counter()
    db_path = locate_database(path)
    if db_path.is_dir() and (db_path / "fake.json").is_file():
        return _load_fake(db_path, use_cache=use_cache, cache_root=cache_root, info=info, t0=t0)
    root = cache.cache_dir(cache_root)
    if use_cache:
        cached = cache.load_cached(db_path, root)
        if cached is not None:
            if info is not None:
                info.append(LoadInfo(str(db_path), True, time.perf_counter() - t0,
                                     str(cache._entry_dir(root, cached.content_hash))))
            return cached
    with DatabaseSource(db_path) as source:
        db = read_database(source, skip_bad=skip_bad, progress=progress)
    entry = None
    if use_cache and not db.skipped:
        try:
            entry = str(cache.store(db, db_path, root))
        except OSError:  # a read-only cache location must not prevent loading
            entry = None
    if info is not None:
        info.append(LoadInfo(str(db_path), False, time.perf_counter() - t0, entry))
    return db


def _load_fake(folder: Path, *, use_cache: bool, cache_root: str | os.PathLike[str] | None,
               info: list[LoadInfo] | None, t0: float) -> Database:
    """A fake database folder (:mod:`nextsm.fake`): its base database with the fake observations."""
    from nextsm.fake.overlay import FakeDatabaseError, apply_overlay, read_overlay

    overlay = read_overlay(folder)
    base_path = os.environ.get(ENV_VAR) if not Path(overlay.base_path).exists() else overlay.base_path
    if not base_path or not Path(base_path).exists():
        raise FakeDatabaseError(f"{folder / 'fake.json'}: field 'base.path' names {overlay.base_path}, which does "
                                f"not exist here; set {ENV_VAR} to a copy of that database")
    base = load_database(base_path, use_cache=use_cache, cache_root=cache_root)
    db = apply_overlay(base, overlay, path=str(folder))
    if info is not None:
        info.append(LoadInfo(str(folder), True, time.perf_counter() - t0, None))
    return db
