r"""A ratio network for two arbitrary samples: :math:`\log\hat r(x) \approx \log p_1(x)/p_0(x)`.

The per-process ratios of NSBI mixture models (:mod:`nextsm.inference.mixture`) and the per-event
nuisance ratios (:mod:`nextsm.inference.systematics`) are density ratios between two *samples* with no
parameter θ.  A classifier with label 1 for the numerator sample and 0 for the denominator, trained by
binary cross-entropy with the class weights balanced (each class has total weight 1), has the logit

.. math::

    s(x) = \log\frac{p_1(x)}{p_0(x)}

at the optimum (K. Cranmer, J. Pavez, G. Louppe, *Approximating likelihood ratios with calibrated
discriminative classifiers*, arXiv:1506.02169).  Training reuses :func:`nextsm.sbi.training.train_member`
(CARL loss, tensor batching, early stopping) with a network that ignores θ.  An ensemble of K members
predicts the *mean ratio* :math:`\hat r = K^{-1}\sum_k e^{s_k}` (so equal linear weights w_i f_i reproduce
it).  :meth:`PairwiseRatio.calibrated` fixes the normalisation with the identity
:math:`E_{p_0}[r] = 1` on a held-out denominator sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from nextsm.sbi.errors import SBIError
from nextsm.sbi.estimators.networks import MLP, Standardizer
from nextsm.sbi.sampling import TrainingSet
from nextsm.sbi.training import TrainConfig, TrainHistory, train_member

__all__ = ["PairwiseNet", "PairwiseRatio", "train_pairwise_ratio"]

FloatArray = NDArray[np.float64]


class PairwiseNet(nn.Module):
    """:math:`s(x)`, an MLP on standardised x; ``forward(x, theta)`` ignores θ (trainer interface)."""

    kind = "pairwise"

    def __init__(self, n_x: int, hidden: Sequence[int], activation: str, *, x_mean: ArrayLike,
                 x_std: ArrayLike) -> None:
        super().__init__()
        self.n_x = n_x
        self.net = MLP((n_x, *hidden, 1), activation)
        self.x_scale = Standardizer(x_mean, x_std)

    def forward(self, x: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor:
        """Row-wise logit :math:`s(x_i)`, ``(B,)``."""
        return self.net(self.x_scale(x))[:, 0]


class PairwiseRatio:
    """K trained :class:`PairwiseNet` members with a log-normalisation offset (module docstring)."""

    def __init__(self, members: Sequence[PairwiseNet], *, offset: float = 0.0,
                 histories: Sequence[TrainHistory] = ()) -> None:
        if not members:
            raise SBIError("parameter 'members' is empty")
        self.members = [m.eval() for m in members]
        self.offset = float(offset)
        self.histories = list(histories)

    def __repr__(self) -> str:
        return f"PairwiseRatio(members={len(self.members)}, offset={self.offset:.4g})"

    @property
    def n_members(self) -> int:
        """Number of members K."""
        return len(self.members)

    def log_ratio_members(self, x: ArrayLike, *, chunk: int = 1 << 16) -> FloatArray:
        """:math:`s_k(x_i)` per member (without the offset), ``(K, N)``."""
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != self.members[0].n_x:
            raise SBIError(f"parameter 'x' must have shape (N, {self.members[0].n_x}), got {arr.shape}")
        xt = torch.from_numpy(arr)
        out = np.empty((self.n_members, arr.shape[0]))
        with torch.no_grad():
            for k, member in enumerate(self.members):
                for i in range(0, arr.shape[0], chunk):
                    out[k, i:i + chunk] = member(xt[i:i + chunk]).double().numpy()
        return out

    def log_ratio(self, x: ArrayLike) -> FloatArray:
        """:math:`\\log \\hat r(x) = \\log K^{-1}\\sum_k e^{s_k(x)} + {\\rm offset}`, ``(N,)``."""
        s = self.log_ratio_members(x)
        top = s.max(axis=0)
        return top + np.log(np.mean(np.exp(s - top), axis=0)) + self.offset

    def calibrated(self, x_denominator: ArrayLike, weights: ArrayLike | None = None) -> PairwiseRatio:
        """A copy whose offset makes the (weighted) mean of :math:`\\hat r` over ``x_denominator`` equal to 1."""
        lr = self.log_ratio(x_denominator) - self.offset
        w = np.ones(lr.size) if weights is None else np.asarray(weights, dtype=np.float64)
        top = lr.max()
        mean = np.sum(w * np.exp(lr - top)) / np.sum(w)
        return PairwiseRatio(self.members, offset=-(top + np.log(mean)), histories=self.histories)


def _balanced(x1: FloatArray, x0: FloatArray, w1: ArrayLike | None, w0: ArrayLike | None) -> TrainingSet:
    v1 = np.ones(x1.shape[0]) if w1 is None else np.asarray(w1, dtype=np.float64)
    v0 = np.ones(x0.shape[0]) if w0 is None else np.asarray(w0, dtype=np.float64)
    if v1.shape != (x1.shape[0],) or v0.shape != (x0.shape[0],) or v1.sum() <= 0 or v0.sum() <= 0:
        raise SBIError("parameters 'weights_numerator', 'weights_denominator' must match the samples and have a "
                       "positive sum")
    n = x1.shape[0] + x0.shape[0]
    x = np.concatenate([x1, x0])
    zeros = np.zeros(n)
    weight = np.concatenate([v1 / v1.sum(), v0 / v0.sum()]) * (n / 2)
    return TrainingSet(x, np.zeros((n, 1)), np.concatenate([np.ones(x1.shape[0]), np.zeros(x0.shape[0])]),
                       zeros, np.zeros((n, 1)), weight, np.zeros(1))


def train_pairwise_ratio(x_numerator: ArrayLike, x_denominator: ArrayLike, rng: np.random.Generator, *,
                         config: TrainConfig | None = None, weights_numerator: ArrayLike | None = None,
                         weights_denominator: ArrayLike | None = None, n_members: int = 1,
                         bootstrap: bool = True) -> PairwiseRatio:
    """Train :math:`\\log\\hat r(x) \\approx \\log p_{\\rm num}(x)/p_{\\rm den}(x)` (module docstring).

    Parameters
    ----------
    x_numerator, x_denominator:
        The two samples, ``(N1, d)`` and ``(N0, d)``.
    rng:
        Seeds the validation split, the batches and every member's initialisation.
    config:
        :class:`~nextsm.sbi.training.TrainConfig` (hidden widths, epochs, batch size, learning rate, …).
    weights_numerator, weights_denominator:
        Optional event weights (e.g. MC weights); each class is normalised to equal total weight.
    n_members:
        Ensemble size K; members differ by initialisation and, if ``bootstrap``, by a bootstrap replica.
    """
    x1 = np.asarray(x_numerator, dtype=np.float64)
    x0 = np.asarray(x_denominator, dtype=np.float64)
    if x1.ndim != 2 or x0.ndim != 2 or x1.shape[1] != x0.shape[1]:
        raise SBIError(f"parameters 'x_numerator', 'x_denominator' must be (N, d) with one d, got {x1.shape}, "
                       f"{x0.shape}")
    if n_members < 1:
        raise SBIError(f"parameter 'n_members' must be >= 1, got {n_members}")
    cfg = config or TrainConfig()
    data = _balanced(x1, x0, weights_numerator, weights_denominator)
    mean, std = data.x.mean(axis=0), data.x.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    members, histories = [], []
    for _ in range(n_members):
        member_data = data.resample(rng) if (bootstrap and n_members > 1) else data
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(0, 2**62)))
            net = PairwiseNet(x1.shape[1], cfg.hidden, cfg.activation, x_mean=mean, x_std=std)
        histories.append(train_member("carl", net, member_data, cfg, rng))
        members.append(net)
    return PairwiseRatio(members, histories=histories)
