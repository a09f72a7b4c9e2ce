"""The closure summary of a study: particle content and masses of each run's best model against the injection."""

from __future__ import annotations

import pytest

from nextsm.machine.store import RunStore, StepRecord
from nextsm.machine.study import MASS_TOLERANCE, closure_summary

INJECTED = {"masses": {"1000006": 1000.0, "1000022": 200.0}, "decays": {"1000006": {"1000022,6": 1.0}},
            "ssmultipliers": {"-1000006,1000006": 1.0}}


def run_with_best(folder, masses: dict[str, float], k: float = 5.0):
    store = RunStore(folder)
    worse = {"masses": {"1000022": 300.0}}
    best = {"masses": masses}
    store.append(StepRecord(0, 1, worse, -1.0, None, [], [], "mass", "", True, worse, -1.0, {}))
    store.append(StepRecord(0, 2, best, k, 1.0, [], [], "add", "", True, best, k, {}))
    store.close()
    return folder


def test_closure_summary_counts_content_and_masses(tmp_path):
    runs = [
        run_with_best(tmp_path / "a", {"1000006": 1030.0, "1000022": 210.0}),  # exact content, within 10 %
        run_with_best(tmp_path / "b", {"1000006": 1000.0, "1000022": 250.0}),  # LSP 25 % off
        run_with_best(tmp_path / "c", {"1000006": 990.0, "1000022": 205.0, "1000001": 700.0}),  # an extra particle
        run_with_best(tmp_path / "d", {"1000001": 990.0, "1000022": 205.0}),  # the stop missed
    ]
    out = closure_summary(runs, INJECTED)
    assert [r["same_content"] for r in out["runs"]] == [True, True, False, False]
    assert [r["masses_ok"] for r in out["runs"]] == [True, False, True, False]
    assert out["same_content"] == pytest.approx(0.5)
    assert out["all_masses_ok"] == pytest.approx(0.5)
    assert out["particles"]["1000006"] == {"injected_mass": 1000.0, "found": 0.75, "within_tolerance": 0.75}
    assert out["particles"]["1000022"]["within_tolerance"] == pytest.approx(0.75)
    assert out["runs"][0]["K"] == 5.0


def test_mass_tolerance_edge(tmp_path):
    edge = 1000.0 * (1 + MASS_TOLERANCE)
    out = closure_summary([run_with_best(tmp_path / "e", {"1000006": edge, "1000022": 200.0})], INJECTED)
    assert out["runs"][0]["masses_ok"]
    out = closure_summary([run_with_best(tmp_path / "f", {"1000006": edge + 1.0, "1000022": 200.0})], INJECTED)
    assert not out["runs"][0]["masses_ok"]


def test_light_squarks_of_any_flavour_match(tmp_path):
    injected = {"masses": {"1000001": 900.0, "1000022": 250.0}, "decays": {"1000001": {"1000022,1": 1.0}},
                "ssmultipliers": {"-1000001,1000001": 1.0}}
    out = closure_summary([run_with_best(tmp_path / "s", {"1000003": 940.0, "1000022": 230.0}),
                           run_with_best(tmp_path / "t", {"1000006": 900.0, "1000022": 250.0})], injected)
    assert [r["same_content"] for r in out["runs"]] == [True, False]
    assert out["runs"][0]["found"]["1000001"] == 1000003
    assert out["runs"][0]["masses_ok"]
    assert out["particles"]["1000001"]["found"] == pytest.approx(0.5)
