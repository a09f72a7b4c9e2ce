"""Likelihoods of SModelS database results, batched over signal hypotheses (see docs/likelihoods.md).

Heavy backends are imported lazily: ``histfactory`` needs pyhf, everything else numpy/scipy.
"""

from __future__ import annotations

from nextsm.likelihoods.base import DataKind, FitResult, StatisticalModel, as_signal_batch
from nextsm.likelihoods.best_region import BestExpectedRegion
from nextsm.likelihoods.factory import (
    ResultLikelihood,
    efficiency_map_likelihood,
    efficiency_map_likelihoods,
    upper_limit_likelihood,
)
from nextsm.likelihoods.limits import cls, minimize_mu, qmu_tilde, twice_delta_nll, upper_limit
from nextsm.likelihoods.simplified import CorrelatedBackground, PoissonGaussian, ThirdMomentExpansion
from nextsm.likelihoods.summary import LikelihoodSummary, summarize
from nextsm.likelihoods.ul_gaussian import ObservedUpperLimit, TruncatedGaussian

__all__ = [
    "BestExpectedRegion",
    "CorrelatedBackground",
    "DataKind",
    "FitResult",
    "LikelihoodSummary",
    "ObservedUpperLimit",
    "PoissonGaussian",
    "ResultLikelihood",
    "StatisticalModel",
    "ThirdMomentExpansion",
    "TruncatedGaussian",
    "as_signal_batch",
    "cls",
    "efficiency_map_likelihood",
    "efficiency_map_likelihoods",
    "minimize_mu",
    "qmu_tilde",
    "summarize",
    "twice_delta_nll",
    "upper_limit",
    "upper_limit_likelihood",
]
