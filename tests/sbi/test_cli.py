"""``nextsm sbi simulate / train / limits`` end to end at a tiny scale."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from nextsm.cli.sbi import sbi


def test_simulate_train_limits(tmp_path):
    runner = CliRunner()
    ev = tmp_path / "toy.npz"
    res = runner.invoke(sbi, ["simulate", "toy", "--n", "6000", "--out", str(ev), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "toy.json").exists()
    for method in ("sally", "alice"):
        res = runner.invoke(sbi, ["train", method, "--events", str(ev), "--out", str(tmp_path / method),
                                  "--n-theta", "20", "--n-per-theta", "50", "--n-sally", "2000", "--epochs", "2",
                                  "--hidden", "16"])
        assert res.exit_code == 0, res.output
        out = tmp_path / f"{method}_limits.json"
        res = runner.invoke(sbi, ["limits", "--estimator", str(tmp_path / method), "--events", str(ev), "--lumi",
                                  "30", "--grid", "-0.5,0.5,11", "--out", str(out), "--plot",
                                  str(tmp_path / f"{method}.png"), "--toys", "50", "--neyman", "40",
                                  "--neyman-step", "5", "--seed", "1",
                                  *(["--neyman-2d"] if method == "alice" else [])])
        assert res.exit_code == 0, res.output
        result = json.loads(out.read_text())
        assert set(result["profiles"]) == {"c_odd", "c_even"}
        assert (tmp_path / f"{method}.png").exists()
        cov = result["toy_coverage"]
        assert cov["n_toys"] == 50
        assert 0.0 <= cov["c_odd_0.68"]["fraction"] <= 1.0
        assert "coverage with 50 toys" in res.output
        ney = result["neyman"]["c_odd"]
        assert ney["belt"]["poi"] == pytest.approx([-0.5, 0.0, 0.5])
        assert len(ney["belt"]["critical_0.68"]) == 3
        assert 0.0 <= ney["0.68"]["coverage"] <= 1.0
        assert "Neyman (40 toys per tested value)" in res.output
        if method == "alice":  # the joint region: critical values at the tested points only
            reg = result["neyman_2d"]
            crit = reg["belt"]["critical_0.68"]
            assert len(crit) == 11
            assert len(crit[0]) == 11
            assert sum(v is not None for row in crit for v in row) == reg["belt"]["n_tested"] >= 1
            assert crit[5][5] is not None  # the truth (0, 0) is always tested
            assert "joint Neyman region" in res.output
    res = runner.invoke(sbi, ["limits", "--estimator", str(tmp_path / "alice"), "--events", str(ev), "--lumi", "30",
                              "--out", str(tmp_path / "x.json"), "--neyman-2d"])
    assert res.exit_code != 0
    assert "--neyman-2d needs --neyman" in res.output
