"""``nextsm pvalue``: the global p-value of the real runs against runs on SM-only fake databases."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import click

from nextsm.cli.common import fmt_number


@click.command()
@click.option("--real", "real", multiple=True, required=True, metavar="RUN",
              help="A run on the real database; repeat for several, or give a quoted pattern: --real 'real/*'.")
@click.argument("fakes", nargs=-1, required=True, metavar="FAKES...")
@click.option("--plot", "plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the K_max distribution to this file (.png, .pdf; needs the 'plot' extra).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def pvalue(real: tuple[str, ...], fakes: tuple[str, ...], plot: Path | None, as_json: bool) -> None:
    """Global p-value (P21 eq. 5.3) of the real runs' mean K_max against the K_max of the FAKES runs.

    FAKES are run folders made by `nextsm walk` on SM-only fake databases, e.g. `fakes/*`.  K_max is the highest
    K of a run over all walkers and steps; p = ∫ ρ(K) dK above the mean real K_max, ρ the Gaussian KDE of the fake
    K_max; Z = Φ⁻¹(1 − p).  Also shown: the fraction of fakes at or above it, with its binomial error and 68 %
    Clopper–Pearson interval.

    --real takes one run (or one quoted pattern): an unquoted `--real real/*` would pass only the first real run
    to --real and the others as fakes.

    \b
    Example:
      nextsm pvalue --real real/run0 --real real/run1 fakes/* --plot k.pdf
      nextsm pvalue --real 'real/*' fakes/* --json
    """
    from nextsm.machine.pvalue import PValueError, global_pvalue, k_max, plot_k_distribution

    real_runs, fake_runs = _expand(real), _expand(fakes)
    if both := sorted(set(map(str, real_runs)) & set(map(str, fake_runs))):
        raise click.UsageError(f"runs given both as real and as fake: {', '.join(both)}")
    try:
        k_real = [k_max(run) for run in real_runs]
        k_fakes = [k_max(run) for run in fake_runs]
        result = global_pvalue(k_real, k_fakes)
        if plot is not None:
            plot_k_distribution(result, plot)
    except PValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "runs": {"real": dict(zip(map(str, real_runs), k_real, strict=True)),
                                                             "fake": dict(zip(map(str, fake_runs), k_fakes, strict=True))},
                               "plot": None if plot is None else str(plot)}, indent=1))
        return

    from rich.console import Console
    from rich.table import Table

    runs = Table(title="K_max per run")
    for col in ("run", "kind", "K_max"):
        runs.add_column(col)
    for kind, paths, values in (("real", real_runs, k_real), ("fake", fake_runs, k_fakes)):
        for run, k in zip(paths, values, strict=True):
            runs.add_row(str(run), kind, fmt_number(k, 4))
    low, high = result.fraction_interval
    summary = Table(title="global p-value", show_header=False)
    summary.add_column()
    summary.add_column()
    summary.add_row("K̄_obs (mean real K_max)", f"{fmt_number(result.k_real_mean, 4)} ({len(k_real)} runs)")
    summary.add_row("fake K_max mean, sd", f"{fmt_number(float(result.k_fakes.mean()), 4)}, "
                    f"{fmt_number(float(result.k_fakes.std(ddof=1)), 3)} ({result.n_fakes} runs)")
    summary.add_row("p (KDE tail)", fmt_number(result.p) + ("" if result.bandwidth is None
                                                            else f"  (bandwidth {fmt_number(result.bandwidth)})"))
    summary.add_row("Z = Φ⁻¹(1 − p)", fmt_number(result.z))
    summary.add_row("fraction ≥ K̄_obs", f"{result.n_above}/{result.n_fakes} = {fmt_number(result.fraction)} "
                    f"± {fmt_number(result.fraction_error, 2)}, CP {result.cl:.0%} [{low:.3f}, {high:.3f}]")
    console = Console()
    console.print(runs)
    console.print(summary)
    if result.note:
        console.print(f"[yellow]{result.note}[/yellow]")
    if plot is not None:
        console.print(f"plot: {plot}")


def _expand(runs: tuple[str, ...]) -> list[Path]:
    """The paths, with quoted shell patterns (``'fakes/*'``) expanded in sorted order."""
    out: list[Path] = []
    for run in runs:
        matches = sorted(glob.glob(run)) if any(c in run for c in "*?[") and not Path(run).exists() else [run]
        if not matches:
            raise click.BadParameter(f"no run matches {run!r}", param_hint="RUN")
        out.extend(Path(m) for m in matches)
    return out
