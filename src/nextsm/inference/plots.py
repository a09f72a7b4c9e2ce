"""Figures of belts and coverage diagnostics (matplotlib, imported lazily: the ``plot`` extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from nextsm.inference.errors import InferenceError
from nextsm.inference.models import ExactModel, LikelihoodModel

if TYPE_CHECKING:
    from nextsm.inference.diagnostics import CoverageDiagnostic
    from nextsm.inference.neyman import Belt, ExactPerformance

__all__ = ["plot_belt", "plot_coverage"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise InferenceError("plots need matplotlib: pip install 'nextsm[plot]'") from None
    return plt


def plot_belt(belt: Belt, model: LikelihoodModel, observed: NDArray | None = None, *, title: str = "") -> Any:
    """The belt: ĉ(μ₀) with T(D_obs; μ₀), and for 1-d exact models the acceptance band in data space.

    Returns the matplotlib figure.
    """
    plt = _pyplot()
    exact_1d = isinstance(model, ExactModel) and np.asarray(model.outcomes(float(belt.mu[0]))).ndim == 1
    fig, axes = plt.subplots(1, 2 if exact_1d else 1, figsize=(11 if exact_1d else 6, 4.2), squeeze=False)
    ax = axes[0, 0]
    ax.plot(belt.mu, belt.critical, color="C0", label=f"ĉ(μ₀) [{belt.method}]")
    toys = belt.n_toys > 0
    if np.any(toys) and not np.all(toys):
        ax.plot(belt.mu[toys], belt.critical[toys], "o", ms=3, color="C3", label="local toys")
    if observed is not None:
        t_obs = belt.statistic.evaluate(model, np.asarray(observed)[:1], belt.mu)[0]
        iv = belt.intervals(model, np.asarray(observed)[:1])
        ax.plot(belt.mu, t_obs, color="k", lw=1, label="T(D_obs; μ₀)")
        ax.axvspan(iv.lower[0], iv.upper[0], color="C2", alpha=0.2, label="C(D_obs)")
    ax.set_xlabel("μ₀")
    ax.set_ylabel(f"{belt.statistic.name.upper()} statistic")
    ax.set_title(title or f"{belt.statistic.name.upper()} belt, CL = {belt.cl:g}")
    ax.legend(fontsize=8)
    if exact_1d:
        assert isinstance(model, ExactModel)
        outcomes = np.asarray(model.outcomes(float(belt.mu[-1])), dtype=float)
        accepted = belt.accepts(model, outcomes)
        lo = np.array([outcomes[a].min() if a.any() else np.nan for a in accepted.T])
        hi = np.array([outcomes[a].max() if a.any() else np.nan for a in accepted.T])
        band = axes[0, 1]
        band.fill_betweenx(belt.mu, lo, hi, color="C0", alpha=0.35, step="mid" if not model.continuous else None)
        if observed is not None:
            band.axvline(float(np.asarray(observed).reshape(-1)[0]), color="k", lw=1)
        band.set_xlim(outcomes.min() if model.continuous else -0.5,
                      min(outcomes.max(), np.nanmax(hi) + 1.0))
        band.set_xlabel("observed x" if model.continuous else "observed n")
        band.set_ylabel("μ")
        band.set_title("acceptance regions")
    fig.tight_layout()
    return fig


def plot_coverage(diagnostic: CoverageDiagnostic | None = None, exact: ExactPerformance | None = None, *,
                  cl: float | None = None, title: str = "") -> Any:
    """Coverage vs μ: the regression estimate with its band, binned rates, and the exact curve if given."""
    plt = _pyplot()
    if diagnostic is None and exact is None:
        raise InferenceError("plot_coverage needs 'diagnostic' or 'exact'")
    level = cl if cl is not None else (diagnostic.cl if diagnostic is not None else None)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    if diagnostic is not None:
        band = diagnostic.n_sigma * diagnostic.stderr
        ax.plot(diagnostic.mu, diagnostic.coverage, color="C0", label="logistic-spline estimate")
        ax.fill_between(diagnostic.mu, diagnostic.coverage - band, diagnostic.coverage + band, color="C0",
                        alpha=0.25, label=f"±{diagnostic.n_sigma:g}σ")
        binned = diagnostic.binned()
        ax.errorbar(binned["centre"], binned["coverage"], yerr=binned["stderr"], fmt="o", ms=3, color="C0",
                    alpha=0.7, label="binned simulations")
        flagged = diagnostic.flagged
        if np.any(flagged):
            ax.fill_between(diagnostic.mu, 0, 1, where=flagged, color="C3", alpha=0.12,
                            transform=ax.get_xaxis_transform(), label="flagged: under-coverage")
    if exact is not None:
        ax.plot(exact.mu, exact.coverage, color="k", lw=1, label="exact")
    if level is not None:
        ax.axhline(level, color="gray", ls="--", lw=1, label=f"nominal {level:g}")
    ax.set_xlabel("true μ")
    ax.set_ylabel("coverage P(μ ∈ C(D))")
    ax.set_title(title or "coverage")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
