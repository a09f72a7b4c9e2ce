r"""The full pyhf likelihood of a workspace with every profile fit of a batch done at once (extra ``jax``).

:class:`BatchedHistFactoryModel` is a :class:`~nextsm.likelihoods.base.StatisticalModel` with the *same*
likelihood as :class:`~nextsm.likelihoods.histfactory.HistFactoryModel` (pyhf's ``logpdf``, SModelS' signal
patch); only the minimiser differs.  :meth:`~BatchedHistFactoryModel.nll` fits all hypotheses of a call
together with :class:`~nextsm.likelihoods.histfactory_batch.BatchedProfile` and re-fits the ones it leaves
unconverged with pyhf's SLSQP, keeping the lower of the two minima.  Everything built on ``nll`` (μ̂ fits,
:math:`\tilde q_\mu`, CLs, upper limits in :mod:`nextsm.likelihoods.limits`) is then vectorised over the batch,
so the 95 % CLs limits of 200 signal shapes cost about as many batched calls as the limit of one shape.

Used as the reference of the surrogate limit validation (``benchmarks/bench_surrogate.py --reference
batched``), where one SLSQP limit per shape takes 6–8 min on ATLAS-SUSY-2018-16.

Two shortcuts, both exact:

* ``nll(μ, s) = nll(1, μ s)``: the signal enters pyhf's model only as ``mu_SIG × s`` (the patch puts the
  yields in a shapefactor fixed at ``s`` and multiplies by the normfactor ``mu_SIG``).
* On an Asimov view the free fit of μ ≥ 0 is μ̂ = 0: the Asimov data are the expectation of the background-only
  optimum, which therefore maximises every Poisson and constraint term at once.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import FailedFitError, LikelihoodError, UnphysicalFitError
from nextsm.likelihoods.base import (
    DATA_KINDS,
    DataKind,
    FitResult,
    StatisticalModel,
    as_mu_batch,
    as_signal_batch,
)

if TYPE_CHECKING:
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.likelihoods.histfactory_batch import BatchedProfile

__all__ = ["BatchedHistFactoryModel"]

#: relative μ tolerance of the batched μ̂ fit (the NLL is flat to second order there: exact to ~tol² in q)
_FIT_XTOL = 1e-7


class BatchedHistFactoryModel(StatisticalModel):
    """A :class:`HistFactoryModel` (backend ``"jax"``) whose fits of a batch are vectorised (module docstring).

    Parameters
    ----------
    model:
        The exact model; it must have been built with ``backend="jax"``.
    options:
        Passed to :class:`~nextsm.likelihoods.histfactory_batch.BatchedProfile` (``batch``, ``iterations``, ...).

    Attributes
    ----------
    fallbacks:
        How many hypotheses were re-fitted by SLSQP (all three counts cover this model and its Asimov views).
    unresolved:
        How many kept the batched solver's unconverged value because SLSQP failed as well (an upper bound on
        the true −ln L at that point).
    unphysical:
        How many had no physical fit at all (both solvers end at a negative expected count, or SLSQP fails and
        the batched fit is unphysical); their −ln L is ``inf``, i.e. such a (μ, s) counts as excluded.  On
        ATLAS-SUSY-2018-16 ``EWKinos`` this happened while the μ̂ bracket grew far beyond the data's reach.
    """

    def __init__(self, model: HistFactoryModel, *, _asimov_of: DataKind | None = None,
                 _profiles: dict[str, BatchedProfile] | None = None, _counts: dict[str, int] | None = None,
                 **options: Any) -> None:
        if model._core.backend != "jax":
            raise LikelihoodError(f"workspace '{model.name}': BatchedHistFactoryModel needs a model built with "
                                  f"backend='jax', not {model._core.backend!r}")
        self.model = model
        self.n_regions = model.n_regions
        self.region_names = model.region_names
        self._asimov_of = _asimov_of
        self._options = options
        self._profiles: dict[str, BatchedProfile] = {} if _profiles is None else _profiles
        #: shared with the Asimov views (counted over all data sets)
        self._counts = {"fallbacks": 0, "unresolved": 0, "unphysical": 0} if _counts is None else _counts
        what = f"HistFactory workspace {model.name} ({self.n_regions} signal regions, pyhf jax, batched fits)"
        self.description = what if _asimov_of is None else f"{what}, Asimov data of '{_asimov_of}'"

    def __repr__(self) -> str:
        return f"BatchedHistFactoryModel({self.description})"

    @property
    def fallbacks(self) -> int:
        return self._counts["fallbacks"]

    @property
    def unresolved(self) -> int:
        return self._counts["unresolved"]

    @property
    def unphysical(self) -> int:
        return self._counts["unphysical"]

    def _view(self, data: DataKind) -> tuple[HistFactoryModel, DataKind]:
        if data not in DATA_KINDS:
            raise LikelihoodError(f"parameter 'data' must be one of {DATA_KINDS}, got {data!r}")
        if self._asimov_of is None:
            return self.model, data
        return self.model.asimov(self._asimov_of), self._asimov_of

    def _profile(self, data: DataKind) -> BatchedProfile:
        view, kind = self._view(data)
        key = kind if self._asimov_of is None else f"asimov:{kind}"
        if key not in self._profiles:
            self._profiles[key] = view.batched_profile(kind, **self._options)
        return self._profiles[key]

    def evaluation_scope(self) -> AbstractContextManager[None]:
        """The exact model's scope (pyhf's jax backend held across calls)."""
        return self.model.evaluation_scope()

    def nll(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed") -> NDArray[np.float64]:
        """``-ln L(μ)`` with all nuisance parameters profiled, shape ``(H,)`` (one batched fit of all rows)."""
        sig = as_signal_batch(signal, self.n_regions)
        mu_v = as_mu_batch(mu, sig.shape[0])
        scaled = mu_v[:, None] * sig
        result = self._profile(data)(scaled)
        nll = result.nll.copy()
        view, kind = self._view(data)
        for h in np.flatnonzero(~result.converged):
            self._counts["fallbacks"] += 1
            try:
                refit = float(view.nll(1.0, scaled[h][None, :], data=kind)[0])
            except (FailedFitError, UnphysicalFitError):
                if np.isfinite(nll[h]):
                    self._counts["unresolved"] += 1
                else:  # no physical fit at all: treated as excluded (seen only far beyond the limits)
                    nll[h] = np.inf
                    self._counts["unphysical"] += 1
                continue
            nll[h] = refit if not np.isfinite(nll[h]) else min(nll[h], refit)
        return nll

    def fit(self, signal: ArrayLike, *, data: DataKind = "observed",
            mu_bounds: tuple[float, float | None] = (0.0, None)) -> FitResult:
        """μ̂ within ``mu_bounds`` for every hypothesis: a batched golden-section search of :meth:`nll`
        (:func:`~nextsm.likelihoods.limits.minimize_mu`, its bracket started at the μ of a 3σ total excess);
        on an Asimov view with ``mu_bounds[0] = 0``, μ̂ = 0."""
        from nextsm.likelihoods.limits import minimize_mu

        sig = as_signal_batch(signal, self.n_regions)
        if self._asimov_of is not None and mu_bounds[0] == 0.0:
            zero = np.zeros(sig.shape[0])
            return FitResult(zero, self.nll(zero, sig, data=data))
        # first trial bound: a 3σ excess summed over the signal regions (far-off μ makes fits slow and fragile)
        _, b = self.model.background_counts(data)
        total = np.sum(sig, axis=1)
        start = np.where(total > 0, 3.0 * np.sqrt(np.sum(np.maximum(b, 1.0))) / np.where(total > 0, total, 1.0), 10.0)
        return minimize_mu(self, sig, data=data, mu_bounds=mu_bounds, xtol=_FIT_XTOL, hi_start=start)

    def asimov(self, data: DataKind = "observed") -> BatchedHistFactoryModel:
        """The same model on the μ = 0 Asimov data of ``data``; shares the compiled fits."""
        if data not in DATA_KINDS:
            raise LikelihoodError(f"parameter 'data' must be one of {DATA_KINDS}, got {data!r}")
        view = BatchedHistFactoryModel(self.model, _asimov_of=data, _profiles=self._profiles, _counts=self._counts,
                                       **self._options)
        return view
