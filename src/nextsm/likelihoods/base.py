"""The one interface every likelihood backend implements.

A :class:`StatisticalModel` is the likelihood of *one* experimental result (one UL map, one signal
region, a set of correlated signal regions, a full HistFactory workspace) as a function of a global
signal strength μ, for a *batch* of signal hypotheses at once.

Conventions (shared by all backends)
------------------------------------
* ``signal`` has shape ``(H, n_regions)`` (``H`` hypotheses) or ``(n_regions,)`` (one hypothesis);
  it holds the expected signal yields per region at μ = 1 (for UL-type results: the predicted
  cross section in fb, with ``n_regions == 1``).
* ``mu`` is a scalar or an array broadcastable to ``(H,)``.
* :meth:`StatisticalModel.nll` returns ``-ln L(μ)`` with all nuisance parameters profiled (or
  marginalised, where the backend says so), shape ``(H,)``.  Only *differences* of NLLs are
  meaningful across backends; constants are backend specific.
* ``data`` selects the data set: ``"observed"`` (the published observation) or ``"apriori"`` (the
  pre-fit SM expectation: observed counts replaced by the background prediction, as spey's
  ``ExpectationType.apriori``).  Expected results ("expected limits") use ``"apriori"``.
* :meth:`StatisticalModel.asimov` returns a model of the same kind whose data are the Asimov data set
  of the background-only fit (μ = 0) to ``data``; it does not depend on the signal, so it is cached.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DataKind", "FitResult", "StatisticalModel", "as_mu_batch", "as_signal_batch"]

DataKind = Literal["observed", "apriori"]
DATA_KINDS: tuple[DataKind, ...] = ("observed", "apriori")


class FitResult(NamedTuple):
    """Result of a (batched) maximum-likelihood fit of μ.

    Attributes
    ----------
    muhat:
        Best-fit signal strength per hypothesis, shape ``(H,)``, within the requested bounds.
    nll_min:
        ``-ln L(μ̂)`` per hypothesis, shape ``(H,)``.
    """

    muhat: NDArray[np.float64]
    nll_min: NDArray[np.float64]


def as_signal_batch(signal: ArrayLike, n_regions: int, *, name: str = "signal") -> NDArray[np.float64]:
    """Return ``signal`` as a float array of shape ``(H, n_regions)``.

    Raises
    ------
    nextsm.errors.LikelihoodError
        If the shape does not fit ``n_regions`` or values are not finite.
    """
    from nextsm.errors import LikelihoodError

    arr = np.asarray(signal, dtype=float)
    if arr.ndim == 0 and n_regions == 1:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr.reshape(-1, 1) if n_regions == 1 and arr.shape[0] != 1 else arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != n_regions:
        raise LikelihoodError(
            f"parameter '{name}' has shape {np.shape(signal)}, expected (H, {n_regions}) or ({n_regions},)"
        )
    if not np.all(np.isfinite(arr)):
        raise LikelihoodError(f"parameter '{name}' contains non-finite values")
    return arr


def as_mu_batch(mu: ArrayLike, n: int, *, name: str = "mu", finite: bool = True) -> NDArray[np.float64]:
    """Return ``mu`` (a scalar or ``(n,)``) as a new float array of shape ``(n,)``, one μ per hypothesis.

    Raises
    ------
    nextsm.errors.LikelihoodError
        If the shape does not broadcast to ``(n,)``, or (``finite=True``) a value is not finite.
    """
    from nextsm.errors import LikelihoodError

    arr = np.asarray(mu, dtype=float)
    try:
        out = np.broadcast_to(arr, (n,)).astype(float, copy=True)
    except ValueError:
        raise LikelihoodError(f"parameter '{name}' has shape {arr.shape}, expected a scalar or ({n},)") from None
    if finite and not np.all(np.isfinite(out)):
        raise LikelihoodError(f"parameter '{name}' contains non-finite values")
    return out


class StatisticalModel(ABC):
    """Likelihood of one result, batched over signal hypotheses (see the module docstring)."""

    #: number of signal inputs (signal regions, or 1 for UL-type results)
    n_regions: int
    #: short human-readable description of the backend, e.g. ``"SL v2 (covariance + third moments)"``
    description: str = ""

    @abstractmethod
    def nll(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed") -> NDArray[np.float64]:
        """``-ln L(μ)`` profiled over nuisances, shape ``(H,)``."""

    @abstractmethod
    def asimov(self, data: DataKind = "observed") -> StatisticalModel:
        """The same model with its data replaced by the background-only (μ = 0) Asimov data of ``data``."""

    def evaluation_scope(self) -> AbstractContextManager[None]:
        """A context in which many evaluations of this model share one set-up of global state.

        The default does nothing.  :class:`~nextsm.likelihoods.histfactory.HistFactoryModel` switches pyhf's
        global backend inside every call and back afterwards, and pyhf re-indexes *every* live model at each
        switch (≈ 1 s per switch with the ATLAS-SUSY-2018-16 workspaces loaded); inside its scope the calls
        skip the switch.  The limit functions of :mod:`nextsm.likelihoods.limits` enter it, and so should any
        loop over many calls (composite models enter their members' scopes).
        """
        return nullcontext()

    def fit(
        self,
        signal: ArrayLike,
        *,
        data: DataKind = "observed",
        mu_bounds: tuple[float, float | None] = (0.0, None),
    ) -> FitResult:
        """Maximum-likelihood estimate of μ within ``mu_bounds`` for every hypothesis.

        The default implementation is a vectorised bounded minimisation of :meth:`nll` in μ
        (see :func:`nextsm.likelihoods.limits.minimize_mu`); backends with a closed form override it.
        """
        from nextsm.likelihoods.limits import minimize_mu

        return minimize_mu(self, signal, data=data, mu_bounds=mu_bounds)

    def upper_limit(
        self,
        signal: ArrayLike,
        *,
        expected: Literal["observed", "apriori", "aposteriori"] = "observed",
        cl: float = 0.95,
    ) -> NDArray[np.float64]:
        """Upper limit on μ at confidence level ``cl``, shape ``(H,)``.

        The default is the asymptotic CLs limit of :func:`nextsm.likelihoods.limits.upper_limit`
        (``expected="apriori"``: median expected limit).  UL-type results override it with the
        published limits.  ``r = 1 / μ_UL``.
        """
        from nextsm.likelihoods.limits import upper_limit

        return upper_limit(self, signal, expected=expected, cl=cl)
