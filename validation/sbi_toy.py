"""Full-scale validation of the nextsm.sbi estimators on the exact toy (docs/sbi.md).

Writes ``docs/figures/sbi_*.png`` and ``validation/results/sbi_toy.json``; ~10 min of one core.
Run: ``.venv/bin/python validation/sbi_toy.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from nextsm.sbi.benchmark import ToyValidationSettings, run_toy_validation
from nextsm.sbi.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def figures(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axis = np.array(result["axis"])
    iv = result["intervals"]
    show = [k for k in ("exact", "alices", "alices_ma", "alice", "carl", "sally_hist_adaptive",
                        "observables_hist_adaptive") if k in iv]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for p, name in enumerate(("c_odd", "c_even")):
        for k in show:
            axes[p].plot(axis, iv[k][name]["q"], label=k, lw=2.5 if k == "exact" else 1.2,
                         color="black" if k == "exact" else None)
        for thr in (0.989, 3.84):
            axes[p].axhline(thr, color="grey", ls=":")
        axes[p].set(xlabel=name, ylabel="profile q (Asimov, SM)", ylim=(0, 8))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "sbi_profiles.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    for k, color in zip(show[:4], ("black", "C0", "C1", "C2"), strict=False):
        q = np.array(iv[k]["q"])
        ax.contour(axis, axis, q.T, levels=[2.30, 5.99], colors=color, linestyles=["-", "--"])
        ax.plot([], [], color=color, label=k)
    ax.set(xlabel="c_odd", ylabel="c_even", title="68 / 95 % Asimov contours")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "sbi_contours.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = [k for k in result["rmse"] if not k.startswith("trivial") and k != "exact_log_r_std"]
    ax.bar(labels, [result["rmse"][k] for k in labels])
    ax.axhline(result["rmse"]["trivial_baseline"], color="red", ls="--", label="log r̂ = 0")
    ax.set(ylabel="per-event RMSE of log r̂ (score: of t̂)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "sbi_rmse.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = ToyValidationSettings() if args.quick else ToyValidationSettings(
        n_train_events=200_000, n_asimov_events=20_000, n_theta=500, n_per_theta=200, n_sally=100_000,
        n_test=5_000, grid=(-0.5, 0.5, 41), histogram_bins=10,
        methods=("carl", "alice", "alices", "alices_ma", "cascal", "sally"),
        config=TrainConfig(epochs=25, patience=5))
    t0 = time.perf_counter()
    result = run_toy_validation(settings, np.random.default_rng(args.seed))
    result.pop("estimators")
    result["wall_seconds"] = time.perf_counter() - t0
    out = ROOT / "docs" / "figures"
    out.mkdir(parents=True, exist_ok=True)
    figures(result, out)
    res_dir = ROOT / "validation" / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / "sbi_toy.json").write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps({k: result[k] for k in ("rmse", "calibration", "width_rel_diff", "timings")}, indent=1))


if __name__ == "__main__":
    main()
