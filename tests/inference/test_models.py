"""Model contract, outcome probabilities, toys and the database-result adapter."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.inference import (
    BoundedGaussianMean,
    DatabaseResultModel,
    ExactModel,
    InferenceError,
    LikelihoodModel,
    PoissonCounting,
)
from nextsm.likelihoods.simplified import CorrelatedBackground, PoissonGaussian


def _em_model(**kwargs):
    return DatabaseResultModel(PoissonGaussian([2.0], [2.0], [0.6], **kwargs), [4.0], label="toy SR")


@pytest.mark.parametrize("model", [BoundedGaussianMean(), PoissonCounting(3.0), _em_model()])
def test_models_fulfil_the_contracts(model):
    assert isinstance(model, LikelihoodModel)
    assert isinstance(model, ExactModel)
    outcomes = model.outcomes(5.0)
    probs = model.outcome_probabilities(outcomes, [0.0, 2.0, 5.0])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    ll = model.log_likelihood(outcomes[:7], np.array([0.0, 1.0]))
    assert ll.shape == (7, 2)


@pytest.mark.parametrize("model", [BoundedGaussianMean(), PoissonCounting(3.0, signal=2.0), _em_model()])
def test_samples_follow_the_outcome_probabilities(model):
    rng = np.random.default_rng(11)
    x = model.sample(1.5, 40000, rng)
    if model.continuous:
        edges = np.array([-np.inf, 0.0, 1.0, 1.5, 2.0, 3.0, np.inf])
        freq = np.histogram(x, edges)[0] / x.size
        from scipy.stats import norm

        expected = np.diff(norm.cdf(edges, 1.5, 1.0))
    else:
        freq = np.bincount(x.astype(int), minlength=12)[:12] / x.size
        expected = model.outcome_probabilities(np.arange(12.0), [1.5])[0]
    assert np.all(np.abs(freq - expected) <= 4 * np.sqrt(expected * (1 - expected) / x.size) + 1e-4)


def test_per_dataset_mu_is_used_row_by_row():
    rng = np.random.default_rng(5)
    mu = np.array([0.0, 100.0] * 500)
    x = BoundedGaussianMean().sample(mu, 1000, rng)
    assert np.all(np.abs(x[1::2] - 100.0) < 6)
    assert np.all(np.abs(x[::2]) < 6)


def test_maximum_is_the_bounded_mle():
    model = PoissonCounting(3.0)
    n = np.array([0.0, 3.0, 7.0])
    np.testing.assert_allclose(model.max_log_likelihood(n), model.log_likelihood_at(n, [0.0, 0.0, 4.0]))


@pytest.mark.parametrize("marginalised", [False, True])
def test_database_adapter_uses_the_engine(marginalised):
    model = _em_model(marginalised=marginalised)
    mu = np.array([0.0, 0.5, 2.0])
    for n in (0.0, 3.0):
        engine = PoissonGaussian([n], [2.0], [0.6], marginalised=marginalised)
        expected = -engine.nll(mu, np.full((3, 1), 4.0))
        np.testing.assert_allclose(model.log_likelihood(np.array([n, n]), mu), np.vstack([expected, expected]))
        best = -engine.fit([4.0]).nll_min
        np.testing.assert_allclose(model.max_log_likelihood(np.array([n])), best)


def test_database_adapter_rejects_what_it_cannot_toy():
    cov = CorrelatedBackground([1.0, 2.0], [1.0, 2.0], [[0.25, 0.1], [0.1, 0.36]])
    with pytest.raises(InferenceError, match="'model'"):
        DatabaseResultModel(cov, [1.0, 1.0])
    with pytest.raises(InferenceError, match="'signal'"):
        DatabaseResultModel(PoissonGaussian([1.0], [1.0], [0.3]), [1.0, 2.0])
    two = DatabaseResultModel(PoissonGaussian([1.0, 2.0], [1.0, 2.0], [0.3, 0.4]), [1.0, 2.0])
    with pytest.raises(InferenceError, match="one signal region"):
        two.outcomes(3.0)
    assert two.sample(1.0, 5, np.random.default_rng(0)).shape == (5, 2)


@pytest.mark.parametrize(("call", "name"), [
    (lambda: BoundedGaussianMean(sigma=0.0), "sigma"),
    (lambda: BoundedGaussianMean(lower=1.0, upper=0.0), "lower"),
    (lambda: PoissonCounting(-1.0), "background"),
    (lambda: PoissonCounting(1.0).log_likelihood(np.array([0.5]), [1.0]), "data"),
    (lambda: BoundedGaussianMean().sample(-1.0, 3, np.random.default_rng(0)), "mu"),
])
def test_errors_name_the_parameter(call, name):
    with pytest.raises(InferenceError, match=f"'{name}'"):
        call()


@pytest.mark.database
def test_a_real_efficiency_map_region(database):
    from nextsm.likelihoods.factory import efficiency_map_likelihood

    result = efficiency_map_likelihood(database.analysis("ATLAS-SUSY-2016-07-eff"), regions=["4j_Meff_3000"])
    model = DatabaseResultModel(result.model, [3.0])
    assert model.observed.tolist() == [2.0]
    probs = model.outcome_probabilities(model.outcomes(4.0), [0.0])
    np.testing.assert_allclose(probs.sum(), 1.0, atol=1e-9)
    # background-only mean count = E[max(0, b + δb z)] ≈ b for b/δb = 3.3
    assert np.sum(probs[0] * model.outcomes(4.0)) == pytest.approx(2.0, abs=1e-3)
