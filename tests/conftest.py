"""Shared fixtures: the SModelS database is found with the same lookup as the library."""

from __future__ import annotations

import pytest

from nextsm.errors import DatabaseNotFoundError


@pytest.fixture(scope="session")
def database_path():
    """Path of the SModelS database (folder or .tar.gz); skips only if it is truly absent."""
    from nextsm.database.source import locate_database

    try:
        return locate_database()
    except DatabaseNotFoundError as exc:  # pragma: no cover - CI has the database
        pytest.skip(f"SModelS database absent: {exc}")


@pytest.fixture(scope="session")
def database_source(database_path):
    """Read access to the database files (see nextsm.database.source.DatabaseSource)."""
    from nextsm.database.source import DatabaseSource

    source = DatabaseSource(database_path)
    yield source
    source.close()


@pytest.fixture(scope="session")
def database(database_path):
    """The whole SModelS database, loaded once per test session (through the user's compiled cache,
    which is safe to share between processes; tests of the cache itself use private folders)."""
    from nextsm.database import load_database

    return load_database(database_path)
