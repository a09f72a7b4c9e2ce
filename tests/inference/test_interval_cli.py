"""``nextsm interval`` end to end."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli


def _run(args):
    result = CliRunner().invoke(cli, ["interval", *args])
    assert result.exit_code == 0, result.output
    return result


def test_gaussian_fc_interval_as_json():
    out = json.loads(_run(["--model", "gaussian", "--observed", "0", "--cl", "0.9", "--json"]).output)
    (row,) = out["intervals"]
    assert row["lower"] == 0.0
    assert row["upper"] == pytest.approx(1.64, abs=0.01)     # Feldman & Cousins Table X
    assert row["exact_coverage"]["min"] > 0.895


def test_fts_poisson_with_output_and_plots(tmp_path):
    target = tmp_path / "poisson.json"
    _run(["--model", "poisson", "--background", "3", "--observed", "2", "--statistic", "fts", "--focus", "0,0.5",
          "--mu-max", "6", "--output", str(target), "--plot-belt", str(tmp_path / "belt.png"),
          "--plot-coverage", str(tmp_path / "cov.png")])
    data = json.loads(target.read_text())
    assert data["focus"] == "N(0,0.5²)"
    assert [r["cl"] for r in data["intervals"]] == [0.683, 0.954]
    assert all(r["exact_coverage"]["min"] >= r["cl"] - 2e-3 for r in data["intervals"])
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["belt_cl0p683.png", "belt_cl0p954.png",
                                                              "cov_cl0p683.png", "cov_cl0p954.png"]


def test_amortised_belt_with_diagnostic():
    out = json.loads(_run(["--model", "gaussian", "--observed", "1.0", "--method", "amortised", "--sims", "3000",
                           "--toys", "500", "--mu-max", "5", "--cl", "0.9", "--json"]).output)
    (row,) = out["intervals"]
    assert row["lower"] == pytest.approx(0.0, abs=0.15)
    assert row["upper"] == pytest.approx(2.64, abs=0.25)      # FC: [0.00, 2.64] at x = 1.0
    assert "flagged_points" in row


def test_usage_errors():
    runner = CliRunner()
    assert runner.invoke(cli, ["interval", "--model", "gaussian", "--observed", "1", "--statistic", "fts"]
                         ).exit_code != 0
    assert runner.invoke(cli, ["interval", "--observed", "1"]).exit_code != 0
    bad = runner.invoke(cli, ["interval", "--model", "gaussian", "--observed", "1", "--statistic", "fts",
                              "--focus", "zero"])
    assert bad.exit_code != 0
    assert "--focus" in bad.output


@pytest.mark.database
def test_database_result(database_path):
    out = json.loads(_run(["--analysis", "ATLAS-SUSY-2016-07-eff", "--region", "4j_Meff_3000", "--signal", "3",
                           "--mu-max", "5", "--cl", "0.9", "--json", "--database", str(database_path)]).output)
    (row,) = out["intervals"]
    assert out["observed"] == 2.0
    assert row["lower"] == 0.0
    assert 0.5 < row["upper"] < 2.0
