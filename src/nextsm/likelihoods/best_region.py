r"""The SModelS choice for efficiency-map results without a combination recipe: the best signal region.

For every hypothesis, the signal region with the largest *expected* r-value is kept,

.. math:: r^{exp}_i = s_i / N^{UL,exp}_i,\qquad N^{UL,exp}_i = UL^{exp}_i\,[\mathrm{fb}]\cdot\mathcal L,

where :math:`N^{UL,exp}_i` is the published expected 95 % CL limit on signal events of region i.  Regions
without a published expected limit use the Gaussian estimate :math:`1.96\sqrt{b_i + \delta_i^2}` (filled in by the factory).
The likelihood is that of the chosen region alone (Poisson ⊗ Gaussian, see
:class:`~nextsm.likelihoods.simplified.PoissonGaussian`).  It is evaluated as the product over
all regions with the signal set to zero outside the chosen one: the other regions then add a
μ-independent constant, so every likelihood *ratio* is exactly that of the chosen region.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.base import DataKind, StatisticalModel, as_signal_batch

__all__ = ["BestExpectedRegion"]


@dataclass(frozen=True)
class BestExpectedRegion(StatisticalModel):
    """Best-expected-SR likelihood (module docstring).

    Parameters
    ----------
    regions_model:
        Uncorrelated Poisson ⊗ Gaussian model over all candidate regions.
    expected_ul_events:
        Published expected upper limits on signal events per region, ``(N,)``; NaN where absent.
    """

    regions_model: StatisticalModel
    expected_ul_events: NDArray[np.float64]
    description: str = "best expected signal region (Poisson ⊗ Gaussian)"

    def __post_init__(self) -> None:
        if self.expected_ul_events.shape != (self.regions_model.n_regions,):
            raise LikelihoodError(
                f"parameter 'expected_ul_events' has shape {self.expected_ul_events.shape}, "
                f"expected ({self.regions_model.n_regions},)"
            )

    @property
    def n_regions(self) -> int:  # type: ignore[override]
        return self.regions_model.n_regions

    def evaluation_scope(self) -> AbstractContextManager[None]:
        return self.regions_model.evaluation_scope()

    def best_region(self, signal: ArrayLike) -> NDArray[np.intp]:
        """Index of the region with the largest expected r per hypothesis, shape ``(H,)``."""
        sig = as_signal_batch(signal, self.n_regions)
        with np.errstate(divide="ignore", invalid="ignore"):
            r_exp = sig / self.expected_ul_events
        return np.argmax(np.nan_to_num(r_exp, nan=-np.inf), axis=1)

    def _masked(self, signal: ArrayLike) -> NDArray[np.float64]:
        sig = as_signal_batch(signal, self.n_regions)
        rows = np.arange(sig.shape[0])
        best = self.best_region(sig)
        out = np.zeros_like(sig)
        out[rows, best] = sig[rows, best]
        return out

    def nll(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed") -> NDArray[np.float64]:
        return self.regions_model.nll(mu, self._masked(signal), data=data)

    def asimov(self, data: DataKind = "observed") -> BestExpectedRegion:
        return BestExpectedRegion(self.regions_model.asimov(data), self.expected_ul_events)

    def fit(self, signal: ArrayLike, *, data: DataKind = "observed",
            mu_bounds: tuple[float, float | None] = (0.0, None)):
        return self.regions_model.fit(self._masked(signal), data=data, mu_bounds=mu_bounds)
