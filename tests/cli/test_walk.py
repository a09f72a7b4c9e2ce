"""nextsm walk / hiscores: local processes, resume, refusal to overwrite."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli
from nextsm.machine.store import RunStore

pytestmark = pytest.mark.database


def test_walk_resume_and_hiscores(tmp_path, database_path):
    out = tmp_path / "run"
    runner = CliRunner()
    first = runner.invoke(cli, ["walk", "--database", str(database_path), "--walkers", "2", "--steps", "4",
                                "--out", str(out), "--seed", "9"])
    assert first.exit_code == 0, first.output
    store = RunStore(out)
    assert store.count() == {0: 4, 1: 4}
    store.close()
    again = runner.invoke(cli, ["walk", "--database", str(database_path), "--walkers", "2", "--steps", "4",
                                "--out", str(out)])
    assert again.exit_code != 0
    assert "--resume" in str(again.exception) + again.output
    resumed = runner.invoke(cli, ["walk", "--database", str(database_path), "--walkers", "2", "--steps", "7",
                                  "--out", str(out), "--seed", "9", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    store = RunStore(out)
    assert store.count() == {0: 7, 1: 7}
    assert [r.step for r in store.steps(1)] == list(range(1, 8))
    store.close()
    top = runner.invoke(cli, ["hiscores", str(out), "--json", "-n", "3"])
    assert top.exit_code == 0, top.output
    data = json.loads(top.output)
    assert 1 <= len(data) <= 3
    assert all("masses" in d["model"] for d in data)
