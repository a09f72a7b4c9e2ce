"""The morphing-aware component regression: targets, prior metric, the quadratic-form bookkeeping, and a small
training on the exact toy."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nextsm.sbi import diagnostics  # noqa: E402
from nextsm.sbi.component_regression import component_training_set  # noqa: E402
from nextsm.sbi.errors import SBIError  # noqa: E402
from nextsm.sbi.estimators.losses import prior_moment_matrix  # noqa: E402
from nextsm.sbi.estimators.ratio import MorphingAwareRatio, xsec_quadratic_form  # noqa: E402
from nextsm.sbi.morphing import monomial_exponents  # noqa: E402
from nextsm.sbi.sampling import score_training_set  # noqa: E402
from nextsm.sbi.training import TrainConfig, train_estimator  # noqa: E402

TH = np.array([[0.6, -0.6], [0.5, 0.0], [0.0, 0.5]])


def test_targets_reproduce_the_joint_weights(toy, events):
    data = component_training_set(events)
    alpha = toy.morphing.components(TH)
    w_ref = events.weights([[0.0, 0.0]])[0]
    # Σ_c α_c(θ) g_c/w_ref × w_ref = w(θ) event by event (exact morphing identity)
    np.testing.assert_allclose((data.component_ratios @ alpha.T).T * w_ref[None, :], events.weights(TH), rtol=1e-9,
                               atol=1e-14)
    np.testing.assert_allclose(data.sample_weight.mean(), 1.0)
    ref = np.array([0.2, -0.1])
    shifted = component_training_set(events, theta_ref=ref)
    np.testing.assert_allclose(shifted.component_ratios @ toy.morphing.components(ref[None])[0], 1.0, rtol=1e-9)


def test_prior_moment_matrix_is_the_prior_average():
    exps = monomial_exponents(2, 2)
    theta = np.random.default_rng(0).uniform(-0.3, 1.2, (400_000, 2))
    alpha = np.prod(theta[:, None, :] ** exps[None], axis=2)
    mc = alpha.T @ alpha / theta.shape[0]
    np.testing.assert_allclose(prior_moment_matrix(exps.tolist(), -0.3, 1.2).numpy(), mc, rtol=0.02, atol=2e-3)


def test_components_are_the_coefficients_of_the_quadratic_form(toy):
    torch.manual_seed(0)
    net = MorphingAwareRatio(3, 2, (8,), "tanh", x_mean=np.zeros(3), x_std=np.ones(3), theta_ref=np.zeros(2),
                             xsec_form=xsec_quadratic_form(toy.morphing, toy.xsec_components()))
    x = torch.randn(20, 3)
    th = torch.tensor(TH, dtype=torch.float32)
    a = torch.cat([torch.ones(len(TH), 1), th], dim=1)
    direct = torch.einsum("ti,nij,tj->tn", a, net.quadratic(x), a)
    alpha = torch.tensor(toy.morphing.components(TH), dtype=torch.float32)
    torch.testing.assert_close(alpha @ net.components(x).T, direct, rtol=1e-5, atol=1e-6)


def test_component_regression_learns_the_toy_ratio(toy, events):
    rng = np.random.default_rng(4)
    sub = events.subset(rng.permutation(len(events))[:20_000], rescale=True)
    est = train_estimator("component_regression", component_training_set(sub),
                          TrainConfig(hidden=(32, 32), epochs=8, batch_size=256, theta_prior=(-1.0, 1.0)), rng,
                          xsec_form=xsec_quadratic_form(toy.morphing, toy.xsec_components()),
                          parameter_names=toy.parameter_names, observable_names=toy.observable_names)
    x = toy.sample(TH[0], 2000, np.random.default_rng(11))[0]
    exact = toy.log_marginal(x, TH) - toy.log_marginal(x, [[0.0, 0.0]])
    rmse = np.sqrt(np.mean((est.log_ratio(x, TH) - exact) ** 2, axis=1))
    assert np.all(rmse < 0.8 * np.sqrt(np.mean(exact**2, axis=1))), rmse  # log r̂ = 0 gives 1.0
    x_ref = toy.sample([0.0, 0.0], 5000, np.random.default_rng(12))[0]
    calib = diagnostics.expectation(est.log_ratio(x_ref, TH), np.ones(len(x_ref))) - 1
    assert np.all(np.abs(calib) < 0.05), calib  # normalisation comes from the regression, not from a constraint


def test_component_regression_needs_its_rows(toy, events):
    with pytest.raises(SBIError, match="component_regression"):
        train_estimator("component_regression", score_training_set(events, 500, np.random.default_rng(0)),
                        TrainConfig(epochs=1), np.random.default_rng(0),
                        xsec_form=xsec_quadratic_form(toy.morphing, toy.xsec_components()),
                        parameter_names=toy.parameter_names, observable_names=toy.observable_names)
