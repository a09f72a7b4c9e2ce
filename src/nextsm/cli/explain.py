"""``nextsm explain``: K, μ̂, the best combination, the critics and the contributions of a protomodel."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nextsm.cli.common import database_option, fmt_number, load_with_progress, workspace_source

_fmt = fmt_number


@click.command()
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@database_option
@click.option("--combine", is_flag=True, help="Use the analyses' full likelihoods (covariance, pyhf) where given.")
@click.option("--likelihood", type=click.Choice(["best-sr", "surrogates"]), default="best-sr", show_default=True,
              help="As `nextsm walk --likelihood`: surrogates adds the full likelihoods of the analyses whose pyhf "
                   "workspaces have neural surrogates (use the run's choice to get its K).")
@click.option("--no-contributions", is_flag=True, help="Skip the contributions (K without each particle/analysis).")
@click.option("--combinability", "combinability_folder", type=click.Path(exists=True, file_okay=False), default=None,
              help="Combinability lists (default: $NEXTSM_COMBINABILITY, then ../shared/data/combinability).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def explain(model_file: Path, database_path: str | None, combine: bool, likelihood: str, no_contributions: bool,
            combinability_folder: str | None, as_json: bool) -> None:
    """Evaluate the protomodel MODEL_FILE (JSON) as the walker does: test statistic K = 2 ln L(μ̂)/L(0) + 2 ln π
    with μ̂ capped at the walker's μ_max, the best legal combination of results, the fast and slow critics (at μ̂,
    and at the model's own κ), and what each particle and analysis contributes to K."""
    from nextsm.machine.combinability import Combinability
    from nextsm.machine.explain import explain as run
    from nextsm.model.particles import name
    from nextsm.model.protomodel import ProtoModel
    from nextsm.theory.predictions import Predictor

    model = ProtoModel.from_json(model_file)
    db, _ = load_with_progress(database_path)
    surrogates = likelihood == "surrogates"
    with workspace_source(db, combine or surrogates) as source:
        result = run(model, Predictor(db, source=source, surrogates=surrogates),
                     Combinability.load(combinability_folder), combine=combine, contributions=not no_contributions)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console() if Console().is_terminal else Console(width=150)
    ts = result.statistic
    console.print(f"[bold]{model_file.name}[/bold]: K = {result.K:.3f}  (2 ln L(μ̂)/L(0) = {ts.llr:.3f}, "
                  f"2 ln π = {2 * ts.log_prior:.3f}, Z = {ts.Z:.2f}, μ̂ = {ts.mu_hat:.3f} ≤ μ_max = "
                  f"{_fmt(result.mu_max)})")
    table = Table(title="best combination (signal and r at μ̂)")
    for col in ("analysis", "dataset", "type", "txnames", "√s", "obs", "exp ± err", "signal", "Z", "r_obs", "r_exp"):
        table.add_column(col, no_wrap=True)
    for row in result.combination:
        exp = "-" if row.get("expected") is None else f"{row['expected']:.3g} ± {row['bg_error']:.2g}"
        signal = (f"{row['signal_events']:.3g} ev" if "signal_events" in row else f"{row['signal_fb']:.3g} fb")
        table.add_row(row["analysis"], row["dataset"] or "", row["type"], ",".join(row["txnames"])[:24],
                      f"{row['sqrts']:g}", _fmt(row.get("observed")), exp, signal, _fmt(row["Z"]),
                      _fmt(row["r_obs"]), _fmt(row["r_exp"]))
    console.print(table)
    for where, verdicts in (("at μ̂", (result.fast, result.slow)),
                            ("at the model's κ (μ = 1)", (result.fast_at_kappa, result.slow_at_kappa))):
        for verdict in verdicts:
            colour = "green" if verdict.passed else "red"
            console.print(f"[{colour}]{verdict.critic} critic {where}: {'pass' if verdict.passed else 'FAIL'}"
                          f"[/{colour}] — {verdict.reason}")
    if result.particle_contributions:
        console.print("contribution to K (K − K without it): " + ", ".join(
            f"{name(p)} {_fmt(v)}" for p, v in result.particle_contributions.items()))
    if result.analysis_contributions:
        console.print("contribution of each combined analysis: " + ", ".join(
            f"{a} {_fmt(v)}" for a, v in result.analysis_contributions.items()))
