"""``nextsm sbi``: simulate weighted events, train SBI estimators, expected limits (docs/sbi.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def sbi() -> None:
    """Neural simulation-based inference of EFT parameters (the 'sbi' extra for training)."""


@sbi.command("simulate")
@click.argument("simulator", type=click.Choice(["toy"]))
@click.option("--n", "n_events", type=click.IntRange(min=2), required=True, help="Weighted events.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="FILE.npz (+ FILE.json).")
@click.option("--seed", type=int, default=1, show_default=True)
def simulate_command(simulator: str, n_events: int, out: Path, seed: int) -> None:
    """Weighted events with morphing benchmark weights (npz + JSON metadata)."""
    import numpy as np

    from nextsm.sbi.events import save_events
    from nextsm.sbi.simulators import get_simulator

    events = get_simulator(simulator).simulate(n_events, np.random.default_rng(seed))
    events.metadata["seed"] = seed
    paths = save_events(events, out)
    click.echo(f"{len(events)} events, sigma(SM) = {events.xsec([[0.0] * events.morphing.n_parameters])[0]:.4g} fb: "
               f"{paths[1]}, {paths[0]}")


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
def limits_command(estimator_path: Path, events_path: Path, lumi: float, theta_true: str, grid: str, out: Path,
                   plot: Path | None) -> None:
    """Expected (Asimov) profile-likelihood scans and Wilks intervals; JSON (+ plot)."""
    import numpy as np

    from nextsm.sbi.events import load_events
    from nextsm.sbi.io import load_estimator
    from nextsm.sbi.limits import expected_limits

    lo, hi, n = (float(v) for v in grid.split(","))
    est = load_estimator(estimator_path)
    result = expected_limits(est, load_events(events_path), [float(v) for v in theta_true.split(",")], lumi,
                             np.linspace(lo, hi, int(n)))
    out.write_text(json.dumps(result, indent=1))
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(result["profiles"]), figsize=(9, 3.5))
        for ax, (name, prof) in zip(np.atleast_1d(axes), result["profiles"].items(), strict=True):
            ax.plot(result["axis"], prof["q"])
            ax.axhline(1.0, ls=":", color="grey")
            ax.axhline(3.84, ls=":", color="grey")
            ax.set(xlabel=name, ylabel="q", ylim=(0, 8))
        fig.tight_layout()
        fig.savefig(plot, dpi=100)
        plt.close(fig)
    for name, prof in result["profiles"].items():
        click.echo(f"{name}: 68% {prof['interval_0.68']}, 95% {prof['interval_0.95']}")
