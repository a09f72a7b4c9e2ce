"""``nextsm predict``: the theory predictions of a protomodel for every result of the database."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nextsm.cli.common import database_option, fmt_number, load_with_progress, workspace_source


def _parse_sqrts(ctx: click.Context, param: click.Parameter, text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a comma-separated list of numbers (TeV)") from None
    if not values or any(v not in (8.0, 13.0) for v in values):
        raise click.BadParameter(f"'{text}': the database has results at 8 and 13 TeV only")
    return values


_fmt = fmt_number


@click.command()
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@database_option
@click.option("--sqrts", default="8,13", show_default=True, callback=_parse_sqrts,
              help="Centre-of-mass energies (TeV) to use.")
@click.option("--combine", is_flag=True, help="Add combined predictions of analyses with a covariance or pyhf workspaces.")
@click.option("--all-regions", is_flag=True,
              help="List every signal region (default: per EM analysis only its best expected SR, as SModelS).")
@click.option("--likelihood", type=click.Choice(["auto", "histfactory", "surrogate"]), default="auto", show_default=True,
              help="Combined pyhf likelihoods (implies --combine): 'histfactory' = pyhf fits, 'surrogate' = the "
                   "workspaces' neural surrogates where available (pyhf outside their domain and where missing).")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of predictions on standard output.")
@click.option("--top", type=click.IntRange(min=1), default=30, show_default=True, help="Table: show the N results with largest r_obs.")
@click.option("--xsec-folder", type=click.Path(exists=True, file_okay=False), default=None,
              help="Reference cross-section tables (default: $NEXTSM_XSEC, then ../shared/data/xsec).")
def predict(model_file: Path, database_path: str | None, sqrts: tuple[float, ...], combine: bool, all_regions: bool,
            likelihood: str, as_json: bool, top: int, xsec_folder: str | None) -> None:
    """Predictions of the protomodel MODEL_FILE (JSON) for the results of the database.

    For every UL map: the predicted σ×BR, r_obs and r_exp; for every efficiency-map signal region the
    signal yield σ×BR×ε×L and r; with --combine, the analysis' full likelihood where it provides one.
    Decomposition settings are the proto-model machine's: σ cut 0.02 fb, minimal mass gap 10 GeV.
    """
    from nextsm.model.protomodel import ProtoModel
    from nextsm.model.xsec import ReferenceCrossSections
    from nextsm.theory.predictions import Predictor, best_results

    energies = sqrts
    model = ProtoModel.from_json(model_file)
    db, _ = load_with_progress(database_path)
    combine = combine or likelihood != "auto"
    with workspace_source(db, combine) as source:
        predictor = Predictor(db, ReferenceCrossSections.load(xsec_folder), source=source,
                              surrogates=likelihood == "surrogate")
        predictions = predictor.predict(model, sqrts=energies, combine=combine,
                                        likelihoods="all" if all_regions else "best")
    if not all_regions:
        predictions = best_results(predictions)
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in predictions], indent=1))
        return
    _table(predictions, top, model_file.name)


def _table(predictions: list, top: int, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    ranked = sorted(predictions, key=lambda p: -(p.r_obs if p.r_obs is not None else -1.0))
    table = Table(title=f"{title}: {len(predictions)} results, largest r_obs first", show_lines=False)
    for name, justify in (("analysis", "left"), ("dataset", "left"), ("type", "left"), ("txnames", "left"),
                          ("√s", "right"), ("signal", "right"), ("r_obs", "right"), ("r_exp", "right"),
                          ("μ̂", "right"), ("cond", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for p in ranked[:top]:
        signal = f"{_fmt(p.xsection_fb)} fb" if p.type == "UL" else f"{_fmt(sum(p.yields))} ev"
        r = p.r_obs
        style = "bold red" if r is not None and r > 1 else None
        table.add_row(p.folder, p.dataset or "", p.type, ",".join(p.txnames)[:30], f"{p.sqrts:g}", signal,
                      _fmt(p.r_obs), _fmt(p.r_exp), _fmt(p.mu_hat), _fmt(p.max_condition, 2), style=style)
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    console.print(table)
    excluding = [p for p in predictions if p.r_obs is not None and p.r_obs > 1]
    console.print(f"{len(excluding)} result(s) with r_obs > 1" + (f"; largest: {ranked[0].folder} "
                  f"r_obs = {_fmt(ranked[0].r_obs)}" if ranked else ""))


__all__ = ["predict"]
