"""Augmented sampling: the weight matrix equals the per-θ loop, unweighting is exact, gold equals the toy's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nextsm.sbi.errors import SBIError
from nextsm.sbi.events import WeightedEvents, load_events, save_events
from nextsm.sbi.morphing import Morphing, monomial_exponents
from nextsm.sbi.sampling import (
    EnvelopeSampler,
    effective_sizes,
    joint_quantities,
    ratio_training_set,
    sample_events,
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


@pytest.mark.parametrize("method", ["auto", "inverse-cdf"])
def test_ratio_set_theta_blocks_and_per_theta_gold(events, method):
    """θ blocks bound the memory without changing the draws; per-θ coefficients equal the row-wise gold."""
    theta = np.random.default_rng(6).uniform(-1, 1, (70, 2))
    one = ratio_training_set(events, theta, 9, np.random.default_rng(7), theta_chunk=1000, method=method)
    for chunk in (64, 5):
        part = ratio_training_set(events, theta, 9, np.random.default_rng(7), theta_chunk=chunk, method=method)
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


# ------------------------------------------------------------------------------------- mixture-envelope rejection
def _quadratic_events(extra=()):
    """12 events with w_i(θ) = (1 − θ u_i)² (cancelling near θ = 1), 3 flat ones, plus ``extra`` (g0, g1, g2).

    One parameter, quadratic morphing on benchmarks θ_b = −2, 0.5, 2, so no test point is a benchmark (at a
    benchmark the benchmark basis has acceptance 1).
    """
    u = np.linspace(0.6, 1.4, 12)
    g = np.concatenate([np.stack([np.ones(12), -2 * u, u**2], axis=1), np.tile([0.05, 0.0, 0.0], (3, 1)),
                        np.reshape(np.asarray(extra, float), (-1, 3))])
    morphing = Morphing(np.array([[-2.0], [0.5], [2.0]]), 2, ("theta",))
    bw = g @ morphing.matrix.T  # w_ib = sum_c M_bc g_ic
    n = len(g)
    return WeightedEvents(np.arange(n, dtype=float)[:, None], bw, morphing, np.zeros(n, dtype=np.int64), ("i",),
                          ("p",)), g


def _frequencies(idx, n_events):
    return np.stack([np.bincount(row, minlength=n_events) for row in idx])


def test_rejection_frequencies_match_target_including_cancellation_and_clipping():
    events, g = _quadratic_events(extra=[(0.2, -0.6, 0.2)])  # the last weight is < 0 for 0.38 < θ < 2.62
    theta = np.array([[0.0], [-1.0], [0.6], [1.0], [1.05], [3.0]])
    sampler = EnvelopeSampler.from_events(events)
    acc = sampler.acceptance(theta)
    alpha = events.morphing.components(theta)
    w = alpha @ g.T
    envelope = np.minimum(np.abs(alpha) @ np.abs(g).sum(0),
                          np.abs(events.morphing.coefficients(theta)) @ np.abs(events.benchmark_weights).sum(0))
    np.testing.assert_allclose(acc, np.clip(w.sum(1) / envelope, 0, 1), rtol=1e-12)
    assert np.all(acc[3:5] < 0.1)  # strong cancellation around θ = 1
    n = 40_000
    idx = sampler.sample(theta, n, np.random.default_rng(11))
    counts = _frequencies(idx, len(g))
    target = np.clip(w, 0, None)
    target /= target.sum(1, keepdims=True)
    for j in range(len(theta)):
        assert np.all(counts[j][target[j] == 0] == 0)
        pos = target[j] > 0
        assert stats.chisquare(counts[j][pos], n * target[j][pos]).pvalue > 1e-3, theta[j]
    assert np.all(counts[3:5, -1] == 0)  # the negative weight is clipped, as unweight does


def test_rejection_negative_weights_policy():
    events, _ = _quadratic_events(extra=[(0.2, -0.6, 0.2)])
    clean, _ = _quadratic_events()
    assert EnvelopeSampler.from_events(clean).nonnegative() is True
    assert EnvelopeSampler.from_events(events).nonnegative() is False
    rng = np.random.default_rng(3)
    with pytest.raises(SBIError, match="negative"):  # auto falls back to the inverse CDF, which checks every weight
        sample_events(events, [[1.0]], 10, rng, negative="error")
    with pytest.raises(SBIError, match="nonnegative=True"):
        sample_events(events, [[1.0]], 10, rng, method="rejection", negative="error")
    with pytest.raises(SBIError, match="negative weight"):  # a wrong assertion is caught when a candidate shows it
        sample_events(events, [[1.0]], 2000, rng, method="rejection", negative="error", nonnegative=True)
    ok = sample_events(clean, [[1.0], [0.2]], 50, rng, method="rejection", negative="error")
    assert ok.shape == (2, 50)
    with pytest.raises(SBIError, match="'method'"):
        sample_events(clean, [[1.0]], 5, rng, method="alias")


def test_auto_falls_back_to_inverse_cdf_where_acceptance_is_low():
    events, _ = _quadratic_events()
    sampler = EnvelopeSampler.from_events(events)
    low, high = np.array([[1.0]]), np.array([[0.0]])
    assert sampler.acceptance(low)[0] < 0.1 < 0.99 < sampler.acceptance(high)[0]
    # all θ below the threshold: the same random stream as the inverse CDF, i.e. that path was taken
    np.testing.assert_array_equal(
        sample_events(events, low, 300, np.random.default_rng(5), min_acceptance=0.5, sampler=sampler),
        sample_events(events, low, 300, np.random.default_rng(5), method="inverse-cdf"))
    # mixed: rejection rows first, then the inverse CDF for the rest
    got = sample_events(events, np.vstack([low, high]), 300, np.random.default_rng(6), min_acceptance=0.5)
    rng = np.random.default_rng(6)
    expect_high = sampler.sample(high, 300, rng)
    expect_low = unweight(weight_matrix(events, low), 300, rng)
    np.testing.assert_array_equal(got, np.vstack([expect_low, expect_high]))
    # with min_acceptance=0 every θ is sampled by rejection
    np.testing.assert_array_equal(
        sample_events(events, low, 300, np.random.default_rng(5), min_acceptance=0.0),
        sampler.sample(low, 300, np.random.default_rng(5)))


def test_rejection_matches_inverse_cdf_and_a_wrong_sampler_fails(events):
    """Two-sample χ² on the toy: rejection and inverse CDF agree; drawing from the envelope without the
    acceptance step (|a_c| weights) is rejected by the same test."""
    theta = np.array([[0.9, -0.9], [-1.0, 1.0], [1.0, 0.6]])
    sampler = EnvelopeSampler.from_events(events)
    acc = sampler.acceptance(theta)
    assert np.all((acc > 0.6) & (acc < 0.95))
    assert sampler.nonnegative() is True
    w = weight_matrix(events, theta)
    np.testing.assert_allclose(acc, w.sum(1) / (np.abs(events.morphing.components(theta))
                                                @ np.abs(sampler.basis_weights[:, 6:]).sum(0)), rtol=1e-12)
    n = 30_000
    rej = sample_events(events, theta, n, np.random.default_rng(21), method="rejection")
    inv = sample_events(events, theta, n, np.random.default_rng(22), method="inverse-cdf")
    envelope = np.abs(events.morphing.components(theta)) @ np.abs(sampler.basis_weights[:, 6:]).T
    wrong = unweight(envelope, n, np.random.default_rng(23))
    for j in range(len(theta)):
        # 20 bins of equal target probability in the acceptance ratio w/e, where the wrong sampler differs
        ratio = w[j] / envelope[j]
        order = np.argsort(ratio)
        cdf = np.cumsum(w[j][order]) / w[j].sum()
        edges = np.unique(ratio[order][np.searchsorted(cdf, np.linspace(0, 1, 21)[1:-1])])

        def table(a, b, ratio=ratio, edges=edges):
            t = np.stack([np.bincount(np.searchsorted(edges, ratio[i]), minlength=edges.size + 1) for i in (a, b)])
            return t[:, t.sum(0) > 0]

        assert stats.chi2_contingency(table(rej[j], inv[j])).pvalue > 1e-3
        assert stats.chi2_contingency(table(wrong[j], inv[j])).pvalue < 1e-12
