"""``nextsm fakedb``: an SM-only or signal-injected fake of the database, drawn from its own statistical models."""

from __future__ import annotations

import time
from pathlib import Path

import click

from nextsm.cli.common import database_option, fake_options


@click.command()
@database_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder of the fake (gets fake.json; pass it to --database of the other commands).")
@click.option("--seed", type=int, required=True, help="Seed of numpy's default_rng for this fake.")
@fake_options
@click.option("--no-workspaces", is_flag=True,
              help="Do not fake the pyhf workspaces (saves their ~10 s set-up; the walker does not use them).")
@click.option("--force", is_flag=True, help="Overwrite an existing fake in --out.")
def fakedb(database_path: str | None, out: Path, seed: int, fudge: float, inject_file: Path | None,
           fixed_backgrounds: bool, fixed_signals: bool, max_mass_dist: float, no_workspaces: bool,
           force: bool) -> None:
    """Write a fake database to OUT (a few hundred kB: the fake observations and the base database's hash).

    EM counts are drawn from each signal region's background model (correlated where the analysis has a
    covariance, skewed where it has third moments), UL maps with an expected map get UL_obs = UL_exp (1 + x/1.96),
    one x ~ N(0, 1) per map.  `nextsm walk --database OUT` walks on the fake.
    """
    import numpy as np

    from nextsm.database import DatabaseSource, load_database
    from nextsm.fake import FAKE_FILE, FakeGenerator, FakeSettings, is_fake_folder

    if (out / FAKE_FILE).exists() and not force:
        raise click.UsageError(f"{out / FAKE_FILE} exists; pass --force to overwrite it")
    if database_path is not None and is_fake_folder(database_path):
        raise click.UsageError(f"--database {database_path} is itself a fake; draw fakes from the real database")
    t0 = time.perf_counter()
    db = load_database(database_path)
    settings = FakeSettings(fudge=fudge, fixed_backgrounds=fixed_backgrounds, fixed_signals=fixed_signals,
                            max_mass_dist=max_mass_dist)
    source = None if no_workspaces else DatabaseSource(db.path)
    try:
        generator = FakeGenerator(db, settings, source=source)
    finally:
        if source is not None:
            source.close()
    model, predictor = None, None
    if inject_file is not None:
        from nextsm.model.protomodel import ProtoModel
        from nextsm.theory.predictions import Predictor

        model = ProtoModel.from_json(inject_file)
        predictor = Predictor(db)
    t1 = time.perf_counter()
    overlay = generator.sample(np.random.default_rng(seed), inject=model, predictor=predictor, seed=seed)
    path = overlay.write(out)
    t2 = time.perf_counter()
    n_sr = sum(len(v) for v in overlay.em.values())
    n_ul = sum(len(t) for d in overlay.ul.values() for t in d.values())
    n_ws = sum(len(f) for f in overlay.workspaces.values())
    kind = "signal-injected" if model is not None else "SM-only"
    click.echo(f"{kind} fake of {db.path}: {n_sr} signal regions, {n_ul} UL maps, "
               f"{n_ws} pyhf workspaces -> {path} "
               f"(drawn in {t2 - t1:.2f} s, set-up {t1 - t0:.1f} s)")
