r"""Coverage diagnostic of a belt: regress the indicator 1{μ ∈ C(D)} on μ.

Fresh simulations μ_i ~ π, D_i ~ p(·|μ_i) give :math:`z_i = 1\{T(D_i;\mu_i) \le \hat c(\mu_i)\}`
(= 1{μ_i ∈ C(D_i)}).  A logistic regression on a cubic B-spline basis,
:math:`\operatorname{logit} P(z = 1 \mid \mu) = \sum_j \beta_j B_j(\mu)`, fitted by iteratively reweighted
least squares with a small ridge, estimates the coverage curve; its pointwise standard error comes from
the inverse Fisher information :math:`(X^T W X + \lambda I)^{-1}` (delta method).  A grid point is *flagged*
for under-coverage where the upper end of the ``n_sigma`` band lies below the nominal level.  This is
the diagnostic of LF2I (N. Dalmasso et al., arXiv:2107.03920, §4) and of the FTS paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from nextsm.inference.errors import InferenceError
from nextsm.inference.models import LikelihoodModel
from nextsm.inference.neyman import Belt, simulate_statistic, uniform_prior
from nextsm.inference.quantile import bspline_basis

__all__ = ["CoverageDiagnostic", "coverage_diagnostic", "logistic_spline"]


def logistic_spline(x: NDArray[np.float64], z: NDArray[np.float64], knots: NDArray[np.float64], *,
                    ridge: float = 1e-3, max_iter: int = 50
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """IRLS fit of a logistic B-spline model: coefficients and their covariance."""
    design = bspline_basis(x, knots)
    p = design.shape[1]
    beta = np.zeros(p)
    beta[:] = np.log((z.mean() + 1e-3) / (1.0 - z.mean() + 1e-3))
    info = np.eye(p)
    for _ in range(max_iter):
        prob = expit(design @ beta)
        w = np.clip(prob * (1 - prob), 1e-9, None)
        info = design.T @ (design * w[:, None]) + ridge * np.eye(p)
        step = np.linalg.solve(info, design.T @ (z - prob) - ridge * beta)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta, np.asarray(np.linalg.inv(info), dtype=np.float64)


@dataclass(frozen=True)
class CoverageDiagnostic:
    """Estimated coverage curve of a belt.

    Attributes
    ----------
    mu:
        Evaluation grid (the belt's grid).
    coverage, stderr:
        Estimated coverage P(μ ∈ C(D) | μ) and its standard error on ``mu``.
    cl:
        Nominal level.
    n_sigma:
        Width of the band used for flagging.
    samples_mu, samples_covered:
        The simulations behind the fit.
    """

    mu: NDArray[np.float64]
    coverage: NDArray[np.float64]
    stderr: NDArray[np.float64]
    cl: float
    n_sigma: float
    samples_mu: NDArray[np.float64]
    samples_covered: NDArray[np.bool_]
    knots: NDArray[np.float64]
    coefficients: NDArray[np.float64]
    covariance: NDArray[np.float64]

    @property
    def flagged(self) -> NDArray[np.bool_]:
        """Grid points with significant under-coverage (upper band end below the nominal level)."""
        return self.coverage + self.n_sigma * self.stderr < self.cl

    def estimate(self, mu: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Coverage estimate and standard error at arbitrary μ."""
        x = np.atleast_1d(np.asarray(mu, dtype=float))
        design = bspline_basis(x, self.knots)
        eta = design @ self.coefficients
        se_eta = np.sqrt(np.einsum("ij,jk,ik->i", design, self.covariance, design))
        prob = expit(eta)
        return prob, prob * (1 - prob) * se_eta

    def flagged_at(self, mu: ArrayLike) -> NDArray[np.bool_]:
        """Under-coverage flag at arbitrary μ (for :func:`~nextsm.inference.neyman.refine_endpoints`)."""
        prob, se = self.estimate(mu)
        return prob + self.n_sigma * se < self.cl

    def binned(self, n_bins: int = 20) -> dict[str, list[float]]:
        """Binned empirical coverage with binomial errors (for plots and JSON)."""
        edges = np.linspace(self.samples_mu.min(), self.samples_mu.max(), n_bins + 1)
        idx = np.clip(np.searchsorted(edges, self.samples_mu, side="right") - 1, 0, n_bins - 1)
        count = np.bincount(idx, minlength=n_bins)
        hits = np.bincount(idx, weights=self.samples_covered.astype(float), minlength=n_bins)
        frac = np.divide(hits, count, out=np.full(n_bins, np.nan), where=count > 0)
        err = np.sqrt(np.divide(frac * (1 - frac), count, out=np.full(n_bins, np.nan), where=count > 0))
        return {"centre": (0.5 * (edges[1:] + edges[:-1])).tolist(), "coverage": frac.tolist(),
                "stderr": err.tolist(), "count": count.tolist()}

    def to_dict(self) -> dict[str, Any]:
        return {"cl": self.cl, "n_sigma": self.n_sigma, "mu": self.mu.tolist(),
                "coverage": self.coverage.tolist(), "stderr": self.stderr.tolist(),
                "flagged": self.flagged.tolist(), "n_sim": int(self.samples_mu.shape[0]),
                "binned": self.binned()}


def coverage_diagnostic(belt: Belt, model: LikelihoodModel, *, n_sim: int, rng: np.random.Generator,
                        prior: Callable[[int, np.random.Generator], NDArray[np.float64]] | None = None,
                        n_knots: int = 6, n_sigma: float = 2.0) -> CoverageDiagnostic:
    """Estimate the coverage curve of ``belt`` from ``n_sim`` fresh simulations (module docstring)."""
    if n_knots < 0:
        raise InferenceError(f"parameter 'n_knots' must be non-negative, got {n_knots}")
    draw = prior or uniform_prior(float(belt.mu[0]), float(belt.mu[-1]))
    mu_i, _, t_i = simulate_statistic(model, belt.statistic, int(n_sim), rng, draw)
    covered = t_i <= belt.critical_at(mu_i) + 1e-9
    lo, hi = float(belt.mu[0]), float(belt.mu[-1])
    inner = np.linspace(lo, hi, n_knots + 2)[1:-1]
    knots = np.concatenate([np.full(4, lo), inner, np.full(4, hi)])
    beta, cov = logistic_spline(mu_i, covered.astype(float), knots)
    diag = CoverageDiagnostic(belt.mu, np.empty(0), np.empty(0), belt.cl, float(n_sigma), mu_i, covered,
                              knots, beta, cov)
    prob, se = diag.estimate(belt.mu)
    return CoverageDiagnostic(belt.mu, prob, se, belt.cl, float(n_sigma), mu_i, covered, knots, beta, cov)
