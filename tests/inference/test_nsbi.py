"""NSBI toys as LikelihoodModels: exact identities, Neyman coverage with exact toys, a learned ratio plugged in."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.inference import FocusedStatistic, GaussianFocus, LikelihoodModel, LikelihoodRatio, toy_belt
from nextsm.inference.errors import InferenceError
from nextsm.inference.nsbi_models import eft_slice_model, interference_model, quadratic_coefficients
from nextsm.sbi.simulators import ToyEFTSimulator
from nextsm.sbi.simulators.interference import InterferenceToy

GRID = np.linspace(0.0, 4.0, 41)


@pytest.fixture(scope="module")
def eft():
    return ToyEFTSimulator()


@pytest.fixture(scope="module")
def exact_model(eft):
    return eft_slice_model(eft, luminosity=2.0, upper=4.0)


def test_quadratic_coefficients():
    c = np.array([[0.3, -1.0], [2.0, 0.5], [-0.7, 1.5]])
    values = np.stack([c[0] + c[1] * t + c[2] * t**2 for t in (0.0, 1.0, 2.0)])
    np.testing.assert_allclose(quadratic_coefficients(values), c, atol=1e-13)
    with pytest.raises(InferenceError, match="'values'"):
        quadratic_coefficients(np.ones((2, 3)))


def test_eft_slice_equals_exact_extended_likelihood(eft, exact_model):
    assert isinstance(exact_model, LikelihoodModel)
    rng = np.random.default_rng(1)
    events = exact_model.simulate_events(np.array([0.0, 1.5, 3.0]), 3, rng)
    data = exact_model.encode(events)
    theta = np.stack([np.zeros(GRID.size), GRID], axis=1)
    ll = exact_model.log_likelihood(data, GRID)
    for i, x in enumerate(events):
        lumi_sigma = 2.0 * eft.xsec(theta)
        direct = -lumi_sigma + x.shape[0] * np.log(lumi_sigma) + eft.log_marginal(x, theta).sum(axis=1)
        diff = ll[i] - direct
        np.testing.assert_allclose(diff, diff[0], atol=1e-8)  # a data-only constant
    np.testing.assert_allclose(exact_model.log_likelihood_at(data, [0.5, 2.0, 3.3]),
                               [exact_model.log_likelihood(data[i:i + 1], [m])[0, 0] for i, m in
                                enumerate([0.5, 2.0, 3.3])], rtol=1e-12)
    fine = exact_model.log_likelihood(data, np.linspace(0, 4, 4001)).max(axis=1)
    top = exact_model.max_log_likelihood(data)
    assert np.all(top >= fine - 1e-9)
    assert np.all(top <= fine + 1e-4)


def test_events_are_shuffled_across_data_sets(exact_model):
    """The toy's sampler returns signal events first; data sets must still be exchangeable."""
    events = exact_model.simulate_events(1.0, 400, np.random.default_rng(2))
    means = np.array([e[:, 0].mean() for e in events])
    first, last = means[:200].mean(), means[200:].mean()
    assert abs(first - last) < 4 * np.std(means) / np.sqrt(100)


def test_interference_model_exact_equals_mixture_of_exact_ratios():
    toy = InterferenceToy()
    exact = interference_model(toy, upper=4.0)

    def log_ratio(x):
        basis = toy.basis_densities(x)
        return np.log(basis) - np.log(basis[:, 2:3])

    mixture = interference_model(toy, upper=4.0, log_ratio=log_ratio)
    events = exact.simulate_events(np.array([0.0, 1.0, 2.5]), 3, np.random.default_rng(3))
    a = exact.log_likelihood(exact.encode(events), GRID)
    b = mixture.log_likelihood(mixture.encode(events), GRID)
    np.testing.assert_allclose((a - b) - (a - b)[:, :1], 0.0, atol=1e-8)
    np.testing.assert_allclose(exact.expected_events(GRID), toy.yields(GRID), rtol=1e-12)


@pytest.mark.parametrize("statistic", [LikelihoodRatio(), FocusedStatistic(GaussianFocus(0.0, 0.5, n_nodes=201))])
def test_toy_belt_covers_with_exact_toys(exact_model, statistic):
    points = np.array([0.0, 1.0, 2.5])
    rng = np.random.default_rng(5)
    belt = toy_belt(exact_model, statistic, points, 0.683, n_toys=400, rng=rng)
    fresh = exact_model.sample(np.repeat(points, 400), 1200, rng)
    t = statistic.evaluate_at(exact_model, fresh, np.repeat(points, 400)).reshape(3, 400)
    coverage = np.mean(t <= belt.critical[:, None], axis=1)
    sigma = np.sqrt(2 * 0.683 * 0.317 / 400)  # belt and check toys both fluctuate
    assert np.all(np.abs(coverage - 0.683) < 4 * sigma), coverage


def test_learned_morphing_aware_ratio_beats_rate_only(eft, exact_model):
    """A tiny morphing-aware ALICES: its −2Δln L(μ) curves on shared pseudo-data are closer to the exact ones
    than those of the rate-only likelihood (no per-event information)."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)  # the machine is shared
    from nextsm.sbi.estimators.ratio import xsec_quadratic_form
    from nextsm.sbi.sampling import ratio_training_set
    from nextsm.sbi.training import TrainConfig, train_estimator

    rng = np.random.default_rng(0)
    events = eft.simulate(30_000, rng)
    train = ratio_training_set(events, np.stack([np.zeros(80), rng.uniform(-1, 4, 80)], axis=1), 150, rng)
    est = train_estimator("alices", train, TrainConfig(hidden=(32, 32), epochs=8, morphing_aware=True), rng,
                          xsec_form=xsec_quadratic_form(eft.morphing, eft.xsec_components()),
                          parameter_names=eft.parameter_names, observable_names=eft.observable_names)
    learned = eft_slice_model(eft, luminosity=2.0, upper=4.0, estimator=est)
    rate_only = eft_slice_model(eft, luminosity=2.0, upper=4.0, estimator=None)
    object.__setattr__(rate_only, "encoder", lambda x: np.tile([1.0, 0.0, 0.0], (x.shape[0], 1)))
    sets = exact_model.simulate_events(np.repeat([0.5, 2.0], 20), 40, np.random.default_rng(4))

    def q(model):
        ll = model.log_likelihood(model.encode(sets), GRID)
        return -2 * (ll - ll.max(axis=1, keepdims=True))

    exact = q(exact_model)
    err_learned = np.sqrt(np.mean((q(learned) - exact) ** 2))
    err_rate = np.sqrt(np.mean((q(rate_only) - exact) ** 2))
    assert err_learned < 0.5 * err_rate, (err_learned, err_rate)  # measured 0.10 (seeds 0, 1)


def test_errors_name_the_parameter(eft):
    with pytest.raises(InferenceError, match="'luminosity'"):
        eft_slice_model(eft, luminosity=0.0, upper=2.0)
    with pytest.raises(InferenceError, match="'estimator'"):
        eft_slice_model(eft, luminosity=1.0, upper=2.0, estimator=object())
    model = eft_slice_model(eft, luminosity=1.0, upper=2.0)
    with pytest.raises(InferenceError, match="'data'"):
        model.log_likelihood(np.zeros((3, 4)), [1.0])
