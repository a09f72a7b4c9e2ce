"""Joint likelihood, test statistic and critics."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.likelihoods.simplified import PoissonGaussian
from nextsm.machine import JointModel, allowed_exclusions


def test_joint_model_is_the_product_of_its_members():
    a = PoissonGaussian([5.0], [3.0], [1.0])
    b = PoissonGaussian([12.0], [10.0], [2.5])
    both = PoissonGaussian([5.0, 12.0], [3.0, 10.0], [1.0, 2.5])
    joint = JointModel([a, b])
    sig = np.array([[1.5, 2.0], [0.0, 4.0]])
    for mu in (0.0, 0.7, 2.0):
        np.testing.assert_allclose(joint.nll(mu, sig), both.nll(mu, sig), rtol=1e-12)
        np.testing.assert_allclose(joint.nll(mu, sig, data="apriori"), both.nll(mu, sig, data="apriori"), rtol=1e-12)
    np.testing.assert_allclose(joint.fit(sig).muhat, both.fit(sig).muhat, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(joint.upper_limit(sig), both.upper_limit(sig), rtol=1e-5)


@pytest.mark.parametrize(("n", "k"), [(0, 0), (1, 0), (8, 0), (10, 1), (20, 1), (25, 2), (40, 2), (50, 3),
                                      (60, 4), (80, 5), (100, 6)])
def test_binomial_allowance_matches_the_table_of_the_2025_critic(n, k):
    assert allowed_exclusions(n) == k


@pytest.fixture(scope="module")
def machinery(database):
    from nextsm.machine import Combinability
    from nextsm.theory import Predictor

    return Predictor(database), Combinability.load()


def stop(mass, lsp, kappa=1.0):
    from nextsm.model.protomodel import ProtoModel

    return ProtoModel(masses={1000006: mass, 1000022: lsp}, decays={1000006: {(1000022, 6): 1.0}},
                      ssmultipliers={(-1000006, 1000006): kappa})


@pytest.mark.database
def test_critics_reject_an_excluded_stop_and_accept_a_heavy_one(machinery):
    from nextsm.machine import fast_critic, likelihood_results, slow_critic

    predictor, lists = machinery
    light = predictor.predict(stop(800.0, 100.0))
    verdict = fast_critic(light)
    assert not verdict.passed
    assert verdict.n_excluding > verdict.k_allowed
    assert "CMS-SUS-20-002" in verdict.reason or any(r[0] == "CMS-SUS-20-002" for r in verdict.results)
    slow = slow_critic(likelihood_results(light, predictor), lists)
    assert not slow.passed
    assert slow.r_combined > 1
    heavy = predictor.predict(stop(1700.0, 100.0))
    assert fast_critic(heavy).passed
    assert slow_critic(likelihood_results(heavy, predictor), lists).passed


@pytest.mark.database
def test_fast_critic_with_mu_equals_the_critic_of_the_rescaled_model(machinery):
    from nextsm.machine import fast_critic

    predictor, _ = machinery
    for mu in (0.3, 1.0, 2.5):
        scaled = fast_critic(predictor.predict(stop(1100.0, 200.0)), mu)
        rescaled = fast_critic(predictor.predict(stop(1100.0, 200.0, kappa=mu)))
        assert (scaled.passed, scaled.n_sensitive, scaled.n_excluding) == \
            (rescaled.passed, rescaled.n_sensitive, rescaled.n_excluding)
        for a, b in zip(scaled.results, rescaled.results, strict=True):
            assert a[:3] == b[:3]
            assert a[3] == pytest.approx(b[3], rel=1e-9)


@pytest.mark.database
def test_test_statistic_of_a_single_result_model(machinery):
    from nextsm.machine import k_statistic, likelihood_results

    predictor, lists = machinery
    model = stop(1150.0, 300.0)
    xsecs = predictor.cross_sections(model)
    results = likelihood_results(predictor.predict(model), predictor)
    ts = k_statistic(results, lists, model.log_prior(xsecs[13.0]))
    assert ts.log_prior == pytest.approx(-(2 / 2 + 0 / 4 + 1 / 8))
    assert ts.llr >= 0.0
    assert pytest.approx(ts.llr + 2 * ts.log_prior) == ts.K
    assert ts.combination
    assert ts.mu_hat >= 0.0
    capped = k_statistic(results, lists, ts.log_prior, mu_max=0.5 * ts.mu_hat) if ts.mu_hat > 0 else ts
    assert capped.llr <= ts.llr + 1e-9


@pytest.mark.database
@pytest.mark.validation
def test_the_2021_winner_is_now_excluded_by_cms_sus_20_002(machinery):
    """P21's best protomodel (X_t 1166, X_d 735, X_Z 163 GeV; κ(tt̄) 1.2, κ(dd̄) 0.5) on database 3.0.0."""
    from nextsm.machine import fast_critic, k_statistic, likelihood_results, slow_critic
    from nextsm.model.protomodel import ProtoModel

    predictor, lists = machinery
    model = ProtoModel(masses={1000006: 1166.0, 1000001: 735.0, 1000022: 163.0},
                       decays={1000006: {(1000022, 6): 1.0}, 1000001: {(1000022, 1): 1.0}},
                       ssmultipliers={(-1000006, 1000006): 1.2, (-1000001, 1000001): 0.5})
    predictions = predictor.predict(model)
    cms = [p for p in predictions if p.analysis == "CMS-SUS-20-002" and p.txnames == ("T2tt",)]
    assert cms
    assert cms[0].r_obs > 2
    verdict = fast_critic(predictions)
    assert not verdict.passed
    assert verdict.results[0][0] == "CMS-SUS-20-002"
    results = likelihood_results(predictions, predictor)
    assert not slow_critic(results, lists).passed
    ts = k_statistic(results, lists, model.log_prior(predictor.cross_sections(model)[13.0]))
    assert 0.0 < ts.K < 10.0  # measured 3.70 (llr 7.20, ln π = −1.75, μ̂ = 1.20)


def test_batched_mu_fit_agrees_with_the_golden_section_search():
    from nextsm.likelihoods.limits import minimize_mu
    from nextsm.machine.teststatistic import fit_mu

    rng = np.random.default_rng(0)
    for _ in range(100):
        k = int(rng.integers(1, 6))
        b = rng.uniform(0.5, 50, k)
        n = rng.poisson(b * rng.uniform(0.7, 1.6, k)).astype(float)
        joint = JointModel([PoissonGaussian([n[i]], [b[i]], [b[i] * rng.uniform(0.05, 0.5)]) for i in range(k)])
        s = rng.uniform(0, 10, k)
        hi = float(rng.uniform(0.2, 5))
        mu, nll_hat, nll_0 = fit_mu(joint, s, hi)
        ref = float(minimize_mu(joint, s[None, :], mu_bounds=(0.0, hi)).muhat[0])
        assert 0.0 <= mu <= hi
        assert nll_0 == pytest.approx(float(joint.nll(0.0, s[None, :])[0]))
        assert 2 * (nll_hat - float(joint.nll(ref, s[None, :])[0])) < 1e-4
