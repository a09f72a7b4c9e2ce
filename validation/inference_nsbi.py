"""LRT vs FTS-narrow vs FTS-wide on the NSBI EFT toy, with the exact likelihood and with a learned ratio.

    .venv/bin/python validation/inference_nsbi.py [--quick]

The 1-parameter slice θ = (c_odd, c_even) = (0, μ), μ ∈ [0, 5], of the exact toy (nextsm.sbi.simulators.toy) at
L = 2 fb⁻¹ (≈ 200–400 events per data set, extended unbinned likelihood).  A morphing-aware ALICES ratio is
trained on 2·10⁵ weighted events and plugged in through the LikelihoodModel protocol
(nextsm.inference.nsbi_models).  Every belt is a toy belt on exact toys (the NSBI procedure: the learned
statistic, calibrated by simulation); the same toys serve every statistic and both likelihoods.  A second,
independent toy set per grid point gives the coverage and the median interval length.  Also reported: the
coverage of the asymptotic (Wilks, χ²₁) LRT threshold, which the Neyman belt does not need.

Writes validation/results/inference_nsbi.json and docs/figures/inference_nsbi_{coverage,lengths}.png.
About 5 minutes of one core (--quick: 1 minute).

With --interference: the same on the interference toy (nextsm.sbi.simulators.interference, μ ∈ [0, 3], ≈ 370
events per data set), exact likelihood vs the mixture of learned per-process ratios (S, SBI, B against the
pooled reference, 2·10⁵ events each); writes ..._interference.json and inference_nsbi_interference_*.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import stats

from nextsm.inference import Belt, FocusedStatistic, GaussianFocus, LikelihoodRatio
from nextsm.inference.nsbi_models import eft_slice_model
from nextsm.sbi.simulators import ToyEFTSimulator

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"
LEVELS = (0.683, 0.954)
TRUTHS = (0.0, 0.5, 1.0, 2.0, 3.0)
STATISTICS = {"LRT": LikelihoodRatio(), "FTS N(0,0.5²)": FocusedStatistic(GaussianFocus(0.0, 0.5, n_nodes=201)),
              "FTS N(0,2²)": FocusedStatistic(GaussianFocus(0.0, 2.0, n_nodes=201))}


def train(toy, rng, quick):
    import torch

    from nextsm.sbi.estimators.ratio import xsec_quadratic_form
    from nextsm.sbi.sampling import ratio_training_set
    from nextsm.sbi.training import TrainConfig, train_estimator

    torch.set_num_threads(1)
    n_events, n_theta, per_theta = (40_000, 100, 200) if quick else (200_000, 500, 200)
    events = toy.simulate(n_events, rng)
    theta = np.stack([rng.uniform(-0.5, 0.5, n_theta), rng.uniform(-1.0, 5.5, n_theta)], axis=1)
    data = ratio_training_set(events, theta, per_theta, rng)
    config = TrainConfig(hidden=(64, 64), epochs=8 if quick else 25, morphing_aware=True)
    t0 = time.perf_counter()
    est = train_estimator("alices", data, config, rng,
                          xsec_form=xsec_quadratic_form(toy.morphing, toy.xsec_components()),
                          parameter_names=toy.parameter_names, observable_names=toy.observable_names)
    return est, time.perf_counter() - t0, len(data)


def compare_belts(models: dict, grid: np.ndarray, n_belt: int, n_check: int, rng: np.random.Generator,
                  truths: tuple[float, ...] = TRUTHS) -> tuple[list, dict, float]:
    """Toy belts of every (likelihood, statistic) pair on shared exact toys; coverage and median lengths.

    The toys come from the first model's simulator; ``truths`` must be grid points.
    """
    first = next(iter(models.values()))
    # T(D_i; μ_k) at the generating point for every toy, both toy sets, both models, every statistic
    t_at = {(m, s, part): np.empty((grid.size, n)) for m in models for s in STATISTICS
            for part, n in (("belt", n_belt), ("check", n_check))}
    check_data: dict[float, list] = {}
    t0 = time.perf_counter()
    for k, mu in enumerate(grid):
        for part, n in (("belt", n_belt), ("check", n_check)):
            events = first.simulate_events(float(mu), n, rng)
            for m, model in models.items():
                data = model.encode(events)
                for s, statistic in STATISTICS.items():
                    t_at[(m, s, part)][k] = statistic.evaluate_at(model, data, np.full(n, mu))
            if part == "check" and any(abs(mu - t) < 1e-9 for t in truths):
                check_data[float(mu)] = events
    sim_seconds = time.perf_counter() - t0
    rows, curves = [], {}
    for m, model in models.items():
        for cl in LEVELS:
            for s, statistic in STATISTICS.items():
                critical = np.quantile(t_at[(m, s, "belt")], cl, axis=1, method="inverted_cdf")
                belt = Belt(grid, critical, cl, statistic, "toys", np.full(grid.size, n_belt, dtype=np.int64))
                coverage = np.mean(t_at[(m, s, "check")] <= critical[:, None], axis=1)
                lengths = {}
                for mu, events in check_data.items():
                    iv = belt.intervals(model, model.encode(events))
                    lengths[mu] = float(np.median(iv.length))
                row = {"model": m, "statistic": s, "cl": cl, "median_length": lengths,
                       "coverage_at": {mu: float(coverage[np.argmin(np.abs(grid - mu))]) for mu in truths},
                       "coverage_min": float(coverage.min()), "coverage_max": float(coverage.max()),
                       "critical": critical.tolist()}
                if s == "LRT":
                    wilks = np.mean(t_at[(m, s, "check")] <= stats.chi2.ppf(cl, 1), axis=1)
                    row["wilks_coverage_min"], row["wilks_coverage_max"] = float(wilks.min()), float(wilks.max())
                    curves[(m, "Wilks", cl)] = wilks.tolist()
                rows.append(row)
                curves[(m, s, cl)] = coverage.tolist()
    return rows, curves, sim_seconds


def run(quick: bool) -> dict:
    rng = np.random.default_rng(2026)
    toy = ToyEFTSimulator()
    lumi, upper = 2.0, 5.0
    est, train_seconds, n_rows = train(toy, rng, quick)
    models = {"exact": eft_slice_model(toy, luminosity=lumi, upper=upper),
              "learned": eft_slice_model(toy, luminosity=lumi, upper=upper, estimator=est)}
    step = 0.25 if quick else 0.125
    grid = np.round(np.arange(0.0, upper + 0.5 * step, step), 10)
    n_belt, n_check = (300, 200) if quick else (800, 400)
    rows, curves, sim_seconds = compare_belts(models, grid, n_belt, n_check, rng)
    return {"settings": {"luminosity": lumi, "upper": upper, "grid_step": step, "n_belt_toys": n_belt,
                         "n_check_toys": n_check, "training_rows": n_rows, "train_seconds": train_seconds,
                         "toy_seconds": sim_seconds, "quick": quick},
            "grid": grid.tolist(), "rows": rows,
            "curves": {f"{m}|{s}|{cl}": v for (m, s, cl), v in curves.items()},
            "sigma_mc": {str(cl): float(np.sqrt(cl * (1 - cl) * (1 / n_belt + 1 / n_check))) for cl in LEVELS}}


def run_interference(quick: bool) -> dict:
    """The same comparison on the interference toy: exact likelihood vs the mixture of learned per-process ratios."""
    import torch

    from nextsm.inference.nsbi_models import interference_model
    from nextsm.sbi.estimators.pairwise import train_pairwise_ratio
    from nextsm.sbi.simulators.interference import BASIS_SAMPLES, InterferenceToy
    from nextsm.sbi.training import TrainConfig

    torch.set_num_threads(1)
    rng = np.random.default_rng(2027)
    toy = InterferenceToy()
    n_train, n_hold = (12_000, 30_000) if quick else (200_000, 300_000)

    def pooled(n: int) -> np.ndarray:
        return np.concatenate([toy.sample_process(k, n // 3, rng) for k in BASIS_SAMPLES])

    def feat(x: np.ndarray) -> np.ndarray:
        return np.stack([np.log(x[:, 0]), x[:, 1]], axis=1)

    t0 = time.perf_counter()
    ref, held_out = pooled(n_train), pooled(n_hold)
    config = TrainConfig(hidden=(64, 64), epochs=12 if quick else 25, batch_size=512, patience=5)
    nets = [train_pairwise_ratio(feat(toy.sample_process(k, n_train, rng)), feat(ref), rng, config=config)
            .calibrated(feat(held_out)) for k in BASIS_SAMPLES]
    train_seconds = time.perf_counter() - t0
    upper = 3.0
    models = {"exact": interference_model(toy, upper=upper),
              "learned": interference_model(toy, upper=upper,
                                            log_ratio=lambda x: np.stack([n.log_ratio(feat(x)) for n in nets], 1))}
    step = 0.25 if quick else 0.1
    grid = np.round(np.arange(0.0, upper + 0.5 * step, step), 10)
    n_belt, n_check = (200, 100) if quick else (600, 300)
    truths = (0.0, 0.5, 1.0, 2.0)
    rows, curves, sim_seconds = compare_belts(models, grid, n_belt, n_check, rng, truths)
    return {"settings": {"toy": "interference", "luminosity": toy.config.luminosity, "upper": upper,
                         "grid_step": step, "n_belt_toys": n_belt, "n_check_toys": n_check, "n_train": n_train,
                         "n_holdout": n_hold, "train_seconds": train_seconds, "toy_seconds": sim_seconds,
                         "quick": quick},
            "grid": grid.tolist(), "rows": rows, "truths": list(truths),
            "curves": {f"{m}|{s}|{cl}": v for (m, s, cl), v in curves.items()},
            "sigma_mc": {str(cl): float(np.sqrt(cl * (1 - cl) * (1 / n_belt + 1 / n_check))) for cl in LEVELS}}


def figures(result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.array(result["grid"])
    prefix = "interference_" if result["settings"].get("toy") == "interference" else ""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for i, cl in enumerate(LEVELS):
        for j, m in enumerate(("exact", "learned")):
            ax = axes[i, j]
            for s in (*STATISTICS, "Wilks"):
                key = f"{m}|{s}|{cl}"
                ax.plot(grid, result["curves"][key], label=s if s != "Wilks" else "LRT, χ² threshold",
                        ls=":" if s == "Wilks" else "-")
            band = 2 * result["sigma_mc"][str(cl)]
            ax.axhspan(cl - band, cl + band, color="grey", alpha=0.2)
            ax.axhline(cl, color="black", lw=0.8)
            ax.set(title=f"{m} likelihood, CL {cl:g}", ylabel="coverage")
            if i == 1:
                ax.set_xlabel("μ (signal strength)" if prefix else "μ (c_even on the slice)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / f"inference_nsbi_{prefix}coverage.png", dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, cl in enumerate(LEVELS):
        for row in result["rows"]:
            if row["cl"] != cl:
                continue
            mus = sorted(float(k) for k in row["median_length"])
            axes[i].plot(mus, [row["median_length"][m] for m in mus], marker="o",
                         ls="-" if row["model"] == "exact" else "--", label=f"{row['statistic']}, {row['model']}")
        axes[i].set(title=f"median interval length, CL {cl:g}", xlabel="μ true", ylabel="length")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(FIGURES / f"inference_nsbi_{prefix}lengths.png", dpi=110)
    plt.close(fig)


def table(result: dict) -> str:
    truths = tuple(result.get("truths", TRUTHS))
    lines = ["| likelihood | statistic | CL | " + " | ".join(f"μ={t:g}" for t in truths) + " | coverage range |",
             "|---|---|---|" + "---|" * len(truths) + "---|"]
    for row in result["rows"]:
        cells = [f"{row['median_length'][t]:.2f} ({row['coverage_at'][t]:.3f})" for t in truths]
        lines.append(f"| {row['model']} | {row['statistic']} | {100 * row['cl']:.1f} % | " + " | ".join(cells)
                     + f" | {row['coverage_min']:.3f}–{row['coverage_max']:.3f} |")
    for row in result["rows"]:
        if "wilks_coverage_min" in row:
            lines.append(f"Wilks threshold, {row['model']}, CL {row['cl']}: coverage "
                         f"{row['wilks_coverage_min']:.3f}–{row['wilks_coverage_max']:.3f}")
    return "\n".join(lines)


def script_main(doc: str, run, figures, table, name: str, alternative=None) -> None:
    """Parse ``--quick`` (and ``--interference``: ``alternative``), run, write
    ``validation/results/<name>[_interference][_quick].json``, the figures and the table."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    if alternative is not None:
        parser.add_argument("--interference", action="store_true", help="the interference toy instead")
    args = parser.parse_args()
    if getattr(args, "interference", False):
        run, name = alternative, f"{name}_interference"
    t0 = time.perf_counter()
    result = run(args.quick)
    result["settings"]["seconds"] = time.perf_counter() - t0
    out = ROOT / "validation" / "results"
    out.mkdir(exist_ok=True)
    (out / (f"{name}_quick.json" if args.quick else f"{name}.json")).write_text(json.dumps(result, indent=1))
    if not args.quick:
        figures(result)
    print(table(result))
    print(json.dumps(result["settings"], indent=1))


if __name__ == "__main__":
    script_main(__doc__, run, figures, table, "inference_nsbi", run_interference)
