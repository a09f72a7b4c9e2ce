r"""Test statistics for Neyman constructions: the likelihood ratio (Feldman–Cousins ordering) and the FTS.

Both are ratios of the likelihood at the tested value μ₀ to a data-dependent denominator,

.. math::

    T(D; \mu_0) = -2\,\big[\log p(D\mid\mu_0) - \log Q(D)\big],

* **LRT** (:class:`LikelihoodRatio`): :math:`Q(D) = \sup_{\mu \in \text{bounds}} p(D\mid\mu)` — the
  ordering principle of G. J. Feldman and R. D. Cousins, *Phys. Rev. D* **57** (1998) 3873,
  arXiv:physics/9711021 (the MLE is restricted to the physical region);
* **FTS** (:class:`FocusedStatistic`): :math:`Q(D) = \int p(D\mid\mu)\,f(\mu)\,d\mu` with a focus
  function f (:mod:`nextsm.inference.focus`) — J. Carzon et al., arXiv:2507.17831.  For fixed μ₀ the
  acceptance region :math:`\{T \le c\}` is the Neyman–Pearson most powerful test of μ₀ against the
  mixture :math:`p_f(D) = \int p(D|\mu) f(\mu) d\mu`, so by Pratt's identity
  :math:`E_\mu|C| = \int P_\mu(\mu_0 \in C)\,d\mu_0` the inverted intervals minimise the f-averaged
  expected length :math:`\int f(\mu)\,E_\mu|C|\,d\mu` among exact procedures (J. W. Pratt, *JASA* **56**
  (1961) 549).  The integral is a log-sum-exp over the focus' quadrature nodes.

Neither statistic is assumed χ²-distributed: critical values come from :mod:`nextsm.inference.neyman`.
Because Q depends on D only, :meth:`TestStatistic.evaluate` costs one likelihood evaluation per μ₀ plus
one denominator per data set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp

from nextsm.inference.errors import InferenceError
from nextsm.inference.focus import Focus
from nextsm.inference.models import LikelihoodModel, SupportsMaximum, SupportsPointwise

__all__ = ["FocusedStatistic", "LikelihoodRatio", "TestStatistic", "pointwise_log_likelihood"]

#: data sets per block when a model lacks ``log_likelihood_at``
_BLOCK = 512
#: likelihood values per block of the FTS quadrature (bounds memory)
_ELEMENTS = 1 << 20


def pointwise_log_likelihood(model: LikelihoodModel, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]:
    """``log p(D_i | μ_i)`` for every data set ``i``, shape ``(n,)``.

    Uses the model's ``log_likelihood_at`` if it has one; otherwise evaluates each block of data sets on
    the block's distinct μ values and picks the diagonal.
    """
    data = np.asarray(data)
    n = data.shape[0]
    m = np.broadcast_to(np.asarray(mu, dtype=float), (n,))
    if isinstance(model, SupportsPointwise):
        return np.asarray(model.log_likelihood_at(data, m), dtype=float)
    out = np.empty(n)
    for start in range(0, n, _BLOCK):
        rows = slice(start, min(n, start + _BLOCK))
        values, inverse = np.unique(m[rows], return_inverse=True)
        table = model.log_likelihood(data[rows], values)
        out[rows] = table[np.arange(table.shape[0]), inverse]
    return out


@runtime_checkable
class TestStatistic(Protocol):
    """``T(D; μ₀) = −2[log p(D|μ₀) − log Q(D)]`` (module docstring)."""

    # read-only: the statistics are frozen dataclasses, which a settable ``name: str`` would not accept
    @property
    def name(self) -> str:
        """Short name of the statistic (``lrt``, ``fts``)."""
        ...

    def log_denominator(self, model: LikelihoodModel, data: NDArray) -> NDArray[np.float64]: ...

    def evaluate(self, model: LikelihoodModel, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]: ...

    def evaluate_at(self, model: LikelihoodModel, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]: ...


class _RatioStatistic:
    name: str = ""

    def log_denominator(self, model: LikelihoodModel, data: NDArray) -> NDArray[np.float64]:
        raise NotImplementedError

    def evaluate(self, model: LikelihoodModel, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]:
        """T for every data set (rows) and every μ₀ of the grid ``mu`` (columns), shape ``(n, n_mu)``."""
        mu_arr = np.atleast_1d(np.asarray(mu, dtype=float))
        ll = model.log_likelihood(data, mu_arr)
        return -2.0 * (ll - self.log_denominator(model, data)[:, None])

    def evaluate_at(self, model: LikelihoodModel, data: NDArray, mu: ArrayLike) -> NDArray[np.float64]:
        """T(D_i; μ_i) for data set ``i`` at its own μ₀ = ``mu[i]``, shape ``(n,)``."""
        ll = pointwise_log_likelihood(model, data, mu)
        return -2.0 * (ll - self.log_denominator(model, data))


@dataclass(frozen=True)
class LikelihoodRatio(_RatioStatistic):
    """The bounded likelihood-ratio statistic (Feldman–Cousins ordering).

    Parameters
    ----------
    search_grid:
        μ grid for the supremum when the model has no ``max_log_likelihood`` (the grid maximum is
        refined by a parabola through its neighbours and never lower than the grid maximum).
    """

    search_grid: NDArray[np.float64] | None = None
    name: str = field(default="lrt", init=False)

    def log_denominator(self, model: LikelihoodModel, data: NDArray) -> NDArray[np.float64]:
        if isinstance(model, SupportsMaximum):
            return np.asarray(model.max_log_likelihood(data), dtype=float)
        if self.search_grid is None:
            raise InferenceError(f"{type(model).__name__} has no max_log_likelihood: give "
                                 f"LikelihoodRatio(search_grid=...)")
        grid = np.asarray(self.search_grid, dtype=float)
        ll = model.log_likelihood(data, grid)
        best = np.argmax(ll, axis=1)
        interior = (best > 0) & (best < grid.shape[0] - 1)
        k = np.clip(best, 1, grid.shape[0] - 2)
        rows = np.arange(ll.shape[0])
        left, mid, right = ll[rows, k - 1], ll[rows, k], ll[rows, k + 1]
        curvature = left - 2 * mid + right
        with np.errstate(divide="ignore", invalid="ignore"):
            peak = mid - (right - left) ** 2 / (8 * curvature)
        # the vertex of the parabola through an interior maximum lies within half a step of it
        usable = interior & (curvature < 0) & np.isfinite(peak)
        return np.where(usable, np.maximum(peak, ll[rows, best]), ll[rows, best])


@dataclass(frozen=True)
class FocusedStatistic(_RatioStatistic):
    """The focused test statistic T_f with focus function ``focus`` (module docstring)."""

    focus: Focus
    name: str = field(default="fts", init=False)

    def log_denominator(self, model: LikelihoodModel, data: NDArray) -> NDArray[np.float64]:
        nodes, log_w = self.focus.quadrature(model.bounds)
        data = np.asarray(data)
        n = data.shape[0]
        out = np.empty(n)
        step = max(1, _ELEMENTS // nodes.shape[0])
        for start in range(0, n, step):
            rows = slice(start, min(n, start + step))
            out[rows] = logsumexp(model.log_likelihood(data[rows], nodes) + log_w[None, :], axis=1)
        return out
