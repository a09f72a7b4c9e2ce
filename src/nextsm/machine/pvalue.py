"""Global p-value of a search: the real runs' K_max against the K_max of runs on SM-only fake databases.

P21 (arXiv:2012.12246) eq. 5.3, ``protomodels.md`` §7.  Per run the statistic is K_max, the highest K of every
model any walker evaluated.  With K̄_obs the mean K_max of the real runs and K_1 … K_N those of N fake runs
(databases whose observations were drawn from the SM background, searched by the identical procedure, so no
look-elsewhere correction is needed):

* the SM density of K_max is the Gaussian kernel density estimate (``scipy.stats.gaussian_kde``, Scott's rule)

  ρ(K) = (1/N) Σ_i φ((K − K_i)/σ_h)/σ_h,   σ_h = N^(−1/5) s,   s² = Σ_i (K_i − K̄)²/(N − 1),

  and the global p-value is its tail, p = ∫_{K̄_obs}^∞ ρ(K) dK = (1/N) Σ_i Φ((K_i − K̄_obs)/σ_h);
* the one-sided Gaussian significance is Z = Φ⁻¹(1 − p);
* the empirical fraction f = n/N, n = #{i : K_i ≥ K̄_obs}, with the binomial standard uncertainty
  √(f(1 − f)/N) and the Clopper–Pearson interval at confidence ``cl`` (default 2Φ(1) − 1 = 68.27 %):
  [B⁻¹(α/2; n, N − n + 1), B⁻¹(1 − α/2; n + 1, N − n)], α = 1 − cl, B⁻¹ the Beta quantile (0 for n = 0, 1 for
  n = N).

When the fake K_max all have the same value the KDE does not exist (zero bandwidth): the result then has
``p = z = None``, only the empirical fraction, and ``note`` says so.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import beta, gaussian_kde, norm

from nextsm.errors import NextsmError

__all__ = ["PValueError", "PValueResult", "global_pvalue", "k_max", "plot_k_distribution"]

ONE_SIGMA = float(norm.cdf(1.0) - norm.cdf(-1.0))  # 0.6827, the coverage of ±1σ


class PValueError(NextsmError, ValueError):
    """A run cannot give a K_max, or the K_max values cannot give a p-value (too few, not finite)."""


def k_max(folder: str | Path) -> float:
    """K_max of the run in ``folder``: the highest finite K over all walkers and steps.

    Both the K of every proposed model and the walkers' current K are looked at (the latter adds only the
    starting models, which no step proposed).  K is ``None`` for models the critics rejected; those are skipped.

    Raises
    ------
    PValueError
        ``folder`` holds no ``run.sqlite``, the file cannot be read, or no step has a finite K.
    """
    from nextsm.machine.store import RunStore

    folder = Path(folder)
    if not (folder / "run.sqlite").is_file():
        raise PValueError(f"{folder}: not a run folder (no run.sqlite)")
    try:
        store = RunStore(folder)
        try:
            values = [k for r in store.steps() for k in (r.K, r.current_K) if k is not None and math.isfinite(k)]
        finally:
            store.close()
    except sqlite3.Error as exc:
        raise PValueError(f"{folder}: run.sqlite cannot be read ({exc})") from exc
    if not values:
        raise PValueError(f"{folder}: the run has no step with a finite K")
    return max(values)


@dataclass(frozen=True, eq=False)
class PValueResult:
    """The global p-value and what it was computed from (formulas in the module docstring).

    Attributes
    ----------
    k_real, k_fakes:
        K_max of the real and of the fake runs.
    k_real_mean:
        K̄_obs, the mean of ``k_real``.
    p:
        KDE tail ∫_{K̄_obs}^∞ ρ(K) dK; ``None`` if the KDE does not exist (see ``note``).
    z:
        Φ⁻¹(1 − p), ``None`` with ``p``.
    bandwidth:
        σ_h, the standard deviation of each kernel; ``None`` with ``p``.
    n_above:
        Number of fakes with K_max ≥ K̄_obs.
    fraction, fraction_error:
        f = n_above/N and √(f(1 − f)/N).
    fraction_interval, cl:
        Clopper–Pearson interval of f at confidence ``cl``.
    note:
        Empty, or why ``p`` is missing.
    """

    k_real: NDArray[np.float64]
    k_real_mean: float
    k_fakes: NDArray[np.float64]
    p: float | None
    z: float | None
    bandwidth: float | None
    n_above: int
    fraction: float
    fraction_error: float
    fraction_interval: tuple[float, float]
    cl: float
    note: str = ""

    @property
    def n_fakes(self) -> int:
        return int(self.k_fakes.size)

    def kde(self) -> gaussian_kde | None:
        """ρ(K), the density estimate of the fake K_max (``None`` if it does not exist)."""
        return None if self.p is None else gaussian_kde(self.k_fakes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary; infinite values (Z of p = 0 or 1) become ``None``."""
        return {"k_real": self.k_real.tolist(), "k_real_mean": self.k_real_mean, "k_fakes": self.k_fakes.tolist(),
                "n_fakes": self.n_fakes, "p": self.p, "z": _finite(self.z), "bandwidth": self.bandwidth,
                "n_above": self.n_above, "fraction": self.fraction, "fraction_error": self.fraction_error,
                "fraction_interval": list(self.fraction_interval), "cl": self.cl, "note": self.note}


def global_pvalue(real: Sequence[float], fakes: Sequence[float], *, cl: float = ONE_SIGMA) -> PValueResult:
    """The global p-value of the real runs' mean K_max against the K_max of the fake runs.

    Parameters
    ----------
    real:
        K_max of each run on the real database (at least one).
    fakes:
        K_max of each run on an SM-only fake database (at least two).
    cl:
        Confidence level of the Clopper–Pearson interval of the empirical fraction (default 1σ, 68.27 %).

    Raises
    ------
    PValueError
        No real value, fewer than two fakes, a value that is not finite, or ``cl`` outside (0, 1).
    """
    k_real = _values(real, "real")
    k_fakes = _values(fakes, "fake")
    if k_real.size < 1:
        raise PValueError("the p-value needs the K_max of at least one real run")
    if k_fakes.size < 2:
        raise PValueError(f"the p-value needs the K_max of at least two fake runs, got {k_fakes.size}")
    if not 0.0 < cl < 1.0:
        raise PValueError(f"cl must lie in (0, 1), got {cl}")
    k_obs = float(k_real.mean())
    n = k_fakes.size
    n_above = int(np.count_nonzero(k_fakes >= k_obs))
    f = n_above / n
    alpha = 1.0 - cl
    low = 0.0 if n_above == 0 else float(beta.ppf(alpha / 2, n_above, n - n_above + 1))
    high = 1.0 if n_above == n else float(beta.ppf(1 - alpha / 2, n_above + 1, n - n_above))
    p = z = bandwidth = None
    note = ""
    if np.ptp(k_fakes) > 0.0:
        try:
            kde = gaussian_kde(k_fakes)
        except np.linalg.LinAlgError:  # pragma: no cover - spread too small for a covariance in float64
            note = "the fake K_max spread is too small for a kernel density estimate; only the fraction is given"
        else:
            p = min(max(float(kde.integrate_box_1d(k_obs, np.inf)), 0.0), 1.0)
            z = float(norm.isf(p))
            bandwidth = float(np.sqrt(kde.covariance[0, 0]))
    else:
        note = f"all {n} fake K_max equal {k_fakes[0]:g}: no kernel density estimate, only the fraction is given"
    return PValueResult(k_real=k_real, k_real_mean=k_obs, k_fakes=k_fakes, p=p, z=z, bandwidth=bandwidth,
                        n_above=n_above, fraction=f, fraction_error=math.sqrt(f * (1.0 - f) / n),
                        fraction_interval=(low, high), cl=cl, note=note)


def plot_k_distribution(result: PValueResult, path: str | Path) -> Path:
    """Plot the fake K_max (density histogram), ρ(K), K̄_obs with the shaded tail, p and Z; save to ``path``.

    The format follows the suffix (``.png``, ``.pdf``, ...).  Needs the ``plot`` extra (matplotlib).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PValueError("plots need the 'plot' extra: pip install 'nextsm[plot]'") from exc

    path = Path(path)
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ks = result.k_fakes
    ax.hist(ks, bins="auto", density=True, color="0.8", edgecolor="0.5", label=f"{result.n_fakes} fake runs")
    kde = result.kde()
    if kde is not None and result.bandwidth is not None:
        pad = 3 * result.bandwidth
        grid = np.linspace(min(ks.min(), result.k_real_mean) - pad, max(ks.max(), result.k_real_mean) + pad, 400)
        rho = kde(grid)
        ax.plot(grid, rho, color="C0", label=r"KDE $\rho(K)$")
        tail = grid >= result.k_real_mean
        ax.fill_between(grid[tail], rho[tail], color="C0", alpha=0.3, label=f"p = {result.p:.3g}, Z = {result.z:.2f}")
    ax.axvline(result.k_real_mean, color="C3", label=rf"$\bar{{K}}_\mathrm{{obs}}$ = {result.k_real_mean:.3g}")
    ax.plot(result.k_real, np.zeros_like(result.k_real), "|", color="C3", markersize=12, label="real runs")
    ax.set_xlabel(r"$K_\mathrm{max}$")
    ax.set_ylabel("density")
    ax.set_title(rf"fraction $\geq \bar{{K}}_\mathrm{{obs}}$: {result.n_above}/{result.n_fakes} = "
                 f"{result.fraction:.3g} ± {result.fraction_error:.2g}" + ("" if result.p is not None else " (no KDE)"),
                 fontsize=10)
    ax.legend(frameon=False, fontsize=9)
    fig.savefig(path)
    return path


def _values(values: Sequence[float], kind: str) -> NDArray[np.float64]:
    array = np.array(values, dtype=float).ravel()
    if not np.all(np.isfinite(array)):
        raise PValueError(f"the {kind} K_max values must be finite, got {array[~np.isfinite(array)].tolist()}")
    array.flags.writeable = False
    return array


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
