"""The WH chain without Pythia: event-record parsing on hand-made awkward batches, reweighting, combination."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nextsm.sbi.errors import SBIError
from nextsm.sbi.events import load_events, save_events
from nextsm.sbi.simulators.wh import amplitude as amp
from nextsm.sbi.simulators.wh import pythia_gen as pg
from nextsm.sbi.simulators.wh.detector import TruthObjects

ak = pytest.importorskip("awkward")
pytest.importorskip("fastjet")


def _p(pt, eta, phi, m=0.0):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return {"px": px, "py": py, "pz": pz, "e": float(np.sqrt(px**2 + py**2 + pz**2 + m**2))}


def _fake_event(rng, charge=+1):
    """A W h → ℓ ν b b̄ record: hard process in entries 3–10, then final particles (two b jets, ℓ, ν)."""
    z = amp.partonic_momenta(rng.uniform(300, 500) ** 2, rng.uniform(-0.8, 0.8), rng.uniform(-3, 3),
                             rng.uniform(-1, 1), rng.uniform(-3, 3), 80.0**2)
    q, qb, f, fb, h = (dict(zip(("e", "px", "py", "pz"), v[0], strict=True)) for v in z)
    lep_id, nu_id = (-11, 12) if charge > 0 else (11, -12)
    rec = [{"id": 90, "status": -11, "mother1": 0, "p": _p(0, 0, 0)},
           {"id": 2212, "status": -12, "mother1": 0, "p": _p(0, 0, 0)},
           {"id": 2212, "status": -12, "mother1": 0, "p": _p(0, 0, 0)},
           {"id": 2 if charge > 0 else 1, "status": -21, "mother1": 1, "p": q},
           {"id": -1 if charge > 0 else -2, "status": -21, "mother1": 2, "p": qb},
           {"id": 24 * charge, "status": -22, "mother1": 3, "p": _p(50, 0, 0, 80)},
           {"id": 25, "status": -22, "mother1": 3, "p": h},
           {"id": nu_id if charge > 0 else lep_id, "status": -23, "mother1": 5, "p": f},
           {"id": lep_id if charge > 0 else nu_id, "status": -23, "mother1": 5, "p": fb},
           {"id": 5, "status": -23, "mother1": 6, "p": _p(60, 0.3, 2.0)},
           {"id": -5, "status": -23, "mother1": 6, "p": _p(50, -0.4, -2.2)}]
    rec.append({"id": 521, "status": -91, "mother1": 9, "p": _p(40, 0.32, 2.02, 5.3)})
    rec.append({"id": -511, "status": -91, "mother1": 10, "p": _p(30, -0.38, -2.18, 5.3)})
    for k in range(8):  # two collimated sprays of pions
        rec.append({"id": 211, "status": 91, "mother1": 11, "p": _p(7.0, 0.3 + 0.02 * k, 2.0 - 0.01 * k, 0.14)})
        rec.append({"id": -211, "status": 91, "mother1": 12, "p": _p(6.0, -0.4 + 0.02 * k, -2.2 + 0.01 * k, 0.14)})
    rec.append({"id": lep_id, "status": 1, "mother1": 8, "p": _p(45, 1.0, 0.5)})
    rec.append({"id": nu_id, "status": 1, "mother1": 7, "p": _p(40, -0.5, -1.0)})
    rec.append({"id": 13, "status": 1, "mother1": 11, "p": _p(8, 0.31, 2.01)})  # non-isolated muon in a jet
    return rec


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(11)
    events = [_fake_event(rng, +1 if i % 2 == 0 else -1) for i in range(6)]
    return ak.Array({"prt": events})


def test_objects_from_a_record(batch):
    truth, prt = pg._objects(pg.GeneratorConfig(), batch)
    assert len(truth) == 6
    assert np.all(truth.lepton_mask.sum(axis=1) == 1)  # the muon inside the jet is not isolated
    np.testing.assert_array_equal(truth.lepton_charge[:, 0], [1, -1, 1, -1, 1, -1])
    assert np.all(truth.jet_mask.sum(axis=1) == 2)
    np.testing.assert_array_equal(truth.jet_flavour[:, :2], 5)
    np.testing.assert_allclose(truth.met[0], [40 * np.cos(-1.0), 40 * np.sin(-1.0)])
    jet_pt = np.hypot(truth.jets[:, :2, 1], truth.jets[:, :2, 2])
    np.testing.assert_allclose(jet_pt[:, 0], 56.0 + 8.0, rtol=0.01)  # pions + the non-isolated muon
    hard = pg._hard_momenta(ak, prt)
    assert hard.shape == (6, 21)
    np.testing.assert_array_equal(hard[:, 20], [1, -1, 1, -1, 1, -1])  # the W charge
    h = hard[:, :20].reshape(6, 5, 4)
    # fermion/antifermion: (ν, ℓ⁺) for W⁺, (ℓ⁻, ν̄) for W⁻ — taken from the record by the sign of the PDG id
    comps = amp.matrix_element_components(h[:, 0], h[:, 1], h[:, 2], h[:, 3])
    assert np.all(comps[:, 0] > 0)


def test_hard_process_missing_is_an_error(batch):
    broken = ak.Array({"prt": [[{**p, "status": 1 if p["status"] == -21 else p["status"]} for p in ev]
                               for ev in batch.prt.to_list()]})
    with pytest.raises(SBIError, match="hard process"):
        pg._hard_momenta(ak, broken.prt)


def _chunk(process: str, n: int, seed: int) -> pg.GeneratedChunk:
    from .test_wh_reco import _events

    rng = np.random.default_rng(seed)
    z = amp.partonic_momenta(rng.uniform(300, 900, n) ** 2, rng.uniform(-1, 1, n), rng.uniform(-3, 3, n),
                             rng.uniform(-1, 1, n), rng.uniform(-3, 3, n), np.full(n, 80.0**2))
    hard = np.concatenate([*z, np.ones((n, 1))], axis=1) if process == "signal" else np.zeros((n, 21))
    t = _events(n)
    return pg.GeneratedChunk(TruthObjects(*(getattr(t, f) for f in ("leptons", "lepton_charge", "lepton_mask",
                                                                    "jets", "jet_flavour", "jet_mask", "met"))),
                             hard, 150.0 if process == "signal" else 900.0, n)


def test_reconstruct_reweights_signal_and_keeps_background_flat(tmp_path):
    sig_sim = pg.WHSimulator(pg.GeneratorConfig(process="signal"))
    sig = sig_sim.reconstruct(_chunk("signal", 400, 1), np.random.default_rng(2))
    assert len(sig) > 300
    h = sig.z[:, :20].reshape(-1, 5, 4)
    comps = amp.matrix_element_components(h[:, 0], h[:, 1], h[:, 2], h[:, 3])
    theta = np.array([[0.3, -0.7], [-1.2, 0.4]])
    expected = sig.benchmark_weights[:, 0] * (sig_sim.morphing.components(theta) @ comps.T) / comps[:, 0]
    np.testing.assert_allclose(sig.weights(theta), expected, rtol=1e-10)
    assert np.std(sig.benchmark_weights[:, 1] / sig.benchmark_weights[:, 0]) > 0.05
    bkg = pg.WHSimulator(pg.GeneratorConfig(process="ttbar")).reconstruct(_chunk("ttbar", 300, 3),
                                                                         np.random.default_rng(4))
    np.testing.assert_allclose(bkg.benchmark_weights, np.broadcast_to(bkg.benchmark_weights[:, :1], (len(bkg), 6)))
    # each weight = σ_generated / N × ε_b² × (1 - ε_light if the third jet is a signal jet) × lepton efficiency
    det = pg.DetectorConfig()
    per_event = bkg.benchmark_weights[:, 0] / (900.0 / 300 * det.btag_b**2 * det.lepton_efficiency)
    assert np.all(np.isclose(per_event, 1.0) | np.isclose(per_event, 1.0 - det.btag_light))
    assert 0.5 < np.isclose(per_event, 1.0 - det.btag_light).mean() < 1.0  # the 30 GeV jet often fluctuates below 25
    # two runs of the same process average; processes add
    sig2 = sig_sim.reconstruct(_chunk("signal", 200, 5), np.random.default_rng(6))
    both = pg.combine_samples([sig, sig2, bkg])
    s_tot = (sig.benchmark_weights.sum(0) * 400 + sig2.benchmark_weights.sum(0) * 200) / 600
    np.testing.assert_allclose(both.benchmark_weights.sum(0), s_tot + bkg.benchmark_weights.sum(0), rtol=1e-12)
    assert set(both.process.tolist()) == {0, 1}
    # combined files remember their processes: a second generation of tt̄ (here the same 300 events again)
    # averages with the tt̄ inside `both`, so tt̄ is counted once and the signal is untouched
    again = pg.combine_samples([both, bkg])
    is_tt = again.process == pg.PROCESS_NAMES.index("ttbar")
    np.testing.assert_allclose(again.benchmark_weights[is_tt].sum(0), bkg.benchmark_weights.sum(0), rtol=1e-12)
    np.testing.assert_allclose(again.benchmark_weights[~is_tt].sum(0), s_tot, rtol=1e-12)
    assert [c["n_generated"] for c in again.metadata["components"]] == [400, 200, 300, 300]
    # two files with the same processes (e.g. two seeds) average per process with their generated events
    other = pg.combine_samples([sig2, bkg])
    pooled = pg.combine_samples([both, other])
    is_sig = pooled.process == pg.PROCESS_NAMES.index("signal")
    s_pool = (sig.benchmark_weights.sum(0) * 400 + 2 * sig2.benchmark_weights.sum(0) * 200) / 800
    np.testing.assert_allclose(pooled.benchmark_weights[is_sig].sum(0), s_pool, rtol=1e-12)
    np.testing.assert_allclose(pooled.benchmark_weights[~is_sig].sum(0), bkg.benchmark_weights.sum(0), rtol=1e-12)
    with pytest.raises(SBIError, match="sample 0 is not a single run"):
        pg.combine_samples([both, bkg], n_generated=[600, 300])
    save_events(both, tmp_path / "wh")
    back = load_events(tmp_path / "wh")
    np.testing.assert_array_equal(back.benchmark_weights, both.benchmark_weights)
    assert back.observable_names == pg.OBSERVABLE_NAMES


def test_settings_and_errors():
    lines = pg.pythia_settings(pg.GeneratorConfig(process="wbb", mpi=False), 7)
    assert "Random:seed = 7" in lines
    assert "PartonLevel:MPI = off" in lines
    assert any(line.startswith("WeakBosonAndParton:qg2Wq") for line in lines)
    assert "PhaseSpace:pTHatMin = 30.0" in lines
    assert not any("pTHatMin" in line for line in pg.pythia_settings(pg.GeneratorConfig(), 7))  # signal: no cut
    with pytest.raises(SBIError, match="'seed'"):
        pg.pythia_settings(pg.GeneratorConfig(), 0)
    with pytest.raises(SBIError, match="'process'"):
        pg.GeneratorConfig(process="zh")
    with pytest.raises(SBIError, match="'samples'"):
        pg.combine_samples([])


def test_cli_simulate_wh_is_chunked_and_resumable(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from nextsm.cli.sbi import sbi

    calls = []

    def fake_generate(config, n, rng, *, progress=None):
        calls.append((config.process, n))
        if progress is not None:
            progress(n)
        return _chunk(config.process, n, int(rng.integers(1 << 30)))

    monkeypatch.setattr(pg, "generate", fake_generate)
    out = tmp_path / "wh.npz"
    args = ["simulate", "wh", "--n", "250", "--out", str(out), "--seed", "3", "--process", "signal,ttbar:120",
            "--chunk-size", "100"]
    result = CliRunner().invoke(sbi, args)
    assert result.exit_code == 0, result.output
    assert calls == [("signal", 100), ("signal", 100), ("signal", 50), ("ttbar", 100), ("ttbar", 20)]
    first = load_events(out)
    assert set(first.process.tolist()) == {0, 1}
    calls.clear()
    again = CliRunner().invoke(sbi, args)
    assert again.exit_code == 0, again.output
    assert calls == []  # every chunk was reused
    np.testing.assert_array_equal(load_events(out).benchmark_weights, first.benchmark_weights)
    # a chunk made with other generator settings (e.g. before tt̄ was split into sub-runs) is not mixed in
    stale = sorted((tmp_path / "wh.chunks").glob("ttbar_*.json"))[0]
    meta = json.loads(stale.read_text())
    meta["metadata"]["generator"]["pythia_runs"] = [["Top:gg2ttbar = on"]]
    stale.write_text(json.dumps(meta))
    refused = CliRunner().invoke(sbi, args)
    assert refused.exit_code != 0
    assert "other settings" in refused.output
    assert stale.name in refused.output
    assert calls == []
    bad = CliRunner().invoke(sbi, ["simulate", "wh", "--n", "10", "--out", str(out), "--process", "zh"])
    assert bad.exit_code != 0
    assert "unknown process 'zh'" in bad.output


def test_wh_simulator_satisfies_the_protocol():
    from nextsm.sbi.simulators import Simulator

    sim = pg.WHSimulator()
    assert isinstance(sim, Simulator)
    assert sim.morphing.parameter_names == ("c_HWtil", "c_HW")
    assert len(sim.observable_names) == 29
    assert sim.provenance()["generator"]["process"] == "signal"


def test_reconstruct_weights_each_event_by_its_sub_run():
    """tt̄ comes from two Pythia sub-runs (W⁺ → ℓν, then W⁺ → qq̄' with W⁻ → ℓν): each event weighs σ_k/n_k."""
    import dataclasses

    assert pg.n_subruns("ttbar") == 2
    assert pg.n_subruns("signal") == 1
    chunk = _chunk("ttbar", 300, 3)
    np.testing.assert_allclose(chunk.weights(), 3.0)  # one sub-run: σ/N for every event
    w = np.where(np.arange(300) < 150, 2.0, 4.0)  # sub-runs of 150 events with σ = 300 and 600 fb
    split = dataclasses.replace(chunk, event_weights=w)
    sim = pg.WHSimulator(pg.GeneratorConfig(process="ttbar"))
    flat = sim.reconstruct(chunk, np.random.default_rng(4))
    sub = sim.reconstruct(split, np.random.default_rng(4))
    ratio = sub.benchmark_weights[:, 0] / flat.benchmark_weights[:, 0]
    assert set(np.round(ratio, 12)) == {round(2 / 3, 12), round(4 / 3, 12)}
    assert np.all(np.diff(ratio) >= 0)  # events keep their order: the first sub-run's come first
    assert sim.provenance()["generator"]["pythia_runs"][1][-1] == "24:onNegIfAny = 11 13"
    with pytest.raises(SBIError, match="subrun"):
        pg.pythia_settings(pg.GeneratorConfig(process="ttbar"), 7, subrun=2)
    with pytest.raises(SBIError, match="'n' must be >= 2"):  # checked before Pythia is needed
        pg.generate(pg.GeneratorConfig(process="ttbar"), 1, np.random.default_rng(0))
