"""S+B by composition (nextsm.sbi.composition) against the exact toy, and the morphing-aware component regression."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.inference.mixture import MixtureModel
from nextsm.sbi import inference
from nextsm.sbi.composition import composed_log_ratio, composed_score, signal_fraction
from nextsm.sbi.errors import SBIError
from nextsm.sbi.simulators import ToyConfig, ToyEFTSimulator

THETAS = np.array([[0.0, 0.0], [0.4, 0.0], [0.0, -0.5], [-0.7, 0.6], [1.2, 1.0]])


@pytest.fixture(scope="module")
def parts(toy):
    """Exact ingredients: the signal-only toy (σ_B = 0) and the background density of the full toy."""
    signal = ToyEFTSimulator(ToyConfig(sigma_b=0.0))
    x = toy.sample([0.3, -0.2], 3000, np.random.default_rng(5))[0]
    g_full, g_sig = toy.marginal_components(x), signal.marginal_components(x)
    p_b = (g_full[:, 0] - g_sig[:, 0]) / toy.config.sigma_b
    log_r_s = signal.log_marginal(x, THETAS) - signal.log_marginal(x, [[0.0, 0.0]])
    log_rho = signal.log_marginal(x, [[0.0, 0.0]])[0] - np.log(p_b)
    exact = toy.log_marginal(x, THETAS) - toy.log_marginal(x, [[0.0, 0.0]])
    return signal, x, log_r_s, log_rho, exact


def test_composed_ratio_equals_exact_signal_plus_background(toy, parts):
    signal, _, log_r_s, log_rho, exact = parts
    nu_s = signal.xsec(THETAS)
    composed = composed_log_ratio(log_r_s, log_rho, nu_s, float(signal.xsec([[0, 0]])[0]), toy.config.sigma_b)
    np.testing.assert_allclose(composed, exact, atol=1e-9)
    assert np.abs(exact[1:]).max() > 0.1  # the comparison is not trivial
    wrong = composed_log_ratio(log_r_s, log_rho, np.full(len(THETAS), nu_s[0]), nu_s[0], toy.config.sigma_b)
    assert np.abs(wrong - exact).max() > 1e-2  # the θ-dependence of ν_s matters


def test_composed_likelihood_agrees_with_the_mixture_model(toy, parts):
    """Σ log r_S+B + Poisson rate term = the two-process MixtureModel likelihood, up to a θ-independent constant."""
    signal, x, log_r_s, log_rho, _ = parts
    lumi = 3.0
    w = np.random.default_rng(2).uniform(0.5, 1.5, x.shape[0])
    nu_s, nu_b = lumi * signal.xsec(THETAS), lumi * toy.config.sigma_b
    composed = composed_log_ratio(log_r_s, log_rho, nu_s, nu_s[0], nu_b)
    ll = inference.extended_log_likelihood(composed, w, toy.xsec(THETAS), float(toy.xsec([[0, 0]])[0]), lumi)
    mix = []
    for j in range(len(THETAS)):  # basis (signal at θ_j, background), reference p_s(x|θ0)
        model = MixtureModel(lambda mu: np.ones((np.size(mu), 2)), np.array([nu_s[j], nu_b]), ("signal", "bkg"))
        mix.append(model.log_likelihood(np.stack([log_r_s[j], -log_rho], axis=1), [0.0], w)[0])
    np.testing.assert_allclose(ll - ll[0], np.array(mix) - mix[0], rtol=1e-10, atol=1e-8)


def test_composed_score_is_the_exact_signal_plus_background_score(toy, parts):
    signal, x, _, log_rho, _ = parts
    ref = [[0.0, 0.0]]
    t_s = signal.marginal_score(x, ref)[0]
    nu_s0, grad = float(signal.xsec(ref)[0]), signal.xsec_gradient(ref)[0]
    t = composed_score(t_s, log_rho, nu_s0, toy.config.sigma_b, grad)
    exact = toy.marginal_score(x, ref)[0] + toy.xsec_gradient(ref)[0] / toy.xsec(ref)[0]  # ∇ log n(x|θ)
    np.testing.assert_allclose(t, exact, rtol=1e-8, atol=1e-10)
    f = signal_fraction(log_rho, nu_s0, toy.config.sigma_b)
    assert np.percentile(f, 10) < 0.4 < 0.6 < np.percentile(f, 90)  # a genuine mixture: f varies event by event


def test_composition_rejects_bad_input(parts):
    _, _, log_r_s, log_rho, _ = parts
    with pytest.raises(SBIError, match="nu_background"):
        composed_log_ratio(log_r_s, log_rho, np.ones(len(THETAS)), 1.0, 0.0)
    with pytest.raises(SBIError, match="log_r_signal"):
        composed_log_ratio(log_r_s[:, :10], log_rho, np.ones(len(THETAS)), 1.0, 1.0)


def test_composition_with_a_learned_signal_background_classifier(toy, events, parts):
    """ρ̂ from the weighted, class-balanced pairwise classifier (issue 8's per-process ratio) + exact r_s:
    the composed S+B ratio is much closer to the exact one than the signal-only ratio used as if it were S+B."""
    pytest.importorskip("torch")
    from nextsm.sbi.estimators.pairwise import train_pairwise_ratio
    from nextsm.sbi.training import TrainConfig

    signal, x, log_r_s, _, exact = parts
    w = events.weights([[0.0, 0.0]])[0]
    s, b = events.process == 0, events.process == 1
    rho = train_pairwise_ratio(events.x[s][:8000], events.x[b][:8000], np.random.default_rng(1),
                               config=TrainConfig(hidden=(32, 32), epochs=10, batch_size=256),
                               weights_numerator=w[s][:8000], weights_denominator=w[b][:8000])
    rho = rho.calibrated(events.x[b][8000:16000], w[b][8000:16000])
    nu_s = signal.xsec(THETAS)
    composed = composed_log_ratio(log_r_s, rho.log_ratio(x), nu_s, nu_s[0], toy.config.sigma_b)
    err = np.sqrt(np.mean((composed - exact)[1:] ** 2, axis=1))
    naive = np.sqrt(np.mean((log_r_s - exact)[1:] ** 2, axis=1))  # ignores the background
    assert np.all(err < 0.35 * naive), (err, naive)
