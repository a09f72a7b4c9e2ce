"""nextsm fakedb and nextsm study end to end on the real database (tiny walks)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli
from nextsm.machine.store import RunStore

pytestmark = pytest.mark.database


def test_fakedb_writes_a_fake_that_walk_reads(tmp_path, database_path):
    runner = CliRunner()
    fake = tmp_path / "fake"
    made = runner.invoke(cli, ["fakedb", "--database", str(database_path), "--out", str(fake), "--seed", "4"])
    assert made.exit_code == 0, made.output
    assert "SM-only" in made.output
    data = json.loads((fake / "fake.json").read_text())
    assert data["seed"] == 4
    assert data["settings"]["kind"] == "SM"
    assert data["injected"] is None
    again = runner.invoke(cli, ["fakedb", "--database", str(database_path), "--out", str(fake), "--seed", "4"])
    assert again.exit_code != 0
    assert "--force" in again.output
    nested = runner.invoke(cli, ["fakedb", "--database", str(fake), "--out", str(tmp_path / "f2"), "--seed", "1"])
    assert nested.exit_code != 0
    assert "itself a fake" in nested.output
    walked = runner.invoke(cli, ["walk", "--database", str(fake), "--walkers", "1", "--steps", "3",
                                 "--out", str(tmp_path / "run"), "--processes", "1"])
    assert walked.exit_code == 0, walked.output
    store = RunStore(tmp_path / "run")
    assert store.count() == {0: 3}
    store.close()


def test_fakedb_injection(tmp_path, database_path):
    runner = CliRunner()
    fake = tmp_path / "inj"
    model = tmp_path / "stop.json"
    model.write_text(json.dumps({"masses": {"1000006": 900.0, "1000022": 100.0},
                                 "decays": {"1000006": {"1000022,6": 1.0}},
                                 "ssmultipliers": {"-1000006,1000006": 1.0}}))
    made = runner.invoke(cli, ["fakedb", "--database", str(database_path), "--out", str(fake), "--seed", "4",
                               "--inject", str(model), "--fixed-signals"])
    assert made.exit_code == 0, made.output
    data = json.loads((fake / "fake.json").read_text())
    assert data["settings"]["kind"] == "signal-injected"
    assert data["settings"]["fixed_signals"]
    assert data["injected"]["masses"] == {"1000006": 900.0, "1000022": 100.0}
    assert any("added" in s for d in data["ul"].values() for t in d.values() for s in t.values())


def test_study_runs_resumes_and_reports(tmp_path, database_path):
    runner = CliRunner()
    out = tmp_path / "study"
    args = ["study", "--database", str(database_path), "--out", str(out), "--fakes", "2", "--real-runs", "1",
            "--walkers", "1", "--steps", "3", "--processes", "1", "--seed", "5"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    result = json.loads((out / "pvalue.json").read_text())
    assert set(result["fakes"]) == {"fake-000", "fake-001"}
    assert set(result["real"]) == {"real-0"}
    assert result["pvalue"]["n_fakes"] == 2
    refused = runner.invoke(cli, args)
    assert refused.exit_code != 0
    assert "--resume" in str(refused.exception) + refused.output
    changed = runner.invoke(cli, [*args[:-2], "--seed", "6", "--resume"])
    assert changed.exit_code != 0
    assert "seed" in str(changed.exception) + changed.output
    drawn = (out / "fakes" / "fake-001" / "fake.json").stat().st_mtime_ns
    longer = [a if a != "3" else "5" for a in args]  # a study may be extended: more steps, more fakes
    longer[longer.index("--fakes") + 1] = "3"
    resumed = runner.invoke(cli, [*longer, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    for run in (out / "real-0", out / "fakes" / "fake-000" / "run", out / "fakes" / "fake-002" / "run"):
        store = RunStore(run)
        assert store.count() == {0: 5}
        assert [r.step for r in store.steps(0)] == [1, 2, 3, 4, 5]
        store.close()
    assert (out / "fakes" / "fake-001" / "fake.json").stat().st_mtime_ns == drawn  # not drawn again
    assert json.loads((out / "pvalue.json").read_text())["pvalue"]["n_fakes"] == 3
