r"""Accuracy of a surrogate against exact labels, in the metric of ``docs/likelihoods.md``.

The metric is the absolute error :math:`|\Delta q| = |q_{\rm net}(s) - q_{\rm true}(s)|` per variant,
summarised by its median and 99th percentile over the hypotheses with :math:`q_{\rm true} \le`
``q_limit`` (default 30; relative errors mislead near q = 0), and in bins of :math:`q_{\rm true}`.
The project's targets are a median ≤ 0.05 and a 99th percentile ≤ 0.5 for q ≤ 30, for all four
variants (:meth:`AccuracyReport.meets`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import LikelihoodError
from nextsm.surrogates.network import VARIANTS, SurrogateNetwork

__all__ = ["DEFAULT_BIN_EDGES", "AccuracyReport", "accuracy_report"]

#: edges of the bins of true q (−inf and inf catch everything)
DEFAULT_BIN_EDGES: tuple[float, ...] = (-math.inf, 0.0, 1.0, 3.0, 10.0, 30.0, 100.0, math.inf)


def _stats(err: NDArray[np.float64]) -> tuple[float, float]:
    """Median and 99th percentile of ``err`` (NaN for an empty selection)."""
    if err.size == 0:
        return math.nan, math.nan
    return float(np.median(err)), float(np.percentile(err, 99.0))


def _json_float(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


@dataclass(frozen=True, eq=False)
class AccuracyReport:
    """|Δq| statistics per variant (arrays of length 4 follow :data:`~nextsm.surrogates.VARIANTS`).

    Attributes
    ----------
    q_limit:
        Hypotheses with :math:`q_{\\rm true} \\le` ``q_limit`` enter ``n``, ``median`` and ``p99``.
    n, median, p99:
        Their number, median and 99th percentile of |Δq|, shape ``(4,)`` (NaN if none).
    max_error:
        Largest |Δq| among them, shape ``(4,)``.
    bin_edges:
        Edges of the bins of true q, shape ``(B + 1,)``.
    bin_count, bin_median, bin_p99:
        The same per bin, shape ``(B, 4)``.
    """

    q_limit: float
    n: NDArray[np.int64]
    median: NDArray[np.float64]
    p99: NDArray[np.float64]
    max_error: NDArray[np.float64]
    bin_edges: NDArray[np.float64]
    bin_count: NDArray[np.int64]
    bin_median: NDArray[np.float64]
    bin_p99: NDArray[np.float64]

    def meets(self, *, median: float = 0.05, p99: float = 0.5) -> bool:
        """True if every variant has a median ≤ ``median`` and a 99th percentile ≤ ``p99``."""
        return bool(np.all(self.median <= median) and np.all(self.p99 <= p99))

    def to_card(self) -> dict[str, Any]:
        """The figures as a JSON-serialisable dict for a model card (infinite edges and NaN → ``None``)."""
        per_variant = {
            v: {
                "n": int(self.n[j]),
                "median_abs_error": _json_float(self.median[j]),
                "p99_abs_error": _json_float(self.p99[j]),
                "max_abs_error": _json_float(self.max_error[j]),
                "bins": {
                    "count": self.bin_count[:, j].tolist(),
                    "median_abs_error": [_json_float(x) for x in self.bin_median[:, j]],
                    "p99_abs_error": [_json_float(x) for x in self.bin_p99[:, j]],
                },
            }
            for j, v in enumerate(VARIANTS)
        }
        return {
            "metric": "|q_net - q_true|",
            "q_limit": self.q_limit,
            "bin_edges": [_json_float(x) for x in self.bin_edges],
            "variants": per_variant,
        }


def accuracy_report(
    network: SurrogateNetwork,
    signals: ArrayLike,
    labels: ArrayLike,
    *,
    q_limit: float = 30.0,
    bin_edges: ArrayLike = DEFAULT_BIN_EDGES,
) -> AccuracyReport:
    """Compare ``network`` with exact labels on held-out hypotheses.

    Parameters
    ----------
    network:
        The surrogate (evaluated with ``outside="ignore"``).
    signals:
        Yields, shape ``(M, N)``.
    labels:
        Exact :math:`q_v`, shape ``(M, 4)`` in the order of :data:`~nextsm.surrogates.VARIANTS`.
    q_limit:
        Upper end of the range of true q summarised by ``median`` and ``p99``.
    bin_edges:
        Increasing edges of the bins of true q.
    """
    s = np.asarray(signals, dtype=np.float64)
    q_true = np.asarray(labels, dtype=np.float64)
    if s.ndim != 2 or q_true.shape != (s.shape[0], len(VARIANTS)):
        raise LikelihoodError(
            f"parameters 'signals' {s.shape} and 'labels' {q_true.shape} must have shapes (M, N) and (M, 4)"
        )
    edges = np.asarray(bin_edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise LikelihoodError(f"parameter 'bin_edges' must be at least two increasing values, got {edges}")
    err = np.abs(network.evaluate(s, outside="ignore") - q_true)
    n_bins, n_var = edges.size - 1, len(VARIANTS)
    n = np.zeros(n_var, dtype=np.int64)
    median, p99, max_error = (np.full(n_var, math.nan) for _ in range(3))
    bin_count = np.zeros((n_bins, n_var), dtype=np.int64)
    bin_median, bin_p99 = np.full((n_bins, n_var), math.nan), np.full((n_bins, n_var), math.nan)
    for j in range(n_var):
        selected = err[q_true[:, j] <= q_limit, j]
        n[j] = selected.size
        median[j], p99[j] = _stats(selected)
        max_error[j] = float(selected.max()) if selected.size else math.nan
        for b in range(n_bins):
            in_bin = err[(q_true[:, j] >= edges[b]) & (q_true[:, j] < edges[b + 1]), j]
            bin_count[b, j] = in_bin.size
            bin_median[b, j], bin_p99[b, j] = _stats(in_bin)
    return AccuracyReport(
        q_limit=float(q_limit),
        n=n,
        median=median,
        p99=p99,
        max_error=max_error,
        bin_edges=edges,
        bin_count=bin_count,
        bin_median=bin_median,
        bin_p99=bin_p99,
    )
