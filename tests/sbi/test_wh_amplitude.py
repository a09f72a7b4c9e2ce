"""The analytic q q̄' → W h → ℓ ν h amplitude with O_HW / O_HW~ (no Pythia needed)."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.sbi.errors import SBIError
from nextsm.sbi.events import WeightedEvents
from nextsm.sbi.morphing import Morphing
from nextsm.sbi.sampling import joint_quantities
from nextsm.sbi.simulators.wh import amplitude as amp

EW = amp.ElectroweakParameters()
BENCHMARKS = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [1.0, 1.0]])


def _random_configs(n: int, seed: int, *, k2: float | None = None):
    """Random partonic configurations, boosted along z like hadron-collider events."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(220.0, 900.0, n) ** 2
    k2v = np.full(n, EW.m_w**2) if k2 is None else np.full(n, k2)
    p = amp.partonic_momenta(s, rng.uniform(-1, 1, n), rng.uniform(-np.pi, np.pi, n), rng.uniform(-1, 1, n),
                             rng.uniform(-np.pi, np.pi, n), k2v)
    beta = np.zeros((n, 3))
    beta[:, 2] = rng.uniform(-0.8, 0.8, n)
    return tuple(amp._boost(q, beta) for q in p)


def _decay_grid(s: float, cos_theta: float, phi: float, n: int = 48):
    """Gauss–Legendre (cos θ*) × uniform (φ*) grid of the W decay and its weights (summing to 1)."""
    x, w = np.polynomial.legendre.leggauss(n)
    phis = (np.arange(n) + 0.5) / n * 2 * np.pi
    cs, ps = np.meshgrid(x, phis, indexing="ij")
    weights = (np.repeat(w[:, None], n, axis=1) / (2 * n)).ravel()
    return amp.partonic_momenta(s, cos_theta, phi, cs.ravel(), ps.ravel(), EW.m_w**2), weights


@pytest.mark.parametrize("sqrt_s", [210.0, 400.0, 1500.0])
def test_sm_limit_matches_analytic_dsigma_dcos(sqrt_s):
    s = sqrt_s**2
    lam = ((s - EW.m_w**2 - EW.m_h**2) ** 2 - 4 * EW.m_w**2 * EW.m_h**2) / s**2
    for cos_theta in (-0.95, -0.4, 0.0, 0.7):
        p, w = _decay_grid(s, cos_theta, 0.3)
        me2 = amp.matrix_element_squared(*p[:4], [0.0, 0.0])[0]
        # narrow width: |k² - m² + i mΓ|² → (mΓ)² at k² = m², ∫dk²/2π |prop|² = 1/(2 mΓ)
        avg = np.sum(w * me2) * (EW.m_w * EW.gamma_w) ** 2
        dsigma = avg / (2 * s) * np.sqrt(lam) / (16 * np.pi) / (2 * EW.m_w * EW.gamma_w) / (8 * np.pi)
        np.testing.assert_allclose(dsigma, amp.sm_dsigma_dcos(s, cos_theta), rtol=1e-10)


def test_components_reproduce_the_summed_amplitude():
    p = _random_configs(500, 1, k2=70.0**2)
    theta = np.random.default_rng(2).uniform(-3, 3, (12, 2))
    direct = amp.matrix_element_squared(*p[:4], theta)
    comps = amp.matrix_element_components(*p[:4])
    alpha = Morphing(BENCHMARKS, 2, amp.PARAMETER_NAMES).components(theta)
    np.testing.assert_allclose(alpha @ comps.T, direct, rtol=1e-11)
    assert np.all(comps[:, 0] > 0)
    # every structure is there: the interferences are not identically zero
    assert np.all(np.abs(comps[:, 1:]).max(axis=0) > 1e-3 * comps[:, 0].max())


def test_currents_are_conserved_and_lorentz_invariant():
    p1, p2, p3, p4, _ = _random_configs(200, 3)
    jq, jl = amp.weyl_current(p2, p1), amp.weyl_current(p3, p4)
    for j, a, b in ((jq, p1, p2), (jl, p3, p4)):
        scale = np.linalg.norm(j, axis=1) * (a[:, 0] + b[:, 0])
        assert np.all(np.abs(amp.minkowski_dot(j, a + b)) < 1e-12 * scale)
        assert np.all(np.abs(amp.minkowski_dot(j, a - b)) < 1e-12 * scale)  # ū(p) p̸ = 0 for each leg
        other = a + 2 * b + np.array([30.0, 5.0, -7.0, 11.0])
        assert np.all(np.abs(amp.minkowski_dot(j, other)) > 1e-3 * scale)  # not a trivially small vector
    comps = amp.matrix_element_components(p1, p2, p3, p4)
    beta = np.random.default_rng(4).uniform(-0.45, 0.45, (200, 3))
    boosted = amp.matrix_element_components(*(amp._boost(q, beta) for q in (p1, p2, p3, p4)))
    np.testing.assert_allclose(boosted, comps, rtol=1e-8, atol=1e-10 * np.abs(comps).max())


def test_cp_conjugate_event_flips_the_sign_of_c_hwtilde():
    """CP maps W⁺h (u, d̄ → ν, ℓ⁺) onto W⁻h (d, ū → ℓ⁻, ν̄) with mirrored momenta: |M(c̃)|² = |M_CP(-c̃)|²."""
    p1, p2, p3, p4, _ = _random_configs(300, 5, k2=85.0**2)
    parity = np.array([1.0, -1.0, -1.0, -1.0])
    comps = amp.matrix_element_components(p1, p2, p3, p4)
    cp = amp.matrix_element_components(p2 * parity, p1 * parity, p4 * parity, p3 * parity)
    sign = np.array([1, -1, 1, 1, -1, 1])
    np.testing.assert_allclose(cp, comps * sign, rtol=1e-9, atol=1e-12 * np.abs(comps).max())
    assert np.abs(comps[:, 1]).max() > 1e-2 * comps[:, 0].max()  # the check has teeth


@pytest.mark.parametrize("sqrt_s", [250.0, 700.0])
def test_cp_odd_interference_integrates_to_zero_in_cp_even_observables(sqrt_s):
    """At fixed (ŝ, θ) — CP-even production variables — the c̃ interference vanishes after the decay integral."""
    for cos_theta in (-0.5, 0.2, 0.9):
        p, w = _decay_grid(sqrt_s**2, cos_theta, 1.1)
        comps = amp.matrix_element_components(*p[:4])
        sm = np.sum(w * comps[:, 0])
        assert abs(np.sum(w * comps[:, 1])) < 1e-12 * sm
        assert abs(np.sum(w * comps[:, 4])) < 1e-12 * sm  # c̃ c is CP-odd as well
        assert np.abs(comps[:, 1]).max() > 0.05 * comps[:, 0].max()  # it is not zero point by point
        assert np.sum(w * comps[:, 2]) > 0.1 * sm  # the CP-even interference survives


def test_sm_score_is_linear_over_sm_term():
    p = _random_configs(400, 6)
    comps = amp.matrix_element_components(*p[:4])
    base = np.random.default_rng(7).uniform(0.5, 1.5, 400) * 1e-3
    bw = base[:, None] * amp.reweighting_factors(comps, BENCHMARKS)
    np.testing.assert_allclose(bw[:, 0], base, rtol=1e-13)
    morph = Morphing(BENCHMARKS, 2, amp.PARAMETER_NAMES)
    events = WeightedEvents(np.zeros((400, 1)), bw, morph, np.zeros(400, np.int64), ("x",), ("signal",))
    _, t = joint_quantities(events, np.arange(400), np.zeros((400, 2)), np.zeros(2))
    sig_sm = base.sum()
    sig_lin = (base[:, None] * comps[:, [1, 2]] / comps[:, :1]).sum(axis=0)
    expected = comps[:, [1, 2]] / comps[:, :1] - sig_lin / sig_sm
    np.testing.assert_allclose(t, expected, rtol=1e-9, atol=1e-12)
    assert np.abs(expected).max() > 0.1


def test_errors_name_the_parameter():
    with pytest.raises(SBIError, match="'p_quark'"):
        amp.hww_amplitudes(np.zeros((3, 3)), np.zeros((3, 4)), np.zeros((3, 4)), np.zeros((3, 4)))
    with pytest.raises(SBIError, match="'p_\\*'"):
        amp.hww_amplitudes(np.ones((3, 4)), np.ones((2, 4)), np.ones((3, 4)), np.ones((3, 4)))
    with pytest.raises(SBIError, match="'s_hat'"):
        amp.sm_dsigma_dcos(150.0**2, 0.0)
    with pytest.raises(SBIError, match="'cutoff'"):
        amp.ElectroweakParameters(cutoff=0.0)
    with pytest.raises(SBIError, match="'components'"):
        amp.reweighting_factors(np.zeros((2, 6)), BENCHMARKS)


def test_decay_grid_averages():
    p = _random_configs(50, 8)
    plus, w = amp.decay_grid(*p[:4], (1.0, 0.0))
    minus, _ = amp.decay_grid(*p[:4], (-1.0, 0.0))
    sm, _ = amp.decay_grid(*p[:4], (0.0, 0.0))
    np.testing.assert_allclose(w.sum(), 1.0)
    np.testing.assert_allclose(plus @ w, minus @ w, rtol=1e-10)  # no linear c̃ term after the decay average
    assert np.all(plus @ w > sm @ w)  # the c̃² term is positive
    assert np.abs(plus - minus).max() > 0.1 * sm.max()  # while point by point c̃ matters
    with pytest.raises(SBIError, match="'theta'"):
        amp.decay_grid(*p[:4], [[0.0, 0.0], [1.0, 0.0]])
