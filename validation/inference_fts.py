"""Regenerate the documented FTS vs LRT comparison (docs/inference.md): tables, JSON and figures.

    .venv/bin/python validation/inference_fts.py [--quick]

1. exact belts (LRT = Feldman–Cousins, FTS-narrow N(0, 0.5²), FTS-wide N(0, 2²)) at 68.3 / 95.4 % CL for the
   bounded Gaussian mean, Poisson counting with b = 3, and one database efficiency-map signal region;
   exact coverage vs μ and median interval length at μ ∈ {0, 0.5, 1, 2, 3};
2. amortised (quantile-regression) belts of the Gaussian FTS-narrow at 95.4 %: exact coverage of the
   regressed belt for two budgets, the coverage diagnostic, and local toy refinement at the ends of an
   observed interval.

Writes validation/inference_fts_results.json and docs/figures/inference_*.png.  About two minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nextsm.inference import (
    BoundedGaussianMean,
    DatabaseResultModel,
    FocusedStatistic,
    GaussianFocus,
    LikelihoodRatio,
    PoissonCounting,
    amortised_belt,
    coverage_diagnostic,
    exact_belt,
    exact_performance,
    refine_endpoints,
)

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"
TRUTHS = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
LEVELS = (0.683, 0.954)
STATISTICS = {"LRT": LikelihoodRatio(), "FTS N(0,0.5²)": FocusedStatistic(GaussianFocus(0.0, 0.5)),
              "FTS N(0,2²)": FocusedStatistic(GaussianFocus(0.0, 2.0))}


def database_model():
    from nextsm.database import load_database
    from nextsm.likelihoods.factory import efficiency_map_likelihood

    analysis, region, signal = "ATLAS-SUSY-2016-07-eff", "4j_Meff_3000", 3.0
    result = efficiency_map_likelihood(load_database().analysis(analysis), regions=[region])
    return DatabaseResultModel(result.model, [signal], label=f"{analysis}:{region} (s = {signal:g} at μ = 1)")


def compare(name, model, grid, coverage_mu, observed):
    rows = []
    curves = {}
    for cl in LEVELS:
        for label, statistic in STATISTICS.items():
            t0 = time.perf_counter()
            belt = exact_belt(model, statistic, grid, cl)
            perf = exact_performance(belt, model, TRUTHS)
            curve = exact_performance(belt, model, coverage_mu)
            obs = belt.intervals(model, np.array([observed]))
            rows.append({"statistic": label, "cl": cl, "median_length": perf.median_length.tolist(),
                         "coverage_at_truths": perf.coverage.tolist(),
                         "coverage_min": float(curve.coverage.min()), "coverage_max": float(curve.coverage.max()),
                         "observed_interval": [float(obs.lower[0]), float(obs.upper[0])],
                         "seconds": round(time.perf_counter() - t0, 2)})
            curves[(label, cl)] = curve
            print(f"{name:10s} {label:14s} CL {cl:.3f}: median length "
                  + " ".join(f"{v:5.2f}" for v in perf.median_length)
                  + f" | coverage ∈ [{curve.coverage.min():.3f}, {curve.coverage.max():.3f}]"
                  + f" | observed {observed:g}: [{obs.lower[0]:.2f}, {obs.upper[0]:.2f}]")
    return rows, curves


def amortised_study(quick):
    model = BoundedGaussianMean()
    statistic = STATISTICS["FTS N(0,0.5²)"]
    grid = np.arange(0.0, 8.0 + 1e-9, 0.05)
    truth = np.arange(0.05, 6.0, 0.05)
    exact = exact_belt(model, statistic, grid, 0.954)
    out = {"exact_reference": exact_performance(exact, model, truth).coverage.tolist()}
    budgets = (5000, 20000) if quick else (20000, 50000)
    belts = {}
    for n_sim in budgets:
        rng = np.random.default_rng(n_sim)
        belt = amortised_belt(model, statistic, grid, 0.954, n_sim=n_sim, rng=rng)
        cov = exact_performance(belt, model, truth).coverage
        diag = coverage_diagnostic(belt, model, n_sim=n_sim, rng=rng)
        belts[n_sim] = (belt, diag, cov)
        out[str(n_sim)] = {"coverage_min": float(cov.min()), "coverage_median": float(np.median(cov)),
                           "coverage_max": float(cov.max()), "flagged_points": int(diag.flagged.sum()),
                           "flagged_mu": diag.mu[diag.flagged].tolist(), "exact_coverage": cov.tolist()}
        print(f"amortised n_sim={n_sim}: exact coverage of the regressed belt ∈ [{cov.min():.3f}, {cov.max():.3f}], "
              f"median {np.median(cov):.3f}; diagnostic flags {diag.flagged.sum()} of {grid.size} points")
    # local refinement at the ends of an observed interval, for the smaller budget
    n_sim = budgets[0]
    belt, diag, _ = belts[n_sim]
    rng = np.random.default_rng(99)
    for x in (0.5, 2.5):
        before = belt.intervals(model, np.array([x]))
        refined, after = refine_endpoints(belt, model, np.array([x]), n_toys=20000, rng=rng, window=0.2)
        target = exact.intervals(model, np.array([x]))
        out[f"refine_x{x:g}"] = {"before": [float(before.lower[0]), float(before.upper[0])],
                                 "after": [float(after.lower[0]), float(after.upper[0])],
                                 "exact": [float(target.lower[0]), float(target.upper[0])],
                                 "refined_points": int(np.count_nonzero(refined.n_toys))}
        print(f"refinement x = {x}: amortised [{before.lower[0]:.3f}, {before.upper[0]:.3f}] → refined "
              f"[{after.lower[0]:.3f}, {after.upper[0]:.3f}] ({np.count_nonzero(refined.n_toys)} points), "
              f"exact [{target.lower[0]:.3f}, {target.upper[0]:.3f}]")
    return out, belts, truth, exact


def figures(curves_by_model, lengths_gaussian, amortised):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nextsm.inference.plots import plot_belt, plot_coverage

    FIGURES.mkdir(parents=True, exist_ok=True)
    # exact coverage vs μ
    fig, axes = plt.subplots(len(curves_by_model), 2, figsize=(11, 3.2 * len(curves_by_model)), squeeze=False)
    for row, (name, curves) in enumerate(curves_by_model.items()):
        for col, cl in enumerate(LEVELS):
            ax = axes[row, col]
            for label in STATISTICS:
                curve = curves[(label, cl)]
                ax.plot(curve.mu, curve.coverage, lw=1, label=label)
            ax.axhline(cl, color="gray", ls="--", lw=1)
            ax.set_title(f"{name}, CL {cl:g}", fontsize=9)
            ax.set_xlabel("true μ")
            ax.set_ylabel("exact coverage")
            if row == 0 and col == 0:
                ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "inference_coverage_exact.png", dpi=110)
    # median length vs μ (Gaussian)
    model = BoundedGaussianMean()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    mu = np.linspace(0, 6, 61)
    for col, cl in enumerate(LEVELS):
        for label, _statistic in STATISTICS.items():
            belt = lengths_gaussian[(label, cl)]
            axes[col].plot(mu, exact_performance(belt, model, mu).median_length, label=label)
        axes[col].set_title(f"bounded Gaussian mean, CL {cl:g}", fontsize=9)
        axes[col].set_xlabel("true μ")
        axes[col].set_ylabel("median interval length")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "inference_lengths_gaussian.png", dpi=110)
    # belts: LRT vs FTS-narrow (Gaussian, 68.3 %)
    for label, tag in (("LRT", "lrt"), ("FTS N(0,0.5²)", "fts_narrow")):
        fig = plot_belt(lengths_gaussian[(label, 0.683)], model, np.array([0.5]),
                        title=f"bounded Gaussian mean, {label}, CL 0.683, x = 0.5")
        fig.savefig(FIGURES / f"inference_belt_gaussian_{tag}.png", dpi=110)
    # amortised coverage
    belts, truth, _exact = amortised
    n_sim = max(belts)
    belt, diag, _cov = belts[n_sim]
    fig = plot_coverage(diag, exact_performance(belt, model, truth), cl=0.954,
                        title=f"amortised FTS N(0,0.5²) belt, {n_sim} simulations, CL 0.954")
    fig.savefig(FIGURES / "inference_coverage_amortised.png", dpi=110)
    plt.close("all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller budgets (a smoke run)")
    args = parser.parse_args()
    results = {}
    curves_by_model = {}
    gauss = BoundedGaussianMean()
    rows, curves = compare("gaussian", gauss, np.arange(0.0, 12.0 + 1e-9, 0.01), np.arange(0.005, 6.0, 0.01), 0.5)
    results["gaussian"], curves_by_model["bounded Gaussian mean"] = rows, curves
    poisson = PoissonCounting(3.0)
    rows, curves = compare("poisson", poisson, np.arange(0.0, 16.0 + 1e-9, 0.005), np.arange(0.0025, 6.0, 0.005),
                           3.0)
    results["poisson_b3"], curves_by_model["Poisson, b = 3"] = rows, curves
    em = database_model()
    rows, curves = compare("database", em, np.arange(0.0, 8.0 + 1e-9, 0.005), np.arange(0.0025, 3.0, 0.005),
                           float(em.observed[0]))
    results["database"] = {"model": em.label, "observed": float(em.observed[0]), "rows": rows}
    curves_by_model[em.label] = curves
    amortised, belts, truth, exact = amortised_study(args.quick)
    results["amortised_gaussian_fts_narrow_954"] = amortised
    lengths_gaussian = {(label, cl): exact_belt(gauss, statistic, np.arange(0.0, 12.0 + 1e-9, 0.01), cl)
                        for cl in LEVELS for label, statistic in STATISTICS.items()}
    figures(curves_by_model, lengths_gaussian, (belts, truth, exact))
    target = Path(__file__).with_name("inference_fts_results.json")
    target.write_text(json.dumps(results, indent=1))
    print(f"wrote {target} and {FIGURES}/inference_*.png")


if __name__ == "__main__":
    main()
