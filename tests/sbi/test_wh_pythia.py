"""The WH chain with Pythia 8 (skipped without the 'pythia' extra); ≤ 200 events per test."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.sbi.simulators.wh import amplitude as amp
from nextsm.sbi.simulators.wh import pythia_gen as pg
from nextsm.sbi.simulators.wh.observables import boost_to_rest_frame

pythia8mc = pytest.importorskip("pythia8mc")
ak = pytest.importorskip("awkward")
pytest.importorskip("fastjet")


def _hard_events(n: int, seed: int) -> np.ndarray:
    """Hard-process momenta of ``n`` SM WH events from the process record (parton level off: fast)."""
    pythia = pythia8mc.Pythia("", False)
    for line in (*pg.pythia_settings(pg.GeneratorConfig(), seed), "PartonLevel:all = off", "HadronLevel:all = off"):
        assert pythia.readString(line), line
    assert pythia.init()
    rows = []
    while len(rows) < n:
        if pythia.next():
            rows.append(pg._process_rows(pythia.process))
    ids, status, mother, mom = (np.array([r[j] for r in rows]) for j in range(4))
    return pg._hard_from_arrays(ids, status, mother, mom.astype(np.float64))[:, :20].reshape(-1, 5, 4)


def test_pythia_w_decay_follows_the_sm_amplitude():
    """g = |M(Ω*)|²/⟨|M|²⟩_Ω* has E[g] = ⟨|M|⁴⟩/⟨|M|²⟩² if Pythia decays the W as our amplitude says, 1 if isotropically."""
    hard = _hard_events(200, 5)
    me_actual = amp.matrix_element_squared(*(hard[:, i] for i in range(4)), [0.0, 0.0])[0]
    me_grid, w = amp.decay_grid(*(hard[:, i] for i in range(4)))
    mean2 = me_grid @ w
    g = me_actual / mean2
    predicted = (me_grid**2 @ w) / mean2**2
    err = np.std(g) / np.sqrt(len(g))
    assert abs(g.mean() - predicted.mean()) < 3.5 * err
    assert predicted.mean() - 1 > 5 * err  # the test separates the V−A correlation from isotropy


def test_signal_chain_small():
    sim = pg.WHSimulator()
    events = sim.simulate(200, np.random.default_rng(7))
    xsec = events.metadata["xsec_generated_fb"]
    assert 60 < xsec < 400  # σ(pp → W h) × BR(h → bb) × BR(W → eν, μν) at LO ≈ 150 fb
    assert len(events) >= 10
    np.testing.assert_allclose(events.benchmark_weights.sum(axis=0)[0], events.xsec([[0.0, 0.0]])[0])
    h = events.z[:, :20].reshape(-1, 5, 4)
    k = h[:, 2] + h[:, 3]
    assert np.all(np.sqrt(k[:, 0] ** 2 - np.sum(k[:, 1:] ** 2, axis=1)) > 40)  # the W decay products
    assert np.all(events.benchmark_weights > 0)
    # the process record conserves momentum exactly: q + q̄' = f + f̄' + h
    np.testing.assert_allclose(h[:, 0] + h[:, 1], h[:, 2] + h[:, 3] + h[:, 4], atol=1e-6 * h[:, 0, 0].max())
    assert set(np.unique(events.z[:, 20])) <= {-1.0, 1.0}
    lep_w = boost_to_rest_frame(h[:, 3], k)
    np.testing.assert_allclose(lep_w[:, 0], 0.5 * np.sqrt(k[:, 0] ** 2 - np.sum(k[:, 1:] ** 2, axis=1)), rtol=1e-5)  # massless up to m_μ


@pytest.mark.parametrize("process", pg.PROCESS_NAMES)
def test_every_process_setting_is_known_to_pythia(process):
    for subrun in range(pg.n_subruns(process)):
        pythia = pythia8mc.Pythia("", False)
        for line in pg.pythia_settings(pg.GeneratorConfig(process=process), 3, subrun):
            assert pythia.readString(line), line


def _ttbar_process_level(extra: tuple[str, ...], n: int, seed: int) -> tuple[float, float, list[list[int]]]:
    """σ and its error (mb) and, per event, the PDG ids of the W⁺ and W⁻ daughters of a tt̄ run at process level."""
    pythia = pythia8mc.Pythia("", False)
    for line in (*extra, "PartonLevel:all = off", "HadronLevel:all = off"):
        assert pythia.readString(line), line
    assert pythia.init()
    events = []
    while len(events) < n:
        if pythia.next():
            rec = pythia.process
            daughters = {24: [], -24: []}
            for i in range(rec.size()):
                mother = rec[rec[i].mother1()].id() if rec[i].mother1() > 0 else 0
                if mother in daughters:
                    daughters[mother].append(rec[i].id())
            events.append([*daughters[24], *daughters[-24]])
    info = pythia.infoPython()
    return float(info.sigmaGen()), float(info.sigmaErr()), events


def test_ttbar_sub_runs_are_the_non_all_hadronic_part():
    """Sub-run 1: W⁺ → ℓν; sub-run 2: W⁺ → qq̄', W⁻ → ℓν; their σ add up to σ(≥ 1 leptonic W) of the inclusive run."""
    config = pg.GeneratorConfig(process="ttbar")
    sigma, sigma_err, parts = [], [], []
    for k in range(pg.n_subruns("ttbar")):
        s, err, events = _ttbar_process_level(pg.pythia_settings(config, 3 + k, k), 300, 3 + k)
        sigma.append(s)
        sigma_err.append(err)
        parts.append(events)
    lepton = {11, 12, 13, 14}
    assert all({abs(d) for d in ev[:2]} <= lepton for ev in parts[0])  # W⁺ → ℓν
    assert any({abs(d) for d in ev[2:]} <= lepton for ev in parts[0])  # W⁻ → ℓν allowed
    assert any(not {abs(d) for d in ev[2:]} & lepton for ev in parts[0])  # and W⁻ → qq̄'
    assert all(not {abs(d) for d in ev[:2]} & lepton and {abs(d) for d in ev[2:]} <= lepton for ev in parts[1])
    kept = (line for line in pg.pythia_settings(config, 9) if not line.startswith(("24:onNeg", "24:onPos", "24:onIf")))
    inclusive = (*kept, "24:onIfAny = 1 2 3 4 5 11 13")
    s_all, err_all, events = _ttbar_process_level(inclusive, 2000, 9)
    f = np.mean([bool({abs(d) for d in ev} & lepton) for ev in events])  # ≥ 1 leptonic W: 2(1-b)b + b², b ≈ 0.24
    ratio = sum(sigma) / s_all
    # binomial error of f, and Pythia's own σ errors of the three runs
    error = np.sqrt(f * (1 - f) / len(events) + ratio**2 * (sum(e**2 for e in sigma_err) / sum(sigma) ** 2
                                                            + (err_all / s_all) ** 2))
    assert abs(ratio - f) < 4 * error
    assert error < 0.05  # the test has power: f ≈ 0.42 is far from 1 (no filter) and from 0.24 (one W⁺ only)


def test_ttbar_chunk_carries_the_weights_of_its_sub_runs():
    chunk = pg.generate(pg.GeneratorConfig(process="ttbar", mpi=False, batch_size=20), 40, np.random.default_rng(5))
    assert chunk.n_generated == 40
    w = chunk.weights()
    assert len(np.unique(w[:20])) == 1
    assert len(np.unique(w[20:])) == 1
    np.testing.assert_allclose(w.sum(), chunk.xsec_fb, rtol=1e-12)
    assert w[0] != w[-1]  # σ_k/n_k of two runs (their ratio is tested at process level, with more events)


def test_cli_parallel_chunks_equal_sequential_ones(tmp_path):
    """``--processes 2`` spawns workers for the chunks; each chunk's seed fixes its events, so the files agree."""
    from click.testing import CliRunner

    from nextsm.cli.sbi import sbi
    from nextsm.sbi.events import load_events

    def run(out, processes):
        args = ["simulate", "wh", "--n", "60", "--out", str(out), "--seed", "5", "--process", "signal",
                "--chunk-size", "30", "--processes", str(processes)]
        result = CliRunner().invoke(sbi, args)
        assert result.exit_code == 0, result.output
        return load_events(out)

    one, two = run(tmp_path / "seq.npz", 1), run(tmp_path / "par.npz", 2)
    assert len(one) > 5
    np.testing.assert_array_equal(one.x, two.x)
    np.testing.assert_array_equal(one.benchmark_weights, two.benchmark_weights)
