"""The contract every neural surrogate must meet (style guide R12), parametrised over all surrogates.

The parameters are every surrogate shipped as ``src/nextsm/surrogates/data/*.json`` (numpy only) plus
one network trained on the closed-form Gaussian toy (needs torch; skipped without it).  Each must

* give finite q of shape (H, 4) / (4,) inside its domain, and q(0) = 0 exactly;
* where its card declares ``monotonic: true``: have q_apriori(t·d) non-decreasing in t ≥ 0 along a few
  directions d ≥ 0, up to ``card["monotonic_tolerance"]`` (default 0.01 in q);
* survive a save/load round trip with identical outputs;
* agree with the exact reference points of its card, ``card["reference_points"]`` =
  ``{"signal": [[...]], "q": [[...]], "atol": a, "rtol": r}``, within ``a + r·|q|``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nextsm.surrogates
from nextsm.surrogates import VARIANTS, SurrogateNetwork, load, save

SHIPPED = sorted((Path(nextsm.surrogates.__file__).parent / "data").glob("*.json"))


@pytest.fixture(params=["toy", *SHIPPED], ids=lambda p: p if isinstance(p, str) else p.stem)
def surrogate(request) -> SurrogateNetwork:
    if request.param == "toy":
        net, _ = request.getfixturevalue("toy_trained")
        return net
    return load(request.param)


def inside_points(net: SurrogateNetwork, n: int, seed: int = 0) -> np.ndarray:
    """Random hypotheses inside the domain: each region off with probability 0.3, else uniform."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(size=(n, net.n_regions)) * net.domain.s_max
    s[rng.uniform(size=s.shape) < 0.3] = 0.0
    return s


def directions(net: SurrogateNetwork) -> list[np.ndarray]:
    """Unit vectors of every region (with room to grow), the diagonal and three random positive mixes."""
    n = net.n_regions
    dirs = [np.eye(n)[i] for i in range(n) if net.domain.s_max[i] > 0]
    dirs.append(np.ones(n))
    dirs.extend(np.random.default_rng(1).uniform(0.1, 1.0, (3, n)))
    return dirs


def test_outputs_finite_with_the_right_shape(surrogate):
    s = inside_points(surrogate, 300)
    assert np.all(surrogate.check_domain(s))
    q = surrogate.evaluate(s)
    assert q.shape == (300, len(VARIANTS))
    assert q.dtype == np.float64
    assert np.all(np.isfinite(q))
    single = surrogate.evaluate(s[0])
    assert single.shape == (len(VARIANTS),)
    np.testing.assert_allclose(single, q[0], rtol=1e-12, atol=1e-12)
    q_mean, std = surrogate.evaluate(s, return_std=True)
    assert np.all(np.isfinite(std))
    assert np.all(std >= 0)
    np.testing.assert_array_equal(q_mean, q)


def test_zero_signal_gives_zero(surrogate):
    assert np.all(surrogate.evaluate(np.zeros(surrogate.n_regions)) == 0.0)
    s = inside_points(surrogate, 20)
    s[5] = 0.0
    assert np.all(surrogate.evaluate(s)[5] == 0.0)


def test_q_apriori_rises_along_rays(surrogate):
    if not surrogate.card.get("monotonic", False):
        pytest.skip("the card does not declare monotonic: true")
    tol = float(surrogate.card.get("monotonic_tolerance", 0.01))
    j = VARIANTS.index("apriori")
    for d in directions(surrogate):
        positive = d > 0
        t_max = float(np.min(surrogate.domain.s_max[positive] / d[positive]))
        t = np.linspace(0.0, t_max, 201)
        q = surrogate.evaluate(np.minimum(t[:, None] * d, surrogate.domain.s_max))[:, j]  # no rounding past s_max
        drop = np.maximum.accumulate(q) - q
        assert drop.max() <= tol, (
            f"q_apriori falls by {drop.max():.3g} along d = {d} (t = {t[drop.argmax()]:.3g})"
        )


def test_save_load_round_trip(surrogate, tmp_path):
    save(surrogate, tmp_path / "copy")
    back = load(tmp_path / "copy")
    s = inside_points(surrogate, 200, seed=3)
    np.testing.assert_array_equal(back.evaluate(s), surrogate.evaluate(s))
    assert back.card == surrogate.card
    assert back.region_names == surrogate.region_names
    np.testing.assert_array_equal(back.domain.s_max, surrogate.domain.s_max)


def test_agrees_with_the_reference_points_of_its_card(surrogate):
    ref = surrogate.card.get("reference_points")
    assert ref is not None, f"surrogate {surrogate.name!r} ships without card['reference_points']"
    signal, q_ref = np.asarray(ref["signal"], dtype=float), np.asarray(ref["q"], dtype=float)
    assert q_ref.shape == (len(signal), len(VARIANTS))
    assert len(signal) > 0
    atol, rtol = float(ref["atol"]), float(ref["rtol"])
    q = surrogate.evaluate(signal)
    excess = np.abs(q - q_ref) - (atol + rtol * np.abs(q_ref))
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    assert excess.max() <= 0, (
        f"reference point {worst[0]}, variant {VARIANTS[worst[1]]}: q = {q[worst]:.4g}, "
        f"exact {q_ref[worst]:.4g}, tolerance {atol} + {rtol}·|q|"
    )
