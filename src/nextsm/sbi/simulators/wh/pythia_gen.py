r"""Pythia 8 generation of WH(ℓνbb) signal and its backgrounds, and the full chain to weighted events.

Processes (13 TeV, Pythia's default tune Monash 2013 and NNPDF2.3 QCD+QED LO, multiparton interactions,
shower and hadronisation on):

========== =====================================================================================
signal     ``HiggsSM:ffbar2HW`` (q q̄' → W± h), h → b b̄, W → e ν, μ ν
ttbar      ``Top:gg2ttbar``, ``Top:qqbar2ttbar``, at least one W → e ν, μ ν, the other W → e ν, μ ν, q q̄'
           (the "non-all-hadronic" sample of the LHC experiments; two sub-runs, below)
wbb        ``WeakBosonAndParton:qqbar2Wg``, ``qg2Wq`` with p̂_T > 30 GeV, W → e ν, μ ν: W + jets, whose
           b b̄ pairs come from g → b b̄ in the shower, the rest entering through c/light mistags
singletop  ``Top:qq2tq(t:W)``, ``Top:ffbar2tqbar(s:W)`` (t and s channel; Pythia has no built-in tW),
           W → e ν, μ ν
========== =====================================================================================

Pythia's cross sections already include the closed decay channels, also when W⁺ and W⁻ have different open
channels (``onPosIfAny``/``onNegIfAny``).  That is how tt̄ is generated without its all-hadronic part, which
needs an isolated lepton from a heavy-flavour decay to pass the one-lepton selection: sub-run 1 has W⁺ → ℓν and
W⁻ → anything, sub-run 2 W⁺ → q q̄' and W⁻ → ℓν, so every event with at least one leptonic W is made exactly
once.  The two sub-runs share the events of a chunk equally and each event carries the weight σ_k/n_k of its
sub-run.  That keeps 42.6 % of the tt̄ cross section (measured: the two σ add up to that fraction of the
inclusive run, which has at least one W → ℓν in 42.2 ± 0.8 % of its events) and so costs 2.3× fewer events for
the same selected sample; single top with W → ℓν only is 4× cheaper.  Events are read with
``Pythia.nextBatch`` as awkward arrays (no per-particle Python loop); jets are clustered with FastJet
(anti-kT, R = 0.4; Cacciari, Salam, Soyez, JHEP 04 (2008) 063) on all visible final-state particles except
the isolated leptons.  A lepton is isolated if the scalar p_T sum of the other visible particles within
ΔR < 0.3 is below 15 % of its p_T.  Jets are labelled b (c) if a b (c) hadron with p_T > 5 GeV lies within
ΔR < 0.3.

EFT reweighting: the signal is generated in the SM.  For each event the hard-process momenta (incoming
quark and antiquark, the W decay fermion and antifermion, the Higgs) are read from Pythia's process
record (signal events are therefore generated one ``nextBatch(1)`` call at a time, ≈ 25 % slower) and
:func:`~nextsm.sbi.simulators.wh.amplitude.matrix_element_components` gives
:math:`|\mathcal M(\theta)|^2/|\mathcal M_{\rm SM}|^2`, an exact quadratic in θ = (c_HW~, c_HW); the
benchmark weights are the Pythia weight times this ratio at each benchmark (leading-order matrix-element
reweighting, as MadGraph's reweighting does for MadMiner).  Background weights are the same at every
benchmark.

References: Bierlich et al., "A comprehensive guide to the physics and usage of PYTHIA 8.3", SciPost Phys.
Codebases 8 (2022), arXiv:2203.11601.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi.errors import MissingExtraError, SBIError
from nextsm.sbi.events import WeightedEvents
from nextsm.sbi.morphing import Morphing
from nextsm.sbi.simulators.wh.amplitude import (
    PARAMETER_NAMES,
    ElectroweakParameters,
    matrix_element_components,
    reweighting_factors,
)
from nextsm.sbi.simulators.wh.detector import DetectorConfig, TruthObjects, smear
from nextsm.sbi.simulators.wh.observables import OBSERVABLE_NAMES, wh_observables
from nextsm.sbi.simulators.wh.selection import SelectionConfig, select

__all__ = [
    "DEFAULT_BENCHMARKS",
    "HARD_NAMES",
    "PROCESS_NAMES",
    "GeneratedChunk",
    "GeneratorConfig",
    "WHSimulator",
    "combine_samples",
    "generate",
    "n_subruns",
    "pythia_settings",
]

FloatArray = NDArray[np.float64]

PROCESS_NAMES = ("signal", "ttbar", "wbb", "singletop")
DEFAULT_BENCHMARKS = ((0.0, 0.0), (1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (1.0, 1.0))
HARD_NAMES = (*(f"{who}_{c}" for who in ("quark", "antiquark", "fermion", "antifermion", "higgs")
                for c in ("e", "px", "py", "pz")), "w_charge")
"""Columns of ``z``: the hard-process four-momenta and the W charge (zero for backgrounds)."""

_W_DECAYS_LEPTONIC = ("24:onMode = off", "24:onIfAny = 11 13")
_TTBAR = ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off")
_PROCESS_RUNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "signal": (("HiggsSM:ffbar2HW = on", "25:onMode = off", "25:onIfMatch = 5 -5", *_W_DECAYS_LEPTONIC),),
    # W+ → ℓν with W− → anything, then W+ → qq̄' with W− → ℓν (module docstring)
    "ttbar": ((*_TTBAR, "24:onIfAny = 11 13", "24:onNegIfAny = 1 2 3 4 5"),
              (*_TTBAR, "24:onPosIfAny = 1 2 3 4 5", "24:onNegIfAny = 11 13")),
    "wbb": (("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", *_W_DECAYS_LEPTONIC),),
    "singletop": (("Top:qq2tq(t:W) = on", "Top:ffbar2tqbar(s:W) = on", *_W_DECAYS_LEPTONIC),),
}
"""The Pythia sub-runs of each process; the events of all sub-runs of a chunk form one sample."""
_MB_TO_FB = 1e12
_N_HARD = 24  # the hard process sits in the first entries of the event record


def _pythia_module() -> Any:
    try:
        import pythia8mc
    except ImportError as exc:
        raise MissingExtraError(f"the WH simulator needs Pythia 8: pip install 'nextsm[pythia]' ({exc})") from None
    return pythia8mc


def _fastjet_module() -> Any:
    try:
        import awkward
        import fastjet
        import fastjet._swig
    except ImportError as exc:
        raise MissingExtraError(f"the WH simulator needs FastJet: pip install 'nextsm[pythia]' ({exc})") from None
    fastjet._swig.ClusterSequence.set_fastjet_banner_stream(None)  # FastJet would print its banner to stdout
    return fastjet, awkward


@dataclass(frozen=True)
class GeneratorConfig:
    """Settings of one Pythia run.

    Attributes
    ----------
    process:
        One of :data:`PROCESS_NAMES`.
    sqrt_s:
        Collision energy in GeV.
    pt_hat_min:
        Minimum p̂_T of the 2 → 2 process in GeV, applied to ``wbb`` only (W + jet needs it; the other
        processes have massive final states and are generated without a p̂_T cut, so the signal's production
        angle is not sculpted).
    mpi:
        Multiparton interactions (the underlying event).
    jet_radius, jet_pt_min, jet_eta_max, max_jets:
        Anti-kT radius, minimum jet p_T (GeV), |η| acceptance and the number of jets kept per event.
    lepton_pt_min, lepton_eta_max, max_leptons:
        Lepton candidates kept (before the analysis cuts).
    isolation_cone, isolation_max:
        ΔR cone and relative p_T sum of the lepton isolation.
    batch_size:
        Events per ``nextBatch`` call (memory vs. overhead).
    extra_settings:
        Further ``readString`` lines (appended last, so they override).
    """

    process: str = "signal"
    sqrt_s: float = 13000.0
    pt_hat_min: float = 30.0
    mpi: bool = True
    jet_radius: float = 0.4
    jet_pt_min: float = 20.0
    jet_eta_max: float = 4.5
    max_jets: int = 6
    lepton_pt_min: float = 7.0
    lepton_eta_max: float = 2.7
    max_leptons: int = 3
    isolation_cone: float = 0.3
    isolation_max: float = 0.15
    batch_size: int = 1000
    extra_settings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.process not in PROCESS_NAMES:
            raise SBIError(f"GeneratorConfig field 'process' must be one of {', '.join(PROCESS_NAMES)}, "
                           f"got {self.process!r}")
        checks = {"sqrt_s": self.sqrt_s > 0, "pt_hat_min": self.pt_hat_min >= 0, "jet_radius": self.jet_radius > 0,
                  "jet_pt_min": self.jet_pt_min > 0, "max_jets": self.max_jets >= 2, "max_leptons": self.max_leptons >= 1,
                  "isolation_cone": self.isolation_cone > 0, "batch_size": self.batch_size >= 1}
        for name, ok in checks.items():
            if not ok:
                raise SBIError(f"GeneratorConfig field '{name}' has an invalid value {getattr(self, name)!r}")


def n_subruns(process: str) -> int:
    """Number of Pythia sub-runs of ``process`` (two for ``ttbar``, module docstring)."""
    if process not in _PROCESS_RUNS:
        raise SBIError(f"parameter 'process' must be one of {', '.join(PROCESS_NAMES)}, got {process!r}")
    return len(_PROCESS_RUNS[process])


def pythia_settings(config: GeneratorConfig, seed: int, subrun: int = 0) -> tuple[str, ...]:
    """The ``readString`` lines of sub-run ``subrun`` of a run (module docstring); ``seed`` in [1, 900 000 000]."""
    if not 1 <= seed <= 900_000_000:
        raise SBIError(f"parameter 'seed' must be in [1, 900000000] (Pythia's range), got {seed}")
    if not 0 <= subrun < n_subruns(config.process):
        raise SBIError(f"parameter 'subrun' must be in [0, {n_subruns(config.process)}) for process "
                       f"{config.process!r}, got {subrun}")
    return ("Beams:eCM = " + repr(float(config.sqrt_s)), "Random:setSeed = on", f"Random:seed = {seed}",
            "Print:quiet = on", "Next:numberCount = 0",
            *((f"PhaseSpace:pTHatMin = {config.pt_hat_min!r}",) if config.process == "wbb" else ()),
            f"PartonLevel:MPI = {'on' if config.mpi else 'off'}", *_PROCESS_RUNS[config.process][subrun],
            *config.extra_settings)


@dataclass(frozen=True)
class GeneratedChunk:
    """Particle-level output of one Pythia run.

    Attributes
    ----------
    truth:
        Leptons, jets, true E_T^miss of every generated event.
    hard:
        Hard-process momenta and W charge ``(N, 21)`` (:data:`HARD_NAMES`); zeros for backgrounds.
    xsec_fb:
        Pythia's estimate of the cross section (fb) after the run (the sum over its sub-runs).
    n_generated:
        Number of events.
    event_weights:
        Weight (fb) of each generated event, σ_k/n_k of its sub-run k; ``None`` means xsec_fb/n_generated
        for every event (one sub-run).
    """

    truth: TruthObjects
    hard: FloatArray
    xsec_fb: float
    n_generated: int
    event_weights: FloatArray | None = None

    def weights(self) -> FloatArray:
        """The weight (fb) of every generated event; they sum to :attr:`xsec_fb`."""
        if self.event_weights is None:
            return np.full(self.n_generated, self.xsec_fb / self.n_generated)
        return self.event_weights


def _pad(ak: Any, array: Any, size: int, fill: float = 0.0) -> NDArray[Any]:
    return np.asarray(ak.to_numpy(ak.fill_none(ak.pad_none(array, size, clip=True), fill)))


def _has_quark(id_abs: NDArray[np.int64], q: int) -> NDArray[np.bool_]:
    """Hadrons containing quark ``q`` (PDG numbering: mesons ``0nq₂q₃j``, baryons ``nq₁q₂q₃j``)."""
    return (((id_abs // 100) % 10 == q) | ((id_abs // 1000) % 10 == q)) & (id_abs > 100)


def _hard_from_arrays(ids: NDArray[np.int64], status: NDArray[np.int64], mother: NDArray[np.int64],
                      mom: FloatArray) -> FloatArray:
    """The 21 hard-process columns (:data:`HARD_NAMES`) from the first entries of a WH record, ``(N, 21)``.

    The record must hold the resonance decays next to the hard process: Pythia's *process* record (in
    the event record the W daughters only appear after the shower, attached to the recoiled W copy).
    """
    rows = np.arange(ids.shape[0])
    incoming = status == -21
    quark = np.argmax(incoming & (ids > 0), axis=1)
    antiquark = np.argmax(incoming & (ids < 0), axis=1)
    i_w = np.argmax((np.abs(ids) == 24) & (status == -22), axis=1)
    i_h = np.argmax((ids == 25) & (status == -22), axis=1)
    from_w = (mother == i_w[:, None]) & (np.abs(status) == 23)
    fermion = np.argmax(from_w & (ids > 0), axis=1)
    antifermion = np.argmax(from_w & (ids < 0), axis=1)
    ok = (incoming.sum(axis=1) == 2) & (from_w.sum(axis=1) == 2) & (ids[rows, i_h] == 25)
    if not np.all(ok):
        raise SBIError(f"the hard process of {int((~ok).sum())} signal events could not be read from the record")
    w_charge = np.sign(ids[rows, i_w]).astype(np.float64)[:, None]
    return np.concatenate([*(mom[rows, i] for i in (quark, antiquark, fermion, antifermion, i_h)), w_charge], axis=1)


def _hard_momenta(ak: Any, prt: Any) -> FloatArray:
    """:func:`_hard_from_arrays` of an awkward record (a process record, or an event record without showers)."""
    head = prt[:, :_N_HARD]
    mom = np.stack([_pad(ak, head.p[c], _N_HARD) for c in ("e", "px", "py", "pz")], axis=-1)
    return _hard_from_arrays(_pad(ak, head.id, _N_HARD).astype(np.int64),
                             _pad(ak, head.status, _N_HARD).astype(np.int64),
                             _pad(ak, head.mother1, _N_HARD).astype(np.int64), mom)


def _process_rows(process: Any) -> tuple[list[int], list[int], list[int], list[list[float]]]:
    """``(id, status, mother1, (E, px, py, pz))`` of the first entries of Pythia's process record, padded."""
    n = min(process.size(), _N_HARD)
    entries = [process[i] for i in range(n)]
    pad = _N_HARD - n
    return ([e.id() for e in entries] + [0] * pad, [e.status() for e in entries] + [0] * pad,
            [e.mother1() for e in entries] + [-1] * pad,
            [[e.e(), e.px(), e.py(), e.pz()] for e in entries] + [[0.0] * 4] * pad)


def _objects(config: GeneratorConfig, batch: Any) -> tuple[TruthObjects, Any]:
    """Leptons, jets (FastJet) and E_T^miss from an awkward batch of events."""
    fastjet, ak = _fastjet_module()
    prt = batch.prt
    final = prt[prt.status > 0]
    aid = abs(final.id)
    p = final.p
    pt = np.hypot(p.px, p.py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(p.pz / pt)
    phi = np.arctan2(p.py, p.px)
    invisible = (aid == 12) | (aid == 14) | (aid == 16)
    visible = ~invisible & (abs(eta) < 4.9)
    is_lep = ((aid == 11) | (aid == 13)) & (pt > config.lepton_pt_min) & (abs(eta) < config.lepton_eta_max)

    # isolation: Σ p_T of the other visible particles within the cone
    index = ak.local_index(final.id)
    kin = ak.zip({"i": index, "pt": pt, "eta": eta, "phi": phi})
    pairs = ak.cartesian({"lep": kin[is_lep], "other": kin[visible]}, nested=True)
    dphi = np.mod(pairs.lep.phi - pairs.other.phi + np.pi, 2 * np.pi) - np.pi
    dr = np.hypot(pairs.lep.eta - pairs.other.eta, dphi)
    cone = (dr < config.isolation_cone) & (pairs.lep.i != pairs.other.i)
    iso = ak.sum(ak.where(cone, pairs.other.pt, 0.0), axis=-1)
    candidates = kin[is_lep]
    leptons = candidates[iso < config.isolation_max * candidates.pt]
    leptons = leptons[ak.argsort(-leptons.pt, axis=1)]
    counts = ak.to_numpy(ak.num(final.id))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    flat = np.zeros(int(counts.sum()), dtype=bool)
    flat[ak.to_numpy(ak.flatten(leptons.i + offsets)).astype(np.int64)] = True
    mask_iso = ak.unflatten(flat, counts)
    lep_sel = leptons.i

    # jets from visible particles without the isolated leptons
    inputs = final[visible & ~mask_iso]
    vectors = ak.zip({"px": inputs.p.px, "py": inputs.p.py, "pz": inputs.p.pz, "E": inputs.p.e})
    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, config.jet_radius)
    jets = fastjet.ClusterSequence(vectors, jetdef).inclusive_jets(min_pt=config.jet_pt_min)
    jpt = np.hypot(jets.px, jets.py)
    with np.errstate(divide="ignore", invalid="ignore"):
        jeta = np.arcsinh(jets.pz / jpt)
    jets = jets[abs(jeta) < config.jet_eta_max]
    jets = jets[ak.argsort(-np.hypot(jets.px, jets.py), axis=1)]
    jphi = np.arctan2(jets.py, jets.px)
    jpt = np.hypot(jets.px, jets.py)
    jeta = np.arcsinh(jets.pz / jpt)

    # flavour labels from heavy hadrons anywhere in the record
    hid = abs(prt.id)
    hp = prt.p
    hpt = np.hypot(hp.px, hp.py)
    labels = []
    for q in (5, 4):
        np_hid = ak.to_numpy(ak.flatten(hid)).astype(np.int64)
        heavy = ak.unflatten(_has_quark(np_hid, q), ak.num(hid)) & (hpt > 5.0)
        hk = ak.zip({"eta": np.arcsinh(hp.pz[heavy] / hpt[heavy]), "phi": np.arctan2(hp.py[heavy], hp.px[heavy])})
        pj = ak.cartesian({"j": ak.zip({"eta": jeta, "phi": jphi}), "h": hk}, nested=True)
        d = np.hypot(pj.j.eta - pj.h.eta, np.mod(pj.j.phi - pj.h.phi + np.pi, 2 * np.pi) - np.pi)
        labels.append(ak.any(d < 0.3, axis=-1))
    flavour = ak.where(labels[0], 5, ak.where(labels[1], 4, 0))

    nj, nl = config.max_jets, config.max_leptons
    jet_arr = np.stack([_pad(ak, jets[c], nj) for c in ("E", "px", "py", "pz")], axis=-1)
    lp = final.p[lep_sel]
    lep_arr = np.stack([_pad(ak, lp[c], nl) for c in ("e", "px", "py", "pz")], axis=-1)
    charge = -np.sign(_pad(ak, final.id[lep_sel], nl)).astype(np.int64)  # e⁻, μ⁻ have positive PDG ids
    nu = final.p[invisible]
    met = np.stack([ak.to_numpy(ak.sum(nu.px, axis=1)), ak.to_numpy(ak.sum(nu.py, axis=1))], axis=1)
    truth = TruthObjects(lep_arr, charge, _pad(ak, ak.ones_like(lep_sel, dtype=bool), nl, False).astype(bool),
                         jet_arr, _pad(ak, flavour, nj).astype(np.int64),
                         _pad(ak, ak.ones_like(jpt, dtype=bool), nj, False).astype(bool), met)
    return truth, prt


def _concat_truth(parts: list[TruthObjects]) -> TruthObjects:
    return TruthObjects(*(np.concatenate([getattr(p, f.name) for p in parts])
                          for f in dataclasses.fields(TruthObjects)))


def generate(config: GeneratorConfig, n: int, rng: np.random.Generator, *,
             progress: Callable[[int], None] | None = None) -> GeneratedChunk:
    """Run Pythia for ``n`` events (seeded from ``rng``) and build the particle-level objects.

    A process with several sub-runs (:func:`n_subruns`) shares the ``n`` events equally between them, each with
    its own seed; every event then carries the weight σ_k/n_k of its sub-run.  ``progress(k)`` is called after
    every batch with the number of events just made.
    """
    if n < 1:
        raise SBIError(f"parameter 'n' must be >= 1, got {n}")
    parts = n_subruns(config.process)
    if n < parts:  # a sub-run without events would drop its cross section from the sample
        raise SBIError(f"parameter 'n' must be >= {parts} for process {config.process!r} ({parts} sub-runs), got {n}")
    sizes = [n // parts + (k < n % parts) for k in range(parts)]
    runs = [_generate_subrun(config, size, int(rng.integers(1, 900_000_001)), k, progress)
            for k, size in enumerate(sizes)]
    if len(runs) == 1:
        return runs[0]
    weights = np.concatenate([run.weights() for run in runs])
    return GeneratedChunk(_concat_truth([run.truth for run in runs]), np.concatenate([run.hard for run in runs]),
                          float(sum(run.xsec_fb for run in runs)), int(sum(run.n_generated for run in runs)), weights)


def _generate_subrun(config: GeneratorConfig, n: int, seed: int, subrun: int,
                     progress: Callable[[int], None] | None) -> GeneratedChunk:
    pythia8mc = _pythia_module()
    _, ak = _fastjet_module()
    pythia = pythia8mc.Pythia("", False)
    for line in pythia_settings(config, seed, subrun):
        if not pythia.readString(line):
            raise SBIError(f"Pythia rejected the setting {line!r}")
    if not pythia.init():
        raise SBIError(f"Pythia failed to initialise for process {config.process!r} (sub-run {subrun})")
    truths, hards, done = [], [], 0
    while done < n:
        k = min(config.batch_size, n - done)
        if config.process == "signal":  # one event per call, to read its process record
            parts, rows = [], []
            for _ in range(k):
                parts.append(pythia.nextBatch(1, 10.0))
                rows.append(_process_rows(pythia.process))
            batch = ak.concatenate(parts)
            ids, status, mother, mom = (np.array([r[j] for r in rows]) for j in range(4))
            hard = _hard_from_arrays(ids.astype(np.int64), status.astype(np.int64), mother.astype(np.int64),
                                     mom.astype(np.float64))
        else:
            batch = pythia.nextBatch(k, 10.0)
            hard = np.zeros((len(batch), len(HARD_NAMES)))
        truth, _ = _objects(config, batch)
        truths.append(truth)
        hards.append(hard)
        done += len(truth)
        if progress is not None:
            progress(len(truth))
    xsec = float(pythia.infoPython().sigmaGen()) * _MB_TO_FB
    return GeneratedChunk(_concat_truth(truths), np.concatenate(hards), xsec, done)


def _benchmark_weights(process: str, hard: FloatArray, base: FloatArray, morphing: Morphing,
                       ew: ElectroweakParameters) -> FloatArray:
    if process != "signal":
        return np.repeat(base[:, None], morphing.n_benchmarks, axis=1)
    h = hard[:, :20].reshape(-1, 5, 4)
    comps = matrix_element_components(h[:, 0], h[:, 1], h[:, 2], h[:, 3], ew, normalised=False)
    return base[:, None] * reweighting_factors(comps, morphing.benchmarks)


class WHSimulator:
    """The WH(ℓνbb) chain: Pythia → FastJet → detector → selection → observables → EFT benchmark weights.

    Satisfies :class:`~nextsm.sbi.simulators.Simulator`; events failing the selection are dropped, and
    the weights (fb) of the selected ones sum to the selected cross section.

    Parameters
    ----------
    generator, detector, selection:
        Configurations (defaults: the signal, :class:`DetectorConfig`, :class:`SelectionConfig`).
    benchmarks:
        Six morphing benchmarks in θ = (c_HW~, c_HW).
    electroweak:
        Inputs of the reweighting amplitude.
    """

    name = "wh"
    parameter_names = PARAMETER_NAMES
    observable_names = OBSERVABLE_NAMES
    process_names = PROCESS_NAMES

    def __init__(self, generator: GeneratorConfig | None = None, detector: DetectorConfig | None = None,
                 selection: SelectionConfig | None = None, benchmarks: ArrayLike = DEFAULT_BENCHMARKS,
                 electroweak: ElectroweakParameters | None = None) -> None:
        self.generator = generator or GeneratorConfig()
        self.detector = detector or DetectorConfig()
        self.selection = selection or SelectionConfig()
        self.electroweak = electroweak or ElectroweakParameters()
        self.morphing = Morphing(np.asarray(benchmarks, dtype=np.float64), 2, self.parameter_names)

    def reconstruct(self, chunk: GeneratedChunk, rng: np.random.Generator) -> WeightedEvents:
        """Detector, selection, observables and benchmark weights of a generated chunk."""
        reco = smear(chunk.truth, rng, self.detector)
        sel = select(reco, rng, self.selection, self.detector)
        x = wh_observables(sel.lepton, sel.charge, sel.b1, sel.b2, sel.met, self.electroweak.m_w)
        base = chunk.weights()[sel.index] * sel.weight_factor
        hard = chunk.hard[sel.index]
        bw = _benchmark_weights(self.generator.process, hard, base, self.morphing, self.electroweak)
        proc = np.full(len(sel.index), PROCESS_NAMES.index(self.generator.process), dtype=np.int64)
        meta = self.provenance()
        meta.update({"n_generated": chunk.n_generated, "xsec_generated_fb": chunk.xsec_fb})
        return WeightedEvents(x, bw, self.morphing, proc, self.observable_names, self.process_names, hard, meta)

    def simulate(self, n: int, rng: np.random.Generator, *,
                 progress: Callable[[int], None] | None = None) -> WeightedEvents:
        """Generate ``n`` events of the configured process; return the selected ones, weighted."""
        return self.reconstruct(generate(self.generator, n, rng, progress=progress), rng)

    def provenance(self) -> dict[str, Any]:
        """JSON metadata of the chain's configuration."""
        gen = dataclasses.asdict(self.generator)
        gen["extra_settings"] = list(gen["extra_settings"])
        gen["pythia_runs"] = [list(run) for run in _PROCESS_RUNS[self.generator.process]]
        return {"simulator": self.name, "generator": gen, "detector": dataclasses.asdict(self.detector),
                "selection": dataclasses.asdict(self.selection),
                "electroweak": dataclasses.asdict(self.electroweak), "parameter_names": list(self.parameter_names),
                "hard_names": list(HARD_NAMES)}


def _generated_per_process(sample: WeightedEvents) -> dict[str, int] | None:
    """Generated events per process behind ``sample``: one entry for a run, the sum over its components for a
    combined sample, ``None`` for a sample that is neither (not made by this chain)."""
    meta = sample.metadata
    if "generator" in meta:
        return {str(meta["generator"]["process"]): int(meta.get("n_generated", len(sample)))}
    if "components" in meta:
        counts: dict[str, int] = {}
        for comp in meta["components"]:
            counts[str(comp["process"])] = counts.get(str(comp["process"]), 0) + int(comp["n_generated"])
        return counts
    return None


def combine_samples(samples: list[WeightedEvents], n_generated: list[int] | None = None) -> WeightedEvents:
    r"""Concatenate samples: different processes add up, independent generations of one process are averaged.

    Each sample's weights estimate the selected cross section of its processes.  Where several samples hold the
    same process p (runs of :meth:`WHSimulator.simulate`, or files that :func:`combine_samples` wrote, with
    their ``metadata["components"]``), the events of p in sample j get weights × :math:`n_{jp} / \sum_k n_{kp}`,
    :math:`n_{jp}` being the events of p generated for sample j.  So two files made with different seeds give
    the cross section once, with the statistics of both; a process is never counted twice.  Samples without
    provenance (not made by this chain) are added as they are.

    Parameters
    ----------
    samples:
        The samples, all with the same observables and morphing benchmarks.
    n_generated:
        Overrides the generated events of each sample (runs only; default ``metadata["n_generated"]``).
    """
    if not samples:
        raise SBIError("parameter 'samples' is empty")
    first = samples[0]
    for s in samples[1:]:
        if s.observable_names != first.observable_names or not np.array_equal(s.morphing.benchmarks,
                                                                                first.morphing.benchmarks):
            raise SBIError("parameter 'samples': observables or morphing benchmarks differ between samples")
    counts = [_generated_per_process(s) for s in samples]
    if n_generated is not None:
        if len(n_generated) != len(samples):
            raise SBIError("parameter 'n_generated' must have one entry per sample")
        for i, (s, n) in enumerate(zip(samples, n_generated, strict=True)):
            if "generator" not in s.metadata:
                raise SBIError(f"parameter 'n_generated': sample {i} is not a single run of the generator")
            counts[i] = {str(s.metadata["generator"]["process"]): int(n)}
    totals: dict[str, int] = {}
    for c in counts:
        for proc, n in (c or {}).items():
            totals[proc] = totals.get(proc, 0) + n
    weights, components = [], []
    for s, c in zip(samples, counts, strict=True):
        if c is None:
            weights.append(s.benchmark_weights)
            continue
        names = np.asarray(s.process_names, dtype=object)[s.process]
        factor = np.ones(len(s))
        for proc, n in c.items():
            factor[names == proc] = n / totals[proc]
        weights.append(s.benchmark_weights * factor[:, None])
        if "generator" in s.metadata:
            components.append({"process": next(iter(c)), "n_generated": c[next(iter(c))], "n_selected": len(s),
                               "xsec_generated_fb": s.metadata.get("xsec_generated_fb")})
        else:
            components.extend(s.metadata["components"])
    z = None if any(s.z is None for s in samples) else np.concatenate([s.z for s in samples])
    meta: dict[str, Any] = {"simulator": first.metadata.get("simulator"), "components": components}
    for key in ("detector", "selection", "electroweak", "parameter_names", "hard_names"):
        if key in first.metadata:
            meta[key] = first.metadata[key]
    return WeightedEvents(np.concatenate([s.x for s in samples]), np.concatenate(weights), first.morphing,
                          np.concatenate([s.process for s in samples]), first.observable_names,
                          first.process_names, z, meta)
