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
COMPREG   component regression of the morphing-aware ratio: :math:`d^\top M_2\, d`, with
          :math:`d = \hat R(x) - g(z)/w(z|\theta_{\rm ref})` the component residuals and
          :math:`M_2 = E_{\theta\sim\pi}[\alpha(\theta)\alpha(\theta)^\top]` (π: the θ prior box), i.e. the
          squared error of the ratio numerator averaged over the prior
========  ==========================================================================================

with :math:`\hat t = \nabla_\theta \ell` (autograd through the θ input, double backprop in training).
"""

from __future__ import annotations

import torch
from torch.nn import functional

__all__ = ["RATIO_METHODS", "SCORE_METHODS", "component_loss", "needs_score", "prior_moment_matrix", "ratio_loss",
           "score_loss"]

RATIO_METHODS = ("carl", "alice", "alices", "cascal", "rascal", "component_regression")
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


def prior_moment_matrix(exponents: torch.Tensor | list[list[int]], low: float, high: float) -> torch.Tensor:
    """:math:`M_2 = E[\alpha(\theta)\alpha(\theta)^\top]` for θ uniform in the box ``[low, high]^p`` (closed form)."""
    k = torch.as_tensor(exponents, dtype=torch.float64)
    total = k[:, None, :] + k[None, :, :]  # exponents of alpha_c alpha_d

    def moment(e: torch.Tensor) -> torch.Tensor:  # E[θ^e] for θ ~ U[low, high]
        return (high ** (e + 1) - low ** (e + 1)) / ((e + 1) * (high - low))

    return torch.prod(moment(total), dim=2).float()


def component_loss(components: torch.Tensor, targets: torch.Tensor, metric: torch.Tensor) -> torch.Tensor:
    """Per-row component-regression loss :math:`d^\top M_2 d`, ``(B,)`` (module docstring)."""
    d = components - targets
    return torch.einsum("bc,cd,bd->b", d, metric, d)
