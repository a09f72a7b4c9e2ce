"""``nextsm sbi``: simulate weighted events, train SBI estimators, expected limits (docs/sbi.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def sbi() -> None:
    """Neural simulation-based inference of EFT parameters (the 'sbi' extra for training)."""


@sbi.command("simulate")
@click.argument("simulator", type=click.Choice(["toy", "wh"]))
@click.option("--n", "n_events", type=click.IntRange(min=2), required=True,
              help="Weighted events (wh: generated events per process).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="FILE.npz (+ FILE.json).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--process", "processes", default="signal", show_default=True,
              help="wh only: signal, ttbar, wbb, singletop; comma-separated, each optionally NAME:N (N events).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=5000, show_default=True,
              help="wh only: events per chunk; finished chunks in OUT.chunks/ are reused when rerun.")
@click.option("--processes", "n_processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="wh only: chunks generated side by side (spawned processes); the events do not depend on it.")
def simulate_command(simulator: str, n_events: int, out: Path, seed: int, processes: str, chunk_size: int,
                     n_processes: int) -> None:
    """Weighted events with morphing benchmark weights (npz + JSON metadata)."""
    if simulator == "wh":
        _simulate_wh(n_events, out, seed, processes, chunk_size, n_processes)
        return
    import numpy as np

    from nextsm.sbi.events import save_events
    from nextsm.sbi.simulators import get_simulator

    events = get_simulator(simulator).simulate(n_events, np.random.default_rng(seed))
    events.metadata["seed"] = seed
    paths = save_events(events, out)
    click.echo(f"{len(events)} events, sigma(SM) = {events.xsec([[0.0] * events.morphing.n_parameters])[0]:.4g} fb: "
               f"{paths[1]}, {paths[0]}")


def _parse_processes(spec: str, n_default: int) -> list[tuple[str, int]]:
    from nextsm.sbi.simulators.wh.pythia_gen import PROCESS_NAMES

    out = []
    for item in (part.strip() for part in spec.split(",") if part.strip()):
        name, _, count = item.partition(":")
        if name not in PROCESS_NAMES:
            raise click.BadParameter(f"unknown process {name!r}, available: {', '.join(PROCESS_NAMES)}",
                                     param_hint="--process")
        try:
            n = int(count) if count else n_default
        except ValueError:
            raise click.BadParameter(f"bad event count in {item!r}", param_hint="--process") from None
        if n < 1:
            raise click.BadParameter(f"event count must be >= 1 in {item!r}", param_hint="--process")
        out.append((name, n))
    if not out:
        raise click.BadParameter("no process given", param_hint="--process")
    return out


def _simulate_wh_chunk(name: str, k: int, seed: list[int], path: Path) -> int:
    """Generate, reconstruct and save one chunk (also the worker of ``--processes``); returns its generated events."""
    import numpy as np

    from nextsm.sbi.events import save_events
    from nextsm.sbi.simulators.wh.pythia_gen import GeneratorConfig, WHSimulator

    sample = WHSimulator(GeneratorConfig(process=name)).simulate(k, np.random.default_rng(seed))
    sample.metadata["seed"] = seed
    save_events(sample, path)
    return k


def _simulate_wh(n_events: int, out: Path, seed: int, processes: str, chunk_size: int, n_processes: int) -> None:
    """Pythia WH chain in resumable chunks (``OUT.chunks/``), merged into ``OUT``; progress bar on stderr.

    Chunk c of process p is generated with the seed ``[seed, index of p, c]`` wherever it runs, so the result does
    not depend on ``n_processes``."""
    import functools
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import numpy as np
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from nextsm.errors import NextsmError
    from nextsm.sbi.errors import MissingExtraError
    from nextsm.sbi.events import load_events, paired_paths, save_events
    from nextsm.sbi.simulators.wh.pythia_gen import (
        PROCESS_NAMES,
        GeneratorConfig,
        WHSimulator,
        combine_samples,
    )

    specs = _parse_processes(processes, n_events)
    chunk_dir = paired_paths(out)[1].with_suffix(".chunks")
    chunk_dir.mkdir(parents=True, exist_ok=True)
    jobs = []  # (process, chunk seed, events, path)
    for name, n in specs:
        provenance = WHSimulator(GeneratorConfig(process=name)).provenance()["generator"]
        for c, start in enumerate(range(0, n, chunk_size)):
            k = min(chunk_size, n - start)
            path = chunk_dir / f"{name}_seed{seed}_{c:05d}_{k}"
            jobs.append((name, [seed, PROCESS_NAMES.index(name), c], k, path))
            if paired_paths(path)[0].exists():  # the JSON is written last: its presence marks a finished chunk
                meta = json.loads(paired_paths(path)[0].read_text())["metadata"]
                if meta.get("generator") != provenance:
                    raise click.ClickException(
                        f"{paired_paths(path)[0]} was generated with other settings "
                        f"(generator: {meta.get('generator')}); move {chunk_dir} away or use "
                        "another OUT to start afresh")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        tasks = {name: bar.add_task(f"wh {name}", total=n) for name, n in specs}
        pending = []
        for name, chunk_seed, k, path in jobs:
            if paired_paths(path)[0].exists():
                bar.advance(tasks[name], k)
            else:
                pending.append((name, chunk_seed, k, path))
        current = ""
        try:
            if n_processes == 1:
                for name, chunk_seed, k, path in pending:
                    current = f"process {name}, chunk {path.name}"
                    sim = WHSimulator(GeneratorConfig(process=name))
                    sample = sim.simulate(k, np.random.default_rng(chunk_seed),
                                          progress=functools.partial(bar.advance, tasks[name]))
                    sample.metadata["seed"] = chunk_seed
                    save_events(sample, path)
            elif pending:
                context = multiprocessing.get_context("spawn")  # Pythia and FastJet are not fork-safe
                with ProcessPoolExecutor(min(n_processes, len(pending)), mp_context=context) as pool:
                    futures = {pool.submit(_simulate_wh_chunk, name, k, chunk_seed, path): (name, path.name)
                               for name, chunk_seed, k, path in pending}
                    for future in as_completed(futures):
                        current = "process {}, chunk {}".format(*futures[future])
                        bar.advance(tasks[futures[future][0]], future.result())
        except MissingExtraError as exc:
            raise click.UsageError(str(exc)) from None
        except NextsmError as exc:
            raise click.ClickException(f"{current}: {exc}") from None
    samples = [load_events(path) for _, _, _, path in jobs]
    events = combine_samples(samples)
    events.metadata["seed"] = seed
    paths = save_events(events, out)
    for name, _ in specs:
        sel = events.process == PROCESS_NAMES.index(name)
        click.echo(f"{name}: {int(sel.sum())} selected events, sigma x eff (SM) = "
                   f"{events.benchmark_weights[sel, 0].sum():.4g} fb")
    click.echo(f"{paths[1]}, {paths[0]}")


@sbi.command("train")
@click.argument("method", type=click.Choice(["sally", "alice", "alices", "carl", "cascal", "rascal"]))
@click.option("--events", "events_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Estimator path without suffix (writes OUT.json and OUT.npz).")
@click.option("--n-theta", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--n-per-theta", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--n-sally", type=click.IntRange(min=1), default=50_000, show_default=True)
@click.option("--prior", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="θ drawn uniformly in [-prior, prior]^p.")
@click.option("--hidden", default="64,64", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=25, show_default=True)
@click.option("--members", type=click.IntRange(min=1), default=1, show_default=True, help="Ensemble size.")
@click.option("--morphing-aware", is_flag=True, help="Exactly quadratic ratio estimator.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True)
def train_command(method: str, events_path: Path, out: Path, n_theta: int, n_per_theta: int, n_sally: int,
                  prior: float, hidden: str, epochs: int, members: int, morphing_aware: bool, seed: int,
                  threads: int) -> None:
    """Train an estimator on augmented data unweighted from an event file."""
    import numpy as np

    from nextsm.sbi.events import load_events
    from nextsm.sbi.sampling import ratio_training_set, score_training_set

    try:
        import torch

        from nextsm.sbi.estimators.ratio import xsec_quadratic_form
        from nextsm.sbi.io import save_estimator
        from nextsm.sbi.training import TrainConfig, train_estimator
    except ImportError as exc:
        raise click.UsageError(f"training needs the 'sbi' extra: pip install 'nextsm[sbi]' ({exc})") from None
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    events = load_events(events_path)
    p = events.morphing.n_parameters
    if method == "sally":
        data = score_training_set(events, n_sally, rng)
    else:
        data = ratio_training_set(events, rng.uniform(-prior, prior, (n_theta, p)), n_per_theta, rng)
    m = events.morphing
    sigma_c = np.linalg.solve(m.matrix, events.benchmark_weights.sum(axis=0))  # σ per monomial
    config = TrainConfig(hidden=tuple(int(h) for h in hidden.split(",") if h.strip()), epochs=epochs,
                         morphing_aware=morphing_aware)
    est = train_estimator(method, data, config, rng, xsec_form=xsec_quadratic_form(m, sigma_c) if morphing_aware
                          else None, n_members=members, parameter_names=m.parameter_names,
                          observable_names=events.observable_names)
    est.card["events"] = str(events_path)
    paths = save_estimator(est, out)
    click.echo(f"saved {paths[0]} and {paths[1]}")


@sbi.command("limits")
@click.option("--estimator", "estimator_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--events", "events_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Held-out weighted events for the Asimov data.")
@click.option("--lumi", type=click.FloatRange(min=0, min_open=True), required=True, help="fb^-1.")
@click.option("--theta-true", default="0,0", show_default=True)
@click.option("--grid", default="-0.5,0.5,41", show_default=True, help="low,high,n per parameter.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Result JSON.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, help="PNG of the profiles.")
@click.option("--toys", type=click.IntRange(min=0), default=0, show_default=True,
              help="Pseudo-experiments at --theta-true (a grid point) for the coverage of the Wilks intervals.")
@click.option("--neyman", type=click.IntRange(min=0), default=0, show_default=True,
              help="Toys per tested value for toy-based (Neyman) intervals, valid where Wilks is not.")
@click.option("--neyman-step", type=click.IntRange(min=1), default=2, show_default=True,
              help="Test every N-th grid value for the Neyman intervals (critical values interpolated).")
@click.option("--neyman-2d", "neyman_2d", is_flag=True,
              help="Also the joint Neyman region of both parameters (--neyman toys at every grid point near the "
                   "Asimov region).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the pseudo-experiments.")
def limits_command(estimator_path: Path, events_path: Path, lumi: float, theta_true: str, grid: str, out: Path,
                   plot: Path | None, toys: int, neyman: int, neyman_step: int, neyman_2d: bool, seed: int) -> None:
    """Expected (Asimov) profile-likelihood scans and Wilks intervals; JSON (+ plot); with --toys, their
    coverage measured with pseudo-experiments drawn from the events; with --neyman, toy-based intervals
    and with --neyman-2d the joint region (docs/sbi.md, "Neyman intervals")."""
    import contextlib

    import numpy as np
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from nextsm.sbi.events import load_events
    from nextsm.sbi.io import load_estimator
    from nextsm.sbi.limits import expected_limits

    lo, hi, n = (float(v) for v in grid.split(","))
    if neyman_2d and not neyman:
        raise click.UsageError("--neyman-2d needs --neyman N (toys per tested point)")
    est = load_estimator(estimator_path)
    with contextlib.ExitStack() as stack:
        track = None
        if neyman:
            bar = stack.enter_context(Progress(TextColumn("Neyman belts"), BarColumn(), MofNCompleteColumn(),
                                               TimeRemainingColumn(), transient=True))

            def track(items):  # type: ignore[no-untyped-def]
                return bar.track(items, total=len(items))
        result = expected_limits(est, load_events(events_path), [float(v) for v in theta_true.split(",")], lumi,
                                 np.linspace(lo, hi, int(n)), toys=toys, neyman=neyman, neyman_step=neyman_step,
                                 neyman_2d=neyman_2d, rng=np.random.default_rng(seed), progress=track)
    out.write_text(json.dumps(result, indent=1))
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n_panels = len(result["profiles"]) + int(neyman_2d)
        fig, axes = plt.subplots(1, n_panels, figsize=(4.5 * n_panels, 3.5))
        if neyman_2d:
            _joint_region_panel(axes[-1], result)
        for ax, (name, prof) in zip(np.atleast_1d(axes), result["profiles"].items(), strict=False):
            ax.plot(result["axis"], prof["q"], label="Asimov profile")
            ax.axhline(1.0, ls=":", color="grey")
            ax.axhline(3.84, ls=":", color="grey", label="Wilks (68, 95 %)")
            if neyman:
                belt = result["neyman"][name]["belt"]
                for cl, style in (("0.68", "--"), ("0.95", "-.")):
                    ax.plot(belt["poi"], belt[f"critical_{cl}"], ls=style, color="C3",
                            label="Neyman critical values" if cl == "0.68" else None)
            ax.legend(fontsize="small")
            ax.set(xlabel=name, ylabel="q", ylim=(0, 8))
        fig.tight_layout()
        fig.savefig(plot, dpi=100)
        plt.close(fig)
    for name, prof in result["profiles"].items():
        click.echo(f"{name}: 68% {prof['interval_0.68']}, 95% {prof['interval_0.95']}")
        if toys:
            cov = result["toy_coverage"]
            click.echo(f"  coverage with {toys} toys: 68% {cov[f'{name}_0.68']['fraction']:.3f}"
                       f" ± {cov[f'{name}_0.68']['error']:.3f}, 95% {cov[f'{name}_0.95']['fraction']:.3f}"
                       f" ± {cov[f'{name}_0.95']['error']:.3f}")
        if neyman:
            ney = result["neyman"][name]
            click.echo(f"  Neyman ({neyman} toys per tested value): 68% {ney['0.68']['asimov']}, "
                       f"95% {ney['0.95']['asimov']} (Asimov); median of toys 68% {ney['0.68']['median']}")
        if neyman_2d:
            reg = result["neyman_2d"]
            click.echo(f"  joint Neyman region 68%: {name} in {reg['0.68']['neyman_extent'][name]} "
                       f"(Wilks {reg['0.68']['wilks_extent'][name]}); 95%: {reg['0.95']['neyman_extent'][name]} "
                       f"(Wilks {reg['0.95']['wilks_extent'][name]})")
    if neyman_2d:
        reg = result["neyman_2d"]
        click.echo(f"joint Neyman region: {reg['belt']['n_tested']} tested points; c/chi2_2 at 68% "
                   f"{reg['0.68']['critical_over_chi2']} (min, median, max)"
                   + ("; OPEN: it reaches the untested rim" if reg['0.68']['open'] or reg['0.95']['open'] else ""))


def _joint_region_panel(ax, result: dict) -> None:  # type: ignore[no-untyped-def]
    """Asimov q with the Wilks (dashed) and Neyman (solid) 68/95 % joint regions."""
    import numpy as np

    axis = np.asarray(result["axis"])
    q = np.asarray(result["q"])
    reg = result["neyman_2d"]
    names = list(result["profiles"])
    for cl, color in (("0.68", "C0"), ("0.95", "C1")):
        crit = np.array([[np.nan if v is None else v for v in row] for row in reg["belt"][f"critical_{cl}"]])
        excess = np.where(np.isnan(crit), 1e3, q - crit)
        ax.contour(axis, axis, q.T, levels=[reg[cl]["chi2"]], colors=color, linestyles="--")
        ax.contour(axis, axis, excess.T, levels=[0.0], colors=color, linestyles="-")
        ax.plot([], [], color=color, label=f"{float(cl):.0%} Neyman (solid), Wilks (dashed)")
    ax.legend(fontsize="x-small")
    ax.set(xlabel=names[0], ylabel=names[1])
