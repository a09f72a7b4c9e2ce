"""Theory predictions on the real database: physics sanity, κ scaling, caches, combination."""

from __future__ import annotations

import math

import pytest

from nextsm.model.protomodel import ProtoModel
from nextsm.theory.predictions import Predictor, best_results

pytestmark = pytest.mark.database

T1, N1 = 1000006, 1000022
STOPS = (-T1, T1)


def stop_model(mass=800.0, lsp=100.0, kappa=1.0):
    return ProtoModel(masses={T1: mass, N1: lsp}, decays={T1: {(N1, 6): 1.0}}, ssmultipliers={STOPS: kappa})


@pytest.fixture(scope="module")
def predictor(database):
    return Predictor(database)


def test_excluded_stop_is_excluded_by_the_stop_searches(predictor):
    model = stop_model()
    xsecs = predictor.cross_sections(model)
    predictions = predictor.predict(model)
    ul = {p.folder: p for p in predictions if p.type == "UL" and p.txnames == ("T2tt",)}
    assert "CMS-SUS-20-002" in ul
    assert "ATLAS-SUSY-2018-12" in ul
    cms = ul["CMS-SUS-20-002"]
    assert cms.xsection_fb == pytest.approx(xsecs[13.0][STOPS])  # BR = 1: σ×BR = σ
    assert cms.r_obs > 5
    assert cms.r_exp > 5
    assert cms.masses == ((800.0, 100.0), (800.0, 100.0))
    assert cms.particles == frozenset({T1, -T1, N1})
    for p in predictions:
        assert p.particles <= {T1, -T1, N1}
        if p.type == "EM":
            assert p.yields[0] == pytest.approx(p.xsection_fb * p.lumi)
            assert p.xsection_fb <= xsecs[p.sqrts][STOPS] * (1 + 1e-9)  # σ × ε ≤ σ
            assert p.r_obs == pytest.approx(p.xsection_fb / p.upper_limit_fb)
    assert {p.sqrts for p in predictions} == {8.0, 13.0}


def test_heavy_stop_is_allowed(predictor):
    predictions = best_results(predictor.predict(stop_model(1600.0, 100.0)))
    assert predictions
    assert max(p.r_obs for p in predictions if p.r_obs is not None) < 1.0


def test_kappa_scales_every_prediction_and_reuses_the_matching_cache(predictor):
    first = {(p.folder, p.dataset, p.txnames): p for p in predictor.predict(stop_model(900.0))}
    cached = len(predictor._match_cache)
    doubled = {(p.folder, p.dataset, p.txnames): p for p in predictor.predict(stop_model(900.0, kappa=2.0))}
    assert len(predictor._match_cache) == cached
    assert doubled.keys() == first.keys()
    for key, p in first.items():
        assert doubled[key].xsection_fb == pytest.approx(2.0 * p.xsection_fb, rel=1e-12)
        if p.r_obs is not None:
            assert doubled[key].r_obs == pytest.approx(2.0 * p.r_obs, rel=1e-12)


def test_sqrts_selection(predictor):
    predictions = predictor.predict(stop_model(), sqrts=(13.0,))
    assert predictions
    assert {p.sqrts for p in predictions} == {13.0}


def test_likelihood_numbers_of_best_results(predictor):
    predictions = predictor.predict(stop_model(1100.0, 300.0))
    best = best_results(predictions)
    with_llhd = [p for p in best if p.nll_bsm is not None]
    assert len(with_llhd) >= 5
    for p in with_llhd:
        assert math.isfinite(p.nll_bsm)
        assert math.isfinite(p.nll_sm)
        assert p.mu_hat >= 0.0
        # μ̂ maximises the likelihood: L(μ̂) ≥ L(0) and L(μ̂) ≥ L(1) is implied by nll(μ) being convex
        if p.mu_hat == 0.0:
            assert p.nll_bsm >= p.nll_sm - 1e-9


def test_combined_prediction_with_a_covariance(database):
    predictor = Predictor(database)
    model = stop_model(1000.0, 200.0)
    predictions = predictor.predict(model, combine=True, likelihoods="best")
    combined = [p for p in predictions if p.type == "combined"]
    assert combined, "some stop analysis with a covariance matrix must give a combined prediction"
    for p in combined:
        ems = [q for q in predictions if q.folder == p.folder and q.type == "EM"]
        assert len(p.yields) == len(p.regions) >= len(ems) > 1
        assert sum(p.yields) == pytest.approx(sum(q.yields[0] for q in ems if q.dataset in p.regions))
        assert p.r_obs is not None
        assert p.r_obs > 0
    # the combined result replaces the best SR in best_results
    folders = [p.folder for p in best_results(predictions) if p.type != "UL"]
    assert len(folders) == len(set(folders))
