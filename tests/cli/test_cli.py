"""The ``nextsm`` command line on the real database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nextsm.cli.limit import parse_signal
from nextsm.cli.main import cli
from nextsm.errors import LikelihoodError


def run(*args: str) -> dict:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.database
def test_database_info_json(database_path):
    data = run("database", "info", "--json", "--database", str(database_path))
    assert data["analysis_folders"] == 204
    assert data["unsupported_constraints"] == []
    assert set(data["missing_workspaces"]) == {"ATLAS-SUSY-2018-32-eff", "ATLAS-SUSY-2019-08-eff"}


@pytest.mark.database
def test_limit_ul_result(database_path):
    data = run("limit", "CMS-SUS-19-006", "--txname", "T2tt", "--masses", "[[1000,100],[1000,100]]",
               "--xsec", "6.83", "--json", "--database", str(database_path))
    assert data["kind"] == "ul-truncated-gaussian"
    assert data["r_observed"] == pytest.approx(1.0 / data["ul_observed"])
    assert data["ul_observed"] > 0
    assert data["ul_expected"] > 0


@pytest.mark.database
def test_limit_em_result_with_named_regions(database_path):
    data = run("limit", "CMS-SUS-16-050-agg", "--signal", "ar1=3,ar2=1", "--json", "--database", str(database_path))
    assert data["kind"] == "sl-v1"
    vs_sm, vs_max = data["twice_delta_nll_vs_sm"], data["twice_delta_nll_vs_max"]
    assert vs_sm == pytest.approx(vs_max - 2 * (data["nll_sm"] - data["nll_min"]), abs=1e-9)


def test_parse_signal_errors_name_the_option():
    assert parse_signal("1,2", ("a", "b")) == [1.0, 2.0]
    assert parse_signal("b=3", ("a", "b")) == [0.0, 3.0]
    with pytest.raises(LikelihoodError, match="'--signal' has 1 values"):
        parse_signal("1", ("a", "b"))
    with pytest.raises(LikelihoodError, match="unknown region 'c'"):
        parse_signal("c=1", ("a", "b"))
