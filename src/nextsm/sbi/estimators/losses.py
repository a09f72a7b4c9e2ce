r"""Losses of the estimators (per row; the trainer averages them with the row weights).

Notation: :math:`\ell = \log\hat r(x|\theta)` (the classifier logit, label 1 = numerator),
:math:`\hat s = \sigma(\ell)`, :math:`\log r_{xz}`, :math:`t_{xz}` the joint ratio and score, α the score weight.

========  ==========================================================================================
CARL      :math:`{\rm BCE}(\hat s, y)`  (Cranmer et al. 2015, arXiv:1506.02169)
ALICE     :math:`{\rm BCE}(\hat s, \sigma(\log r_{xz}))` (Stoye et al., arXiv:1808.00973)
ALICES    ALICE :math:`+\ \alpha\,|\hat t - t_{xz}|^2` on numerator rows (Brehmer et al. 2018, arXiv:1805.12244)
CASCAL    CARL :math:`+\ \alpha\,|\hat t - t_{xz}|^2` on numerator rows
RASCAL    :math:`(1-y)(\hat r - r_{xz})^2 + y(1/\hat r - 1/r_{xz})^2 + \alpha\,y\,|\hat t - t_{xz}|^2`,
          log-ratios clipped to ±10 (ROLR + score, arXiv:1805.00020)
SALLY     :math:`|\hat t(x) - t_{xz}(\theta_{\rm ref})|^2`
========  ==========================================================================================

with :math:`\hat t = \nabla_\theta \ell` (autograd through the θ input, double backprop in training).
"""

from __future__ import annotations

import torch
from torch.nn import functional

__all__ = ["RATIO_METHODS", "SCORE_METHODS", "needs_score", "ratio_loss", "score_loss"]

RATIO_METHODS = ("carl", "alice", "alices", "cascal", "rascal")
SCORE_METHODS = ("sally",)


def needs_score(method: str) -> bool:
    """Whether ``method`` uses the joint score (and therefore the θ-gradient of the network)."""
    return method in ("alices", "cascal", "rascal")


def ratio_loss(method: str, logit: torch.Tensor, y: torch.Tensor, log_r_xz: torch.Tensor,
               t_hat: torch.Tensor | None, t_xz: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per-row loss of a ratio method, ``(B,)``."""
    if method in ("carl", "cascal"):
        loss = functional.binary_cross_entropy_with_logits(logit, y, reduction="none")
    elif method in ("alice", "alices"):
        loss = functional.binary_cross_entropy_with_logits(logit, torch.sigmoid(log_r_xz), reduction="none")
    else:  # rascal
        lr_hat, lr_xz = logit.clamp(-10, 10), log_r_xz.clamp(-10, 10)
        loss = (1 - y) * (lr_hat.exp() - lr_xz.exp()) ** 2 + y * ((-lr_hat).exp() - (-lr_xz).exp()) ** 2
    if needs_score(method) and t_hat is not None:
        loss = loss + alpha * y * ((t_hat - t_xz) ** 2).sum(dim=1)
    return loss


def score_loss(t_hat: torch.Tensor, t_xz: torch.Tensor) -> torch.Tensor:
    """Per-row SALLY loss :math:`|\\hat t - t_{xz}|^2`, ``(B,)``."""
    return ((t_hat - t_xz) ** 2).sum(dim=1)
