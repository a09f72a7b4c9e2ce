"""The run store's metadata: provenance recorded at creation, resumptions, refusal of a different database."""

from __future__ import annotations

import platform
import re

import numpy as np
import pytest
from click.testing import CliRunner

from nextsm import __version__
from nextsm.cli.main import cli
from nextsm.machine.run import RunError, database_provenance, prepare
from nextsm.machine.store import PROVENANCE, RESUMES, SETTINGS, RunStore, StoreError


def _meta(folder):
    store = RunStore(folder)
    try:
        return store.meta()
    finally:
        store.close()


def test_append_meta_keeps_a_list(tmp_path):
    store = RunStore(tmp_path)
    try:
        store.append_meta("log", {"a": 1})
        store.append_meta("log", {"a": 2})
        assert store.meta()["log"] == [{"a": 1}, {"a": 2}]
        store.set_meta("scalar", 3)
        with pytest.raises(StoreError, match="'scalar'"):
            store.append_meta("scalar", 4)
    finally:
        store.close()


def test_an_unreadable_database_is_recorded_with_the_reason(tmp_path):
    record = database_provenance(str(tmp_path / "nowhere"))
    assert record["version"] is None
    assert record["content_hash"] is None
    assert "nowhere" in record["error"]


@pytest.mark.database
def test_prepare_records_provenance_once_and_each_resumption(tmp_path, database, database_path):
    folder = tmp_path / "run"
    settings = {"walkers": 3, "steps": 10, "seed": 4, "rule": "rjmcmc", "likelihood": "best-sr",
                "database": str(database_path)}
    prepare(folder, settings, False, options={"params": {"walkers": 3}}, runner={"kind": "local", "processes": 2})
    meta = _meta(folder)
    assert meta[SETTINGS] == settings
    p = meta[PROVENANCE]
    assert (p["seed"], p["walkers"], p["steps"], p["rule"]) == (4, 3, 10, "rjmcmc")
    assert p["settings"] == settings
    assert p["database"] == {"argument": str(database_path), "path": database.path, "version": "3.0.0",
                             "content_hash": database.content_hash}
    assert (p["nextsm_version"], p["python"], p["numpy"]) == (__version__, platform.python_version(), np.__version__)
    assert p["options"] == {"params": {"walkers": 3}}
    assert p["runner"] == {"kind": "local", "processes": 2}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", p["started"])
    assert RESUMES not in meta

    with pytest.raises(RunError, match="--resume"):
        prepare(folder, settings, False)
    with pytest.raises(RunError, match="seed=4"):
        prepare(folder, {**settings, "seed": 5}, True)
    prepare(folder, {**settings, "steps": 20}, True)
    meta = _meta(folder)
    assert meta[PROVENANCE] == p  # recorded once
    assert meta[SETTINGS] == settings
    assert [r["steps"] for r in meta[RESUMES]] == [20]

    store = RunStore(folder)  # as if the run had been started on another database
    try:
        store.set_meta(PROVENANCE, {**p, "database": {**p["database"], "content_hash": "0" * 64}})
    finally:
        store.close()
    with pytest.raises(RunError, match="content_hash 0000000000000000"):
        prepare(folder, settings, True)


@pytest.mark.database
def test_nextsm_walk_records_its_options(tmp_path, database_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["walk", "--database", str(database_path), "--walkers", "1", "--steps", "2",
                                      "--out", str(out), "--seed", "3", "--processes", "1"])
    assert result.exit_code == 0, result.output
    p = _meta(out)[PROVENANCE]
    given = {"database_path": str(database_path), "walkers": 1, "steps": 2, "out": str(out), "seed": 3,
             "resume": False, "rule": "rjmcmc", "processes": 1, "scheduler": None, "use_dask": False}
    assert p["options"]["params"].items() >= given.items()  # every option, defaults included
    assert p["options"]["command"].startswith("nextsm")  # this process' command line (here: pytest's)
    assert p["runner"] == {"kind": "local", "processes": 1}
    assert (p["seed"], p["walkers"], p["steps"]) == (3, 1, 2)
