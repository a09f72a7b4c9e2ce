"""The status table of the shipped surrogates for docs/surrogates.md, from their model cards and limit benchmarks.

    python benchmarks/surrogate_table.py [--results benchmarks/results]

Accuracy columns are the cards' held-out figures (q ≤ 30; worst variant of the four); limit columns come from
``RESULTS/surrogate_<ANALYSIS>__<STEM>.json`` written by ``bench_surrogate.py --json`` (blank if not run).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nextsm.surrogates
from nextsm.surrogates import load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    data = Path(nextsm.surrogates.__file__).parent / "data"
    print("| workspace | SRs | network | labels | median \\|Δq\\| | 99 % \\|Δq\\| | shapes | max \\|ΔUL\\|/UL obs / exp "
          "| speed-up |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    total = 0
    for path in sorted(data.glob("*.json")):
        net = load(path)
        total += path.stat().st_size + path.with_suffix(".npz").stat().st_size
        card = net.card
        acc = card.get("accuracy", {}).get("variants", {})
        med = max(v["median_abs_error"] for v in acc.values()) if acc else float("nan")
        p99 = max(v["p99_abs_error"] for v in acc.values()) if acc else float("nan")
        widths = "×".join(str(w) for w in net.widths[1:-1]) + (f" (×{net.n_members})" if net.n_members > 1 else "")
        base = "+P" if net.has_baseline else ""
        n = card.get("training_set", {}).get("n", "")
        bench_path = Path(args.results) / f"surrogate_{path.stem}.json"
        shapes = ul = speed = ""
        if bench_path.exists():
            bench = json.loads(bench_path.read_text())
            shapes = str(int(bench["shapes"]))
            ul = f"{100 * bench['ul_obs_rel_max']:.2g} % / {100 * bench['ul_exp_rel_max']:.2g} %"
            speed = f"{bench['speedup']:.2g}×"
        name = f"{card.get('analysis', '')} `{card.get('workspace', '')}`"
        print(f"| {name} | {net.n_regions} | {widths}{base} | {n} | {med:.3f} | {p99:.3f} | {shapes} | {ul} | {speed} |")
    print(f"\n{len(list(data.glob('*.json')))} surrogates, {total / 1e6:.2f} MB in all (+P: Poisson baseline; (×K): an ensemble of K).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
