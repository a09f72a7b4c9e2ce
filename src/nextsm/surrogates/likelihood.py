r"""A surrogate as a likelihood backend: :class:`SurrogateLikelihood` implements :class:`StatisticalModel`.

With q_v(s) the network's four outputs (:data:`~nextsm.surrogates.network.VARIANTS`),

.. math:: \mathrm{NLL}_v(\mu) = \tfrac12\, q_v(\mu s),

i.e. NLL(0) = 0 by convention (only differences of NLLs are meaningful, ``likelihoods/base.py``).  ``data``
selects the ``observed`` or ``apriori`` column; :meth:`~SurrogateLikelihood.asimov` returns the view on the
``asimov_observed`` / ``asimov_apriori`` columns, which is what the asymptotic CLs of
:mod:`nextsm.likelihoods.limits` needs, so μ̂ fits, CLs and upper limits work unchanged, vectorised over
hypotheses and with numpy only.

Outside the network's validity domain (:class:`~nextsm.surrogates.network.SurrogateDomain`) the backend raises
:class:`~nextsm.surrogates.errors.SurrogateDomainError` (``outside="raise"``, default), or evaluates those
hypotheses with the exact model given as ``fallback`` (``outside="fallback"``, e.g. the
:class:`~nextsm.likelihoods.histfactory.HistFactoryModel` of the same workspace), or extrapolates
(``outside="ignore"``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.base import DATA_KINDS, DataKind, StatisticalModel, as_mu_batch, as_signal_batch
from nextsm.surrogates.network import VARIANTS, SurrogateNetwork

if TYPE_CHECKING:
    from nextsm.database.records import Analysis
    from nextsm.database.source import DatabaseSource
    from nextsm.likelihoods.factory import ResultLikelihood

__all__ = ["SurrogateLikelihood", "surrogate_likelihoods"]

Outside = Literal["raise", "fallback", "ignore"]


class SurrogateLikelihood(StatisticalModel):
    """The likelihood of one workspace evaluated by its surrogate (module docstring)."""

    def __init__(self, network: SurrogateNetwork, *, outside: Outside = "raise",
                 fallback: StatisticalModel | None = None) -> None:
        if outside not in ("raise", "fallback", "ignore"):
            raise LikelihoodError(f"parameter 'outside' must be 'raise', 'fallback' or 'ignore', got {outside!r}")
        if outside == "fallback" and fallback is None:
            raise LikelihoodError("parameter 'fallback' (the exact model) is needed with outside='fallback'")
        if fallback is not None and fallback.n_regions != network.n_regions:
            raise LikelihoodError(f"parameter 'fallback' has {fallback.n_regions} regions, the surrogate "
                                  f"{network.name} {network.n_regions}")
        self.network = network
        self.outside = outside
        self.fallback = fallback
        self.n_regions = network.n_regions
        self.region_names = tuple(network.region_names)
        self._asimov_of: DataKind | None = None
        self.description = f"neural surrogate {network.name} ({network.n_regions} signal regions)"

    @property
    def regions(self) -> tuple[str, ...]:
        return self.region_names

    def __repr__(self) -> str:
        return f"SurrogateLikelihood({self.description})"

    def _column(self, data: DataKind) -> int:
        if data not in DATA_KINDS:
            raise LikelihoodError(f"parameter 'data' must be one of {DATA_KINDS}, got {data!r}")
        kind = self._asimov_of
        name = data if kind is None else f"asimov_{kind}"
        return VARIANTS.index(name)

    def nll(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed") -> NDArray[np.float64]:
        """``q_v(μ s)/2`` per hypothesis, shape ``(H,)`` (module docstring)."""
        sig = as_signal_batch(signal, self.n_regions)
        mu_v = as_mu_batch(mu, sig.shape[0], finite=False)
        scaled = mu_v[:, None] * sig
        if np.any(mu_v < 0):
            raise LikelihoodError("parameter 'mu' must be ≥ 0 for a surrogate (it was trained on s ≥ 0)")
        col = self._column(data)
        if self.outside == "fallback":
            q = self.network.evaluate(scaled, outside="nan")[:, col]
            bad = np.isnan(q)
            if np.any(bad):
                q[bad] = self._exact(mu_v[bad], sig[bad], data)
        else:
            q = self.network.evaluate(scaled, outside="raise" if self.outside == "raise" else "ignore")[:, col]
        return 0.5 * q

    def _exact(self, mu: NDArray[np.float64], sig: NDArray[np.float64], data: DataKind) -> NDArray[np.float64]:
        assert self.fallback is not None
        model = self.fallback if self._asimov_of is None else self.fallback.asimov(self._asimov_of)
        return 2.0 * (model.nll(mu, sig, data=data) - model.nll(np.zeros_like(mu), sig, data=data))

    def asimov(self, data: DataKind = "observed") -> SurrogateLikelihood:
        """The view on the Asimov columns of ``data`` (no fit: the network learned them)."""
        if data not in DATA_KINDS:
            raise LikelihoodError(f"parameter 'data' must be one of {DATA_KINDS}, got {data!r}")
        view = SurrogateLikelihood(self.network, outside=self.outside, fallback=self.fallback)
        view._asimov_of = data
        view.description = f"{self.description}, Asimov data of '{data}'"
        return view


def surrogate_likelihoods(analysis: Analysis, *, source: DatabaseSource | None = None,
                          folders: Sequence[str | os.PathLike[str]] = (),
                          outside: Outside | None = None) -> list[ResultLikelihood] | None:
    """One surrogate likelihood per workspace of ``analysis``' ``jsonFiles``, or ``None`` if one is missing.

    With the database files (``source``) each surrogate is checked against the workspace's hash, and hypotheses
    outside a surrogate's domain fall back to the exact pyhf model (``outside="fallback"``, the default then);
    without them they raise (``"raise"``).
    """
    from nextsm.likelihoods.factory import ResultLikelihood
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.surrogates.labels import workspace_hash
    from nextsm.surrogates.registry import find_surrogate

    files = list(analysis.info.json_files or {})
    if not files or analysis.workspace_data:  # a fake's workspace data are not what a surrogate learned
        return None
    mode: Outside = outside or ("fallback" if source is not None else "raise")
    if mode == "fallback" and source is None:
        raise LikelihoodError("parameter 'outside' is 'fallback', which needs the database files: pass 'source'")
    out = []
    for file in files:
        digest = workspace_hash(analysis, file, source) if source is not None else None
        network = find_surrogate(analysis.name, file, folders=folders, workspace_sha256=digest)
        if network is None:
            return None
        fallback = (HistFactoryModel.from_analysis(analysis, file, source)
                    if mode == "fallback" and source is not None else None)
        out.append(ResultLikelihood(analysis.id, "surrogate", tuple(network.region_names),
                                    SurrogateLikelihood(network, outside=mode, fallback=fallback),
                                    f"surrogate of workspace {file}"))
    return out
