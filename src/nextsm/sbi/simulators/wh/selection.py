r"""The WH(ℓνbb) event selection with random or *truth* b-tagging (numpy, vectorised).

Cuts (after :func:`~nextsm.sbi.simulators.wh.detector.smear`), following the ATLAS/CMS VH(bb) one-lepton
channel (ATLAS, JHEP 05 (2019) 141; Eur. Phys. J. C 81 (2021) 178) and the SBI studies of WH
(arXiv:2308.02882, arXiv:2509.03307):

* exactly one lepton with :math:`p_T > 25` GeV, :math:`|\eta| < 2.5` and no further lepton above 7 GeV;
* signal jets: :math:`p_T > 25` GeV, :math:`|\eta| < 2.5`; at most ``max_jets`` (3) of them;
* exactly two b-tagged signal jets, the leading one with :math:`p_T > 30` GeV;
* :math:`\Delta R(b_1, b_2) > 0.4`, :math:`\Delta R(\ell, b_i) > 0.4`;
* :math:`80 < m_{bb} < 160` GeV and :math:`E_T^{\rm miss} > 25` GeV.

b-tagging: with ``tagging="random"`` every signal jet is tagged with its probability ε(flavour) and the
event needs exactly two tags.  With ``tagging="truth"`` (the default; lower variance for the mistag-dominated
W + jets background) every pair (i, j) of signal jets is a disjoint outcome of probability
:math:`P_{ij} = \varepsilon_i\varepsilon_j\prod_{k\ne i,j}(1 - \varepsilon_k)`; pairs failing the pair-level
cuts get :math:`P_{ij} = 0`, the event weight is multiplied by :math:`\sum_{ij} P_{ij}` and one pair is drawn
with probability :math:`P_{ij}/\sum P`.  Both give the same expected weighted distributions.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nextsm.sbi.errors import SBIError
from nextsm.sbi.simulators.wh.detector import DetectorConfig, RecoObjects
from nextsm.sbi.simulators.wh.observables import delta_r, eta, mass, pt

__all__ = ["SelectedEvents", "SelectionConfig", "select"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class SelectionConfig:
    """Cut values (module docstring); momenta in GeV.

    Attributes
    ----------
    lepton_pt, lepton_eta, veto_lepton_pt:
        Selected-lepton cuts and the second-lepton veto threshold.
    jet_pt, jet_eta, lead_b_pt, max_jets:
        Signal-jet cuts, leading b-jet threshold and the maximum number of signal jets.
    dr_bb, dr_lb:
        Minimum ΔR between the b jets and between the lepton and each b jet.
    m_bb_low, m_bb_high, met:
        The m_bb window and the E_T^miss threshold.
    tagging:
        ``"truth"`` or ``"random"``.
    """

    lepton_pt: float = 25.0
    lepton_eta: float = 2.5
    veto_lepton_pt: float = 7.0
    jet_pt: float = 25.0
    jet_eta: float = 2.5
    lead_b_pt: float = 30.0
    max_jets: int = 3
    dr_bb: float = 0.4
    dr_lb: float = 0.4
    m_bb_low: float = 80.0
    m_bb_high: float = 160.0
    met: float = 25.0
    tagging: str = "truth"

    def __post_init__(self) -> None:
        if self.tagging not in ("truth", "random"):
            raise SBIError(f"SelectionConfig field 'tagging' must be 'truth' or 'random', got {self.tagging!r}")
        if not self.m_bb_high > self.m_bb_low:
            raise SBIError(f"SelectionConfig field 'm_bb_high' must exceed m_bb_low, got {self.m_bb_high}")
        if self.max_jets < 2:
            raise SBIError(f"SelectionConfig field 'max_jets' must be >= 2, got {self.max_jets}")


@dataclass(frozen=True)
class SelectedEvents:
    """The events passing the selection.

    Attributes
    ----------
    index:
        Row of each selected event in the input, ``(n,)``.
    weight_factor:
        Selection weight (truth-tagging probability × lepton efficiency), ``(n,)``.
    lepton, b1, b2:
        Four-momenta ``(n, 4)``; ``b1`` is the leading b jet.
    charge:
        Lepton charge, ``(n,)``.
    met:
        E_T^miss vector, ``(n, 2)``.
    """

    index: NDArray[np.int64]
    weight_factor: FloatArray
    lepton: FloatArray
    charge: NDArray[np.int64]
    b1: FloatArray
    b2: FloatArray
    met: FloatArray


def select(reco: RecoObjects, rng: np.random.Generator, config: SelectionConfig | None = None,
           detector: DetectorConfig | None = None) -> SelectedEvents:
    """Apply the selection (module docstring) to detector-level objects."""
    cfg = config or SelectionConfig()
    det = detector or DetectorConfig()
    lpt, leta = pt(reco.leptons), np.abs(eta(reco.leptons))
    good_lep = reco.lepton_mask & (lpt > cfg.lepton_pt) & (leta < cfg.lepton_eta)
    any_lep = reco.lepton_mask & (lpt > cfg.veto_lepton_pt)
    one_lepton = (good_lep.sum(axis=1) == 1) & (any_lep.sum(axis=1) == 1)
    lep_idx = np.argmax(good_lep, axis=1)
    rows = np.arange(len(reco))
    lepton = reco.leptons[rows, lep_idx]
    jpt = pt(reco.jets)
    signal_jet = reco.jet_mask & (jpt > cfg.jet_pt) & (np.abs(eta(reco.jets)) < cfg.jet_eta)
    met_pt = np.hypot(reco.met[:, 0], reco.met[:, 1])
    event_ok = one_lepton & (signal_jet.sum(axis=1) >= 2) & (signal_jet.sum(axis=1) <= cfg.max_jets) & (met_pt > cfg.met)

    eff = np.where(signal_jet, det.btag_efficiency(reco.jet_flavour), 0.0)
    tagged = signal_jet & (rng.random(eff.shape) < eff)
    if cfg.tagging == "random":
        event_ok &= tagged.sum(axis=1) == 2  # then exactly one pair has P = 1
    n_jets = reco.jets.shape[1]
    pairs = np.array(list(itertools.combinations(range(n_jets), 2)), dtype=np.int64).reshape(-1, 2)
    none_tagged = np.prod(1.0 - eff, axis=1)
    prob = np.empty((len(reco), pairs.shape[0]))
    for p, (i, j) in enumerate(pairs):
        ji, jj = reco.jets[:, i], reco.jets[:, j]
        pair_ok = (signal_jet[:, i] & signal_jet[:, j] & (delta_r(ji, jj) > cfg.dr_bb)
                   & (delta_r(lepton, ji) > cfg.dr_lb) & (delta_r(lepton, jj) > cfg.dr_lb)
                   & (np.maximum(jpt[:, i], jpt[:, j]) > cfg.lead_b_pt))
        m_bb = mass(ji + jj)
        pair_ok &= (m_bb > cfg.m_bb_low) & (m_bb < cfg.m_bb_high)
        if cfg.tagging == "truth":
            pair_p = eff[:, i] * eff[:, j] / ((1.0 - eff[:, i]) * (1.0 - eff[:, j])) * none_tagged
        else:
            pair_p = (tagged[:, i] & tagged[:, j]).astype(np.float64)
        prob[:, p] = np.where(pair_ok, pair_p, 0.0)
    prob = np.where(event_ok[:, None], prob, 0.0)
    total = prob.sum(axis=1)
    keep = np.flatnonzero(total > 0)
    cdf = np.cumsum(prob[keep], axis=1) / total[keep, None]
    choice = np.minimum((cdf < rng.random(keep.size)[:, None]).sum(axis=1), pairs.shape[0] - 1)
    first, second = pairs[choice, 0], pairs[choice, 1]  # jets are p_T-ordered: first is the leading one
    weight = (total[keep] if cfg.tagging == "truth" else np.ones(keep.size)) * det.lepton_efficiency
    return SelectedEvents(keep, weight, lepton[keep], reco.lepton_charge[keep, lep_idx[keep]],
                          reco.jets[keep, first], reco.jets[keep, second], reco.met[keep])
