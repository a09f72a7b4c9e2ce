"""Neyman (toy) intervals for learned ratios (nextsm.sbi.neyman) on a Gaussian location model, where Wilks is exact."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.sbi import coverage, inference, neyman
from nextsm.sbi.errors import SBIError

AXIS = np.linspace(-0.5, 0.5, 21)
N_EVENTS = 3000
N_EXPECTED = 100.0  # events per pseudo-experiment on average: the 68 % interval is ±0.1


@pytest.fixture(scope="module")
def world() -> dict:
    """x ~ N(0, 1_2) as a weighted sample; exact log p(x|θ)/p(x|0) = θ·x - |θ|²/2 on the grid; toys at θ reweight
    the sample by the exact ratio."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(N_EVENTS, 2))
    x -= x.mean(axis=0)
    pts = inference.grid_points(AXIS, AXIS)
    log_r = pts @ x.T - 0.5 * (pts**2).sum(axis=1)[:, None]
    return {"x": x, "pts": pts, "log_r": log_r}


def _toys_at(world: dict, scale: float, seed: int):
    """toys_at(θ, n): log likelihoods of n toys at θ for the ratio exp(scale · log r); scale > 1 is an
    over-confident learned ratio."""
    rng = np.random.default_rng(seed)

    def toys_at(theta: np.ndarray, n_toys: int) -> np.ndarray:
        log_w = theta @ world["x"].T - 0.5 * theta @ theta
        lam = N_EXPECTED / N_EVENTS * np.exp(log_w)
        lam *= N_EXPECTED / lam.sum()  # σ(θ) = σ(0): a pure shape model
        counts = coverage.poisson_pseudo_data(lam, n_toys, rng)
        return coverage.unbinned_toy_log_likelihood(scale * world["log_r"], counts, np.ones(len(world["pts"])),
                                                    1.0, N_EXPECTED)

    return toys_at


def _toys(world: dict, scale: float, n_toys: int, seed: int):
    """toy_log_likelihood(θ) for profile_belt: n_toys toys at θ."""
    toys_at = _toys_at(world, scale, seed)
    return lambda theta: toys_at(theta, n_toys)


def _asimov_ll(world: dict, scale: float) -> np.ndarray:
    return inference.extended_log_likelihood(scale * world["log_r"], np.full(N_EVENTS, N_EXPECTED / N_EVENTS),
                                             np.ones(len(world["pts"])), 1.0, N_EXPECTED)


def test_exact_ratio_critical_values_are_chi2(world: dict) -> None:
    idx = np.arange(4, 17, 4)
    belt = neyman.profile_belt(_toys(world, 1.0, 1500, 1), AXIS, AXIS, 0, idx, np.zeros(idx.size))
    assert belt.statistics.shape == (1500, idx.size)
    np.testing.assert_allclose(belt.critical(0.68), 0.99, atol=0.15)
    np.testing.assert_allclose(belt.critical(0.95), 3.84, atol=0.6)
    t_asimov = neyman.profile_statistics(_asimov_ll(world, 1.0), AXIS, AXIS, 0)
    iv = belt.intervals(AXIS[4:17], t_asimov[:, 4:17], 0.68)
    wilks = inference.interval_from_profile(AXIS, t_asimov[0], 0.68)
    assert iv.lower[0] == pytest.approx(wilks.low, abs=0.015)
    assert iv.upper[0] == pytest.approx(wilks.high, abs=0.015)
    assert wilks.high == pytest.approx(0.1, abs=0.01)


def test_over_confident_ratio_is_repaired(world: dict) -> None:
    """log r̂ = 3 log r: Wilks intervals shrink by √3 and under-cover (44 % at 68 %); the toys triple the
    critical values, so the Neyman interval is the exact one again."""
    idx = np.arange(0, 21, 2)
    belt = neyman.profile_belt(_toys(world, 3.0, 1500, 2), AXIS, AXIS, 1, idx, np.zeros(idx.size))
    np.testing.assert_allclose(belt.critical(0.68)[2:-2], 3 * 0.99, rtol=0.15)
    t_asimov = neyman.profile_statistics(_asimov_ll(world, 3.0), AXIS, AXIS, 1)
    wilks = inference.interval_from_profile(AXIS, t_asimov[0], 0.68)
    assert wilks.high == pytest.approx(0.1 / np.sqrt(3), abs=0.01)
    iv = belt.intervals(AXIS, t_asimov, 0.68)
    assert iv.upper[0] == pytest.approx(0.1, abs=0.015)
    assert iv.lower[0] == pytest.approx(-0.1, abs=0.015)
    # and the repaired intervals cover: fresh toys at a tested point
    truth = np.array([0.0, AXIS[12]])
    t_fresh = neyman.profile_statistics(_toys(world, 3.0, 1000, 3)(truth), AXIS, AXIS, 1)
    ivs = belt.intervals(AXIS, t_fresh, 0.68)
    covered = np.mean((ivs.lower <= truth[1]) & (truth[1] <= ivs.upper))
    assert covered == pytest.approx(0.68, abs=0.05)
    wilks_covered = np.mean(t_fresh[:, 12] < inference.contour_threshold(0.68, 1))
    assert wilks_covered < 0.55


def test_expected_intervals_of_an_over_confident_ratio(world: dict) -> None:
    """The whole recipe (belts for both parameters, Asimov and median intervals, coverage at the truth):
    Wilks fails for 3·log r, Neyman covers and recovers the exact ±0.1."""
    toys_at = _toys_at(world, 3.0, 6)
    res = neyman.expected_neyman_intervals(toys_at, _asimov_ll(world, 3.0), AXIS, [0.0, 0.0], 600, step=2,
                                           parameter_names=("a", "b"), chunk=300)
    for name in ("a", "b"):
        r = res[name]["0.68"]
        assert r["asimov"] == pytest.approx([-0.1, 0.1], abs=0.015)
        assert r["median"] == pytest.approx([-0.1, 0.1], abs=0.02)
        assert r["coverage"] == pytest.approx(0.68, abs=0.06)
        assert r["wilks_coverage"] < 0.55
    with pytest.raises(SBIError, match="theta_true"):
        neyman.expected_neyman_intervals(toys_at, _asimov_ll(world, 3.0), AXIS, [0.01, 0.0], 10)


def test_conditional_nuisance_follows_a_correlated_maximum() -> None:
    a = np.linspace(-1, 1, 21)
    pts = inference.grid_points(a, a)
    ll = -0.5 * (pts[:, 0] - pts[:, 1]) ** 2 - 0.1 * pts[:, 0] ** 2
    # at fixed θ0 the maximum is θ1 = θ0; at fixed θ1 it is θ0 = θ1 / 1.2 (to the nearest grid value)
    np.testing.assert_allclose(neyman.conditional_nuisance(ll, a, a, 0), a, atol=1e-12)
    np.testing.assert_allclose(neyman.conditional_nuisance(ll, a, a, 1), a / 1.2, atol=0.05 + 1e-12)


def test_errors_name_the_parameter(world: dict) -> None:
    toys = _toys(world, 1.0, 10, 4)
    with pytest.raises(SBIError, match="poi_index"):
        neyman.profile_belt(toys, AXIS, AXIS, 0, [3], [0.0])
    with pytest.raises(SBIError, match="nuisance"):
        neyman.profile_belt(toys, AXIS, AXIS, 0, [3, 5], [0.0, 0.01])
    with pytest.raises(SBIError, match="'parameter'"):
        neyman.profile_belt(toys, AXIS, AXIS, 2, [3, 5], [0.0, 0.0])
    with pytest.raises(SBIError, match="columns"):
        neyman.profile_statistics(np.zeros((2, 7)), AXIS, AXIS, 0)
    belt = neyman.profile_belt(toys, AXIS, AXIS, 0, [5, 15], [0.0, 0.0])
    with pytest.raises(SBIError, match="beyond the tested values"):
        belt.critical_at(AXIS, 0.68)
    with pytest.raises(SBIError, match="'cl'"):
        belt.critical(1.5)
    assert set(belt.as_dict()) >= {"poi", "nuisance", "n_toys", "critical_0.68", "critical_0.95"}


def test_joint_belt_of_an_exact_ratio_is_chi2_and_of_a_scaled_one_repairs_the_region(world: dict) -> None:
    """2-D construction: for the exact ratio c_CL ≈ χ²₂(CL) (2.28 at 68 %); for 3·log r the Wilks region shrinks
    to radius 0.1·√(2.28/3) and the toys' critical values (≈ 3 χ²₂) restore the exact disc of radius ≈ 0.151."""
    tested = np.zeros((AXIS.size, AXIS.size), dtype=bool)
    tested[8:13, 8:13] = True
    exact = neyman.joint_belt(_toys(world, 1.0, 1500, 7), AXIS, AXIS, tested)
    assert exact.statistics.shape == (1500, 25)
    np.testing.assert_allclose(exact.critical(0.68), 2.28, rtol=0.15)
    res = neyman.expected_neyman_region(_toys_at(world, 3.0, 8), _asimov_ll(world, 3.0), AXIS, [0.0, 0.0], 800,
                                        q_max=20.0, parameter_names=("a", "b"), cls=(0.68,), chunk=400)
    r = res["0.68"]
    assert r["critical_over_chi2"][1] == pytest.approx(3.0, rel=0.2)
    assert r["critical_over_chi2_on_edge"][1] == pytest.approx(3.0, rel=0.2)
    assert r["wilks_coverage_at_truth"] < 0.5  # the over-confident ratio's Wilks region under-covers
    # exact 68 % disc: |θ| ≤ 0.1·√2.28 = 0.151 → grid points (spacing 0.05) with i² + j² ≤ 9: 29 of them
    assert r["neyman_points"] == pytest.approx(29, abs=4)
    assert r["wilks_points"] <= 9
    assert r["neyman_extent"]["a"] == pytest.approx([-0.15, 0.15], abs=0.051)
    assert not r["open"]


def test_joint_region_flags_an_open_region_and_bad_input(world: dict) -> None:
    tested = np.zeros((AXIS.size, AXIS.size), dtype=bool)
    tested[9:12, 9:12] = True  # a 3×3 patch: the whole 68 % region of 3·log r would extend beyond it
    belt = neyman.joint_belt(_toys(world, 3.0, 300, 9), AXIS, AXIS, tested)
    q = neyman.joint_statistics(_asimov_ll(world, 3.0), AXIS, AXIS)
    region = belt.region(q, 0.68)
    assert region.shape == (1, AXIS.size, AXIS.size)
    assert region[0, 10, 10]
    assert belt.is_open(region)[0]
    assert not np.any(region[0] & ~tested)
    with pytest.raises(SBIError, match="tested"):
        neyman.joint_belt(_toys(world, 1.0, 10, 1), AXIS, AXIS, np.zeros((3, 3), dtype=bool))
    with pytest.raises(SBIError, match="grid shape"):
        belt.region(q[:, :5], 0.68)
    with pytest.raises(SBIError, match="q_max"):
        neyman.expected_neyman_region(_toys_at(world, 1.0, 1), _asimov_ll(world, 1.0), AXIS, [0.0, 0.0], 10,
                                      q_max=-1.0)
