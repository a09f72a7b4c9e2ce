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
