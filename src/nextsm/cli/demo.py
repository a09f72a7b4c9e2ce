"""``nextsm demo``: the database summary and one likelihood of every kind, on real results."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import click
import numpy as np

from nextsm.cli.common import database_option, load_with_progress, no_cache_option


@dataclass(frozen=True)
class Example:
    """One demo case: a database result and a signal for it."""

    analysis: str
    what: str
    txname: str | None = None
    masses: tuple[tuple[float, float], ...] | None = None
    xsec_fb: float | None = None
    #: EM results: signal = this many background standard deviations √(b + δ_b²) in every SR
    sigmas_per_sr: float = 0.3
    method: str = "auto"


#: σ(pp → t̃t̃*) = 6.83 fb at 1 TeV and σ(pp → g̃g̃) = 14.2 fb at 1.5 TeV (13 TeV, NNLO+NNLL, LHC SUSY xsec WG)
EXAMPLES: tuple[Example, ...] = (
    Example("CMS-SUS-19-006", "UL map, observed + expected UL: truncated Gaussian", "T2tt",
            ((1000.0, 100.0), (1000.0, 100.0)), 6.83),
    Example("CMS-SUS-16-037", "UL map, observed UL only: r-value", "T1tttt",
            ((1500.0, 100.0), (1500.0, 100.0)), 14.2),
    Example("CMS-EXO-19-001-eff", "efficiency map, one signal region"),
    Example("ATLAS-SUSY-2016-07-eff", "efficiency maps, best expected SR (no combination recipe)"),
    Example("CMS-SUS-16-050-agg", "efficiency maps + covariance: simplified likelihood v1"),
    Example("CMS-SUS-20-004-eff", "efficiency maps + covariance + third moments: SL v2"),
    Example("ATLAS-SUSY-2018-32-eff", "efficiency maps + pyhf workspace: full HistFactory", sigmas_per_sr=0.1),
    Example("ATLAS-SUSY-2019-08-eff", "pyhf workspace absent from this copy: fallback"),
)


def run_example(db: Any, source: Any, example: Example) -> dict[str, Any]:
    """Evaluate one example; returns a row for the table."""
    from nextsm.likelihoods.factory import efficiency_map_likelihood, upper_limit_likelihood
    from nextsm.likelihoods.summary import summarize

    start = time.perf_counter()
    ana = db.analysis(example.analysis)
    if example.txname is not None:
        assert example.masses is not None
        assert example.xsec_fb is not None
        result = upper_limit_likelihood(ana, example.txname, [list(map(list, example.masses))])
        signal = np.array([[example.xsec_fb]])
        signal_text = f"{example.txname} {example.masses[0][0]:g}/{example.masses[0][1]:g} GeV, σ={example.xsec_fb:g} fb"
    else:
        result = efficiency_map_likelihood(ana, method=example.method, source=source)  # type: ignore[arg-type]
        by_id = {str(ds.data_id): ds for ds in ana.datasets}
        spread = np.array([np.sqrt(by_id[r].expected_bg + by_id[r].bg_error ** 2) for r in result.regions])
        signal = example.sigmas_per_sr * spread[None, :]
        signal_text = f"{example.sigmas_per_sr:g}·√(b+δb²) events in each of {len(result.regions)} SR{'s' if len(result.regions) > 1 else ''}"
    row = summarize(result.model, signal).rows()[0]
    return {"analysis": ana.id, "what": example.what, "kind": result.kind, "signal": signal_text,
            "note": result.note, "seconds": time.perf_counter() - start, **row}


@click.command()
@database_option
@no_cache_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def demo(database_path: str | None, no_cache: bool, as_json: bool) -> None:
    """Load the SModelS database, summarise it, and evaluate one likelihood of every kind."""
    from rich.console import Console
    from rich.table import Column, Table

    from nextsm.cli.database import summary
    from nextsm.database.source import DatabaseSource

    console = Console(stderr=as_json)
    db, load = load_with_progress(database_path, no_cache=no_cache)
    info = summary(db)
    rows = []
    with DatabaseSource(db.path) as source, console.status("evaluating likelihoods") as status:
        for example in EXAMPLES:
            status.update(f"evaluating {example.analysis}")
            rows.append(run_example(db, source, example))
    if as_json:
        click.echo(json.dumps({"database": info, "load_seconds": load.seconds, "examples": rows}, indent=2))
        return
    console.print(f"[bold]SModelS database {info['version']}[/]: {info['analysis_folders']} analysis folders, "
                  f"{info['datasets']} datasets, {info['txnames']} txnames, {info['grid_points']} grid points; "
                  f"loaded in {load.seconds:.2f} s ({'compiled cache' if load.from_cache else 'cold build'})")
    console.print("by type: " + ", ".join(f"{k} {v}" for k, v in info["by_type"].items())
                  + "; by √s: " + ", ".join(f"{k} {v}" for k, v in info["by_sqrts"].items())
                  + "; by experiment: " + ", ".join(f"{k} {v}" for k, v in info["by_experiment"].items()))
    table = Table(Column("result / likelihood", no_wrap=True, min_width=22), "μ̂", "q(1)", "μ_UL obs", "μ_UL exp", "r obs", "r exp", "s",
                  title="one likelihood of every kind", caption="q(1) = −2 ln L(μ=1)/L(0); μ̂ ≥ 0; "
                  "95 % CL CLs limits (asymptotic); r = 1/μ_UL")

    def fmt(v: float) -> str:
        return "-" if np.isnan(v) else f"{v:.3g}"

    for r in rows:
        table.add_row(f"{r['analysis']}\n[dim]{r['kind']}[/]", fmt(r["muhat"]), fmt(r["twice_delta_nll_vs_sm"]),
                      fmt(r["ul_observed"]), fmt(r["ul_expected"]), fmt(r["r_observed"]), fmt(r["r_expected"]),
                      f"{r['seconds']:.2f}")
    console.print(table)
    console.print("signals:")
    for r in rows:
        console.print(f"  {r['analysis']}: {r['signal']}")
    for r in rows:
        if r["note"] and r["kind"] != "histfactory":
            console.print(f"[yellow]{r['analysis']}[/]: {r['note']}")
