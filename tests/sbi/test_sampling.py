"""Augmented sampling: the weight matrix equals the per-θ loop, unweighting is exact, gold equals the toy's."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.sbi.errors import SBIError
from nextsm.sbi.events import load_events, save_events
from nextsm.sbi.morphing import Morphing, monomial_exponents
from nextsm.sbi.sampling import (
    effective_sizes,
    joint_quantities,
    ratio_training_set,
    score_training_set,
    unweight,
    weight_matrix,
    weighted_ratio_set,
)


def test_monomials_and_morphing_errors():
    assert monomial_exponents(2).tolist() == [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    assert monomial_exponents(3).shape == (10, 3)
    with pytest.raises(SBIError, match="'benchmarks'"):
        Morphing(np.zeros((5, 2)))
    with pytest.raises(SBIError, match="singular"):
        Morphing(np.array([[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [5, 0]], float))


def test_morphing_gradients_are_derivatives(events):
    m = events.morphing
    theta = np.array([[0.3, -0.7], [1.5, 0.2]])
    h = 1e-6
    for j in range(2):
        step = np.zeros(2)
        step[j] = h
        fd = (m.coefficients(theta + step) - m.coefficients(theta - step)) / (2 * h)
        np.testing.assert_allclose(m.coefficient_gradients(theta)[:, j], fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(m.coefficients(m.benchmarks), np.eye(6), atol=1e-12)


def test_weight_matrix_equals_loop(events):
    theta = np.random.default_rng(0).uniform(-1, 1, (7, 2))
    fast = weight_matrix(events, theta, chunk_size=3_000)
    m = events.morphing
    for j, th in enumerate(theta):
        c = m.coefficients(th)[0]
        loop = np.array([sum(c[b] * events.benchmark_weights[i, b] for b in range(6)) for i in range(0, 40_000, 97)])
        np.testing.assert_allclose(fast[j, ::97], loop, rtol=1e-12, atol=1e-15)


def test_unweighting_is_exact_in_distribution():
    rng = np.random.default_rng(1)
    w = np.array([[1.0, 0.0, 3.0, 6.0], [0.0, 5.0, 5.0, 0.0], [2.0, 2.0, 2.0, 4.0]])
    idx = unweight(w, 100_000, rng, theta_chunk=2)
    freq = np.stack([np.bincount(row, minlength=4) / idx.shape[1] for row in idx])
    np.testing.assert_allclose(freq, w / w.sum(1, keepdims=True), atol=0.006)
    assert np.all(freq[w == 0] == 0)
    with pytest.raises(SBIError, match="negative"):
        unweight(-w, 5, rng, negative="error")
    with pytest.raises(SBIError, match="row 0"):
        unweight(np.zeros((1, 3)), 5, rng)
    np.testing.assert_allclose(effective_sizes(w), [10**2 / 46, 2.0, 100 / 28])


def test_joint_quantities_match_closed_form(toy, events):
    rng = np.random.default_rng(4)
    idx = rng.integers(0, len(events), 400)
    theta = rng.uniform(-1, 1, (400, 2))
    log_r, t = joint_quantities(events, idx, theta, [0.0, 0.0])
    # the morphed σ is a finite-sample estimate: compare against the toy with the *sample* σ
    sample_sigma = events.xsec(theta)
    exact_sigma = toy.xsec(theta)
    z, proc = events.z[idx], events.process[idx]
    expect = np.array([toy.joint_log_ratio(z[k:k + 1], proc[k:k + 1], theta[k], [0.0, 0.0])[0, 0]
                       for k in range(400)])
    corr = np.log(exact_sigma / sample_sigma) - np.log(toy.xsec([[0.0, 0.0]])[0] / events.xsec([[0.0, 0.0]])[0])
    np.testing.assert_allclose(log_r, expect + corr, rtol=1e-10, atol=1e-10)
    t_exact = np.stack([toy.joint_score(z[k:k + 1], proc[k:k + 1], theta[k])[0, 0] for k in range(400)])
    grad_corr = (toy.xsec_gradient(theta) / exact_sigma[:, None]
                 - events.morphing.xsec_gradient(theta, events.benchmark_weights) / sample_sigma[:, None])
    np.testing.assert_allclose(t, t_exact + grad_corr, rtol=1e-9, atol=1e-10)


def test_training_sets(events):
    rng = np.random.default_rng(2)
    theta = rng.uniform(-1, 1, (10, 2))
    ts = ratio_training_set(events, theta, 50, rng)
    assert len(ts) == 1000
    assert ts.y.sum() == 500
    assert np.all(np.isfinite(ts.log_r_xz))
    assert ts.t_xz.shape == (1000, 2)
    sally = score_training_set(events, 300, rng)
    assert np.all(sally.theta == 0)
    assert abs(sally.t_xz.mean(0)).max() < 0.5
    wts = weighted_ratio_set(events, rng.uniform(-1, 1, (len(events), 2)))
    n = len(events)
    # class weights are normalised: each class sums to N
    np.testing.assert_allclose([wts.sample_weight[:n].sum() / n, wts.sample_weight[n:].sum() / n], 1.0, rtol=0.05)
    assert len(ts.resample(rng)) == len(ts)


def test_ratio_set_theta_blocks_and_per_theta_gold(events):
    """θ blocks bound the memory without changing the draws; per-θ coefficients equal the row-wise gold."""
    theta = np.random.default_rng(6).uniform(-1, 1, (70, 2))
    one = ratio_training_set(events, theta, 9, np.random.default_rng(7), theta_chunk=1000)
    for chunk in (64, 5):
        part = ratio_training_set(events, theta, 9, np.random.default_rng(7), theta_chunk=chunk)
        for name in ("x", "theta", "y", "log_r_xz", "t_xz"):
            np.testing.assert_array_equal(getattr(part, name), getattr(one, name))
    row_of = {row.tobytes(): i for i, row in enumerate(events.x)}
    idx = np.array([row_of[row.tobytes()] for row in one.x])
    log_r, t = joint_quantities(events, idx, one.theta, [0.0, 0.0])
    np.testing.assert_array_equal(one.log_r_xz, log_r)
    np.testing.assert_array_equal(one.t_xz, t)
    np.testing.assert_array_equal(one.theta[:9], np.repeat(theta[:1], 9, axis=0))
    with pytest.raises(SBIError, match="'theta_chunk'"):
        ratio_training_set(events, theta, 9, np.random.default_rng(7), theta_chunk=0)


def test_event_file_round_trip(events, tmp_path):
    save_events(events, tmp_path / "toy")
    back = load_events(tmp_path / "toy.npz")
    np.testing.assert_array_equal(back.benchmark_weights, events.benchmark_weights)
    np.testing.assert_array_equal(back.x, events.x)
    assert back.morphing.parameter_names == events.morphing.parameter_names
    assert back.metadata["simulator"] == "toy"
