"""Frequentist interval estimation: test statistics (LRT, FTS), Neyman belts (exact, toys, amortised).

See ``docs/inference.md``.  Everything here needs numpy/scipy only; gradient-boosted quantile regression
needs the ``inference`` extra (scikit-learn) and the plots matplotlib.
"""

from __future__ import annotations

from nextsm.inference.diagnostics import CoverageDiagnostic, coverage_diagnostic
from nextsm.inference.errors import InferenceError
from nextsm.inference.focus import CallableFocus, Focus, GaussianFocus
from nextsm.inference.models import (
    BoundedGaussianMean,
    DatabaseResultModel,
    ExactModel,
    LikelihoodModel,
    PoissonCounting,
)
from nextsm.inference.neyman import (
    Belt,
    ExactPerformance,
    Intervals,
    amortised_belt,
    exact_belt,
    exact_performance,
    refine_belt,
    refine_endpoints,
    toy_belt,
    uniform_prior,
)
from nextsm.inference.quantile import BoostingQuantileRegression, SplineQuantileRegression
from nextsm.inference.statistics import FocusedStatistic, LikelihoodRatio, TestStatistic

__all__ = [
    "Belt",
    "BoostingQuantileRegression",
    "BoundedGaussianMean",
    "CallableFocus",
    "CoverageDiagnostic",
    "DatabaseResultModel",
    "ExactModel",
    "ExactPerformance",
    "Focus",
    "FocusedStatistic",
    "GaussianFocus",
    "InferenceError",
    "Intervals",
    "LikelihoodModel",
    "LikelihoodRatio",
    "PoissonCounting",
    "SplineQuantileRegression",
    "TestStatistic",
    "amortised_belt",
    "coverage_diagnostic",
    "exact_belt",
    "exact_performance",
    "refine_belt",
    "refine_endpoints",
    "toy_belt",
    "uniform_prior",
]
