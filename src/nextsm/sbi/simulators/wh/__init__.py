"""The realistic WH(ℓνbb) simulator: Pythia 8 + FastJet + a parametrised detector, reweighted to the HWW EFT.

* :mod:`.amplitude`: the analytic LO amplitude of q q̄' → W* → W h → ℓ ν h with the SM, O_HW and O_HW~
  structures (numpy only) and the matrix-element reweighting factors;
* :mod:`.pythia_gen`: the Pythia 8 configuration and event loop (needs the ``pythia`` extra);
* :mod:`.detector`, :mod:`.selection`, :mod:`.observables`: detector response, WH(ℓνbb) selection and the
  analysis observables (numpy only).

Only :mod:`.amplitude` is imported here, so ``import nextsm.sbi.simulators.wh`` never needs Pythia.
"""

from __future__ import annotations

from nextsm.sbi.simulators.wh.amplitude import (
    PARAMETER_NAMES,
    ElectroweakParameters,
    matrix_element_components,
    matrix_element_squared,
    reweighting_factors,
)

__all__ = ["PARAMETER_NAMES", "ElectroweakParameters", "matrix_element_components", "matrix_element_squared",
           "reweighting_factors"]
