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


def test_passes_equal_one_long_pass(model):
    from nextsm.likelihoods.histfactory_batch import FINE_STEPS, FitPass

    rng = np.random.default_rng(11)
    s = rng.uniform(0.0, 20.0, (10, model.n_regions)) * np.logspace(0, 2.5, 10)[:, None]
    one = model.batched_profile("observed", passes=(FitPass(40, 10),))(s)
    three = model.batched_profile("observed", passes=(FitPass(1, 10), FitPass(40, 3), FitPass(60, 2, FINE_STEPS)))(s)
    np.testing.assert_array_equal(three.converged, one.converged)
    np.testing.assert_allclose(three.nll, one.nll, rtol=0, atol=1e-6)


def test_later_passes_solve_exactly_the_unconverged_rows_in_small_batches(model):
    """Faked passes: rows 1, 4, 5, 8 are unconverged after the first; the second pass (batches of 3) lowers rows 1
    and 4 but leaves 4 unconverged and does worse on 5; the third sees rows 4, 5 and 8 only."""
    from nextsm.likelihoods.histfactory_batch import FitPass

    fit = model.batched_profile("observed", passes=(FitPass(1, 10), FitPass(1, 3), FitPass(1, 2)))
    s = np.arange(1.0, 11.0)[:, None] * np.ones((10, model.n_regions))
    calls: list[list[float]] = [[], []]

    def first(padded):
        bad = np.isin(padded[:, 0], [2.0, 5.0, 6.0, 9.0])
        return np.full(len(padded), -1.0), np.where(bad, 1.0, 0.0), np.ones(len(padded))

    def second(padded):
        calls[0].extend(padded[:, 0])
        value = np.where(padded[:, 0] == 6.0, 5.0, -padded[:, 0])
        return value, np.where(padded[:, 0] == 2.0, 0.0, 1.0), np.ones(len(padded))

    def third(padded):
        calls[1].extend(padded[:, 0])
        return np.full(len(padded), -100.0), np.zeros(len(padded)), np.ones(len(padded))

    fit._solvers = [first, second, third]
    result = fit(s)
    assert len(calls[0]) == 6
    assert calls[0][:4] == [2.0, 5.0, 6.0, 9.0]
    assert len(calls[1]) == 4
    assert calls[1][:3] == [5.0, 6.0, 9.0]
    expected = np.full(10, -1.0)
    expected[1] = -2.0
    expected[[4, 5, 8]] = -100.0
    np.testing.assert_array_equal(result.nll, expected)
    assert result.converged.all()


def test_batched_profile_checks_its_passes(model):
    from nextsm.likelihoods.histfactory_batch import FitPass

    for bad in [(), (FitPass(0, 10),), (FitPass(5, 0),), (FitPass(5, 10, ()),)]:
        with pytest.raises(LikelihoodError, match="passes"):
            model.batched_profile("observed", passes=bad)
