"""``nextsm interval --model nsbi-toy|interference-toy`` end to end (tiny toy budgets)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli

SMALL = ["--method", "toys", "--toys", "40", "--sims", "200", "--cl", "0.683", "--json"]


@pytest.mark.parametrize(("model", "extra"), [("interference-toy", ["--mu-max", "3", "--mu-step", "0.5", "--statistic",
                                                                    "fts", "--focus", "0,0.5"]),
                                              ("nsbi-toy", ["--mu-max", "3", "--mu-step", "0.75"])])
def test_nsbi_toy_interval(model, extra):
    result = CliRunner().invoke(cli, ["interval", "--model", model, "--observed", "1", *SMALL, *extra])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    (row,) = out["intervals"]
    assert "pseudo-data at μ = 1" in out["model"]
    assert 0.0 <= row["lower"] < row["upper"] <= 3.0
    assert row["method"] == "toys"
    assert "flagged_points" in row


def test_nsbi_toy_errors():
    runner = CliRunner()
    exact = runner.invoke(cli, ["interval", "--model", "nsbi-toy", "--observed", "1"])
    assert exact.exit_code != 0
    assert "--method toys" in exact.output
    outside = runner.invoke(cli, ["interval", "--model", "interference-toy", "--observed", "9", *SMALL])
    assert outside.exit_code != 0
    assert "--observed" in outside.output
    wrong = runner.invoke(cli, ["interval", "--model", "interference-toy", "--observed", "1", "--estimator", "x",
                                *SMALL])
    assert wrong.exit_code != 0
    assert "--estimator" in wrong.output
