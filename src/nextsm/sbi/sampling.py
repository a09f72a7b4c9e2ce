r"""Augmented sampling done right: one weight matrix, vectorised unweighting, joint ratio and score.

MadMiner's ``SampleAugmenter`` treats one θ at a time and re-reads and re-morphs the whole event file for
each (docs/sbi.md §1.2).  Here the events are loaded once and

1. the :math:`(n_\theta \times N)` weight matrix :math:`W_{ji} = \sum_b c_b(\theta_j) w_{ib}` is one matrix
   product per chunk (:func:`weight_matrix`);
2. all θ are unweighted at once by inverse-CDF sampling on the row-offset cumulative sums
   (:func:`unweight`): row j's CDF is shifted by j, so a single ``searchsorted`` serves every θ;
3. the joint ("gold") quantities follow from the morphing (Brehmer, Cranmer, Louppe, Pavez 2018, eqs. for
   :math:`r(x,z)` and :math:`t(x,z)`):

.. math::

    \log r(x_i, z_i|\theta, \theta_{\rm ref}) = \log\frac{w_i(\theta)}{\sigma(\theta)}
        - \log\frac{w_i(\theta_{\rm ref})}{\sigma(\theta_{\rm ref})},\qquad
    t(x_i, z_i|\theta) = \frac{\nabla_\theta w_i(\theta)}{w_i(\theta)} - \frac{\nabla_\theta\sigma(\theta)}{\sigma(\theta)} .

Alternatively :func:`weighted_ratio_set` skips unweighting: every event enters both classes with its
normalised weights :math:`N w_i(\theta)/\sigma(\theta)` and :math:`N w_i(\theta_{\rm ref})/\sigma(\theta_{\rm ref})`,
at θ values drawn per event — O(N n_b) work instead of O(n_θ N n_b).

Labels: ``y = 1`` for events from the numerator θ, ``y = 0`` from the reference, so the classifier logit is
:math:`\log\hat r(x|\theta) = \log p(x|\theta)/p(x|\theta_{\rm ref})` (MadMiner uses the opposite labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi.errors import SBIError
from nextsm.sbi.events import WeightedEvents
from nextsm.sbi.morphing import _as_theta

__all__ = [
    "TrainingSet",
    "effective_sizes",
    "joint_quantities",
    "ratio_training_set",
    "score_training_set",
    "unweight",
    "weight_matrix",
    "weighted_ratio_set",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class TrainingSet:
    """Rows for the estimators (all arrays share the first dimension ``n``).

    Attributes
    ----------
    x:
        Observables ``(n, d)``.
    theta:
        Numerator θ of each row ``(n, p)`` (the reference for SALLY rows).
    y:
        1 for rows drawn from θ, 0 for rows from the reference.
    log_r_xz:
        :math:`\\log r(x,z|\\theta,\\theta_{\\rm ref})`, ``(n,)``.
    t_xz:
        :math:`t(x,z|\\theta)`, ``(n, p)``.
    sample_weight:
        Per-row weight (1 for unweighted sets), ``(n,)``.
    theta_ref:
        The reference hypothesis ``(p,)``.
    """

    x: FloatArray
    theta: FloatArray
    y: FloatArray
    log_r_xz: FloatArray
    t_xz: FloatArray
    sample_weight: FloatArray
    theta_ref: FloatArray

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def resample(self, rng: np.random.Generator) -> TrainingSet:
        """A bootstrap replica (rows drawn with replacement), for ensemble members."""
        idx = rng.integers(0, len(self), len(self))
        return TrainingSet(self.x[idx], self.theta[idx], self.y[idx], self.log_r_xz[idx], self.t_xz[idx],
                           self.sample_weight[idx], self.theta_ref)


def weight_matrix(events: WeightedEvents, theta: ArrayLike, *, chunk_size: int = 200_000) -> FloatArray:
    """:math:`W_{ji} = w_i(\\theta_j)` for all θ at once, ``(n_θ, N)`` (one matmul per event chunk)."""
    return events.weights(theta, chunk_size=chunk_size)


def effective_sizes(weights: ArrayLike) -> FloatArray:
    """Kish effective sample size :math:`(\\sum_i w_i)^2/\\sum_i w_i^2` per row of ``weights`` ``(n_θ, N)``."""
    w = np.clip(np.atleast_2d(np.asarray(weights, dtype=np.float64)), 0.0, None)
    return w.sum(axis=1) ** 2 / np.maximum((w**2).sum(axis=1), 1e-300)


def unweight(weights: ArrayLike, n_samples: int, rng: np.random.Generator, *, negative: str = "clip",
             theta_chunk: int = 64) -> NDArray[np.int64]:
    """Event indices ``(n_θ, n_samples)`` drawn with probability :math:`w_{ji}/\\sum_i w_{ji}` for every row j.

    Vectorised inverse CDF: the rows' normalised cumulative sums are offset by the row number and
    flattened, and one ``searchsorted`` of the equally offset uniforms serves ``theta_chunk`` rows at once.
    ``negative="clip"`` sets negative weights to zero (MadMiner's behaviour, biased for NLO samples),
    ``"error"`` raises :class:`~nextsm.sbi.errors.SBIError`.
    """
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if n_samples < 1:
        raise SBIError(f"parameter 'n_samples' must be >= 1, got {n_samples}")
    if negative not in ("clip", "error"):
        raise SBIError(f"parameter 'negative' must be 'clip' or 'error', got {negative!r}")
    if np.any(w < 0):
        if negative == "error":
            raise SBIError(f"parameter 'weights': {int((w < 0).sum())} negative weights (negative='error')")
        w = np.clip(w, 0.0, None)
    n_theta, n_events = w.shape
    out = np.empty((n_theta, n_samples), dtype=np.int64)
    for start in range(0, n_theta, theta_chunk):
        block = w[start:start + theta_chunk]
        cdf = np.cumsum(block, axis=1)
        total = cdf[:, -1:]
        if np.any(total <= 0):
            bad = start + int(np.argmax(total[:, 0] <= 0))
            raise SBIError(f"parameter 'weights': row {bad} has no positive weight")
        rows = np.arange(block.shape[0])[:, None]
        flat = (cdf / total + rows).ravel()
        u = rng.random((block.shape[0], n_samples)) + rows
        idx = np.searchsorted(flat, u.ravel(), side="right").reshape(block.shape[0], n_samples)
        out[start:start + block.shape[0]] = np.clip(idx - rows * n_events, 0, n_events - 1)
    return out


def joint_quantities(events: WeightedEvents, index: ArrayLike, theta: ArrayLike,
                     theta_ref: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Joint log ratio and joint score of events ``index`` ``(n,)`` at row-wise θ ``(n, p)``.

    Returns ``(log_r_xz (n,), t_xz (n, p))`` from the benchmark weights via morphing.
    """
    idx = np.asarray(index, dtype=np.int64)
    m = events.morphing
    th = _as_theta(theta, m.n_parameters)
    ref = _as_theta(theta_ref, m.n_parameters)
    if th.shape[0] != idx.shape[0]:
        raise SBIError(f"parameter 'theta' has {th.shape[0]} rows for {idx.shape[0]} events")
    return _joint(events, idx, m.coefficients(th), m.coefficient_gradients(th), ref)


def _joint(events: WeightedEvents, idx: NDArray[np.int64], coeff: FloatArray, coeff_grad: FloatArray,
           ref: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:func:`joint_quantities` from row-wise morphing coefficients ``(n, n_b)`` and gradients ``(n, p, n_b)``."""
    m = events.morphing
    bw = events.benchmark_weights[idx]
    sigma_tot = events.benchmark_weights.sum(axis=0)
    w_theta = np.einsum("nb,nb->n", coeff, bw)
    grad_w = np.einsum("npb,nb->np", coeff_grad, bw)
    sigma = coeff @ sigma_tot
    grad_sigma = coeff_grad @ sigma_tot
    c_ref = m.coefficients(ref)[0]
    w_ref = bw @ c_ref
    sigma_ref = float(c_ref @ sigma_tot)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.log(w_theta / sigma) - np.log(w_ref / sigma_ref)
        t = grad_w / w_theta[:, None] - grad_sigma / sigma[:, None]
    return log_r, t


def _rows(events: WeightedEvents, idx: NDArray[np.int64], theta: FloatArray, theta_ref: FloatArray,
          y: float, weight: FloatArray | None = None, *, per_theta: int = 0) -> TrainingSet:
    """Training rows; with ``per_theta > 0`` ``theta`` holds one point per block of ``per_theta`` rows and the
    morphing coefficients are computed once per point (not once per row)."""
    m = events.morphing
    if per_theta:
        coeff = np.repeat(m.coefficients(theta), per_theta, axis=0)
        coeff_grad = np.repeat(m.coefficient_gradients(theta), per_theta, axis=0)
        theta = np.repeat(theta, per_theta, axis=0)
    else:
        coeff, coeff_grad = m.coefficients(theta), m.coefficient_gradients(theta)
    log_r, t = _joint(events, idx, coeff, coeff_grad, _as_theta(theta_ref, m.n_parameters))
    n = idx.shape[0]
    return TrainingSet(events.x[idx], theta, np.full(n, y), log_r, t,
                       np.ones(n) if weight is None else weight, theta_ref)


def _concat(parts: list[TrainingSet]) -> TrainingSet:
    return TrainingSet(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                         ("x", "theta", "y", "log_r_xz", "t_xz", "sample_weight")), parts[0].theta_ref)


def ratio_training_set(events: WeightedEvents, theta: ArrayLike, n_per_theta: int, rng: np.random.Generator,
                       *, theta_ref: ArrayLike | None = None, chunk_size: int = 200_000,
                       theta_chunk: int = 64) -> TrainingSet:
    """Unweighted rows for CARL/ALICE/ALICES/CASCAL/RASCAL (MadMiner's ``sample_train_ratio``).

    For each θ_j of ``theta`` ``(n_θ, p)``: ``n_per_theta`` events drawn from p(x|θ_j) (``y = 1``) and as many
    from p(x|θ_ref) paired with θ_j (``y = 0``); all θ are unweighted in one vectorised pass.  The weight
    matrix is built ``theta_chunk`` rows at a time (memory ``8 · theta_chunk · N`` bytes, not ``8 · n_θ · N``:
    10⁴ θ at 10⁶ events would need 80 GB at once); the draws do not depend on ``theta_chunk``.
    """
    m = events.morphing
    th = _as_theta(theta, m.n_parameters)
    ref = np.zeros(m.n_parameters) if theta_ref is None else _as_theta(theta_ref, m.n_parameters)[0]
    if theta_chunk < 1:
        raise SBIError(f"parameter 'theta_chunk' must be >= 1, got {theta_chunk}")
    num = np.empty((th.shape[0], n_per_theta), dtype=np.int64)
    for start in range(0, th.shape[0], theta_chunk):
        block = th[start:start + theta_chunk]
        num[start:start + block.shape[0]] = unweight(weight_matrix(events, block, chunk_size=chunk_size),
                                                     n_per_theta, rng)
    den = unweight(weight_matrix(events, ref[None, :], chunk_size=chunk_size), th.shape[0] * n_per_theta, rng)
    return _concat([_rows(events, num.ravel(), th, ref, 1.0, per_theta=n_per_theta),
                    _rows(events, den.ravel(), th, ref, 0.0, per_theta=n_per_theta)])


def score_training_set(events: WeightedEvents, n_samples: int, rng: np.random.Generator, *,
                       theta_ref: ArrayLike | None = None) -> TrainingSet:
    """Unweighted rows from p(x|θ_ref) with the joint score at θ_ref (SALLY; MadMiner's ``sample_train_local``)."""
    m = events.morphing
    ref = np.zeros(m.n_parameters) if theta_ref is None else _as_theta(theta_ref, m.n_parameters)[0]
    idx = unweight(weight_matrix(events, ref[None, :]), n_samples, rng)[0]
    return _rows(events, idx, np.repeat(ref[None, :], n_samples, axis=0), ref, 0.0)


def weighted_ratio_set(events: WeightedEvents, theta: ArrayLike, *, theta_ref: ArrayLike | None = None) -> TrainingSet:
    """Weighted rows: event i at θ_i (``theta`` ``(N, p)``, one draw per event) in both classes.

    Class 1 carries :math:`N w_i(\\theta_i)/\\sigma(\\theta_i)`, class 0 :math:`N w_i(\\theta_{\\rm ref})/\\sigma(\\theta_{\\rm ref})`;
    the weighted cross-entropy is then an unbiased estimate of the one on unweighted samples.
    """
    m = events.morphing
    n = len(events)
    th = _as_theta(theta, m.n_parameters)
    if th.shape[0] != n:
        raise SBIError(f"parameter 'theta' must have one row per event ({n}), got {th.shape[0]}")
    ref = np.zeros(m.n_parameters) if theta_ref is None else _as_theta(theta_ref, m.n_parameters)[0]
    idx = np.arange(n)
    sigma_tot = events.benchmark_weights.sum(axis=0)
    w1 = np.einsum("nb,nb->n", m.coefficients(th), events.benchmark_weights) / (m.coefficients(th) @ sigma_tot)
    c_ref = m.coefficients(ref)[0]
    w0 = events.benchmark_weights @ c_ref / float(c_ref @ sigma_tot)
    return _concat([_rows(events, idx, th, ref, 1.0, n * np.clip(w1, 0, None)),
                    _rows(events, idx, th, ref, 0.0, n * np.clip(w0, 0, None))])

