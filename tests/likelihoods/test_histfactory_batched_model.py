"""The batched-fit model has the same likelihood, so the same limits, as the SLSQP model."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.errors import LikelihoodError

pytest.importorskip("jax")

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
def models(database, database_source):
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.likelihoods.histfactory_batched_model import BatchedHistFactoryModel

    analysis = database.analysis("ATLAS-SUSY-2018-14-eff")
    exact = HistFactoryModel.from_analysis(analysis, "Comb_bkgonly.json", database_source, backend="jax")
    return exact, BatchedHistFactoryModel(exact, batch=4)


@pytest.fixture(scope="module")
def shapes(models):
    return np.random.default_rng(3).uniform(0.0, 5.0, (3, models[0].n_regions))


def test_nll_equals_the_slsqp_profile(models, shapes):
    exact, batched = models
    mu = np.array([0.0, 0.3, 2.0])
    for data in ("observed", "apriori"):
        np.testing.assert_allclose(batched.nll(mu, shapes, data=data), exact.nll(mu, shapes, data=data),
                                   rtol=0, atol=1e-5)
    asimov = batched.asimov("observed")
    np.testing.assert_allclose(asimov.nll(mu, shapes), exact.asimov("observed").nll(mu, shapes), rtol=0, atol=1e-5)


def test_asimov_free_fit_is_mu_zero(models, shapes):
    exact, batched = models
    fit = batched.asimov("apriori").fit(shapes, data="apriori")
    reference = exact.asimov("apriori").fit(shapes, data="apriori")
    np.testing.assert_array_equal(fit.muhat, 0.0)
    np.testing.assert_allclose(reference.muhat, 0.0, atol=1e-3)
    np.testing.assert_allclose(fit.nll_min, reference.nll_min, rtol=0, atol=1e-6)


@pytest.mark.parametrize("expected", ["observed", "apriori"])
def test_upper_limits_equal_the_slsqp_limits(models, shapes, expected):
    exact, batched = models
    np.testing.assert_allclose(batched.upper_limit(shapes, expected=expected),
                               exact.upper_limit(shapes, expected=expected), rtol=2e-4)


def test_needs_the_jax_backend(database, database_source):
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.likelihoods.histfactory_batched_model import BatchedHistFactoryModel

    analysis = database.analysis("ATLAS-SUSY-2018-14-eff")
    numpy_model = HistFactoryModel.from_analysis(analysis, "SRee_bkgonly.json", database_source)
    with pytest.raises(LikelihoodError, match="backend='jax'"):
        BatchedHistFactoryModel(numpy_model)
