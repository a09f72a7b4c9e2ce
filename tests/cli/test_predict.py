"""``nextsm predict`` (and ``nextsm export-slha``) on the example protomodels of ``examples/``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli
from nextsm.model.protomodel import ProtoModel

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STOP = EXAMPLES / "stop.json"  # stop 800 GeV -> t N1, N1 100 GeV: excluded by the stop searches
GLUINO = EXAMPLES / "gluino-cascade.json"

RECORD_KEYS = {"analysis", "dataset", "type", "txnames", "sqrts", "signal_fb", "r_obs", "r_exp",
               "nll_bsm", "nll_sm", "mu_hat"}


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _reject_constant(name: str) -> float:
    raise AssertionError(f"{name} is not valid JSON")


def run(*args: object) -> list[dict]:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout, parse_constant=_reject_constant)  # strict: no NaN / Infinity


def key(record: dict) -> tuple:
    return record["folder"], record["dataset"], tuple(record["txnames"])


def excluding(records: list[dict]) -> list[dict]:
    return [r for r in records if r["r_obs"] is not None and r["r_obs"] > 1]


@pytest.fixture(scope="module")
def stop_records(database_path) -> list[dict]:
    """``predict examples/stop.json --json``, run once for the tests of the default output."""
    return run("predict", STOP, "--json", "--database", database_path)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_examples_are_valid_models(path):
    model = ProtoModel.from_json(path)
    assert model.n_particles() >= 2


@pytest.mark.database
def test_json_records(stop_records):
    assert isinstance(stop_records, list)
    assert stop_records
    for record in stop_records:
        assert record.keys() >= RECORD_KEYS, record
        assert record["type"] in ("UL", "EM")  # "combined" only with --combine
        assert record["sqrts"] in (8.0, 13.0)
        assert record["signal_fb"] > 0
        if record["type"] == "EM":
            assert record["dataset"] is not None
            assert list(record["yields"]) == [record["dataset"]]
            assert record["yields"][record["dataset"]] > 0
        else:
            assert record["dataset"] is None
        if record["mu_hat"] is not None:
            assert record["mu_hat"] >= 0
    cms = [r for r in stop_records if r["analysis"] == "CMS-SUS-20-002" and r["type"] == "UL"]
    assert [r["txnames"] for r in cms] == [["T2tt"]]
    assert cms[0]["r_obs"] > 1
    em_per_analysis = Counter(r["analysis"] for r in stop_records if r["type"] == "EM")
    assert em_per_analysis
    assert max(em_per_analysis.values()) == 1  # the best SR only


@pytest.mark.database
def test_all_regions_lists_every_signal_region(stop_records, database_path):
    records = run("predict", STOP, "--json", "--all-regions", "--database", database_path)
    assert len(records) > len(stop_records)
    every = {key(r): r for r in records}
    assert {key(r) for r in stop_records} <= every.keys()
    em_per_analysis = Counter(r["analysis"] for r in records if r["type"] == "EM")
    assert max(em_per_analysis.values()) > 1
    for record in stop_records:  # the best SR of the default output is one of them, with equal numbers
        assert every[key(record)]["r_obs"] == pytest.approx(record["r_obs"])
        assert every[key(record)]["signal_fb"] == pytest.approx(record["signal_fb"])


@pytest.mark.database
def test_sqrts_selection(stop_records, database_path):
    records = run("predict", STOP, "--json", "--sqrts", "13", "--database", database_path)
    assert records
    assert {r["sqrts"] for r in records} == {13.0}
    # the 13 TeV part of the default output, unchanged
    default_13 = {key(r): r for r in stop_records if r["sqrts"] == 13.0}
    assert {key(r) for r in records} == default_13.keys()
    for record in records:
        assert record["r_obs"] == pytest.approx(default_13[key(record)]["r_obs"])


@pytest.mark.parametrize("value", ["7", "8,14", "13,x"])
def test_sqrts_outside_the_database_fails(value):
    # fails before the database is loaded, so no --database is needed
    result = invoke("predict", STOP, "--sqrts", value)
    assert result.exit_code != 0
    assert f"'{value}'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.database
def test_table_output(stop_records, database_path):
    result = invoke("predict", STOP, "--database", database_path)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "CMS-SUS-20-002" in out
    assert f"{len(stop_records)} results" in out
    assert f"{len(excluding(stop_records))} result(s) with r_obs > 1" in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) == min(30, len(stop_records))  # --top defaults to 30


@pytest.mark.database
def test_table_top(database_path):
    result = invoke("predict", STOP, "--top", "3", "--database", database_path)
    assert result.exit_code == 0, result.output
    assert len([line for line in result.output.splitlines() if line.startswith("│")]) == 3


VALID = json.loads(STOP.read_text())


@pytest.mark.parametrize(("change", "field"), [
    ({"decays": {"1000006": {"1000099,6": 1.0}}}, 'decays["1000006"]["1000099,6"]'),   # unknown daughter
    ({"decays": {"1000006": {"1000022,6": 1.0}, "1000099": {"1000022,6": 1.0}}}, 'decays["1000099"]'),
    ({"masses": [800.0, 100.0]}, "masses"),
    ({"masses": {"1000006": "heavy", "1000022": 100.0}}, 'masses["1000006"]'),
    ({"ssmultiplier": {}}, "ssmultiplier"),
], ids=["unknown-daughter", "unknown-mother", "masses-not-a-mapping", "mass-not-a-number", "unknown-field"])
def test_malformed_model_is_a_one_line_error(tmp_path, change, field):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(VALID | change))
    # the console-script entry point: a NextsmError becomes "Error: ..." and exit code 1
    proc = subprocess.run([sys.executable, "-c", "from nextsm.cli.main import main; main()", "predict", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: ")
    assert field in lines[0]


def test_malformed_json_is_a_one_line_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(STOP.read_text().rstrip().rstrip("}"))
    proc = subprocess.run([sys.executable, "-c", "from nextsm.cli.main import main; main()", "predict", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"Error: {path}: invalid JSON")
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.database
def test_combine_adds_combined_records(stop_records, database_path):
    records = run("predict", STOP, "--json", "--combine", "--database", database_path)
    combined = [r for r in records if r["type"] == "combined"]
    assert combined
    folders = {r["folder"] for r in combined}
    for record in combined:
        assert record.keys() >= RECORD_KEYS
        assert record["dataset"] is None
        assert len(record["yields"]) > 1
        assert record["r_obs"] is not None
        assert record["r_obs"] > 0
        assert record["nll_bsm"] is not None
        assert record["nll_sm"] is not None
    # by default a combined result replaces the best SR of its analysis; the rest is unchanged
    assert not [r for r in records if r["type"] == "EM" and r["folder"] in folders]
    assert {key(r) for r in records if r["type"] != "combined"} == {
        key(r) for r in stop_records if r["folder"] not in folders}


def test_export_slha_of_the_gluino_cascade(tmp_path):
    result = invoke("export-slha", GLUINO)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "BLOCK MASS" in text
    assert "DECAY   1000021" in text
    assert "DECAY   1000006" in text
    xsections = [line for line in text.splitlines() if line.startswith("XSECTION")]
    assert any("1000021 1000021" in line for line in xsections)
    assert any("-1000006 1000006" in line for line in xsections)
    assert {line.split()[1] for line in xsections} == {"8.000000E+03", "1.300000E+04"}

    out = tmp_path / "gluino.slha"
    result = invoke("export-slha", GLUINO, "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_text() == text
