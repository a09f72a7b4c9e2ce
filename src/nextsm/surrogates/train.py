r"""Training of :class:`~nextsm.surrogates.SurrogateNetwork` surrogates with PyTorch (extra ``torch``).

This module imports torch; :mod:`nextsm.surrogates.network` and :mod:`nextsm.surrogates.io` never
import it, so a trained surrogate is used with numpy alone.

The torch model (:class:`TorchSurrogate`) computes exactly what the numpy inference computes,
:math:`q(s) = \tau\,[z(s) - z(0)]` with the same input transform (see
:mod:`nextsm.surrogates.network`), so training sees the difference construction; its
``torch.nn.Linear`` weights ``(out, in)`` are exported transposed.

Loss
----
With labels :math:`q_{iv}` and predictions :math:`\hat q_{iv}` (hypothesis i, variant v),

.. math::

    \ell = \frac{1}{4 B} \sum_{i, v} \left(\frac{\hat q_{iv} - q_{iv}}{1 + |q_{iv}| / q_0}\right)^2,
    \qquad q_0 = {\tt q\_scale} = 10,

a squared *absolute* error where :math:`|q| \ll q_0` (the range 0–10 that decides exclusion,
targets: median |Δq| ≤ 0.05 and 99th percentile ≤ 0.5 for q ≤ 30) that turns into a squared
*relative* error (times :math:`q_0`) where :math:`|q| \gg q_0`, so large labels (far-excluded
hypotheses) do not dominate.

Procedure
---------
The hypotheses are split once (seeded) into train / validation / test sets.  The transforms are
fitted on the training set: ``s_scale`` is the median of the positive yields per region (1 if there
are none), ``(x_mean, x_std)`` the mean and standard deviation of :math:`\ln(1 + s/c)`,
``(y_mean, y_std)`` those of the labels.  Each member (``ensemble`` of them, seeds ``seed + k``) is
initialised like ``torch.nn.Linear`` (inside :func:`torch.random.fork_rng`, so the global torch RNG
is left untouched), then trained with AdamW on shuffled mini-batches (a ``torch.Generator``), the
learning rate either halved after ``max(1, patience // 3)`` epochs without a new best validation loss
(``schedule="plateau"``) or annealed as :math:`\eta_e = \eta_{\min} + \tfrac12(\eta - \eta_{\min})(1 + \cos(\pi e/E))`
over the E epochs, with :math:`\eta_{\min} = 10^{-3}\eta` (``"cosine"``, SGDR without restarts, Loshchilov & Hutter,
arXiv:1608.03983: its course does not depend on the noise of the validation loss), and stopped after ``patience``
epochs without a new best; the weights of the best validation epoch are kept.  The held-out
accuracy (:func:`~nextsm.surrogates.accuracy.accuracy_report`) is measured with the exported numpy
network on the test set (on the validation set if ``test_fraction == 0``).  The domain is the
largest yield per region and label per variant over *all* hypotheses given.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, cast

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from nextsm.errors import LikelihoodError
from nextsm.surrogates.accuracy import AccuracyReport, accuracy_report
from nextsm.surrogates.network import (
    ACTIVATIONS,
    MLP,
    VARIANTS,
    Activation,
    SurrogateDomain,
    SurrogateNetwork,
    poisson_q,
)

__all__ = ["SCHEDULES", "EpochRecord", "TorchSurrogate", "TrainingReport", "train_surrogate"]

DType = Literal["float32", "float64"]
Schedule = Literal["plateau", "cosine"]
#: learning-rate schedules of :func:`train_surrogate`
SCHEDULES: tuple[Schedule, ...] = ("plateau", "cosine")


class TorchSurrogate(nn.Module):
    """One member as a torch module: ``forward(s)`` returns :math:`q(s) = \\tau [z(s) - z(0)]`, shape ``(B, 4)``.

    Parameters
    ----------
    widths:
        ``(N, hidden..., 4)``.
    activation:
        One of :data:`~nextsm.surrogates.ACTIVATIONS`.
    s_scale, x_mean, x_std, y_mean, y_std:
        The transforms (see :mod:`nextsm.surrogates.network`), stored as buffers.
    dtype:
        ``torch.float32`` or ``torch.float64``.
    """

    layers: nn.ModuleList
    s_scale: torch.Tensor
    x_mean: torch.Tensor
    x_std: torch.Tensor
    y_mean: torch.Tensor
    y_std: torch.Tensor

    def __init__(
        self,
        widths: Sequence[int],
        activation: Activation,
        *,
        s_scale: ArrayLike,
        x_mean: ArrayLike,
        x_std: ArrayLike,
        y_mean: ArrayLike,
        y_std: ArrayLike,
        baseline: tuple[ArrayLike, ArrayLike] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.s_scale: torch.Tensor
        self.x_mean: torch.Tensor
        self.x_std: torch.Tensor
        self.y_mean: torch.Tensor
        self.y_std: torch.Tensor
        self.baseline_n: torch.Tensor
        self.baseline_b: torch.Tensor
        if activation not in ACTIVATIONS:
            raise LikelihoodError(f"parameter 'activation' is {activation!r}, expected one of {ACTIVATIONS}")
        self.activation: Activation = activation
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in itertools.pairwise(widths))
        for name, values in (
            ("s_scale", s_scale),
            ("x_mean", x_mean),
            ("x_std", x_std),
            ("y_mean", y_mean),
            ("y_std", y_std),
        ):
            self.register_buffer(name, torch.tensor(np.array(values, dtype=np.float64), dtype=dtype))
        self.has_baseline = baseline is not None
        if baseline is not None:
            self.register_buffer("baseline_n", torch.tensor(np.array(baseline[0], dtype=np.float64), dtype=dtype))
            self.register_buffer("baseline_b", torch.tensor(np.array(baseline[1], dtype=np.float64), dtype=dtype))

    def linears(self) -> list[nn.Linear]:
        """The layers, first to last."""
        return [cast(nn.Linear, layer) for layer in self.layers]

    def _act(self, h: torch.Tensor) -> torch.Tensor:
        if self.activation == "silu":
            return nn.functional.silu(h)
        if self.activation == "elu":
            return nn.functional.elu(h)
        return nn.functional.softplus(h)

    def raw(self, signal: torch.Tensor) -> torch.Tensor:
        """:math:`z(s)`, the standardised output before the difference."""
        h = (torch.log1p(signal / self.s_scale) - self.x_mean) / self.x_std
        *hidden, last = self.linears()
        for layer in hidden:
            h = self._act(layer(h))
        return last(h)

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        """:math:`q(s) = \\tau [z(s) - z(0)]` (z(0) evaluated in the same batch)."""
        z = self.raw(torch.cat([torch.zeros_like(signal[:1]), signal]))
        q = (z[1:] - z[:1]) * self.y_std
        if self.has_baseline:
            ratio = torch.log1p(signal[:, None, :] / self.baseline_b[None])
            q = q + 2.0 * (signal.sum(dim=1, keepdim=True) - (ratio * self.baseline_n[None]).sum(dim=2))
        return q

    def to_mlp(self) -> MLP:
        """The member's weights for numpy inference (``Linear.weight`` transposed to ``(in, out)``)."""
        with torch.no_grad():
            return MLP(
                tuple(layer.weight.detach().to(torch.float64).T.numpy().copy() for layer in self.linears()),
                tuple(layer.bias.detach().to(torch.float64).numpy().copy() for layer in self.linears()),
            )

    @classmethod
    def from_network(
        cls, network: SurrogateNetwork, member: int = 0, *, dtype: torch.dtype = torch.float32
    ) -> TorchSurrogate:
        """Member ``member`` of ``network`` as a torch module (e.g. to fine-tune or to compare)."""
        module = cls(
            network.widths,
            network.activation,
            s_scale=network.s_scale,
            x_mean=network.x_mean,
            x_std=network.x_std,
            y_mean=network.y_mean,
            y_std=network.y_std,
            baseline=(None if network.baseline_n is None or network.baseline_b is None
                      else (network.baseline_n, network.baseline_b)),
            dtype=dtype,
        )
        mlp = network.members[member]
        with torch.no_grad():
            for layer, w, b in zip(module.linears(), mlp.weights, mlp.biases, strict=True):
                layer.weight.copy_(torch.tensor(np.array(w.T)))
                layer.bias.copy_(torch.tensor(np.array(b)))
        return module


class EpochRecord(NamedTuple):
    """What the ``progress`` callback receives after every epoch."""

    member: int
    epoch: int
    train_loss: float
    validation_loss: float
    best_validation_loss: float
    lr: float


@dataclass(frozen=True, eq=False)
class TrainingReport:
    """Loss curves and held-out accuracy of :func:`train_surrogate`.

    Attributes
    ----------
    train_loss, validation_loss:
        Per member, the loss :math:`\\ell` after each epoch (training: mean over the epoch's batches).
    best_epoch:
        Per member, the epoch (1-based) whose weights were kept (0: untrained, ``epochs=0``).
    stopped_early:
        Per member, whether early stopping ended the training.
    accuracy:
        Held-out |Δq| statistics of the exported network.
    accuracy_split:
        ``"test"`` or ``"validation"`` (if ``test_fraction == 0``).
    n_train, n_validation, n_test:
        Sizes of the splits.
    seconds:
        Wall time of the training.
    settings:
        The hyper-parameters used.
    """

    train_loss: tuple[NDArray[np.float64], ...]
    validation_loss: tuple[NDArray[np.float64], ...]
    best_epoch: tuple[int, ...]
    stopped_early: tuple[bool, ...]
    accuracy: AccuracyReport
    accuracy_split: Literal["test", "validation"]
    n_train: int
    n_validation: int
    n_test: int
    seconds: float
    settings: Mapping[str, Any]

    def training_card(self) -> dict[str, Any]:
        """The training facts as a JSON-serialisable dict (for the model card's ``training`` entry)."""
        return {
            "size": self.n_train + self.n_validation + self.n_test,
            "n_train": self.n_train,
            "n_validation": self.n_validation,
            "n_test": self.n_test,
            "best_epoch": list(self.best_epoch),
            "best_validation_loss": [
                float(v[e - 1]) if e > 0 else None
                for v, e in zip(self.validation_loss, self.best_epoch, strict=True)
            ],
            "seconds": round(self.seconds, 3),
            "settings": dict(self.settings),
            "torch": torch.__version__,
        }


def _check_data(signals: ArrayLike, labels: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    s = np.asarray(signals, dtype=np.float64)
    q = np.asarray(labels, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] < 3:
        raise LikelihoodError(f"parameter 'signals' has shape {s.shape}, expected (M, N) with M >= 3")
    if q.shape != (s.shape[0], len(VARIANTS)):
        raise LikelihoodError(
            f"parameter 'labels' has shape {q.shape}, expected ({s.shape[0]}, {len(VARIANTS)})"
        )
    if not (np.all(np.isfinite(s)) and np.all(s >= 0)):
        raise LikelihoodError("parameter 'signals' must be finite and non-negative")
    if not np.all(np.isfinite(q)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(q), axis=1))[0])
        raise LikelihoodError(f"parameter 'labels' has non-finite values (first in row {bad})")
    return s, q


def _transforms(
    s: NDArray[np.float64], q: NDArray[np.float64], dtype: DType
) -> dict[str, NDArray[np.float64]]:
    """Transforms fitted on the training set, rounded to the training dtype (so numpy uses what torch used)."""
    positive = np.where(s > 0, s, np.nan)
    counts = np.sum(s > 0, axis=0)
    s_scale = np.ones(s.shape[1])
    if np.any(counts > 0):
        s_scale[counts > 0] = np.nanmedian(positive[:, counts > 0], axis=0)
    x = np.log1p(s / s_scale)
    out = {
        "s_scale": s_scale,
        "x_mean": x.mean(axis=0),
        "x_std": np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0),
        "y_mean": q.mean(axis=0),
        "y_std": np.where(q.std(axis=0) > 0, q.std(axis=0), 1.0),
    }
    return {k: v.astype(dtype).astype(np.float64) for k, v in out.items()}


def _loss(pred: torch.Tensor, target: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.mean(((pred - target) / scale) ** 2)


def _train_member(
    module: TorchSurrogate,
    data: dict[str, torch.Tensor],
    *,
    member: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    patience: int,
    schedule: Schedule,
    generator: torch.Generator,
    report: Callable[[EpochRecord], None] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], int, bool]:
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler: Any
    if schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=1e-3 * lr)
    else:
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=max(1, patience // 3))
    s_tr, q_tr, w_tr = data["s_train"], data["q_train"], data["w_train"]
    n_train = s_tr.shape[0]
    best_loss, best_epoch, since_best = float("inf"), 0, 0
    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    train_curve: list[float] = []
    val_curve: list[float] = []
    stopped = False
    for epoch in range(1, epochs + 1):
        module.train()
        order = torch.randperm(n_train, generator=generator)
        total = 0.0
        for start in range(0, n_train, batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = _loss(module(s_tr[idx]), q_tr[idx], w_tr[idx])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * idx.numel()
        module.eval()
        with torch.no_grad():
            val = float(_loss(module(data["s_val"]), data["q_val"], data["w_val"]))
        train_curve.append(total / n_train)
        val_curve.append(val)
        lr_now = optimizer.param_groups[0]["lr"]
        if schedule == "cosine":
            scheduler.step()
        else:
            scheduler.step(val)
        if val < best_loss:
            best_loss, best_epoch, since_best = val, epoch, 0
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            since_best += 1
        if report is not None:
            report(
                EpochRecord(member, epoch, train_curve[-1], val, best_loss, lr_now)
            )
        if since_best >= patience:
            stopped = True
            break
    module.load_state_dict(best_state)
    return np.array(train_curve), np.array(val_curve), best_epoch, stopped


_MemberResult = tuple[MLP, NDArray[np.float64], NDArray[np.float64], int, bool]


@dataclass(frozen=True)
class _MemberJob:
    """Everything one ensemble member needs; picklable, so that members can train in other processes."""

    widths: tuple[int, ...]
    activation: Activation
    transforms: dict[str, Any]
    baseline: tuple[NDArray[np.float64], NDArray[np.float64]] | None
    dtype: torch.dtype
    seed: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    schedule: Schedule

    def run(self, k: int, data: dict[str, torch.Tensor],
            report: Callable[[EpochRecord], None] | None = None) -> _MemberResult:
        """Train member ``k`` (initialisation and shuffling seeded with ``seed + k``)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + k)
            module = TorchSurrogate(self.widths, self.activation, **self.transforms, baseline=self.baseline,
                                    dtype=self.dtype)
        generator = torch.Generator().manual_seed(self.seed + k)
        tr, va, best, stop = _train_member(module, data, member=k, epochs=self.epochs, batch_size=self.batch_size,
                                           lr=self.lr, weight_decay=self.weight_decay, patience=self.patience,
                                           schedule=self.schedule, generator=generator, report=report)
        return module.to_mlp(), tr, va, best, stop


def _run_member_job(job: _MemberJob, k: int, data: dict[str, torch.Tensor], threads: int) -> _MemberResult:
    torch.set_num_threads(threads)
    return job.run(k, data)


def _train_members_in_processes(job: _MemberJob, data: dict[str, torch.Tensor], ensemble: int, processes: int,
                                threads: int, done: Callable[[int], None]) -> list[_MemberResult]:
    """Members ``0 .. ensemble-1`` on a ``spawn`` process pool (a forked torch can hang in its thread pools)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(min(processes, ensemble), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_run_member_job, job, k, data, threads): k for k in range(ensemble)}
        results: dict[int, _MemberResult] = {}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            done(len(results))
    return [results[k] for k in range(ensemble)]


def train_surrogate(
    signals: ArrayLike,
    labels: ArrayLike,
    *,
    hidden: Sequence[int] = (128, 128, 128),
    activation: Activation = "silu",
    epochs: int = 500,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    patience: int = 30,
    schedule: Schedule = "plateau",
    ensemble: int = 1,
    seed: int = 0,
    q_scale: float = 10.0,
    dtype: DType = "float32",
    progress: bool | Callable[[EpochRecord], None] = False,
    threads: int | None = None,
    processes: int = 1,
    name: str = "surrogate",
    region_names: Sequence[str] = (),
    card: Mapping[str, Any] | None = None,
    baseline: tuple[ArrayLike, ArrayLike] | None = None,
) -> tuple[SurrogateNetwork, TrainingReport]:
    """Train a surrogate of the four profiled q's on labelled hypotheses (see the module docstring).

    Parameters
    ----------
    signals:
        Signal yields per region, shape ``(M, N)``, finite and ≥ 0.
    labels:
        Exact :math:`q_v(s)`, shape ``(M, 4)`` in the order of :data:`~nextsm.surrogates.VARIANTS`.
    hidden:
        Widths of the hidden layers.
    activation:
        ``"silu"`` (default, smooth q), ``"elu"`` or ``"softplus"``.
    epochs:
        Maximum number of epochs per member; ``0`` returns the initialised, untrained network (a
        baseline).
    batch_size, lr, weight_decay:
        Mini-batch size, AdamW learning rate and decoupled weight decay.
    validation_fraction:
        Share of the hypotheses used for early stopping, in (0, 1).
    test_fraction:
        Share held out for the accuracy figures, in [0, 1); 0 measures them on the validation set.
    patience:
        Epochs without a new best validation loss before stopping (the best weights are kept).
    schedule:
        ``"plateau"`` (halve the learning rate after ``patience // 3`` epochs without a new best) or
        ``"cosine"`` (anneal it to 10⁻³ of ``lr`` over ``epochs``; module docstring).
    ensemble:
        Number of members K (seeds ``seed + k``, same split and transforms).
    seed:
        Seeds the split, the initialisation and the shuffling.
    q_scale:
        :math:`q_0` of the loss weighting.
    dtype:
        Training precision; inference is float64 either way.
    progress:
        ``True`` for a transient rich progress bar, or a callable receiving an :class:`EpochRecord`
        after every epoch.
    threads:
        Torch intra-op threads during the training (``torch.set_num_threads``, restored afterwards);
        ``None`` keeps torch's setting.  Small networks train fastest with 1, and on a busy machine
        more threads can be far slower.
    processes:
        Members trained at the same time, each in its own process (``spawn``) with ``threads`` torch threads
        (1 if ``None``).  The members are the same as with ``processes=1`` (each has its own seed), so this only
        changes the wall time; the progress then advances per finished member.
    name, region_names:
        Passed to the :class:`~nextsm.surrogates.SurrogateNetwork`.
    card:
        Model card entries (workspace, provenance, ``reference_points``, ...); ``training`` (merged
        with the automatic one) and ``accuracy`` are filled in unless given.
    baseline:
        ``(n, b)``, each ``(4, N)``: the Poisson baseline the network adds its output to (see
        :mod:`nextsm.surrogates.network`; :func:`nextsm.surrogates.labels.poisson_baseline` computes
        it from the workspace); ``None``: the network alone.

    Returns
    -------
    tuple
        The trained :class:`~nextsm.surrogates.SurrogateNetwork` and its :class:`TrainingReport`.
    """
    t0 = time.perf_counter()
    s, q = _check_data(signals, labels)
    if not 0.0 < validation_fraction < 1.0 or not 0.0 <= test_fraction < 1.0 - validation_fraction:
        raise LikelihoodError(
            f"parameters 'validation_fraction' ({validation_fraction}) and 'test_fraction' ({test_fraction}) "
            "must satisfy 0 < validation, 0 <= test, validation + test < 1"
        )
    for pname, value, low in (
        ("epochs", epochs, 0),
        ("batch_size", batch_size, 1),
        ("patience", patience, 1),
        ("ensemble", ensemble, 1),
        ("processes", processes, 1),
    ):
        if int(value) != value or value < low:
            raise LikelihoodError(f"parameter '{pname}' is {value!r}, expected an integer >= {low}")
    if threads is not None and (int(threads) != threads or threads < 1):
        raise LikelihoodError(f"parameter 'threads' is {threads!r}, expected None or an integer >= 1")
    if dtype not in ("float32", "float64"):
        raise LikelihoodError(f"parameter 'dtype' is {dtype!r}, expected 'float32' or 'float64'")
    if schedule not in SCHEDULES:
        raise LikelihoodError(f"parameter 'schedule' is {schedule!r}, expected one of {SCHEDULES}")
    if not q_scale > 0:
        raise LikelihoodError(f"parameter 'q_scale' is {q_scale!r}, expected > 0")
    torch_dtype = torch.float32 if dtype == "float32" else torch.float64

    m = s.shape[0]
    order = np.random.default_rng(seed).permutation(m)
    n_val = max(1, round(validation_fraction * m))
    n_test = round(test_fraction * m)
    n_train = m - n_val - n_test
    if n_train < 1:
        raise LikelihoodError(f"no training hypotheses left of {m} after the validation and test splits")
    i_val, i_test, i_train = order[:n_val], order[n_val : n_val + n_test], order[n_val + n_test :]
    base_arrays: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
    residual = q
    if baseline is not None:
        base_arrays = (np.asarray(baseline[0], dtype=float), np.asarray(baseline[1], dtype=float))
        for pname, arr in zip(("baseline[0]", "baseline[1]"), base_arrays, strict=True):
            if arr.shape != (len(VARIANTS), s.shape[1]) or not np.all(np.isfinite(arr)):
                raise LikelihoodError(f"parameter '{pname}' has shape {arr.shape} or non-finite entries, "
                                      f"expected finite values of shape ({len(VARIANTS)}, {s.shape[1]})")
        if np.any(base_arrays[1] <= 0) or np.any(base_arrays[0] < 0):
            raise LikelihoodError("parameter 'baseline' needs n >= 0 and b > 0")
        residual = q - poisson_q(s, *base_arrays)
    transforms = _transforms(s[i_train], residual[i_train], dtype)

    def tensors(idx: NDArray[np.int64]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            torch.as_tensor(s[idx], dtype=torch_dtype),
            torch.as_tensor(q[idx], dtype=torch_dtype),
            torch.as_tensor(1.0 + np.abs(q[idx]) / q_scale, dtype=torch_dtype),
        )

    data = dict(zip(("s_train", "q_train", "w_train"), tensors(i_train), strict=True))
    data.update(zip(("s_val", "q_val", "w_val"), tensors(i_val), strict=True))
    widths = (s.shape[1], *(int(h) for h in hidden), len(VARIANTS))

    bar: Any = None
    callback: Callable[[EpochRecord], None] | None = None
    if progress is True:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("training", total=epochs * ensemble)

        def callback(rec: EpochRecord) -> None:
            bar.update(
                task,
                completed=rec.member * epochs + rec.epoch,
                description=f"member {rec.member + 1}/{ensemble}: val {rec.validation_loss:.3g}",
            )
    elif callable(progress):
        callback = progress

    members, curves_tr, curves_val, best_epochs, stopped = [], [], [], [], []
    job = _MemberJob(widths, activation, transforms, base_arrays, torch_dtype, seed, epochs, batch_size, lr,
                     weight_decay, patience, schedule)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        if processes > 1 and ensemble > 1:
            def members_done(n: int) -> None:
                if bar is not None:
                    bar.update(task, total=ensemble, completed=n, description=f"{ensemble} members, {processes} processes")

            members_done(0)
            results = _train_members_in_processes(job, data, ensemble, processes, threads or 1, members_done)
        else:
            results = [job.run(k, data, callback) for k in range(ensemble)]
        for mlp, tr, va, best, stop in results:
            members.append(mlp)
            curves_tr.append(tr)
            curves_val.append(va)
            best_epochs.append(best)
            stopped.append(stop)
    finally:
        if threads is not None:
            torch.set_num_threads(old_threads)
        if bar is not None:
            bar.stop()

    settings = {
        "hidden": list(widths[1:-1]),
        "activation": activation,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
        "patience": patience,
        "schedule": schedule,
        "ensemble": ensemble,
        "seed": seed,
        "q_scale": q_scale,
        "dtype": dtype,
        "threads": threads,
        "processes": processes,
        "loss": "mean(((q_net - q) / (1 + |q| / q_scale))**2)",
        "baseline": base_arrays is not None,
    }
    domain = SurrogateDomain(s_max=s.max(axis=0), q_max=q.max(axis=0))
    network = SurrogateNetwork(
        members=tuple(members),
        s_scale=transforms["s_scale"],
        x_mean=transforms["x_mean"],
        x_std=transforms["x_std"],
        y_mean=transforms["y_mean"],
        y_std=transforms["y_std"],
        domain=domain,
        activation=activation,
        name=name,
        region_names=tuple(region_names),
        baseline_n=None if base_arrays is None else base_arrays[0],
        baseline_b=None if base_arrays is None else base_arrays[1],
    )
    held_out = i_test if n_test > 0 else i_val
    accuracy = accuracy_report(network, s[held_out], q[held_out])
    report = TrainingReport(
        train_loss=tuple(curves_tr),
        validation_loss=tuple(curves_val),
        best_epoch=tuple(best_epochs),
        stopped_early=tuple(stopped),
        accuracy=accuracy,
        accuracy_split="test" if n_test > 0 else "validation",
        n_train=n_train,
        n_validation=n_val,
        n_test=n_test,
        seconds=time.perf_counter() - t0,
        settings=settings,
    )
    user_card = dict(card or {})
    full_card: dict[str, Any] = {"training": report.training_card(), "accuracy": accuracy.to_card()}
    full_card["training"].update(user_card.pop("training", {}))
    full_card.update(user_card)
    network = dataclasses.replace(network, card=full_card)
    return network, report
