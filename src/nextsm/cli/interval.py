"""``nextsm interval``: Neyman confidence intervals with the LRT (Feldman–Cousins) or the focused test statistic."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import numpy as np

from nextsm.cli.common import database_option


def _focus(text: str | None) -> Any:
    from nextsm.inference import GaussianFocus

    if text is None:
        raise click.UsageError("--statistic fts needs --focus CENTRE,WIDTH (a Gaussian focus, e.g. '0,0.5')")
    try:
        centre, width = (float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected CENTRE,WIDTH, got {text!r}", param_hint="--focus") from None
    return GaussianFocus(centre, width)


def _database_model(analysis: str, region: str | None, signal: float | None, marginalised: bool,
                    database_path: str | None) -> tuple[Any, float]:
    from nextsm.cli.common import load_with_progress
    from nextsm.inference import DatabaseResultModel
    from nextsm.likelihoods.factory import efficiency_map_likelihood

    if region is None or signal is None:
        raise click.UsageError("a database result needs --analysis, --region and --signal")
    db, _ = load_with_progress(database_path)
    try:
        ana = db.analysis(analysis)
        result = efficiency_map_likelihood(ana, regions=[region], marginalised=marginalised)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--analysis/--region") from None
    model = DatabaseResultModel(result.model, [signal], label=f"{ana.id}:{region}")
    return model, float(model.observed[0])


def _nsbi_model(name: str, observed: float, estimator: Path | None, luminosity: float | None, mu_max: float,
                seed: int) -> tuple[Any, Any, str]:
    """An NSBI toy (docs/inference.md §7) and one pseudo-data set drawn at μ = ``observed``."""
    from nextsm.inference.nsbi_models import eft_slice_model, interference_model

    if name == "nsbi-toy":
        from nextsm.sbi.simulators import ToyEFTSimulator

        est = None
        if estimator is not None:
            from nextsm.sbi.io import load_estimator

            est = load_estimator(estimator)
        model = eft_slice_model(ToyEFTSimulator(), luminosity=2.0 if luminosity is None else luminosity,
                                upper=mu_max, estimator=est)
    else:
        if estimator is not None:
            raise click.UsageError("--estimator applies to --model nsbi-toy (a morphing-aware ratio estimator)")
        from nextsm.sbi.simulators.interference import InterferenceToy

        model = interference_model(InterferenceToy(), upper=mu_max, luminosity=luminosity)
    if not 0 <= observed <= mu_max:
        raise click.BadParameter(f"the pseudo-data μ must lie in [0, --mu-max = {mu_max:g}], got {observed:g}",
                                 param_hint="--observed")
    events = model.simulate_events(observed, 1, np.random.default_rng([seed, 7]))
    description = f"{model.label}, pseudo-data at μ = {observed:g} ({events[0].shape[0]} events, seed {seed})"
    return model, model.encode(events), description


def _progress(bar: Any, label: str) -> Any:
    def wrap(items: Iterable[Any]) -> Iterable[Any]:
        work = list(items)
        task = bar.add_task(label, total=len(work))
        for item in work:
            yield item
            bar.advance(task)

    return wrap


@click.command()
@click.option("--model", "model_name",
              type=click.Choice(["gaussian", "poisson", "nsbi-toy", "interference-toy"]), default=None,
              help="Closed-form model, or an NSBI toy (needs --method toys/amortised), or give --analysis.")
@click.option("--analysis", default=None, help="Database efficiency-map analysis id (with --region, --signal).")
@click.option("--region", default=None, help="Signal region of --analysis.")
@click.option("--signal", type=float, default=None, help="Database result: signal yield at μ = 1 (events).")
@click.option("--marginalised", is_flag=True, help="Database result: marginalise the background nuisance.")
@click.option("--observed", type=float, default=None,
              help="Observed x (gaussian) or n (poisson); NSBI toys: the μ of a pseudo-data set drawn with --seed; "
                   "database: default the published count.")
@click.option("--estimator", type=click.Path(exists=False, path_type=Path), default=None,
              help="nsbi-toy: a saved morphing-aware ratio estimator (nextsm sbi train ... --morphing-aware); "
                   "default: the exact likelihood.")
@click.option("--luminosity", type=click.FloatRange(min=0, min_open=True), default=None,
              help="NSBI toys: luminosity in fb⁻¹ [nsbi-toy 2, interference-toy 400].")
@click.option("--sigma", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Gaussian: resolution σ.")
@click.option("--background", type=click.FloatRange(min=0), default=3.0, show_default=True,
              help="Poisson: known background b.")
@click.option("--signal-scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Poisson: n ~ Pois(μ s + b), s.")
@click.option("--statistic", type=click.Choice(["lrt", "fts"]), default="lrt", show_default=True)
@click.option("--focus", default=None, help="FTS focus: Gaussian CENTRE,WIDTH truncated to μ ≥ 0, e.g. '0,0.5'.")
@click.option("--cl", "cls", type=click.FloatRange(0, 1, min_open=True, max_open=True), multiple=True,
              help="Confidence level(s) [default 0.683 and 0.954].")
@click.option("--method", type=click.Choice(["exact", "toys", "amortised"]), default="exact", show_default=True,
              help="Neyman construction.")
@click.option("--mu-max", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True,
              help="Upper end of the μ₀ grid.")
@click.option("--mu-step", type=click.FloatRange(min=0, min_open=True), default=None,
              help="μ₀ grid step [0.01 exact, 0.05 otherwise].")
@click.option("--toys", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Toys per grid point (toys, refinement).")
@click.option("--sims", type=click.IntRange(min=10), default=None,
              help="Amortised: simulation budget (also used by the coverage diagnostic) [20000; NSBI toys 2000].")
@click.option("--refine/--no-refine", default=True, show_default=True,
              help="Amortised: local toys at the interval ends where the diagnostic flags under-coverage.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write JSON here.")
@click.option("--plot-belt", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Belt figure (PNG/PDF; one per CL, the CL is appended to the name).")
@click.option("--plot-coverage", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Coverage figure (exact coverage, or the diagnostic for toys/amortised).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@database_option
def interval(model_name: str | None, analysis: str | None, region: str | None, signal: float | None,
             marginalised: bool, observed: float | None, estimator: Path | None, luminosity: float | None,
             sigma: float, background: float, signal_scale: float,
             statistic: str, focus: str | None, cls: tuple[float, ...], method: str, mu_max: float,
             mu_step: float | None, toys: int, sims: int | None, refine: bool, seed: int, output: Path | None,
             plot_belt: Path | None, plot_coverage: Path | None, as_json: bool, database_path: str | None) -> None:
    """Confidence interval for μ by a Neyman construction (docs/inference.md).

    \b
    Bounded Gaussian mean:  nextsm interval --model gaussian --observed 0.3 --statistic fts --focus 0,0.5
    Poisson, known b:       nextsm interval --model poisson --background 3 --observed 4
    Database EM result:     nextsm interval --analysis ATLAS-SUSY-2016-07-eff --region 4j_Meff_3000 --signal 3
    Amortised (QR) belt:    ... --method amortised --sims 20000
    NSBI toy, learned ratio: nextsm interval --model nsbi-toy --estimator alices_ma --observed 1 --method toys \\
                            --mu-max 4 --mu-step 0.25 --toys 300 --statistic fts --focus 0,0.5
    """
    from rich.progress import Progress

    from nextsm.inference import (
        BoundedGaussianMean,
        FocusedStatistic,
        LikelihoodRatio,
        PoissonCounting,
        amortised_belt,
        coverage_diagnostic,
        exact_belt,
        exact_performance,
        refine_endpoints,
        toy_belt,
    )

    if analysis is not None:
        if model_name is not None:
            raise click.UsageError("give either --model or --analysis, not both")
        model, published = _database_model(analysis, region, signal, marginalised, database_path)
        obs = published if observed is None else observed
        description = model.label
    elif model_name is not None:
        if observed is None:
            raise click.UsageError("give --observed")
        if model_name in ("nsbi-toy", "interference-toy"):
            if method == "exact":
                raise click.UsageError(f"--model {model_name} has no exact belt: give --method toys or amortised")
            model, nsbi_data, description = _nsbi_model(model_name, observed, estimator, luminosity, mu_max, seed)
        else:
            model = (BoundedGaussianMean(sigma) if model_name == "gaussian"
                     else PoissonCounting(background, signal=signal_scale))
            description = repr(model)
        obs = observed
    else:
        raise click.UsageError("give --model gaussian|poisson or --analysis/--region/--signal")
    stat = LikelihoodRatio() if statistic == "lrt" else FocusedStatistic(_focus(focus))
    levels = cls or (0.683, 0.954)
    step = mu_step if mu_step is not None else (0.01 if method == "exact" else 0.05)
    grid = np.arange(0.0, mu_max + 0.5 * step, step)
    nsbi = model_name in ("nsbi-toy", "interference-toy")
    data = nsbi_data if nsbi else np.array([obs])
    sims = sims if sims is not None else (2000 if nsbi else 20000)
    rng = np.random.default_rng(seed)
    results: list[dict[str, Any]] = []
    with Progress(transient=True, disable=as_json) as bar:
        for cl in levels:
            diag = None
            if method == "exact":
                belt = exact_belt(model, stat, grid, cl, progress=_progress(bar, f"exact belt, CL {cl:g}"))
            elif method == "toys":
                belt = toy_belt(model, stat, grid, cl, n_toys=toys, rng=rng,
                                progress=_progress(bar, f"toys, CL {cl:g}"))
            else:
                belt = amortised_belt(model, stat, grid, cl, n_sim=sims, rng=rng)
            if method != "exact":
                diag = coverage_diagnostic(belt, model, n_sim=sims, rng=rng)
                if method == "amortised" and refine:
                    belt, _ = refine_endpoints(belt, model, data, n_toys=toys, rng=rng, window=4 * step,
                                               flagged=diag.flagged_at)
            iv = belt.intervals(model, data)
            row: dict[str, Any] = {"cl": cl, "lower": float(iv.lower[0]), "upper": float(iv.upper[0]),
                                   "connected": bool(iv.connected[0]), "at_upper_edge": bool(iv.at_upper_edge[0]),
                                   "method": belt.method, "refined_points": int(np.count_nonzero(belt.n_toys))
                                   if belt.method == "refined" else 0, "belt": belt.to_dict()}
            perf = None
            if method == "exact":
                truth = grid[grid <= 0.75 * mu_max] + 0.5 * step
                perf = exact_performance(belt, model, truth)
                row["exact_coverage"] = {"mu": perf.mu.tolist(), "coverage": perf.coverage.tolist(),
                                         "min": float(perf.coverage.min())}
            if diag is not None:
                row["diagnostic"] = diag.to_dict()
                row["flagged_points"] = int(np.count_nonzero(diag.flagged))
            results.append(row)
            suffix = f"_cl{cl:g}".replace(".", "p")
            if plot_belt is not None:
                from nextsm.inference.plots import plot_belt as draw_belt

                fig = draw_belt(belt, model, data, title=f"{description}: {stat.name.upper()}, CL {cl:g}")
                fig.savefig(plot_belt.with_name(plot_belt.stem + suffix + plot_belt.suffix), dpi=120)
            if plot_coverage is not None:
                from nextsm.inference.plots import plot_coverage as draw_coverage

                fig = draw_coverage(diag, perf, cl=cl, title=f"{description}: {stat.name.upper()}, CL {cl:g}")
                fig.savefig(plot_coverage.with_name(plot_coverage.stem + suffix + plot_coverage.suffix), dpi=120)
    focus_info = None if statistic == "lrt" else _focus(focus).label
    out = {"model": description, "observed": obs, "statistic": statistic, "focus": focus_info, "method": method,
           "seed": seed, "intervals": results}
    if output is not None:
        output.write_text(json.dumps(out, indent=1))
    if as_json:
        click.echo(json.dumps({**out, "intervals": [{k: v for k, v in r.items() if k not in ("belt", "diagnostic")}
                                                    for r in results]}, indent=2))
        return
    click.echo(f"{description}, observed {obs:g}: {statistic.upper()}"
               + (f" with focus {focus_info}" if focus_info else "") + f", {method} belt")
    for row in results:
        edge = " (upper end at the grid edge: raise --mu-max)" if row["at_upper_edge"] else ""
        gap = "" if row["connected"] else " (hull of a non-connected set)"
        extra = ""
        if "exact_coverage" in row:
            extra = f"  min exact coverage {row['exact_coverage']['min']:.4f}"
        if "flagged_points" in row:
            extra = f"  diagnostic: {row['flagged_points']} grid points flagged for under-coverage"
            if row["refined_points"]:
                extra += f", {row['refined_points']} refined with local toys"
        lower, upper = row["lower"], row["upper"]
        text = "empty" if math.isnan(lower) else f"[{lower:.3f}, {upper:.3f}]"
        click.echo(f"  CL {row['cl']:g}: μ ∈ {text}{edge}{gap}{extra}")
