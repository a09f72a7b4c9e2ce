"""``get_simulator("wh")``: the registry returns the Pythia WH chain (constructing it needs no Pythia)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from nextsm.sbi.errors import SBIError
from nextsm.sbi.simulators import SIMULATOR_NAMES, Simulator, get_simulator
from nextsm.sbi.simulators.wh import amplitude as amp
from nextsm.sbi.simulators.wh import pythia_gen as pg
from nextsm.sbi.simulators.wh.observables import OBSERVABLE_NAMES


def test_registry_returns_the_wh_chain():
    sim = get_simulator("wh")
    assert isinstance(sim, pg.WHSimulator)
    assert isinstance(sim, Simulator)
    assert sim.name == "wh"
    assert "wh" in SIMULATOR_NAMES
    assert sim.parameter_names == amp.PARAMETER_NAMES
    assert sim.observable_names == OBSERVABLE_NAMES
    assert sim.generator.process == "signal"
    np.testing.assert_array_equal(sim.morphing.benchmarks, np.array(pg.DEFAULT_BENCHMARKS))
    assert get_simulator("wh") is not sim  # a fresh, independently configurable instance per call
    with pytest.raises(SBIError, match="toy, wh"):
        get_simulator("madgraph")


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("pythia8mc", "awkward", "fastjet")),
                    reason="needs the 'pythia' extra, awkward and fastjet")
def test_registry_wh_simulates_weighted_signal_events():
    events = get_simulator("wh").simulate(60, np.random.default_rng(3))
    assert 0 < len(events) <= 60
    assert np.all(events.process == 0)
    assert events.benchmark_weights.shape == (len(events), 6)
    assert np.all(events.benchmark_weights[:, 0] > 0)
    assert not np.allclose(events.benchmark_weights[:, 1], events.benchmark_weights[:, 0])  # EFT-reweighted
