"""SurrogateLikelihood: the StatisticalModel interface on a surrogate, limits against the exact toy, the registry."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.likelihoods.base import StatisticalModel, as_signal_batch
from nextsm.surrogates import SurrogateDomainError
from nextsm.surrogates.io import save
from nextsm.surrogates.likelihood import SurrogateLikelihood
from nextsm.surrogates.registry import ENV_VAR, find_surrogate, surrogate_name


class ExactToy(StatisticalModel):
    """The conftest toy as a likelihood: NLL_v(μ) = q_v(μ s)/2."""

    def __init__(self, toy, asimov_of=None):
        self.toy = toy
        self.n_regions = toy.n_regions
        self._asimov_of = asimov_of

    def nll(self, mu, signal, *, data="observed"):
        sig = as_signal_batch(signal, self.n_regions)
        mu_v = np.broadcast_to(np.asarray(mu, float), (sig.shape[0],))
        q = self.toy.q(mu_v[:, None] * sig)
        col = 1 if (data == "apriori" or self._asimov_of is not None) else 0
        return 0.5 * q[:, col]

    def asimov(self, data="observed"):
        return ExactToy(self.toy, asimov_of=data)


def test_nll_is_half_the_network_output(make_network):
    net = make_network(n_regions=3)
    model = SurrogateLikelihood(net)
    s = np.random.default_rng(0).uniform(0, 5, (7, 3))
    q = net.evaluate(1.7 * s)
    np.testing.assert_allclose(model.nll(1.7, s), 0.5 * q[:, 0])
    np.testing.assert_allclose(model.nll(1.7, s, data="apriori"), 0.5 * q[:, 1])
    np.testing.assert_allclose(model.asimov("observed").nll(1.7, s), 0.5 * q[:, 2])
    np.testing.assert_allclose(model.asimov("apriori").nll(1.7, s, data="observed"), 0.5 * q[:, 3])
    assert np.all(model.nll(0.0, s) == 0.0)


def test_outside_the_domain_raises_or_falls_back(make_network, toy):
    net = make_network(n_regions=3, s_max=10.0)
    inside, outside = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 200.0, 3.0]])
    with pytest.raises(SurrogateDomainError):
        SurrogateLikelihood(net).nll(1.0, outside)
    exact = ExactToy(toy)
    model = SurrogateLikelihood(net, outside="fallback", fallback=exact)
    both = np.vstack([inside, outside])
    got = model.nll(1.0, both)
    assert got[0] == pytest.approx(0.5 * net.evaluate(inside)[0, 0])
    assert got[1] == pytest.approx(exact.nll(1.0, outside)[0] - exact.nll(0.0, outside)[0])
    with pytest.raises(Exception, match="fallback"):
        SurrogateLikelihood(net, outside="fallback")


def test_limits_from_a_trained_surrogate_match_the_exact_likelihood(toy_trained, toy):
    network, _ = toy_trained
    model, exact = SurrogateLikelihood(network, outside="ignore"), ExactToy(toy)
    shapes = toy.sample(30, np.random.default_rng(8)) + 0.2 * toy.sigma  # no all-zero shape
    for expected in ("observed", "apriori"):
        got = model.upper_limit(shapes, expected=expected)
        want = exact.upper_limit(shapes, expected=expected)
        assert np.max(np.abs(got / want - 1)) < 0.05, expected


def test_registry_finds_saved_surrogates_and_checks_the_hash(make_network, tmp_path, monkeypatch):
    net = make_network(card={"workspace_sha256": "ab" * 32})
    folder = tmp_path / "mine"
    folder.mkdir()
    save(net, folder / surrogate_name("ATLAS-SUSY-2018-04-eff", "SRcombined.json"))
    found = find_surrogate("ATLAS-SUSY-2018-04-eff", "SRcombined.json", folders=[folder])
    assert found is not None
    assert found.n_regions == net.n_regions
    assert find_surrogate("ATLAS-SUSY-2018-04-eff", "SRcombined.json", folders=[folder],
                          workspace_sha256="cd" * 32) is None
    assert find_surrogate("ATLAS-SUSY-2018-04-eff", "other.json", folders=[folder]) is None
    monkeypatch.setenv(ENV_VAR, str(folder))
    assert find_surrogate("ATLAS-SUSY-2018-04-eff", "SRcombined.json") is not None
