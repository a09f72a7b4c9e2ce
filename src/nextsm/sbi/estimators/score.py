r"""SALLY: the score network :math:`\hat t(x) \approx t(x|\theta_{\rm ref}) = \nabla_\theta\log p(x|\theta)|_{\theta_{\rm ref}}`.

Trained by regression on the joint score :math:`t(x,z|\theta_{\rm ref})`, whose conditional expectation is
the marginal score (Brehmer, Cranmer, Louppe, Pavez 2018, arXiv:1805.00020, §III.C); :math:`\hat t(x)` is the
locally sufficient statistic near :math:`\theta_{\rm ref}`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from nextsm.sbi.estimators.networks import MLP, Standardizer

__all__ = ["ScoreNet"]


class ScoreNet(nn.Module):
    """``forward(x)`` → :math:`\\hat t(x)`, ``(B, p)``; the output is rescaled by ``t_std`` and shifted by ``t_mean``."""

    kind = "score"
    t_mean: torch.Tensor
    t_std: torch.Tensor
    theta_ref: torch.Tensor

    def __init__(self, n_x: int, n_theta: int, hidden: Sequence[int], activation: str, *, x_mean: ArrayLike,
                 x_std: ArrayLike, t_mean: ArrayLike, t_std: ArrayLike, theta_ref: ArrayLike) -> None:
        super().__init__()
        self.n_x, self.n_theta = n_x, n_theta
        self.net = MLP((n_x, *hidden, n_theta), activation)
        self.x_scale = Standardizer(x_mean, x_std)
        self.register_buffer("t_mean", torch.tensor(np.asarray(t_mean, dtype=np.float32)))
        self.register_buffer("t_std", torch.tensor(np.asarray(t_std, dtype=np.float32)))
        self.register_buffer("theta_ref", torch.tensor(np.asarray(theta_ref, dtype=np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\hat t(x)`."""
        return self.t_mean + self.t_std * self.net(self.x_scale(x))
