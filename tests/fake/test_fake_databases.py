"""Fake databases: sampling from the database's own models, the overlay, loading a fake, signal injection."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import kstest

from nextsm.fake import (
    FakeDatabaseError,
    FakeGenerator,
    FakeSettings,
    apply_overlay,
    read_overlay,
    sr_pvalues,
)
from nextsm.likelihoods.limits import upper_limit
from nextsm.likelihoods.simplified import PoissonGaussian

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
def generator(database):
    return FakeGenerator(database)


def stop_model():
    from nextsm.model.protomodel import ProtoModel

    return ProtoModel(masses={1000006: 800.0, 1000022: 100.0}, decays={1000006: {(1000022, 6): 1.0}},
                      ssmultipliers={(-1000006, 1000006): 1.0})


def test_generator_covers_the_database(generator, database):
    em = [ds for a in database.analyses for ds in a.datasets
          if ds.data_type == "efficiencyMap" and ds.observed_n is not None and ds.expected_bg is not None
          and ds.bg_error]
    assert len(generator.regions) == len(em) > 900
    assert len(generator.ul_maps) > 150
    kinds = {("cov" if b.root is not None else "sr") + ("+m3" if np.any(b.quad) else "") for b in generator.blocks}
    assert kinds == {"sr", "cov", "cov+m3"}


def test_fixed_backgrounds_reproduce_the_expectation(generator, database):
    fixed = FakeGenerator(database, FakeSettings(fixed_backgrounds=True))
    overlay = fixed.sample(np.random.default_rng(1))
    counts = np.array([overlay.em[f][r][0] for f, r in zip(fixed.folders, fixed.regions, strict=True)])
    np.testing.assert_array_equal(counts, fixed.background)
    assert all(s.x == 0.0 for d in overlay.ul.values() for t in d.values() for s in t.values())
    fake = apply_overlay(database, overlay)
    some = next(a for a in fake.analyses if a.name in overlay.ul)
    ds = next(ds for ds in some.datasets if ds.data_type == "upperLimit")
    tx = next(t for t in ds.txnames if t.name in overlay.ul[some.name][str(ds.data_id)])
    np.testing.assert_array_equal(tx.grids["upperLimits"].values, tx.grids["expectedUpperLimits"].values)


def test_counts_follow_the_background_model(generator):
    rng = np.random.default_rng(7)
    draws = np.array([generator._background_counts(rng) for _ in range(400)])
    # the mean count is the expected background (SL v2: A + C = b); the clipping at 0 only raises it
    single = [b for b in generator.blocks if b.root is None]
    idx = np.concatenate([b.index for b in single])
    big = idx[generator.background[idx] > 5 * generator.bg_error[idx]]
    pull = (draws[:, big].mean(axis=0) - generator.background[big]) / (
        np.sqrt(generator.background[big] + generator.bg_error[big] ** 2) / np.sqrt(len(draws)))
    assert abs(pull.mean()) < 0.2
    assert 0.8 < pull.std() < 1.2


def test_correlated_regions_have_the_published_covariance(database):
    gen = FakeGenerator(database)
    blk = next(b for b in gen.blocks if b.root is not None and not np.any(b.quad) and len(b.index) > 5)
    cov = blk.root @ blk.root.T
    rng = np.random.default_rng(3)
    z = blk.root @ rng.standard_normal((len(blk.index), 20000))
    np.testing.assert_allclose(np.cov(z), cov, atol=0.05 * np.max(np.diag(cov)))
    analysis = next(a for a in database.analyses if a.name == gen.folders[blk.index[0]])
    np.testing.assert_allclose(cov, analysis.info.covariance, rtol=1e-8, atol=1e-12)


def test_sm_fakes_have_uniform_pvalues_and_the_real_data_do_not(generator):
    rng = np.random.default_rng(11)
    pooled = np.concatenate([generator.pvalues(generator._background_counts(rng), rng) for _ in range(10)])
    assert kstest(pooled, "uniform").pvalue > 0.01
    real = generator.pvalues(generator.observed, np.random.default_rng(0))
    assert kstest(real, "uniform").pvalue < 1e-3  # the 2021 paper's Fig. 7 observation (see docs/validation.md)


def test_pvalue_of_a_poisson_count_without_uncertainty():
    n = np.array([0.0, 3.0, 10.0])
    p = sr_pvalues(n, np.full(3, 4.0), np.full(3, 1e-12), np.zeros(3), np.ones(3))
    from scipy.stats import poisson

    np.testing.assert_allclose(p, poisson.sf(n - 1, 4.0), rtol=1e-9)


def test_batched_limits_equal_single_region_limits(generator):
    from nextsm.fake.sampling import _limits

    rng = np.random.default_rng(5)
    pick = rng.choice(len(generator.regions), 70, replace=False)  # two chunks
    n = np.round(generator.background[pick] * 1.3)
    batched = _limits(n, generator.background[pick], generator.bg_error[pick], "observed")
    for k in range(0, 70, 9):
        i = pick[k]
        single = upper_limit(PoissonGaussian([n[k]], [generator.background[i]], [generator.bg_error[i]]), [[1.0]])
        assert batched[k] == pytest.approx(single[0], rel=1e-5)


def test_observed_limits_of_the_real_counts_match_the_published_ones(generator, database):
    ours = generator.observed_limits(generator.observed)
    pub = np.array([database.analysis(f).dataset(r).upper_limit or math.nan
                    for f, r in zip(generator.folders, generator.regions, strict=True)], dtype=float)
    ratio = (ours / pub)[np.isfinite(pub)]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.01)
    assert np.mean(np.abs(ratio - 1) < 0.15) > 0.8


def test_overlay_round_trip_and_load(generator, database, tmp_path, monkeypatch):
    from nextsm.database import load_database

    overlay = generator.sample(np.random.default_rng(2), seed=2)
    overlay.write(tmp_path / "fake")
    again = read_overlay(tmp_path / "fake")
    assert again.digest == overlay.digest
    fake = load_database(tmp_path / "fake")
    assert fake.content_hash != database.content_hash
    assert fake.path == str(tmp_path / "fake")
    f, r = generator.folders[0], generator.regions[0]
    assert fake.analysis(f).dataset(r).observed_n == overlay.em[f][r][0]
    # the base database is found through NEXTSM_DATABASE when the recorded path is gone
    data = json.loads((tmp_path / "fake" / "fake.json").read_text())
    data["base"]["path"] = str(tmp_path / "gone.tar.gz")
    (tmp_path / "moved").mkdir()
    (tmp_path / "moved" / "fake.json").write_text(json.dumps(data))
    monkeypatch.setenv("NEXTSM_DATABASE", database.path)
    assert load_database(tmp_path / "moved").content_hash == fake.content_hash


def test_a_fake_of_another_database_is_refused(generator, database, tmp_path):
    from dataclasses import replace

    overlay = replace(generator.sample(np.random.default_rng(2)), base_hash="0" * 64)
    with pytest.raises(FakeDatabaseError, match=r"base\.content_hash"):
        apply_overlay(database, overlay)
    (tmp_path / "fake.json").write_text('{"format": "nextsm-fake-1", "base": {}}')
    with pytest.raises(FakeDatabaseError, match=r"fake\.json"):
        read_overlay(tmp_path)


def test_technical_injection_adds_exactly_the_predicted_signal(database):
    from nextsm.theory.predictions import Predictor

    predictor = Predictor(database)
    gen = FakeGenerator(database, FakeSettings(fixed_backgrounds=True, fixed_signals=True))
    overlay = gen.sample(np.random.default_rng(0), inject=stop_model(), predictor=predictor)
    predictions = predictor.predict(stop_model(), likelihoods="none")
    em = [p for p in predictions if p.type == "EM" and (p.folder, str(p.dataset)) in
          set(zip(gen.folders, gen.regions, strict=True))]
    assert em
    for p in em[:50]:
        b = database.analysis(p.folder).dataset(p.dataset).expected_bg
        assert overlay.em[p.folder][str(p.dataset)][0] == pytest.approx(b + p.yields[0], rel=1e-12)
    ul = [p for p in predictions if p.type == "UL" and p.expected_upper_limit_fb]
    assert any(overlay.ul[p.folder]["None"][p.txnames[0]].added for p in ul)
    # the injected model, judged on its own technical fake, is excluded by no UL map (r = σ/(UL_exp + σ) < 1)
    real = {p.key: p for p in predictions if p.type == "UL"}
    on_fake = [p for p in Predictor(apply_overlay(database, overlay)).predict(stop_model(), likelihoods="none")
               if p.type == "UL"]
    assert len(on_fake) == len(real) > 20
    assert max(real[p.key].r_obs for p in on_fake) > 10
    assert all(p.r_obs < 1.0 for p in on_fake)


def test_fake_generation_is_fast(generator):
    import time

    t0 = time.perf_counter()
    generator.sample(np.random.default_rng(0))
    assert time.perf_counter() - t0 < 3.0  # the 1 s target: benchmarks/bench_fakedb.py; 3× headroom for loaded CI


@pytest.fixture(scope="module")
def one_workspace(database, database_source):
    """A sub-database of one analysis with a pyhf workspace (a fake's workspaces cost seconds each to set up)."""
    from dataclasses import replace

    analysis = next(a for a in database.analyses if a.info.json_files and not a.missing_workspaces()
                    and len(a.info.json_files) == 1)
    return replace(database, analyses=(analysis,)), database_source


def test_workspace_fakes_sample_main_and_auxiliary_data(one_workspace):
    db, source = one_workspace
    fixed = FakeGenerator(db, FakeSettings(fixed_backgrounds=True), source=source)
    (ws,) = fixed.workspaces
    nominal = fixed.sample(np.random.default_rng(0)).workspaces[ws.folder][ws.file]
    np.testing.assert_allclose(nominal, ws.model.expected_data(0.0), rtol=1e-9)
    sampled = FakeGenerator(db, source=source)
    rng = np.random.default_rng(4)
    draws = np.array([sampled.sample(rng).workspaces[ws.folder][ws.file] for _ in range(300)])
    n_main = ws.model.n_main
    main_mean = ws.background[:n_main]
    pull = (draws[:, :n_main].mean(axis=0) - main_mean) / np.sqrt(np.maximum(main_mean, 1e-9) / len(draws))
    assert np.all(np.abs(pull[main_mean > 1]) < 5)
    normal = [(sl, w) for sl, kind, w in ws.constraints if kind == "normal"]
    assert normal
    for sl, w in normal:
        np.testing.assert_allclose(draws[:, n_main:][:, sl].std(axis=0), w, rtol=0.2)  # systematics fluctuate


def test_workspace_fake_data_reach_the_likelihood(one_workspace):
    from nextsm.likelihoods.histfactory import HistFactoryModel

    db, source = one_workspace
    gen = FakeGenerator(db, source=source)
    (ws,) = gen.workspaces
    overlay = gen.sample(np.random.default_rng(9))
    fake = apply_overlay(db, overlay)
    model = HistFactoryModel.from_analysis(fake.analyses[0], ws.file, source)
    np.testing.assert_allclose(model.data_vector(), overlay.workspaces[ws.folder][ws.file], rtol=1e-9)
    assert not np.allclose(model.data_vector(), ws.model.data_vector())
    from dataclasses import replace

    broken = replace(fake.analyses[0], workspace_data={ws.file: (1.0, 2.0)})
    with pytest.raises(Exception, match="replacement data have 2 entries"):
        HistFactoryModel.from_analysis(broken, ws.file, source)
