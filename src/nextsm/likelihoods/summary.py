r"""Everything one usually wants from a likelihood, for a batch of signal hypotheses.

For each hypothesis: μ̂ (bounded to ``[0, mu_max]``), −ln L_SM = −ln L(0), −ln L(μ̂),
−2 ln L(μ)/L(μ̂) and −2 ln L(μ)/L(0) at the requested μ, the observed and (a-priori) expected 95 % CL
upper limits on μ and :math:`r = 1/\mu_{UL}` (= σ/UL for UL-map results).  Results without a
likelihood (observed-only UL maps) get NaN wherever a likelihood is needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.base import StatisticalModel, as_signal_batch

__all__ = ["LikelihoodSummary", "summarize"]


@dataclass(frozen=True)
class LikelihoodSummary:
    """Per-hypothesis arrays, shape ``(H,)`` each (see the module docstring)."""

    mu: NDArray[np.float64]
    muhat: NDArray[np.float64]
    nll_sm: NDArray[np.float64]
    nll_min: NDArray[np.float64]
    twice_delta_nll_vs_max: NDArray[np.float64]
    twice_delta_nll_vs_sm: NDArray[np.float64]
    ul_observed: NDArray[np.float64]
    ul_expected: NDArray[np.float64]

    @property
    def r_observed(self) -> NDArray[np.float64]:
        """σ/σ_UL = 1/μ_UL (observed)."""
        return 1.0 / self.ul_observed

    @property
    def r_expected(self) -> NDArray[np.float64]:
        """1/μ_UL (a-priori expected)."""
        return 1.0 / self.ul_expected

    def rows(self) -> list[dict[str, float]]:
        """One plain dict per hypothesis (for JSON and tables)."""
        cols = {k: np.asarray(v) for k, v in asdict(self).items()}
        cols["r_observed"], cols["r_expected"] = self.r_observed, self.r_expected
        n = len(self.mu)
        return [{k: float(v[i]) for k, v in cols.items()} for i in range(n)]


def summarize(model: StatisticalModel, signal: ArrayLike, *, mu: ArrayLike = 1.0,
              mu_max: float | None = None) -> LikelihoodSummary:
    """Compute a :class:`LikelihoodSummary` for every row of ``signal``."""
    sig = as_signal_batch(signal, model.n_regions)
    n_hyp = sig.shape[0]
    mu_v = np.broadcast_to(np.asarray(mu, dtype=float), (n_hyp,)).copy()
    nan = np.full(n_hyp, np.nan)
    ul_obs = np.asarray(model.upper_limit(sig, expected="observed"), dtype=float)
    try:
        ul_exp = np.asarray(model.upper_limit(sig, expected="apriori"), dtype=float)
    except LikelihoodError:
        ul_exp = nan
    try:
        fit = model.fit(sig, mu_bounds=(0.0, mu_max))
    except LikelihoodError:
        return LikelihoodSummary(mu_v, nan, nan, nan, nan, nan, ul_obs, ul_exp)
    nll_sm = model.nll(np.zeros(n_hyp), sig)
    nll_mu = model.nll(mu_v, sig)
    return LikelihoodSummary(
        mu=mu_v,
        muhat=fit.muhat,
        nll_sm=nll_sm,
        nll_min=fit.nll_min,
        twice_delta_nll_vs_max=2.0 * (nll_mu - fit.nll_min),
        twice_delta_nll_vs_sm=2.0 * (nll_mu - nll_sm),
        ul_observed=ul_obs,
        ul_expected=ul_exp,
    )
