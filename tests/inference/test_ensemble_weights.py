"""w_i f_i ensembles: the maximum-likelihood weights recover known weights, their covariance covers."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.inference.ensemble_weights import (
    EnsembleWeights,
    endpoint_uncertainty,
    fit_ensemble_weights,
    propagate,
)
from nextsm.inference.errors import InferenceError

TRUE_W = np.array([0.2, 0.5, 0.3])


def _members(x):
    """Three normalised basis ratios on U(0, 1): 1, 2x, 3x² (each has E_ref f = 1)."""
    return np.stack([np.ones_like(x), 2 * x, 3 * x**2])


def _draw(rng, n1, n0):
    """Numerator from r(x) = Σ w*_i f_i(x) on U(0,1) (accept–reject, max r = r(1) = 2.1), reference U(0,1)."""
    cand = rng.random(4 * n1)
    keep = cand[rng.random(cand.size) * 2.1 < TRUE_W @ _members(cand)][:n1]
    return _members(keep), _members(rng.random(n0))


def test_recovers_known_weights_and_covers():
    rng = np.random.default_rng(0)
    pulls, pulls_hessian = [], []
    for _ in range(300):
        f1, f0 = _draw(rng, 1500, 1500)
        fit = fit_ensemble_weights(f1, f0)
        assert fit.normalisation == pytest.approx(1.0, abs=1e-8)  # Σ_i w_i f̄_i = 1 at the optimum
        # the weights are determined up to the normalisation: look at the component orthogonal to f̄
        direction = np.array([1.0, -2.0, 1.0]) / np.sqrt(6)
        pulls.append(direction @ (fit.weights - TRUE_W) / np.sqrt(direction @ fit.covariance @ direction))
        pulls_hessian.append(direction @ (fit.weights - TRUE_W)
                             / np.sqrt(direction @ fit.hessian_covariance @ direction))
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 0.2, pulls.mean()
    assert 0.85 < pulls.std() < 1.15, pulls.std()
    assert np.mean(np.abs(pulls) < 1) == pytest.approx(0.683, abs=0.07)
    # with N0 = N1 the reference sample matters: the inverse Hessian alone under-covers
    assert np.std(pulls_hessian) > 1.15 * pulls.std()  # measured: pull std 1.01 (sandwich), 1.35 (Hessian)


def test_weights_of_near_copies_and_a_wrong_member():
    rng = np.random.default_rng(1)
    f1, f0 = _draw(rng, 20_000, 20_000)
    truth1, truth0 = TRUE_W @ f1, TRUE_W @ f0
    # members: the truth with small multiplicative noise, and a clearly wrong one (flat)
    noisy1 = np.stack([truth1 * (1 + 0.02 * np.sin(7 * k + 11 * f1[1])) for k in range(3)] + [np.ones_like(truth1)])
    noisy0 = np.stack([truth0 * (1 + 0.02 * np.sin(7 * k + 11 * f0[1])) for k in range(3)] + [np.ones_like(truth0)])
    fit = fit_ensemble_weights(noisy1, noisy0)
    assert abs(fit.weights[3]) < 0.1  # the wrong member is switched off
    assert fit.weights[:3].sum() == pytest.approx(1.0, abs=0.1)
    x_test = np.linspace(0, 1, 50)
    test_members = np.stack([TRUE_W @ _members(x_test) * (1 + 0.02 * np.sin(7 * k + 22 * x_test)) for k in range(3)]
                            + [np.ones_like(x_test)])
    err = fit.ratio(test_members) - TRUE_W @ _members(x_test)
    naive = test_members.mean(axis=0) - TRUE_W @ _members(x_test)  # equal weights
    assert np.sqrt(np.mean(err**2)) < 0.3 * np.sqrt(np.mean(naive**2))
    assert np.all(fit.ratio_std(test_members) > 0)


def test_propagation_and_endpoints():
    cov = np.diag([0.04, 0.01])
    np.testing.assert_allclose(propagate([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]], cov), [0.2, 0.2, np.sqrt(0.52)])
    x = np.linspace(-3, 3, 601)
    lo, slo, hi, shi = endpoint_uncertainty(x, x**2, np.full(x.size, 0.2), 1.0)
    assert lo == pytest.approx(-1.0, abs=1e-4)
    assert hi == pytest.approx(1.0, abs=1e-4)
    assert slo == pytest.approx(0.1, rel=1e-2)  # σ_q / |q'| = 0.2 / 2
    assert shi == pytest.approx(0.1, rel=1e-2)


def test_errors_name_the_parameter():
    with pytest.raises(InferenceError, match="'members'"):
        fit_ensemble_weights(np.ones((3, 10)), np.ones((2, 10)))
    with pytest.raises(InferenceError, match="'numerator'"):
        fit_ensemble_weights(-np.ones((2, 10)), np.ones((2, 10)))
    with pytest.raises(InferenceError, match="'covariance'"):
        propagate(np.ones((2, 3)), np.eye(2))
    fit = EnsembleWeights(np.ones(2), np.eye(2), np.eye(2), 1.0, 1)
    with pytest.raises(InferenceError, match="'members'"):
        fit.ratio(np.ones((3, 4)))
