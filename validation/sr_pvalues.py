"""Per-SR background-only p-values: SM fakes against the real database (the 2021 paper's Fig. 7 check).

    .venv/bin/python validation/sr_pvalues.py [--fakes 100] [--out docs/figures/sr_pvalues.png]

Draws SM-only fakes with :class:`nextsm.fake.FakeGenerator`, pools their per-SR p-values p = P(N ≥ n)
(randomised for the discrete counts, so exactly uniform under the model) and tests them for uniformity (KS);
computes the same p-values for the real observed counts and plots both.  Prints the numbers recorded in
docs/validation.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import kstest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fakes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fudge", type=float, default=1.0)
    parser.add_argument("--out", default="docs/figures/sr_pvalues.png")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nextsm.database import load_database
    from nextsm.fake import FakeGenerator, FakeSettings

    db = load_database()
    generator = FakeGenerator(db, FakeSettings(fudge=args.fudge))
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    per_fake = []
    for _ in range(args.fakes):
        overlay = generator.sample(rng)
        per_fake.append(np.array([overlay.pvalues[f][r] for f, r in zip(generator.folders, generator.regions,
                                                                          strict=True)]))
    seconds = (time.perf_counter() - t0) / args.fakes
    fakes = np.array(per_fake)
    real = generator.pvalues(generator.observed, np.random.default_rng(args.seed))
    pooled = kstest(fakes.ravel(), "uniform")
    ks_each = np.array([kstest(p, "uniform").pvalue for p in fakes])
    ks_real = kstest(real, "uniform")
    bins = np.linspace(0.0, 1.0, 21)
    counts = np.array([np.histogram(p, bins)[0] for p in fakes])
    real_counts = np.histogram(real, bins)[0]
    n_sr = fakes.shape[1]
    print(f"{n_sr} signal regions, {args.fakes} SM fakes (fudge {args.fudge}), {seconds:.3f} s per fake")
    print(f"fakes, pooled: KS D = {pooled.statistic:.4f}, p = {pooled.pvalue:.3f}; per fake: median KS p = "
          f"{np.median(ks_each):.3f}, fraction with KS p < 0.05 = {np.mean(ks_each < 0.05):.3f}")
    print(f"real data: KS D = {ks_real.statistic:.4f}, p = {ks_real.pvalue:.2e}; mean p = {real.mean():.3f} "
          f"(uniform: 0.5); fraction p < 0.05: {np.mean(real < 0.05):.3f}, p > 0.95: {np.mean(real > 0.95):.3f}")
    print("real counts per bin of 0.05:", real_counts.tolist())

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    centres = 0.5 * (bins[1:] + bins[:-1])
    lo, mid, hi = np.percentile(counts, [16, 50, 84], axis=0)
    ax.fill_between(bins, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post", alpha=0.3,
                    color="tab:blue", label=f"SM fakes (68 % band of {args.fakes})")
    ax.step(bins, np.append(mid, mid[-1]), where="post", color="tab:blue")
    ax.errorbar(centres, real_counts, yerr=np.sqrt(real_counts), fmt="o", color="black",
                label=f"real database 3.0.0 (KS p = {ks_real.pvalue:.1e})")
    ax.axhline(n_sr / (len(bins) - 1), color="grey", ls=":", label="uniform")
    ax.set_xlabel("background-only p-value of the signal region, P(N ≥ n_obs)")
    ax.set_ylabel("signal regions per bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize=9)
    ax.set_title(f"{n_sr} EM signal regions of the SModelS database", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
