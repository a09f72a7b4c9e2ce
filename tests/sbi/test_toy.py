"""The exact toy: closed forms against finite differences, quadrature against σ, generator against density."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.sbi.errors import SBIError
from nextsm.sbi.simulators import ExactSimulator, Simulator, ToyConfig, get_simulator

THETAS = np.array([[0.0, 0.0], [0.3, -0.2], [-0.7, 0.5], [1.2, 1.1]])


def test_protocols(toy):
    assert isinstance(toy, Simulator)
    assert isinstance(toy, ExactSimulator)
    assert get_simulator("toy").name == "toy"
    with pytest.raises(SBIError, match="'name'"):
        get_simulator("pythia")
    with pytest.raises(SBIError, match="'beta'"):
        ToyConfig(beta=1.0)


def test_joint_score_is_gradient_of_joint_density(toy, events):
    idx = np.r_[0:250, len(events) - 250:len(events)]
    z, proc = events.z[idx], events.process[idx]
    t = toy.joint_score(z, proc, THETAS)
    h = 1e-6
    for j in range(2):
        step = np.zeros(2)
        step[j] = h
        fd = (toy.log_parton_density(z, proc, THETAS + step) - toy.log_parton_density(z, proc, THETAS - step)) / (2 * h)
        np.testing.assert_allclose(t[:, :, j], fd, rtol=1e-6, atol=1e-7)
    assert np.abs(t[:, proc == 1]).max() > 0  # background events carry -∇ log σ


def test_joint_ratio_matches_amplitude(toy, events):
    z, proc = events.z, events.process
    sig = proc == 0
    th0, th1 = THETAS[1:2], THETAS[3:4]
    log_r = toy.joint_log_ratio(z, proc, th0, th1)[0]
    m0, m1 = toy.matrix_element_squared(z[sig], th0)[0], toy.matrix_element_squared(z[sig], th1)[0]
    direct = np.log(m0 / toy.xsec(th0)[0]) - np.log(m1 / toy.xsec(th1)[0])
    np.testing.assert_allclose(log_r[sig], direct, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(log_r[~sig], np.log(toy.xsec(th1)[0] / toy.xsec(th0)[0]), rtol=1e-12)


def test_morphing_reproduces_direct_matrix_element(toy, events):
    theta = np.random.default_rng(3).uniform(-2, 2, size=(20, 2))
    sig = events.process == 0
    morphed = events.weights(theta)[:, sig]
    n_s = int(sig.sum())
    u = events.z[sig, 0]
    mu2 = toy._mu[2]
    direct = toy.config.sigma_s * toy.matrix_element_squared(events.z[sig], theta) * ((1 + mu2) / (1 + u**2)) / n_s
    np.testing.assert_allclose(morphed, direct, rtol=1e-12, atol=1e-12 * direct.max())


def test_marginal_integrates_to_total_xsec(toy):
    def gl(a, b, n):
        x, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (b - a) * (x + 1) + a, 0.5 * (b - a) * w

    xe, we = gl(0.3, 7.0, 220)
    xp, wp = gl(-np.pi, np.pi, 8)
    xh, wh = gl(-14.0, 14.0, 60)
    grid = np.stack(np.meshgrid(xe, xp, xh, indexing="ij"), axis=-1).reshape(-1, 3)
    weight = (we[:, None, None] * wp[None, :, None] * wh[None, None, :]).reshape(-1)
    g = toy.marginal_components(grid)
    integral = toy.morphing.components(THETAS) @ (g * weight[:, None]).sum(axis=0)
    np.testing.assert_allclose(integral, toy.xsec(THETAS), rtol=2e-6)


def test_quadrature_converged(toy):
    x = toy.simulate(500, np.random.default_rng(9)).x
    fine = type(toy)(ToyConfig(quadrature_nodes=1024))
    np.testing.assert_allclose(toy.log_marginal(x, THETAS), fine.log_marginal(x, THETAS), atol=1e-8)


def test_marginal_score_is_gradient(toy, events):
    x = events.x[:300]
    t = toy.marginal_score(x, THETAS)
    h = 1e-6
    for j in range(2):
        step = np.zeros(2)
        step[j] = h
        fd = (toy.log_marginal(x, THETAS + step) - toy.log_marginal(x, THETAS - step)) / (2 * h)
        np.testing.assert_allclose(t[:, :, j], fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("theta", [[0.0, 0.0], [0.8, -0.4]])
def test_generator_agrees_with_exact_density(toy, events, theta):
    """Weighted MC means of x_E, sin x_φ, x_η² equal the quadrature means (5σ of the MC error)."""
    def features(x):
        return np.stack([x[:, 0], np.sin(x[:, 1]), x[:, 2] ** 2], axis=1)

    # quadrature of the exact marginal on a product grid
    xe, we = np.polynomial.legendre.leggauss(200)
    xe, we = 0.3 + 3.35 * (xe + 1), 3.35 * we
    xp, wp = np.polynomial.legendre.leggauss(8)
    xp, wp = np.pi * xp, np.pi * wp
    xh, wh = np.polynomial.legendre.leggauss(60)
    xh, wh = 14 * xh, 14 * wh
    grid = np.stack(np.meshgrid(xe, xp, xh, indexing="ij"), axis=-1).reshape(-1, 3)
    weight = (we[:, None, None] * wp[None, :, None] * wh[None, None, :]).reshape(-1)
    dens = np.exp(toy.log_marginal(grid, [theta])[0]) * weight
    exact = features(grid).T @ dens
    w = events.weights([theta])[0]
    p = w / w.sum()
    f = features(events.x)
    mc = p @ f
    err = np.sqrt(np.sum(p[:, None] ** 2 * (f - mc) ** 2, axis=0))
    assert np.all(np.abs(mc - exact) < 5 * err), (mc, exact, err)
    # and the exact accept-reject sampler
    x, _, _ = toy.sample(theta, 20_000, np.random.default_rng(5))
    fs = features(x)
    assert np.all(np.abs(fs.mean(0) - exact) < 5 * fs.std(0) / np.sqrt(len(fs)))


def test_sign_sensitivity_of_the_angle(toy):
    """The CP-odd term leaves the rate unchanged at linear order but shifts <sin x_φ>."""
    assert toy.xsec([[0.5, 0.0]])[0] == pytest.approx(toy.xsec([[-0.5, 0.0]])[0], rel=1e-14)
    xp = toy.sample([0.5, 0.0], 20_000, np.random.default_rng(1))[0]
    xm = toy.sample([-0.5, 0.0], 20_000, np.random.default_rng(2))[0]
    diff = np.sin(xm[:, 1]).mean() - np.sin(xp[:, 1]).mean()
    assert diff > 10 * np.sqrt(2 * 0.5 / 20_000)
