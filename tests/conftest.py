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


def load_fixture_script(relative: str):
    """Import a fixture generator (``tests/fixtures/...py``) as a module, to reuse its SModelS calls live."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent / "fixtures" / relative
    spec = importlib.util.spec_from_file_location(f"nextsm_fixture_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fixture_script():
    """``fixture_script("make_grid_fixtures.py")``: a fixture generator imported as a module."""
    return load_fixture_script


@pytest.fixture(scope="session")
def stored_qhull_splits(database):
    """Does this machine split co-spherical grid cells as the machine that stored the SModelS fixtures?

    The database grids are regular, so most cells have co-spherical corners and their Delaunay triangulation
    is ambiguous; which diagonal Qhull takes follows the last bits of the principal-axis rotation, i.e. the
    CPU's BLAS kernels.  SModelS and nextsm take the same one on the same machine (checked live in
    ``tests/database/test_grids.py``), but stored SModelS values from another machine differ in ambiguous
    cells.  Returns ``(number of stored grid values nextsm reproduces, number compared)``.
    """
    import json
    from pathlib import Path

    import numpy as np

    from nextsm.database.grids import GridInterpolator

    fixture = json.loads((Path(__file__).resolve().parent / "fixtures" / "grid_interpolation.json").read_text())
    same = compared = 0
    for record in fixture["grids"]:
        tx = database.analysis(record["folder"]).dataset(record["dataset"]).txname(record["txname"])
        interp = GridInterpolator.from_grid(tx.grids[record["grid"]], data_map=tx.data_map)
        got = interp(np.array(record["points"]))
        stored = np.array([np.nan if v is None else v for v in record["smodels"]])
        equal = np.isclose(got, stored, rtol=1e-6, atol=0.0) | (np.isnan(got) & np.isnan(stored))
        same += int(equal.sum())
        compared += len(stored)
    return same, compared


@pytest.fixture(scope="session")
def same_splits_as_stored_smodels(stored_qhull_splits):
    """Skips a comparison with stored SModelS outputs on a machine whose Qhull splits differ from theirs."""
    same, compared = stored_qhull_splits
    if same != compared:
        pytest.skip(
            f"this machine splits co-spherical grid cells differently from the machine that stored the SModelS "
            f"fixtures ({compared - same} of {compared} stored grid values differ); the live SModelS comparisons "
            f"(extra 'validation') cover it"
        )
