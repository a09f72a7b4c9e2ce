"""``nextsm limit``: likelihood, μ̂ and upper limits of one database result for a given signal."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from nextsm.cli.common import database_option, load_with_progress
from nextsm.errors import LikelihoodError


def parse_signal(text: str, regions: tuple[str, ...]) -> list[float]:
    """Signal yields from ``"1.2,0.3,..."`` (one per region, in order) or ``"SR1=1.2,SR7=0.3"`` (others 0)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    try:
        if all("=" in t for t in items):
            values = dict.fromkeys(regions, 0.0)
            for item in items:
                key, value = item.split("=", 1)
                if key.strip() not in values:
                    raise LikelihoodError(f"parameter '--signal' names unknown region '{key.strip()}'; "
                                          f"regions are: {', '.join(regions)}")
                values[key.strip()] = float(value)
            return list(values.values())
        numbers = [float(t) for t in items]
    except ValueError as exc:
        raise LikelihoodError(f"parameter '--signal' is not a list of numbers: {exc}") from None
    if len(numbers) != len(regions):
        raise LikelihoodError(f"parameter '--signal' has {len(numbers)} values but the likelihood takes "
                              f"{len(regions)} regions: {', '.join(regions)} (or give REGION=yield pairs)")
    return numbers


def _fmt(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


@click.command()
@click.argument("analysis")
@click.option("--signal", help="EM results: signal yields (events at μ = 1), '1.2,0.3,...' or 'SR1=1.2,SR2=0.3'.")
@click.option("--region", "regions", multiple=True, help="Use only these signal regions (repeatable).")
@click.option("--method", type=click.Choice(["auto", "histfactory", "sl", "best-sr"]), default="auto",
              show_default=True, help="EM likelihood: full pyhf, simplified likelihood, or best expected SR.")
@click.option("--workspace", help="pyhf workspace file, for analyses with several.")
@click.option("--txname", help="UL results: the topology (e.g. T2tt).")
@click.option("--masses", help="UL results: mass point, e.g. '[[500,100],[500,100]]' (GeV).")
@click.option("--xsec", type=float, help="UL results: predicted σ×BR in fb.")
@click.option("--mu", type=float, default=1.0, show_default=True, help="Signal strength to test.")
@database_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def limit(analysis: str, signal: str | None, regions: tuple[str, ...], method: str, workspace: str | None,
          txname: str | None, masses: str | None, xsec: float | None, mu: float, database_path: str | None,
          as_json: bool) -> None:
    """Likelihood ratios, μ̂, CLs upper limits and r for one result of ANALYSIS.

    \b
    Efficiency-map result:  nextsm limit CMS-SUS-16-050-agg --signal 3,1,0.5,...
    Single signal region:   nextsm limit ATLAS-SUSY-2016-07 --region 2j_Meff_1200 --signal 5
    Upper-limit result:     nextsm limit CMS-SUS-16-050 --txname T2tt --masses '[[800,100],[800,100]]' --xsec 5
    """
    from nextsm.database.source import DatabaseSource
    from nextsm.likelihoods.factory import efficiency_map_likelihood, upper_limit_likelihood
    from nextsm.likelihoods.summary import summarize

    db, _ = load_with_progress(database_path)
    try:
        ana = db.analysis(analysis)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="ANALYSIS") from None
    if txname is not None:
        if masses is None or xsec is None:
            raise click.UsageError("UL results need --txname, --masses and --xsec")
        try:
            point: Any = json.loads(masses)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--masses") from None
        result = upper_limit_likelihood(ana, txname, [point] if _is_nested(point) else point)
        signal_row = [xsec]
    else:
        if signal is None:
            raise click.UsageError("give --signal (efficiency-map results) or --txname/--masses/--xsec (UL results)")
        source = DatabaseSource(db.path) if ana.info.json_files else None
        try:
            result = efficiency_map_likelihood(ana, regions=regions or None, method=method,  # type: ignore[arg-type]
                                               workspace=workspace, source=source)
        finally:
            if source is not None:
                source.close()
        signal_row = parse_signal(signal, result.regions)
    row = summarize(result.model, [signal_row], mu=mu).rows()[0]
    out = {"analysis": ana.id, "kind": result.kind, "regions": list(result.regions), "note": result.note,
           "description": result.model.description, **row}
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{ana.id}[/] — {result.kind}: {result.model.description}")
    if result.note:
        console.print(f"[yellow]note:[/] {result.note}")
    table = Table("quantity", "value")
    table.add_row("μ̂ (μ ≥ 0)", _fmt(row["muhat"]))
    table.add_row(f"−2 ln L(μ={mu:g})/L(μ̂)", _fmt(row["twice_delta_nll_vs_max"]))
    table.add_row(f"−2 ln L(μ={mu:g})/L(0)", _fmt(row["twice_delta_nll_vs_sm"]))
    table.add_row("−ln L_SM = −ln L(0)", _fmt(row["nll_sm"]))
    table.add_row("μ_UL observed (95 % CL)", _fmt(row["ul_observed"]))
    table.add_row("μ_UL expected (95 % CL)", _fmt(row["ul_expected"]))
    table.add_row("r observed = 1/μ_UL", _fmt(row["r_observed"]))
    table.add_row("r expected", _fmt(row["r_expected"]))
    console.print(table)


def _is_nested(point: Any) -> bool:
    return isinstance(point, list) and bool(point) and isinstance(point[0], list)
