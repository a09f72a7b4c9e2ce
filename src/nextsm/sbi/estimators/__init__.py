"""Neural estimators (PyTorch, the ``sbi`` extra): parametrised and morphing-aware ratios, SALLY scores.

Importing this package imports torch; without it a :class:`~nextsm.sbi.errors.MissingExtraError`
names the extra to install.
"""

from __future__ import annotations

from nextsm.sbi._torch import require_torch

require_torch()

from nextsm.sbi.estimators.base import Estimator  # noqa: E402
from nextsm.sbi.estimators.losses import RATIO_METHODS, SCORE_METHODS  # noqa: E402
from nextsm.sbi.estimators.networks import MLP  # noqa: E402
from nextsm.sbi.estimators.ratio import MorphingAwareRatio, ParametrizedRatio  # noqa: E402
from nextsm.sbi.estimators.score import ScoreNet  # noqa: E402

__all__ = ["MLP", "RATIO_METHODS", "SCORE_METHODS", "Estimator", "MorphingAwareRatio", "ParametrizedRatio",
           "ScoreNet"]
