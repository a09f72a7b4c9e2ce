"""``explain`` evaluates a model exactly as the walker does: the same K and μ̂ as the run store holds."""

from __future__ import annotations

import pytest

from nextsm.machine import Combinability, k_statistic
from nextsm.machine.explain import explain, without_particle
from nextsm.machine.store import RunStore
from nextsm.machine.walker import Walker, evaluate
from nextsm.model.errors import ModelError
from nextsm.model.protomodel import ProtoModel

pytestmark = pytest.mark.database

#: the best model of `nextsm walk --walkers 4 --steps 300 --seed 1` (walker 1, step 158) on database 3.0.0 and the
#: K and μ̂ the walker stored for it; without the walker's cap explain found K = 3.44 at μ̂ = 2.05 (issue 9)
DEMO_BEST = {"masses": {"1000022": 359.97764673573005, "1000003": 811.9637420868593},
             "decays": {"1000003": {"1000022,3": 1.0}},
             "ssmultipliers": {"-1000003,1000003": 0.6668890872006369}}
DEMO_K, DEMO_MU = 2.9349527847422934, 1.4320013409219041
#: how far K and μ̂ of that model may move between library versions: the UL maps are interpolated on a Delaunay
#: triangulation of regular mass grids, whose cocircular points qhull may split differently from one scipy release
#: to another (scipy 1.17.1: K = 2.9461, μ̂ = 1.43255, i.e. r_max moved by 4e-4).  Exact agreement with the walker
#: in one environment is the next test's job.
ACROSS_VERSIONS = 5e-3


@pytest.fixture(scope="module")
def machinery(database):
    from nextsm.theory import Predictor

    return Predictor(database), Combinability.load()


def test_explain_gives_the_stored_k_of_a_hiscore(machinery):
    predictor, lists = machinery
    result = explain(ProtoModel.from_dict(DEMO_BEST), predictor, lists)
    assert pytest.approx(DEMO_K, rel=ACROSS_VERSIONS) == result.K
    assert result.statistic.mu_hat == pytest.approx(DEMO_MU, rel=ACROSS_VERSIONS)
    assert result.statistic.mu_hat == pytest.approx(result.mu_max)  # μ̂ sits at the walker's cap here
    assert result.passed
    assert result.to_dict()["K"] == result.K == result.statistic.K
    # the contributions are differences from this same K: their baseline, refitted on [0, μ_max], is K
    baseline = k_statistic(list(result.results), lists, result.statistic.log_prior, mu_max=result.mu_max)
    assert pytest.approx(result.K, abs=1e-12) == baseline.K
    assert set(result.analysis_contributions) == {p.analysis for p in result.statistic.combination}
    reduced = evaluate(without_particle(ProtoModel.from_dict(DEMO_BEST), 1000003), predictor, lists).statistic
    assert result.particle_contributions == {1000003: pytest.approx(result.K - reduced.K)}
    # the combination table is at μ̂: r-values scaled by it
    by_key = {(p.analysis, p.dataset): p for p in result.statistic.combination}
    for row in result.combination:
        p = by_key[(row["analysis"], row["dataset"])]
        assert row["r_obs"] == pytest.approx(p.r_obs * result.statistic.mu_hat)


def test_explain_agrees_with_every_hiscore_of_a_walk(tmp_path, machinery):
    predictor, lists = machinery
    store = RunStore(tmp_path / "run")
    try:
        Walker(0, 5, predictor, lists, store).run(20)
        top = store.hiscores(5)
    finally:
        store.close()
    assert len(top) >= 2
    for record in top:
        result = explain(ProtoModel.from_dict(record.model), predictor, lists, contributions=False)
        assert pytest.approx(record.K, abs=1e-6) == result.K, (record.walker, record.step)
        assert result.statistic.mu_hat == pytest.approx(record.mu_hat, abs=1e-6)
        assert [(p.analysis, p.dataset) for p in result.statistic.combination] == [
            (c["analysis"], c["dataset"]) for c in record.combination]
        assert [c.to_dict() for c in (result.fast, result.slow)] == record.critics


def test_critics_at_mu_hat_and_at_the_models_kappa(machinery):
    """A model above the limits: the walker caps μ̂ so that it passes; as written (μ = 1) it fails."""
    predictor, lists = machinery
    loud = ProtoModel.from_dict({**DEMO_BEST, "ssmultipliers": {"-1000003,1000003": 5.0}})
    result = explain(loud, predictor, lists, contributions=False)
    assert not result.fast_at_kappa.passed
    assert not result.slow_at_kappa.passed
    assert result.passed
    assert result.statistic.mu_hat <= result.mu_max < 0.2
    assert [c["passed"] for c in result.to_dict()["critics_at_kappa"]] == [False, False]


def test_the_lsp_cannot_be_removed():
    with pytest.raises(ModelError, match="LSP"):
        without_particle(ProtoModel.from_dict(DEMO_BEST), 1000022)
