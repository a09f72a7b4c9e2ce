"""Neural simulation-based inference for EFT measurements (issue 7): docs/sbi.md.

Pipeline (one module per stage; torch is imported only by ``estimators``, ``training``, ``ensemble``):

* :mod:`~nextsm.sbi.simulators` — weighted events with morphing benchmark weights; the exact toy;
* :mod:`~nextsm.sbi.morphing` — exact polynomial morphing of weights;
* :mod:`~nextsm.sbi.sampling` — the (n_θ × N) weight matrix, vectorised unweighting, joint ratio/score
  ("augmented data", the gold of Brehmer et al. 2018);
* :mod:`~nextsm.sbi.estimators`, :mod:`~nextsm.sbi.training`, :mod:`~nextsm.sbi.ensemble` — CARL, ALICE,
  ALICES, CASCAL, RASCAL, SALLY (+ morphing-aware ratio), tensor-level batching, resampled ensembles;
* :mod:`~nextsm.sbi.io` — portable estimator files (npz + JSON);
* :mod:`~nextsm.sbi.diagnostics` — calibration, reference variation, classifier test;
* :mod:`~nextsm.sbi.inference`, :mod:`~nextsm.sbi.histograms` — extended unbinned likelihood, Asimov,
  profile scans, Wilks intervals; SALLY and observable histograms.
* :mod:`~nextsm.sbi.coverage` — coverage of the Wilks intervals with Poisson pseudo-experiments;
* :mod:`~nextsm.sbi.neyman` — toy-based (Neyman, profile-construction) intervals where Wilks fails.
"""

from __future__ import annotations

from nextsm.sbi.errors import EstimatorFormatError, MissingExtraError, SBIError
from nextsm.sbi.events import WeightedEvents, load_events, save_events
from nextsm.sbi.morphing import Morphing

__all__ = ["EstimatorFormatError", "MissingExtraError", "Morphing", "SBIError", "WeightedEvents", "load_events",
           "save_events"]
