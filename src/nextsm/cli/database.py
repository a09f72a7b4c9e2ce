"""``nextsm database info|show``: what is in the SModelS database."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import click

from nextsm.cli.common import database_option, load_with_progress, no_cache_option
from nextsm.database import Analysis, Database


def unsupported_constraints(db: Database) -> list[dict[str, str]]:
    """Every constraint or condition that nextsm cannot represent, with the reason."""
    from nextsm.database.constraints import try_parse_constraint

    out = []
    for analysis in db:
        for tx in analysis.txnames():
            result = try_parse_constraint(tx.constraint, path=tx.path)
            if isinstance(result, Exception):
                out.append({"txname": tx.path, "field": "constraint", "text": tx.constraint, "reason": str(result)})
    return out


def summary(db: Database) -> dict[str, Any]:
    """Counts by result type, √s and experiment, plus likelihood information."""
    by_type = Counter(a.data_type for a in db)
    by_sqrts = Counter(f"{a.info.sqrts_tev:g} TeV" for a in db)
    by_exp = Counter(a.info.experiment for a in db)
    by_all = Counter(f"{a.info.sqrts_tev:g} TeV {a.info.experiment} {a.data_type}" for a in db)
    grids = Counter(k for a in db for tx in a.txnames() for k in tx.grids)
    return {
        "path": db.path,
        "version": db.version,
        "content_hash": db.content_hash,
        "analysis_folders": len(db),
        "analysis_ids": len({a.id for a in db}),
        "datasets": sum(len(a.datasets) for a in db),
        "txnames": sum(1 for a in db for _ in a.txnames()),
        "grids": dict(grids),
        "grid_points": sum(g.points.shape[0] for a in db for tx in a.txnames() for g in tx.grids.values()),
        "by_type": dict(by_type),
        "by_sqrts": dict(by_sqrts),
        "by_experiment": dict(by_exp),
        "by_sqrts_experiment_type": dict(sorted(by_all.items())),
        "superseded": sum(a.is_superseded for a in db),
        "with_covariance": sorted(a.name for a in db if a.has_covariance),
        "with_third_moments": sorted(a.name for a in db if any(d.third_moment is not None for d in a.datasets)),
        "with_pyhf_workspaces": sorted(a.name for a in db if a.has_workspaces),
        "missing_workspaces": {a.name: a.missing_workspaces() for a in db if a.missing_workspaces()},
        "skipped": list(db.skipped),
    }


@click.group()
def database() -> None:
    """Inspect the SModelS database."""


@database.command()
@database_option
@no_cache_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(database_path: str | None, no_cache: bool, as_json: bool) -> None:
    """Counts by type, √s and experiment; likelihood information; unsupported constraints; load time."""
    db, load = load_with_progress(database_path, no_cache=no_cache)
    data = summary(db)
    data["load_seconds"] = round(load.seconds, 3)
    data["loaded_from_cache"] = load.from_cache
    data["unsupported_constraints"] = unsupported_constraints(db)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]SModelS database {data['version']}[/] at {data['path']}")
    console.print(f"loaded in {data['load_seconds']:.2f} s ({'compiled cache' if load.from_cache else 'cold build'})")
    console.print(f"{data['analysis_folders']} analysis folders ({data['analysis_ids']} analysis ids), "
                  f"{data['datasets']} datasets, {data['txnames']} txnames, {data['grid_points']} grid points; "
                  f"{data['superseded']} superseded")
    table = Table("√s", "experiment", "type", "folders")
    for key, n in data["by_sqrts_experiment_type"].items():
        sqrts, unit, exp, typ = key.split()
        table.add_row(f"{sqrts} {unit}", exp, typ, str(n))
    console.print(table)
    console.print(f"covariance matrices (SL v1/v2): {len(data['with_covariance'])}; "
                  f"with third moments: {', '.join(data['with_third_moments']) or '-'}")
    console.print(f"pyhf workspaces: {', '.join(data['with_pyhf_workspaces'])}")
    for name, files in data["missing_workspaces"].items():
        console.print(f"  [yellow]missing in this copy[/]: {name}: {', '.join(files)} "
                      "(the simplified workspace or the SL/best-SR description is used instead)")
    unsupported = data["unsupported_constraints"]
    console.print(f"unsupported constraints: {len(unsupported)}")
    for item in unsupported:
        console.print(f"  {item['txname']}: {item['text']} — {item['reason']}")


def describe(analysis: Analysis) -> dict[str, Any]:
    info = analysis.info
    return {
        "folder": analysis.folder,
        "id": info.id,
        "sqrts_tev": info.sqrts_tev,
        "lumi_ifb": info.lumi_ifb,
        "experiment": info.experiment,
        "type": analysis.data_type,
        "url": info.url,
        "arxiv": info.arxiv,
        "publication": info.publication,
        "supersedes": info.supersedes,
        "superseded_by": info.superseded_by,
        "covariance": info.covariance is not None,
        "json_files": info.json_files,
        "json_files_full": info.json_files_full,
        "include_crs": info.include_crs,
        "workspace_files": list(analysis.workspace_files),
        "missing_workspaces": analysis.missing_workspaces(),
        "datasets": [
            {
                "id": ds.data_id,
                "type": ds.data_type,
                "observed_n": ds.observed_n,
                "expected_bg": ds.expected_bg,
                "bg_error": ds.bg_error,
                "upper_limit_fb": ds.upper_limit,
                "expected_upper_limit_fb": ds.expected_upper_limit,
                "third_moment": ds.third_moment,
                "txnames": [
                    {"name": tx.name, "constraint": tx.constraint, "condition": tx.condition,
                     "grids": {k: list(g.points.shape) for k, g in tx.grids.items()}}
                    for tx in ds.txnames
                ],
            }
            for ds in analysis.datasets
        ],
    }


@database.command()
@click.argument("analysis")
@database_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(analysis: str, database_path: str | None, as_json: bool) -> None:
    """Show one analysis (folder name such as ATLAS-SUSY-2018-04-eff, or a unique analysis id)."""
    db, _ = load_with_progress(database_path)
    try:
        a = db.analysis(analysis)
    except KeyError as exc:
        close = [x.name for x in db if analysis.lower() in x.name.lower()][:10]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise click.BadParameter(f"{exc.args[0]}.{hint}", param_hint="ANALYSIS") from None
    data = describe(a)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{data['id']}[/] ({data['folder']}): {data['type']}, √s = {data['sqrts_tev']:g} TeV, "
                  f"L = {data['lumi_ifb']:g}/fb, {data['experiment']}")
    for key in ("url", "arxiv", "publication", "supersedes", "superseded_by"):
        if data[key]:
            console.print(f"  {key}: {data[key]}")
    if data["covariance"]:
        console.print(f"  covariance matrix over {len(a.info.dataset_order or ())} signal regions")
    if data["json_files"] or data["json_files_full"]:
        console.print(f"  pyhf workspaces: {', '.join(data['workspace_files'])} (includeCRs={data['include_crs']})")
    if data["missing_workspaces"]:
        console.print(f"  [yellow]missing in this copy:[/] {', '.join(data['missing_workspaces'])}")
    table = Table("dataset", "obs", "bkg", "±", "UL obs [fb]", "UL exp [fb]", "txnames")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4g}"

    for ds in data["datasets"]:
        table.add_row(str(ds["id"]), fmt(ds["observed_n"]), fmt(ds["expected_bg"]), fmt(ds["bg_error"]),
                      fmt(ds["upper_limit_fb"]), fmt(ds["expected_upper_limit_fb"]),
                      ", ".join(t["name"] for t in ds["txnames"]))
    console.print(table)
