r"""Training of the estimators with tensor-level batching (PyTorch, the ``sbi`` extra).

No per-sample ``Dataset``/``DataLoader``: the rows of a :class:`~nextsm.sbi.sampling.TrainingSet` become a
handful of tensors once, every epoch shuffles an index tensor (a seeded ``torch.Generator``) and slices it
into mini-batches.  Rows carry weights (1 for unweighted samples, normalised morphing weights for
:func:`~nextsm.sbi.sampling.weighted_ratio_set`); the batch loss is
:math:`\sum_i v_i \ell_i / \sum_i v_i`.  Score terms use :math:`\hat t = \nabla_\theta \log\hat r` by autograd
with ``create_graph=True`` only for the methods that need it (ALICES, CASCAL, RASCAL).

Procedure: a seeded validation split, Adam with an exponential learning-rate decay from ``lr`` to
``lr_final``, early stopping after ``patience`` epochs without a better validation loss, the best epoch's
weights restored.  The validation split is by *events* whenever the rows carry their source event
(:attr:`~nextsm.sbi.sampling.TrainingSet.event`, filled by every sampler of :mod:`nextsm.sbi.sampling`): the
augmented samples reuse each event in many rows (at different θ, in both classes, in bootstrap replicas),
and a row split would put the same event on both sides, so the validation loss would follow the training
loss and early stopping would never see the over-fit.  Whole events are held out until
``validation_fraction`` of the rows is reached; no event is on both sides.  Rows without an event index
(hand-built sets, old files) fall back to the row split.  Network initialisation happens inside :func:`torch.random.fork_rng`, seeded from the
numpy generator, so the global torch RNG is untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from nextsm.sbi._torch import torch_generator
from nextsm.sbi.errors import SBIError
from nextsm.sbi.estimators import RATIO_METHODS, SCORE_METHODS, Estimator
from nextsm.sbi.estimators.losses import (
    component_loss,
    needs_score,
    prior_moment_matrix,
    ratio_loss,
    score_loss,
)
from nextsm.sbi.estimators.ratio import MorphingAwareRatio, ParametrizedRatio
from nextsm.sbi.estimators.score import ScoreNet
from nextsm.sbi.sampling import TrainingSet

__all__ = ["VALIDATION_SPLITS", "TrainConfig", "TrainHistory", "build_member", "train_estimator", "train_member",
           "validation_split"]

VALIDATION_SPLITS = ("auto", "events", "rows")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (validated on construction).

    Attributes
    ----------
    hidden:
        Hidden-layer widths.
    activation:
        ``tanh`` (default, smooth scores), ``relu``, ``silu`` or ``sigmoid``.
    epochs, batch_size:
        Maximum epochs and rows per mini-batch.
    lr, lr_final:
        Initial and final learning rate (exponential decay over ``epochs``).
    weight_decay:
        Adam L2 penalty.
    alpha:
        Weight of the score term (ALICES, CASCAL, RASCAL).
    validation_fraction, patience:
        Held-out share of rows and early-stopping patience in epochs.
    validation_split:
        ``"auto"`` (default): by events where the rows carry an event index, else by rows; ``"events"``
        (an error without an event index) or ``"rows"`` (the pre-event-index behaviour: optimistic when rows
        share events).
    morphing_aware:
        Use :class:`~nextsm.sbi.estimators.MorphingAwareRatio` (needs ``xsec_form``) instead of a
        parametrised MLP on (x, θ).  The ``component_regression`` method always uses it.
    theta_prior:
        ``(low, high)`` of the θ box over which the ``component_regression`` loss averages the squared error
        of the ratio numerator (:func:`~nextsm.sbi.estimators.losses.prior_moment_matrix`).
    """

    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    epochs: int = 30
    batch_size: int = 512
    lr: float = 2e-3
    lr_final: float = 1e-4
    weight_decay: float = 0.0
    alpha: float = 1.0
    validation_fraction: float = 0.2
    patience: int = 6
    validation_split: str = "auto"
    morphing_aware: bool = False
    theta_prior: tuple[float, float] = (-1.0, 1.0)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = {"hidden": len(self.hidden) >= 1 and min(self.hidden) >= 1, "epochs": self.epochs >= 1,
                  "batch_size": self.batch_size >= 1, "lr": self.lr > 0, "lr_final": 0 < self.lr_final <= self.lr,
                  "weight_decay": self.weight_decay >= 0, "alpha": self.alpha >= 0,
                  "validation_fraction": 0 < self.validation_fraction < 1, "patience": self.patience >= 1,
                  "validation_split": self.validation_split in VALIDATION_SPLITS,
                  "theta_prior": len(self.theta_prior) == 2 and self.theta_prior[0] < self.theta_prior[1]}
        for name, ok in checks.items():
            if not ok:
                raise SBIError(f"TrainConfig field '{name}' has an invalid value {getattr(self, name)!r}")


@dataclass
class TrainHistory:
    """Per-epoch training and validation losses, the best epoch, the wall time and the split used
    (``"events"`` or ``"rows"``, with the number of held-out events, 0 for the row split)."""

    train: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    split: str = "rows"
    n_validation_events: int = 0


def _stats(v: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    w = np.ones(v.shape[0]) if w is None else w
    w = w / w.sum()
    mean = w @ v
    std = np.sqrt(w @ (v - mean) ** 2)
    return mean, np.where(std > 1e-12, std, 1.0)


def build_member(method: str, data: TrainingSet, config: TrainConfig, *,
                 xsec_form: ArrayLike | None = None) -> nn.Module:
    """An untrained member whose input scalings are fitted to ``data``."""
    n_x, n_theta = data.x.shape[1], data.theta.shape[1]
    x_mean, x_std = _stats(data.x)
    if method in SCORE_METHODS:
        t_mean, t_std = _stats(data.t_xz, data.sample_weight)
        return ScoreNet(n_x, n_theta, config.hidden, config.activation, x_mean=x_mean, x_std=x_std,
                        t_mean=t_mean, t_std=t_std, theta_ref=data.theta_ref)
    if method not in RATIO_METHODS:
        raise SBIError(f"parameter 'method' is {method!r}, expected one of {RATIO_METHODS + SCORE_METHODS}")
    if config.morphing_aware or method == "component_regression":
        if xsec_form is None:
            raise SBIError("parameter 'xsec_form' is required with morphing_aware=True")
        return MorphingAwareRatio(n_x, n_theta, config.hidden, config.activation, x_mean=x_mean, x_std=x_std,
                                  theta_ref=data.theta_ref, xsec_form=xsec_form)
    th_mean, th_std = _stats(data.theta)
    return ParametrizedRatio(n_x, n_theta, config.hidden, config.activation, x_mean=x_mean, x_std=x_std,
                             theta_mean=th_mean, theta_std=th_std, theta_ref=data.theta_ref)


def validation_split(data: TrainingSet, rows: NDArray[np.int64], fraction: float, rng: np.random.Generator, *,
                     mode: str = "auto") -> tuple[NDArray[np.int64], NDArray[np.int64], str, int]:
    """``(train_rows, validation_rows, split, n_validation_events)`` of the usable ``rows``.

    Row split: a random ``fraction`` of ``rows``.  Event split (``mode="events"``, or ``"auto"`` with
    ``data.event`` set): the source events of ``rows`` in random order are held out whole until their rows
    reach ``fraction`` of ``rows``; rows with event ``-1`` count as single-row events.  Both sides are
    non-empty; no event is on both sides.
    """
    if mode not in VALIDATION_SPLITS:
        raise SBIError(f"parameter 'mode' must be one of {VALIDATION_SPLITS}, got {mode!r}")
    if mode == "events" and data.event is None:
        raise SBIError("validation_split='events' needs rows with an event index (TrainingSet.event is None)")
    rows = rng.permutation(rows)
    n_val = max(1, round(fraction * rows.size))
    if mode == "rows" or data.event is None:
        return rows[n_val:], rows[:n_val], "rows", 0
    key = data.event[rows]
    lone = key < 0
    if lone.any():  # rows without a source event: one event each, ids beyond the real ones
        key = key.copy()
        key[lone] = int(max(key.max(), -1)) + 1 + np.arange(int(lone.sum()))
    uniq, inverse = np.unique(key, return_inverse=True)
    if uniq.size < 2:
        raise SBIError(f"parameter 'data': the {rows.size} usable rows come from a single event, an event-level "
                       "validation split is impossible (validation_split='rows' forces the row split)")
    order = rng.permutation(uniq.size)
    filled = np.cumsum(np.bincount(inverse, minlength=uniq.size)[order])
    k = min(max(int(np.searchsorted(filled, n_val, side="left")) + 1, 1), uniq.size - 1)
    held = np.zeros(uniq.size, dtype=bool)
    held[order[:k]] = True
    val = held[inverse]
    return rows[~val], rows[val], "events", k


def _batch_loss(method: str, model: nn.Module, t: dict[str, torch.Tensor], idx: torch.Tensor, alpha: float,
                create_graph: bool) -> torch.Tensor:
    w = t["w"][idx]
    if method in SCORE_METHODS:
        per_row = score_loss(model(t["x"][idx]), t["t"][idx])
    elif method == "component_regression":
        net = cast(MorphingAwareRatio, model)  # checked by train_member
        per_row = component_loss(net.components(t["x"][idx]), t["c"][idx], t["metric"])
    else:
        theta = t["theta"][idx]
        if needs_score(method):
            theta = theta.clone().requires_grad_(True)
        logit = model(t["x"][idx], theta)
        t_hat = None
        if needs_score(method):
            (t_hat,) = torch.autograd.grad(logit.sum(), theta, create_graph=create_graph)
        per_row = ratio_loss(method, logit, t["y"][idx], t["r"][idx], t_hat, t["t"][idx], alpha)
    return (w * per_row).sum() / w.sum().clamp_min(1e-30)


def train_member(method: str, model: nn.Module, data: TrainingSet, config: TrainConfig,
                 rng: np.random.Generator, *, progress: Callable[[int, float, float], None] | None = None
                 ) -> TrainHistory:
    """Train ``model`` in place on ``data``; returns the :class:`TrainHistory`."""
    start = time.perf_counter()
    finite = np.isfinite(data.log_r_xz) & np.all(np.isfinite(data.t_xz), axis=1) & (data.sample_weight > 0)
    if method == "component_regression":
        if getattr(data, "component_ratios", None) is None or not isinstance(model, MorphingAwareRatio):
            raise SBIError("method 'component_regression' needs component_training_set() rows (nextsm.sbi.component_regression) and a "
                           "morphing-aware member")
        finite &= np.all(np.isfinite(data.component_ratios), axis=1)  # type: ignore[attr-defined]
    rows = np.flatnonzero(finite)
    if rows.size < 4:
        raise SBIError("parameter 'data' has fewer than 4 usable rows")
    train_rows, val_rows, split, n_val_events = validation_split(data, rows, config.validation_fraction, rng,
                                                                 mode=config.validation_split)
    t = {"x": torch.tensor(data.x, dtype=torch.float32), "theta": torch.tensor(data.theta, dtype=torch.float32),
         "y": torch.tensor(data.y, dtype=torch.float32),
         "r": torch.tensor(np.nan_to_num(data.log_r_xz), dtype=torch.float32),
         "t": torch.tensor(np.nan_to_num(data.t_xz), dtype=torch.float32),
         "w": torch.tensor(data.sample_weight, dtype=torch.float32)}
    if method == "component_regression":
        from nextsm.sbi.morphing import monomial_exponents

        t["c"] = torch.tensor(data.component_ratios, dtype=torch.float32)  # type: ignore[attr-defined]
        t["metric"] = prior_moment_matrix(monomial_exponents(data.theta.shape[1], 2).tolist(), *config.theta_prior)
    train_idx, val_idx = torch.from_numpy(train_rows), torch.from_numpy(val_rows)
    gen = torch_generator(rng)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gamma = (config.lr_final / config.lr) ** (1.0 / max(config.epochs - 1, 1))
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
    history = TrainHistory(split=split, n_validation_events=n_val_events)
    best, best_state, stale = np.inf, None, 0
    for epoch in range(config.epochs):
        model.train()
        perm = train_idx[torch.randperm(train_idx.numel(), generator=gen)]
        total, count = 0.0, 0
        for i in range(0, perm.numel(), config.batch_size):
            idx = perm[i:i + config.batch_size]
            loss = _batch_loss(method, model, t, idx, config.alpha, create_graph=True)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
            count += idx.numel()
        sched.step()
        model.eval()
        val = float(np.mean([float(_batch_loss(method, model, t, val_idx[i:i + 8192], config.alpha, False).detach())
                             for i in range(0, val_idx.numel(), 8192)]))
        history.train.append(total / max(count, 1))
        history.validation.append(val)
        if progress is not None:
            progress(epoch, history.train[-1], val)
        if val < best - 1e-7:
            best, stale, history.best_epoch = val, 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def train_estimator(method: str, data: TrainingSet, config: TrainConfig, rng: np.random.Generator, *,
                    parameter_names: tuple[str, ...], observable_names: tuple[str, ...],
                    xsec_form: ArrayLike | None = None, n_members: int = 1, resample: bool = True,
                    progress: Callable[[int, int, float, float], None] | None = None) -> Estimator:
    """Train ``n_members`` members (each on a bootstrap replica of ``data`` if ``resample`` and K > 1).

    The members are initialised from independent seeds drawn from ``rng``; the returned
    :class:`~nextsm.sbi.estimators.Estimator` predicts the mean of the members' log r̂ (or t̂), and its
    card records the configuration and every member's history.
    """
    if n_members < 1:
        raise SBIError(f"parameter 'n_members' must be >= 1, got {n_members}")
    members, histories = [], []
    for k in range(n_members):
        member_data = data.resample(rng) if (resample and n_members > 1) else data
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(0, 2**62)))
            model = build_member(method, member_data, config, xsec_form=xsec_form)

        def member_progress(epoch: int, train: float, val: float, k: int = k) -> None:
            if progress is not None:
                progress(k, epoch, train, val)

        histories.append(train_member(method, model, member_data, config, rng, progress=member_progress))
        members.append(model)
    card = {"method": method, "config": {**asdict(config), "hidden": list(config.hidden)},
            "n_rows": len(data), "resample": bool(resample and n_members > 1),
            "histories": [{"train": h.train, "validation": h.validation, "best_epoch": h.best_epoch,
                           "seconds": h.seconds, "split": h.split, "n_validation_events": h.n_validation_events}
                          for h in histories]}
    return Estimator(members, method=method, parameter_names=parameter_names, observable_names=observable_names,
                     card=card)
