"""Closure tests: the best model of every run against the injected spectrum.

    .venv/bin/python validation/closure_plot.py STUDY [STUDY ...] --out docs/figures/closure.png

Each STUDY is a folder written by ``nextsm study --inject MODEL.json`` (its pvalue.json holds the closure
summary).  One panel per study: for every injected particle the masses of the best models of all runs (dots;
a particle of the same merger group counts) against the injected mass (line) with the ±10 % band of the closure
criterion; the title lists the extra particles of the best models.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="+", type=Path)
    parser.add_argument("--out", default="docs/figures/closure.png")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nextsm.model.particles import name as particle_name

    fig, axes = plt.subplots(1, len(args.studies), figsize=(3.6 * len(args.studies), 3.8), squeeze=False)
    for ax, study in zip(axes[0], args.studies, strict=True):
        data = json.loads((study / "pvalue.json").read_text())
        settings = json.loads((study / "study.json").read_text())
        closure = data["closure"]
        particles = list(closure["particles"])
        for k, pid in enumerate(particles):
            m0 = closure["particles"][pid]["injected_mass"]
            ax.add_patch(plt.Rectangle((k - 0.35, 0.9 * m0), 0.7, 0.2 * m0, color="tab:green", alpha=0.2, lw=0))
            ax.plot([k - 0.35, k + 0.35], [m0, m0], color="tab:green", lw=2)
            found = [r["best"][str(r["found"][pid])] for r in closure["runs"]
                     if r["best"] and r["found"].get(pid) is not None]
            xs = [k + 0.25 * (j - (len(found) - 1) / 2) / max(len(found), 1) for j in range(len(found))]
            ax.plot(xs, found, "o", color="black", ms=5)
        extra = sorted({p for r in closure["runs"] if r["best"] for p in r["best"]
                        if p not in {str(q) for q in r["found"].values()}})
        ax.set_xticks(range(len(particles)), [particle_name(int(p)) for p in particles])
        ax.set_ylabel("mass [GeV]")
        kind = "technical" if settings["fixed_backgrounds"] else "physics"
        ax.set_title(f"{study.name}: {kind} closure, {len(closure['runs'])} runs\n"
                     f"same particles in {closure['same_content']:.0%}"
                     + (f"; extra: {', '.join(particle_name(int(p)) for p in extra)}" if extra else ""), fontsize=8)
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
