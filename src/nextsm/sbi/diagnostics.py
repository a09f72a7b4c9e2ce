r"""Diagnostics of learned ratios (docs/sbi.md §1.1): calibration :math:`E_{\rm ref}[\hat r] = 1`, recalibration,
reference-hypothesis variation, the reweighting-classifier test, calibration curves, ensemble spread.

* :math:`E_{x\sim p(x|\theta_{\rm ref})}[\hat r(x|\theta)] = 1` for every θ (exact for the true ratio);
  :func:`expectation` estimates it with a weighted reference sample and :func:`recalibrate` divides it out.
* Reference variation: :math:`\log r(x|\theta_0,\theta_1) = \log\hat r_a(x|\theta_0) - \log\hat r_a(x|\theta_1)` must not
  depend on the reference a (:func:`reference_variation`).
* Classifier test: reweight the reference sample by :math:`\hat r(x|\theta)` and compare with a sample from θ;
  a classifier trained to tell them apart must reach AUC ≈ 0.5 (:func:`weighted_auc`, used by
  :func:`classifier_test`).
* Calibration curve: in bins of :math:`\hat r`, the empirical ratio of numerator to reference weight must
  equal :math:`\hat r` (:func:`calibration_curve`).
* Histogram calibration: the same bins, measured on held-out events, turned into a correction
  :math:`\log\hat r \to \log\hat r + \log(\text{empirical}/\text{predicted})` of the bin
  (:func:`histogram_calibration`; Cranmer, Pavez, Louppe, arXiv:1506.02169, "calibrated classifiers").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi.errors import SBIError

if TYPE_CHECKING:
    from nextsm.sbi.estimators.ratio import ParametrizedRatio

__all__ = [
    "CalibrationCurve",
    "HistogramCalibration",
    "calibration_curve",
    "classifier_test",
    "ensemble_spread",
    "expectation",
    "histogram_calibration",
    "recalibrate",
    "reference_variation",
    "weighted_auc",
]

FloatArray = NDArray[np.float64]


def expectation(log_r_ref: ArrayLike, weights_ref: ArrayLike) -> FloatArray:
    """:math:`E_{\\rm ref}[\\hat r(x|\\theta_j)]` from ``log_r_ref`` ``(n_θ, N)`` on reference events with weights ``(N,)``."""
    lr = np.atleast_2d(np.asarray(log_r_ref, dtype=np.float64))
    w = np.asarray(weights_ref, dtype=np.float64)
    return np.exp(lr) @ (w / w.sum())


def recalibrate(log_r: ArrayLike, expectations: ArrayLike) -> FloatArray:
    """:math:`\\log\\hat r - \\log E_{\\rm ref}[\\hat r]` per θ row (``log_r`` ``(n_θ, N)``, ``expectations`` ``(n_θ,)``)."""
    return np.atleast_2d(np.asarray(log_r, dtype=np.float64)) - np.log(np.asarray(expectations))[:, None]


def reference_variation(log_r_a0: ArrayLike, log_r_a1: ArrayLike, log_r_b0: ArrayLike, log_r_b1: ArrayLike,
                        weights: ArrayLike | None = None) -> float:
    """RMS over events of the difference between :math:`\\log r(x|\\theta_0,\\theta_1)` from references a and b."""
    d = (np.asarray(log_r_a0) - np.asarray(log_r_a1)) - (np.asarray(log_r_b0) - np.asarray(log_r_b1))
    w = np.ones(d.shape[-1]) if weights is None else np.asarray(weights, dtype=np.float64)
    return float(np.sqrt(np.sum(w * d**2, axis=-1).sum() / (w.sum() * max(d.size // d.shape[-1], 1))))


def weighted_auc(score: ArrayLike, label: ArrayLike, weights: ArrayLike | None = None) -> float:
    """Area under the ROC curve of ``score`` for ``label`` 1 vs 0 with event weights (ties count half)."""
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(label) > 0.5
    w = np.ones(s.size) if weights is None else np.asarray(weights, dtype=np.float64)
    if not y.any() or y.all():
        raise SBIError("parameter 'label' must contain both classes")
    order = np.argsort(s, kind="mergesort")
    s, y, w = s[order], y[order], w[order]
    _, start = np.unique(s, return_index=True)
    pos = np.add.reduceat(np.where(y, w, 0.0), start)
    neg = np.add.reduceat(np.where(~y, w, 0.0), start)
    neg_below = np.cumsum(neg) - neg
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (pos.sum() * neg.sum()))


def classifier_test(x_ref: ArrayLike, weights_ref: ArrayLike, log_r: ArrayLike, x_theta: ArrayLike,
                    weights_theta: ArrayLike, rng: np.random.Generator, *, hidden: tuple[int, ...] = (32, 32),
                    epochs: int = 15) -> float:
    """Held-out weighted AUC of a classifier between the reweighted reference sample
    (weights :math:`w_i \\hat r(x_i|\\theta)`) and a sample of θ.  ≈ 0.5 if :math:`\\hat r` is right.

    Uses a small torch classifier (the CARL trainer with θ fixed), trained on half of each sample.
    """
    from nextsm.sbi.sampling import TrainingSet
    from nextsm.sbi.training import TrainConfig, train_estimator

    xr, xt = np.asarray(x_ref, float), np.asarray(x_theta, float)
    wr = np.asarray(weights_ref, float) * np.exp(np.asarray(log_r, float))
    wt = np.asarray(weights_theta, float)
    x = np.concatenate([xr, xt])
    y = np.concatenate([np.zeros(xr.shape[0]), np.ones(xt.shape[0])])
    w = np.concatenate([wr / wr.sum(), wt / wt.sum()]) * x.shape[0]
    perm = rng.permutation(x.shape[0])
    train, test = perm[: x.shape[0] // 2], perm[x.shape[0] // 2:]
    theta = np.zeros((x.shape[0], 1))
    data = TrainingSet(x[train], theta[train], y[train], np.zeros(train.size), np.zeros((train.size, 1)),
                       w[train], np.zeros(1))
    est = train_estimator("carl", data, TrainConfig(hidden=hidden, epochs=epochs, patience=3), rng,
                          parameter_names=("none",), observable_names=tuple(f"x{j}" for j in range(x.shape[1])))
    member = cast("ParametrizedRatio", est.members[0])  # a "carl" estimator
    import torch

    with torch.no_grad():  # the reference-subtracted output is 0 at θ = θ_ref: use the raw network f(x, θ)
        xs = member.x_scale(torch.tensor(x[test], dtype=torch.float32))
        logit = member._f(xs, torch.zeros((test.size, 1))).double().numpy()
    return weighted_auc(logit, y[test], w[test])


@dataclass(frozen=True)
class CalibrationCurve:
    """Mean predicted :math:`\\hat r` per bin and the empirical ratio (numerator/reference weight) per bin."""

    predicted: FloatArray
    empirical: FloatArray
    error: FloatArray


def calibration_curve(log_r_num: ArrayLike, weights_num: ArrayLike, log_r_ref: ArrayLike, weights_ref: ArrayLike,
                      n_bins: int = 12) -> CalibrationCurve:
    """Bins of :math:`\\log\\hat r` (reference quantiles); in each, the ratio of the numerator sample's to the
    reference sample's normalised weight, to be compared with the mean :math:`\\hat r` (reference-weighted)."""
    ln, lr = np.asarray(log_r_num, float), np.asarray(log_r_ref, float)
    wn, wr = np.asarray(weights_num, float), np.asarray(weights_ref, float)
    wn, wr = wn / wn.sum(), wr / wr.sum()
    edges = np.quantile(lr, np.linspace(0, 1, n_bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    bn = np.clip(np.searchsorted(edges, ln, side="right") - 1, 0, n_bins - 1)
    br = np.clip(np.searchsorted(edges, lr, side="right") - 1, 0, n_bins - 1)
    num = np.bincount(bn, wn, n_bins)
    num2 = np.bincount(bn, wn**2, n_bins)
    ref = np.bincount(br, wr, n_bins)
    pred = np.bincount(br, wr * np.exp(lr), n_bins) / np.maximum(ref, 1e-300)
    emp = num / np.maximum(ref, 1e-300)
    return CalibrationCurve(pred, emp, np.sqrt(num2) / np.maximum(ref, 1e-300))


@dataclass(frozen=True)
class HistogramCalibration:
    """Per-bin additive corrections of :math:`\\log\\hat r` (:func:`histogram_calibration`).

    ``edges`` are the ``n_bins + 1`` bin edges in :math:`\\log\\hat r` (outer ones infinite) and ``log_correction``
    the ``n_bins`` values of :math:`\\log(\\text{empirical}/\\text{predicted})`.
    """

    edges: FloatArray
    log_correction: FloatArray

    def __call__(self, log_r: ArrayLike) -> FloatArray:
        """The calibrated :math:`\\log\\hat r` (any shape)."""
        lr = np.asarray(log_r, dtype=np.float64)
        n = self.log_correction.size
        b = np.clip(np.searchsorted(self.edges, lr, side="right") - 1, 0, n - 1)
        return lr + self.log_correction[b]


def histogram_calibration(log_r_num: ArrayLike, weights_num: ArrayLike, log_r_ref: ArrayLike,
                          weights_ref: ArrayLike, n_bins: int = 20) -> HistogramCalibration:
    """Histogram calibration of a two-sample ratio :math:`\\hat r \\approx p_{\\rm num}/p_{\\rm ref}`.

    On held-out events of both samples (not those :math:`\\hat r` was trained on), bins of
    :math:`\\log\\hat r` holding equal numbers of reference events give the empirical ratio
    :math:`\\hat p_{\\rm num}(b)/\\hat p_{\\rm ref}(b)` and the predicted
    :math:`\\langle\\hat r\\rangle_{\\rm ref}(b)`; their log ratio is added to :math:`\\log\\hat r` in that bin.
    Afterwards :math:`E_{\\rm ref}[\\hat r] = 1` on these events exactly, and an over-fitted :math:`\\hat r`
    (too large on unseen reference events) is pulled back bin by bin. A bin without numerator weight gets
    half the smallest non-zero empirical ratio (a finite correction).
    """
    if n_bins < 1:
        raise SBIError(f"parameter 'n_bins' must be >= 1, got {n_bins}")
    ln, lr = np.asarray(log_r_num, float), np.asarray(log_r_ref, float)
    wn, wr = np.asarray(weights_num, float), np.asarray(weights_ref, float)
    if ln.shape != wn.shape or lr.shape != wr.shape or ln.ndim != 1 or lr.ndim != 1:
        raise SBIError("parameters 'log_r_num'/'weights_num' and 'log_r_ref'/'weights_ref' must be matching 1-D arrays")
    if wn.sum() <= 0 or wr.sum() <= 0 or lr.size < n_bins:
        raise SBIError(f"histogram_calibration needs positive weight sums and >= n_bins={n_bins} reference events")
    curve = calibration_curve(ln, wn, lr, wr, n_bins)
    filled = curve.empirical[curve.empirical > 0]
    if filled.size == 0:
        raise SBIError("histogram_calibration: no numerator weight in any bin")
    empirical = np.maximum(curve.empirical, 0.5 * filled.min())
    edges = np.quantile(lr, np.linspace(0, 1, n_bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    return HistogramCalibration(edges, np.log(empirical / curve.predicted))


def ensemble_spread(log_r_members: ArrayLike) -> FloatArray:
    """Standard deviation over members of :math:`\\log\\hat r`, ``(K, …) → (…)``."""
    lr = np.asarray(log_r_members, dtype=np.float64)
    if lr.shape[0] < 2:
        raise SBIError("parameter 'log_r_members' needs at least 2 members for a spread")
    return lr.std(axis=0, ddof=1)
