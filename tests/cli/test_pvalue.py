"""nextsm pvalue end to end on tiny runs written with RunStore."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli
from nextsm.machine.pvalue import global_pvalue
from nextsm.machine.store import RunStore, StepRecord

FAKE_K = [1.0, 2.0, 2.5, 3.0, 4.0, 5.5]


def make_run(folder, ks: list[float | None]):
    """A one-walker run whose steps proposed models with the K values ``ks``."""
    store = RunStore(folder)
    for step, k in enumerate(ks, start=1):
        store.append(StepRecord(0, step, {"masses": {"1000022": 300.0}}, k, None, [], [], "mass", "", True,
                                {"masses": {"1000022": 300.0}}, k, {}))
    store.close()
    return folder


@pytest.fixture
def runs(tmp_path):
    """Two real runs (K_max 4 and 5) and six fake runs (K_max FAKE_K) under tmp_path/real, tmp_path/fakes."""
    real = [make_run(tmp_path / "real" / f"r{i}", [0.5, None, k]) for i, k in enumerate([4.0, 5.0])]
    fakes = [make_run(tmp_path / "fakes" / f"f{i}", [None, k, k - 1]) for i, k in enumerate(FAKE_K)]
    return tmp_path, real, fakes


def test_json_output_matches_the_library(runs):
    _, real, fakes = runs
    args = ["pvalue", "--json", *(a for r in real for a in ("--real", str(r))), *map(str, fakes)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    expected = global_pvalue([4.0, 5.0], FAKE_K)
    assert data["k_real_mean"] == 4.5
    assert data["k_fakes"] == FAKE_K
    assert data["p"] == pytest.approx(expected.p)
    assert data["z"] == pytest.approx(expected.z)
    assert (data["n_above"], data["fraction"]) == (1, pytest.approx(1 / 6))
    assert data["runs"]["real"] == {str(real[0]): 4.0, str(real[1]): 5.0}
    assert data["plot"] is None


def test_table_plot_and_quoted_pattern(runs):
    pytest.importorskip("matplotlib")
    tmp_path, _, fakes = runs
    plot = tmp_path / "k.png"
    result = CliRunner().invoke(cli, ["pvalue", "--real", str(tmp_path / "real" / "r*"), *map(str, fakes),
                                      "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    expected = global_pvalue([4.0, 5.0], FAKE_K)
    assert "K_max per run" in result.output
    assert "global p-value" in result.output
    assert f"{expected.p:.3g}" in result.output
    assert f"{expected.z:.3g}" in result.output
    assert "1/6" in result.output
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_a_folder_that_is_not_a_run(runs):
    tmp_path, real, fakes = runs
    other = tmp_path / "notes"
    other.mkdir()
    result = CliRunner().invoke(cli, ["pvalue", "--real", str(real[0]), *map(str, fakes), str(other)])
    assert result.exit_code == 1
    assert f"{other}: not a run folder (no run.sqlite)" in result.output
    assert not (other / "run.sqlite").exists()


def test_usage_errors(runs):
    tmp_path, real, fakes = runs
    runner = CliRunner()
    one_fake = runner.invoke(cli, ["pvalue", "--real", str(real[0]), str(fakes[0])])
    assert one_fake.exit_code == 1
    assert "at least two fake runs, got 1" in one_fake.output
    no_fakes = runner.invoke(cli, ["pvalue", "--real", str(real[0])])
    assert no_fakes.exit_code == 2
    assert "FAKES" in no_fakes.output
    twice = runner.invoke(cli, ["pvalue", "--real", str(real[0]), str(real[0]), str(fakes[0])])
    assert twice.exit_code == 2
    assert "both as real and as fake" in twice.output
    nothing = runner.invoke(cli, ["pvalue", "--real", str(tmp_path / "nope*"), *map(str, fakes)])
    assert nothing.exit_code == 2
    assert "no run matches" in nothing.output


def test_flat_fakes_report_only_the_fraction(tmp_path):
    real = make_run(tmp_path / "real", [3.5])
    fakes = [make_run(tmp_path / f"f{i}", [3.0]) for i in range(3)]
    result = CliRunner().invoke(cli, ["pvalue", "--real", str(real), *map(str, fakes)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "no kernel density estimate" in result.output
    assert "0/3 = 0" in result.output
