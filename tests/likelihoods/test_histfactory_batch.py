"""Vectorised profile fits (jax) agree with pyhf's SLSQP fits, hypothesis by hypothesis."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.errors import LikelihoodError

pytest.importorskip("jax")

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
def model(database, database_source):
    from nextsm.likelihoods.histfactory import HistFactoryModel

    analysis = database.analysis("ATLAS-SUSY-2018-14-eff")
    return HistFactoryModel.from_analysis(analysis, "Comb_bkgonly.json", database_source, backend="jax")


def test_batched_labels_equal_slsqp_labels(model):
    from nextsm.surrogates.labels import Labeller

    rng = np.random.default_rng(7)
    s = rng.uniform(0.0, 8.0, (12, model.n_regions)) * (rng.random((12, model.n_regions)) < 0.7)
    s[0] = 0.0
    slsqp = Labeller(model, "slsqp")(s)
    batched = Labeller(model, "batched", batch=8)  # 12 hypotheses: one full batch and one padded
    q = batched(s)
    assert np.all(q[0] == 0.0)
    np.testing.assert_allclose(q, slsqp, atol=2e-4, rtol=1e-5)
    assert batched.fallbacks.sum() <= 2  # the quasi-Newton solver converges on (almost) all


def test_batched_profile_refuses_the_numpy_backend(database, database_source):
    from nextsm.likelihoods.histfactory import HistFactoryModel

    analysis = database.analysis("ATLAS-SUSY-2018-14-eff")
    numpy_model = HistFactoryModel.from_analysis(analysis, "SRee_bkgonly.json", database_source)
    with pytest.raises(LikelihoodError, match="backend='jax'"):
        numpy_model.batched_profile("observed")


def test_two_pass_solve_equals_one_full_pass(model):
    rng = np.random.default_rng(11)
    s = rng.uniform(0.0, 20.0, (10, model.n_regions)) * np.logspace(0, 2.5, 10)[:, None]
    one = model.batched_profile("observed", batch=10, short_iterations=None)(s)
    two = model.batched_profile("observed", batch=10, short_iterations=1, retry_batch=3)(s)
    np.testing.assert_array_equal(two.converged, one.converged)
    np.testing.assert_allclose(two.nll, one.nll, rtol=0, atol=1e-6)


def test_second_pass_solves_exactly_the_unconverged_rows_in_small_batches(model):
    """The first pass (faked: rows 1, 4, 5 and 8 unconverged) hands only those rows to the full pass."""
    fit = model.batched_profile("observed", batch=10, short_iterations=1, retry_batch=3)
    s = np.arange(1.0, 11.0)[:, None] * np.ones((10, model.n_regions))
    bad = np.array([1, 4, 5, 8])
    calls = []

    def short(padded):
        decrement = np.where(np.isin(padded[:, 0], s[bad, 0]), 1.0, 0.0)
        return np.full(len(padded), -1.0), decrement, np.ones(len(padded))

    def full(padded):
        calls.append(padded[:, 0].copy())
        return -padded[:, 0], np.zeros(len(padded)), np.ones(len(padded))

    fit._short, fit._solve = short, full
    result = fit(s)
    assert [len(c) for c in calls] == [3, 3]  # 4 rows in padded batches of 3
    np.testing.assert_array_equal(np.concatenate(calls)[:4], s[bad, 0])
    expected = np.full(10, -1.0)
    expected[bad] = -s[bad, 0]
    np.testing.assert_array_equal(result.nll, expected)
    assert result.converged.all()


def test_batched_profile_checks_its_pass_options(model):
    with pytest.raises(LikelihoodError, match="short_iterations"):
        model.batched_profile("observed", short_iterations=0)
    with pytest.raises(LikelihoodError, match="retry_batch"):
        model.batched_profile("observed", retry_batch=0)
