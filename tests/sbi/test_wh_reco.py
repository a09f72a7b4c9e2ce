"""WH detector response, selection (truth vs random b-tagging) and observables on synthetic events (no Pythia)."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.sbi.errors import SBIError
from nextsm.sbi.simulators.wh import observables as obs
from nextsm.sbi.simulators.wh.amplitude import partonic_momenta
from nextsm.sbi.simulators.wh.detector import DetectorConfig, TruthObjects, smear
from nextsm.sbi.simulators.wh.selection import SelectionConfig, select


def _p4(pt, eta, phi, m=0.0):
    pt, eta, phi = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (pt, eta, phi)))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([np.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz], axis=-1)


def _events(n, *, n_jets=3, flavours=(5, 5, 0), second_lepton=False, jet_pt=(80.0, 60.0, 30.0)):
    """n copies of a WH-like event: one lepton, b jets with m_bb ≈ 120 GeV, E_T^miss 60 GeV."""
    leptons = np.zeros((n, 2, 4))
    leptons[:, 0] = _p4(50.0, 0.3, 0.1)
    leptons[:, 1] = _p4(15.0, -1.0, 1.0)
    lmask = np.zeros((n, 2), bool)
    lmask[:, 0] = True
    lmask[:, 1] = second_lepton
    jets = np.zeros((n, 4, 4))
    etas, phis = (0.2, -0.3, 0.5), (2.2, -2.6, 0.3)  # jet 2 sits within ΔR < 0.4 of the lepton
    for j in range(n_jets):
        jets[:, j] = _p4(jet_pt[j], etas[j], phis[j], 8.0)
    jmask = np.zeros((n, 4), bool)
    jmask[:, :n_jets] = True
    flav = np.zeros((n, 4), np.int64)
    flav[:, :n_jets] = flavours[:n_jets]
    met = np.tile([[-40.0, -45.0]], (n, 1))
    return TruthObjects(leptons, np.tile([[1, -1]], (n, 1)), lmask, jets, flav, jmask, met)


def test_synthetic_event_is_inside_the_mass_window():
    ev = _events(1)
    assert 80 < obs.mass(ev.jets[0, 0] + ev.jets[0, 1]) < 160


def test_perfect_detector_is_the_identity_and_resolution_is_as_configured():
    ev = _events(3)
    perfect = DetectorConfig(lepton_resolution=0, jet_stochastic=0, jet_constant=0, jet_noise=0, met_soft=0)
    reco = smear(ev, np.random.default_rng(1), perfect)
    np.testing.assert_array_equal(reco.jets, ev.jets)
    np.testing.assert_array_equal(reco.met, ev.met)
    ev = _events(20_000)
    cfg = DetectorConfig()
    reco = smear(ev, np.random.default_rng(2), cfg)
    assert abs(np.std(reco.leptons[:, 0, 0] / ev.leptons[0, 0, 0]) - cfg.lepton_resolution) < 0.002
    single = _events(20_000, n_jets=1)
    response = smear(single, np.random.default_rng(7), cfg).jets[:, 0, 0] / single.jets[0, 0, 0]
    assert abs(np.mean(response) - 1) < 0.003
    assert abs(np.std(response) / cfg.jet_resolution(single.jets[0, 0, 0]) - 1) < 0.03
    # E_T^miss absorbs the mismeasurement: Σ p_T(visible) + E_T^miss moves only by the soft term
    vis = reco.leptons[:, 0, 1:3] + reco.jets[:, :3, 1:3].sum(axis=1) + reco.met
    vis_true = ev.leptons[0, 0, 1:3] + ev.jets[0, :3, 1:3].sum(axis=0) + ev.met[0]
    assert abs(np.std(vis[:, 0] - vis_true[0]) - cfg.met_soft) < 0.3


def test_truth_tagging_weight_and_random_tagging_rate_agree():
    det = DetectorConfig()
    ev = _events(20_000, flavours=(5, 4, 0))
    truth = select(ev, np.random.default_rng(3), SelectionConfig(tagging="truth"), det)
    rand = select(ev, np.random.default_rng(4), SelectionConfig(tagging="random"), det)
    # pairs passing the pair cuts: (0, 1) only (jet 2 is too close to the lepton); P = ε_b ε_c (1 - ε_light)
    p01 = det.btag_b * det.btag_c * (1 - det.btag_light)
    assert len(truth.index) == 20_000
    np.testing.assert_allclose(truth.weight_factor, p01 * det.lepton_efficiency, rtol=1e-12)
    frac = len(rand.index) / 20_000
    assert abs(frac - p01) < 4 * np.sqrt(p01 * (1 - p01) / 20_000)
    np.testing.assert_allclose(rand.weight_factor, det.lepton_efficiency)
    assert np.all(obs.pt(truth.b1) >= obs.pt(truth.b2))


@pytest.mark.parametrize(("kwargs", "reason"), [({"second_lepton": True}, "lepton veto"),
                                                ({"jet_pt": (300.0, 60.0, 30.0)}, "m_bb window"),
                                                ({"n_jets": 1}, "two jets")])
def test_cuts_reject(kwargs, reason):
    ev = _events(50, **kwargs)
    assert len(select(ev, np.random.default_rng(5)).index) == 0, reason
    assert len(select(_events(50), np.random.default_rng(5)).index) == 50


def test_neutrino_pz_and_w_frame():
    rng = np.random.default_rng(6)
    n = 2000
    p = partonic_momenta(rng.uniform(300, 900, n) ** 2, rng.uniform(-1, 1, n), rng.uniform(-3, 3, n),
                         rng.uniform(-1, 1, n), rng.uniform(-3, 3, n), np.full(n, 80.379**2))
    nu, lep = p[2], p[3]  # W⁺: ν is the fermion, ℓ⁺ the antifermion
    pz = obs.neutrino_pz(lep, nu[:, 1:3])
    nu_reco = np.stack([np.sqrt(nu[:, 1] ** 2 + nu[:, 2] ** 2 + pz**2), nu[:, 1], nu[:, 2], pz], axis=1)
    np.testing.assert_allclose(obs.mass(lep + nu_reco), 80.379, rtol=1e-6)
    assert np.mean(np.isclose(pz, nu[:, 3], rtol=1e-6, atol=1e-6)) > 0.5  # the smaller root is often right
    w = lep + nu
    np.testing.assert_allclose(obs.boost_to_rest_frame(w, w)[:, 1:], 0.0, atol=1e-9)


def test_observables_shapes_ranges_and_charge():
    ev = _events(4)
    args = (ev.leptons[:, 0], np.array([1, -1, 1, -1]), ev.jets[:, 0], ev.jets[:, 1], ev.met)
    x = obs.wh_observables(*args)
    assert x.shape == (4, len(obs.OBSERVABLE_NAMES))
    col = {name: x[:, i] for i, name in enumerate(obs.OBSERVABLE_NAMES)}
    assert np.all(np.abs(col["q_cos_delta_plus"]) <= 1)
    assert np.all(np.abs(col["q_cos_delta_minus"]) <= 1)
    np.testing.assert_allclose(col["q_cos_delta_plus"][1], -col["q_cos_delta_plus"][0])
    assert np.abs(col["q_cos_delta_plus"]).min() > 1e-3
    np.testing.assert_allclose(col["m_bb"], obs.mass(ev.jets[:, 0] + ev.jets[:, 1]))
    np.testing.assert_allclose(col["met"], np.hypot(40, 45))
    assert np.all(col["mt_lvbb"] > col["m_bb"])


def test_config_errors_name_the_field():
    with pytest.raises(SBIError, match="'btag_b'"):
        DetectorConfig(btag_b=1.0)
    with pytest.raises(SBIError, match="'tagging'"):
        SelectionConfig(tagging="magic")
    with pytest.raises(SBIError, match="'met'"):
        TruthObjects(np.zeros((2, 1, 4)), np.zeros((2, 1), np.int64), np.zeros((2, 1), bool), np.zeros((2, 1, 4)),
                     np.zeros((2, 1), np.int64), np.zeros((2, 1), bool), np.zeros((3, 2)))


def test_neutrino_pz_without_a_real_solution_takes_the_real_part():
    lep = _p4(40.0, 0.5, 0.0)[None]
    met = np.array([[-150.0, 0.0]])  # m_T(ℓ, E_T^miss) = 154.9 GeV > m_W: no real root
    pz = obs.neutrino_pz(lep, met)
    pt2 = lep[0, 1] ** 2 + lep[0, 2] ** 2
    mu = 0.5 * 80.379**2 + lep[0, 1] * met[0, 0]
    np.testing.assert_allclose(pz, mu * lep[0, 3] / pt2)
