r"""A parametrised detector response for the WH(ℓνbb) chain (numpy, vectorised, explicit Generator).

Inputs are particle-level objects (:class:`TruthObjects`): isolated leptons, anti-kT R = 0.4 jets with their
flavour labels, and the true missing transverse momentum (the neutrinos).  The response:

* leptons: :math:`p \to p\,(1 + \sigma_\ell\,\epsilon)` with :math:`\sigma_\ell = 2\,\%`, an identification
  efficiency applied as a weight by the selection;
* jets: :math:`p \to p\,(1 + \sigma_E(E)/E\,\epsilon)`,
  :math:`\sigma_E/E = a/\sqrt{E} \oplus b \oplus N/E` (:math:`a = 0.6\sqrt{\rm GeV}`, :math:`b = 0.05`,
  :math:`N = 3` GeV), an ATLAS-like calorimeter (ATLAS, Eur. Phys. J. C 73 (2013) 2304);
* missing transverse momentum: the true :math:`\vec E_T^{\rm miss}` minus the mismeasurement of every
  lepton and jet plus a Gaussian soft term of 8 GeV per component,
  :math:`\vec E_T^{\rm miss,reco} = \vec E_T^{\rm miss,true} - \sum_{\rm objects}(\vec p_T^{\rm reco} - \vec p_T^{\rm true}) + \vec\epsilon_{\rm soft}`;
* b-tagging (used by :mod:`.selection`): efficiency 0.70 for b jets, 0.10 for c jets, 0.01 for light jets
  (a 70 % working point, cf. ATLAS, Eur. Phys. J. C 79 (2019) 970).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nextsm.sbi.errors import SBIError

__all__ = ["DetectorConfig", "RecoObjects", "TruthObjects", "smear"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class TruthObjects:
    """Particle-level objects of ``N`` events, padded to ``L`` leptons and ``J`` jets.

    Attributes
    ----------
    leptons:
        Isolated electrons and muons ``(N, L, 4)``, ``(E, px, py, pz)``, ordered by p_T.
    lepton_charge:
        ±1 (0 for padding), ``(N, L)``.
    lepton_mask:
        True for real entries, ``(N, L)``.
    jets:
        Anti-kT R = 0.4 jets ``(N, J, 4)``, ordered by p_T.
    jet_flavour:
        5 (a b hadron within ΔR < 0.3), 4 (a c hadron), else 0; ``(N, J)``.
    jet_mask:
        ``(N, J)``.
    met:
        True missing transverse momentum (sum of neutrinos) ``(N, 2)``.
    """

    leptons: FloatArray
    lepton_charge: NDArray[np.int64]
    lepton_mask: NDArray[np.bool_]
    jets: FloatArray
    jet_flavour: NDArray[np.int64]
    jet_mask: NDArray[np.bool_]
    met: FloatArray

    def __post_init__(self) -> None:
        n = self.leptons.shape[0]
        shapes = {"leptons": self.leptons.ndim == 3 and self.leptons.shape[2] == 4,
                  "lepton_charge": self.lepton_charge.shape == self.leptons.shape[:2],
                  "lepton_mask": self.lepton_mask.shape == self.leptons.shape[:2],
                  "jets": self.jets.ndim == 3 and self.jets.shape[0] == n and self.jets.shape[2] == 4,
                  "jet_flavour": self.jet_flavour.shape == self.jets.shape[:2],
                  "jet_mask": self.jet_mask.shape == self.jets.shape[:2], "met": self.met.shape == (n, 2)}
        for name, ok in shapes.items():
            if not ok:
                raise SBIError(f"TruthObjects field '{name}' has an inconsistent shape {getattr(self, name).shape}")

    def __len__(self) -> int:
        return int(self.met.shape[0])


RecoObjects = TruthObjects
"""Detector-level objects have the same layout (smeared momenta, reconstructed MET)."""


@dataclass(frozen=True)
class DetectorConfig:
    """Resolutions and efficiencies (module docstring).

    Attributes
    ----------
    lepton_resolution:
        Relative lepton momentum resolution.
    lepton_efficiency:
        Identification × trigger efficiency of the selected lepton (a weight).
    jet_stochastic, jet_constant, jet_noise:
        :math:`a` (√GeV), :math:`b`, :math:`N` (GeV) of the jet energy resolution.
    met_soft:
        Soft-term resolution per E_T^miss component (GeV).
    btag_b, btag_c, btag_light:
        b-tagging probabilities of b, c and light jets (each in [0, 1)).
    """

    lepton_resolution: float = 0.02
    lepton_efficiency: float = 0.9
    jet_stochastic: float = 0.6
    jet_constant: float = 0.05
    jet_noise: float = 3.0
    met_soft: float = 8.0
    btag_b: float = 0.70
    btag_c: float = 0.10
    btag_light: float = 0.01

    def __post_init__(self) -> None:
        checks = {"lepton_resolution": self.lepton_resolution >= 0, "lepton_efficiency": 0 < self.lepton_efficiency <= 1,
                  "jet_stochastic": self.jet_stochastic >= 0, "jet_constant": self.jet_constant >= 0,
                  "jet_noise": self.jet_noise >= 0, "met_soft": self.met_soft >= 0,
                  "btag_b": 0 <= self.btag_b < 1, "btag_c": 0 <= self.btag_c < 1,
                  "btag_light": 0 <= self.btag_light < 1}
        for name, ok in checks.items():
            if not ok:
                raise SBIError(f"DetectorConfig field '{name}' has an invalid value {getattr(self, name)!r}")

    def jet_resolution(self, energy: FloatArray) -> FloatArray:
        """:math:`\\sigma_E/E` at ``energy`` (GeV)."""
        e = np.maximum(energy, 1e-3)
        return np.sqrt(self.jet_stochastic**2 / e + self.jet_constant**2 + (self.jet_noise / e) ** 2)

    def btag_efficiency(self, flavour: NDArray[np.int64]) -> FloatArray:
        """Tagging probability per jet from its flavour label (5, 4, other)."""
        return np.where(flavour == 5, self.btag_b, np.where(flavour == 4, self.btag_c, self.btag_light))


def smear(truth: TruthObjects, rng: np.random.Generator, config: DetectorConfig | None = None) -> RecoObjects:
    """Detector-level objects: smeared leptons and jets, and the reconstructed E_T^miss."""
    cfg = config or DetectorConfig()
    lep_scale = 1.0 + cfg.lepton_resolution * rng.standard_normal(truth.lepton_mask.shape)
    jet_scale = 1.0 + cfg.jet_resolution(truth.jets[..., 0]) * rng.standard_normal(truth.jet_mask.shape)
    lep_scale = np.where(truth.lepton_mask, np.clip(lep_scale, 0.0, None), 1.0)
    jet_scale = np.where(truth.jet_mask, np.clip(jet_scale, 0.0, None), 1.0)
    leptons = truth.leptons * lep_scale[..., None]
    jets = truth.jets * jet_scale[..., None]
    shift = (np.sum((leptons - truth.leptons)[..., 1:3] * truth.lepton_mask[..., None], axis=1)
             + np.sum((jets - truth.jets)[..., 1:3] * truth.jet_mask[..., None], axis=1))
    met = truth.met - shift + cfg.met_soft * rng.standard_normal(truth.met.shape)
    order = np.argsort(-np.where(truth.jet_mask, np.hypot(jets[..., 1], jets[..., 2]), -1.0), axis=1, kind="stable")
    take = np.take_along_axis
    return TruthObjects(leptons, truth.lepton_charge, truth.lepton_mask, take(jets, order[..., None], axis=1),
                        take(truth.jet_flavour, order, axis=1), take(truth.jet_mask, order, axis=1), met)
