r"""Binned likelihoods: SALLY (histograms of the estimated score :math:`\hat t(x)`) and classical histograms of
chosen observables, with fixed or adaptive (reference-quantile) binning.

Expected counts per bin come from a weighted event sample by morphing, for all θ at once:
:math:`\nu_b(\theta) = L \sum_{i \in b} w_i(\theta)` (one sparse product of the weight matrix with the
event→bin incidence matrix), and :math:`\log L(\theta) = \sum_b [n_b \log\nu_b(\theta) - \nu_b(\theta)]`
(Poisson, constants dropped; rate information included).  Asimov data: :math:`n_b = \nu_b(\theta_{\rm true})`.
SALLY: Brehmer, Cranmer, Louppe, Pavez 2018 (arXiv:1805.00020, §III.C); MadMiner ``limits`` modes
``sally``/``adaptive-sally``/``histo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from nextsm.sbi.errors import SBIError

__all__ = ["Binning", "adaptive_binning", "bin_sums", "binned_log_likelihood", "expected_counts", "fixed_binning"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Binning:
    """Bin edges per feature (the outermost edges are ±∞, so every event lands in a bin)."""

    edges: tuple[FloatArray, ...]

    @property
    def n_bins(self) -> int:
        """Total number of bins (product over features)."""
        return int(np.prod([e.size - 1 for e in self.edges]))

    def index(self, features: ArrayLike) -> NDArray[np.int64]:
        """Flat bin index of each row of ``features`` ``(N, k)``."""
        f = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if f.ndim != 2 or f.shape[1] != len(self.edges):
            raise SBIError(f"parameter 'features' must have shape (N, {len(self.edges)}), got {f.shape}")
        parts = [np.clip(np.searchsorted(e, f[:, j], side="right") - 1, 0, e.size - 2)
                 for j, e in enumerate(self.edges)]
        return np.ravel_multi_index(parts, [e.size - 1 for e in self.edges]).astype(np.int64)


def _open(edges: FloatArray) -> FloatArray:
    e = np.unique(np.asarray(edges, dtype=np.float64))
    e[0], e[-1] = -np.inf, np.inf
    return e


def fixed_binning(features: ArrayLike, n_bins: int | Sequence[int]) -> Binning:
    """Equal-width bins between the 0.5 % and 99.5 % quantiles of each feature (open outer bins)."""
    f = np.atleast_2d(np.asarray(features, dtype=np.float64))
    nb = [n_bins] * f.shape[1] if isinstance(n_bins, int) else list(n_bins)
    if len(nb) != f.shape[1] or min(nb) < 1:
        raise SBIError(f"parameter 'n_bins' must give >= 1 bin per feature ({f.shape[1]}), got {n_bins}")
    edges = []
    for j, k in enumerate(nb):
        lo, hi = np.quantile(f[:, j], [0.005, 0.995])
        edges.append(_open(np.linspace(lo, hi, k + 1)))
    return Binning(tuple(edges))


def adaptive_binning(features: ArrayLike, weights: ArrayLike, n_bins: int | Sequence[int]) -> Binning:
    """Bins with equal weighted content per feature under ``weights`` (e.g. the reference hypothesis)."""
    f = np.atleast_2d(np.asarray(features, dtype=np.float64))
    w = np.clip(np.asarray(weights, dtype=np.float64), 0, None)
    nb = [n_bins] * f.shape[1] if isinstance(n_bins, int) else list(n_bins)
    if len(nb) != f.shape[1] or min(nb) < 1:
        raise SBIError(f"parameter 'n_bins' must give >= 1 bin per feature ({f.shape[1]}), got {n_bins}")
    edges = []
    for j, k in enumerate(nb):
        order = np.argsort(f[:, j])
        cdf = np.cumsum(w[order])
        cdf /= cdf[-1]
        cuts = np.interp(np.linspace(0, 1, k + 1)[1:-1], cdf, f[order, j])
        edges.append(_open(np.concatenate([[-np.inf], cuts, [np.inf]])))
    return Binning(tuple(edges))


def bin_sums(bin_index: ArrayLike, weight_matrix: ArrayLike, n_bins: int) -> FloatArray:
    r""":math:`\sum_{i\in b} W_{ji}` for every row j of ``weight_matrix`` ``(n_rows, N)`` and bin b,
    ``(n_rows, n_bins)``: one sparse product with the event→bin incidence matrix (``bin_index`` ``(N,)`` from
    :meth:`Binning.index`)."""
    idx = np.asarray(bin_index, dtype=np.int64)
    w = np.atleast_2d(np.asarray(weight_matrix, dtype=np.float64))
    if w.shape[1] != idx.size:
        raise SBIError(f"parameter 'weight_matrix' has {w.shape[1]} events, 'bin_index' {idx.size}")
    if idx.size and (idx.min() < 0 or idx.max() >= n_bins):
        raise SBIError(f"parameter 'bin_index' must lie in [0, {n_bins}), got [{idx.min()}, {idx.max()}]")
    incidence = sparse.csr_matrix((np.ones(idx.size), (np.arange(idx.size), idx)), shape=(idx.size, n_bins))
    return np.asarray((incidence.T @ w.T).T)


def expected_counts(binning: Binning, features: ArrayLike, weight_matrix: ArrayLike, luminosity: float) -> FloatArray:
    """:math:`\\nu_b(\\theta_j) = L \\sum_{i\\in b} w_i(\\theta_j)`, ``(n_θ, n_bins)``."""
    return luminosity * bin_sums(binning.index(features), weight_matrix, binning.n_bins)


def binned_log_likelihood(expected: ArrayLike, observed: ArrayLike, *, floor: float = 1e-9) -> FloatArray:
    """Poisson :math:`\\sum_b [n_b\\log\\nu_b - \\nu_b]` per θ (``expected`` ``(n_θ, B)``, ``observed`` ``(B,)``)."""
    nu = np.clip(np.atleast_2d(np.asarray(expected, dtype=np.float64)), floor, None)
    n = np.asarray(observed, dtype=np.float64)
    return np.log(nu) @ n - nu.sum(axis=1)
