"""Numpy inference of SurrogateNetwork on hand-made networks (no torch needed)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.special import expit

from nextsm.errors import LikelihoodError, NextsmError
from nextsm.surrogates import (
    MLP,
    VARIANTS,
    SurrogateDomain,
    SurrogateDomainError,
    SurrogateFormatError,
    SurrogateNetwork,
)

REFERENCE_ACTIVATIONS = {
    "silu": lambda x: x * expit(x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "softplus": lambda x: np.logaddexp(0.0, x),
}


def reference_q(net: SurrogateNetwork, s: np.ndarray, member: int = 0) -> np.ndarray:
    """The module docstring's formulas, written out plainly: q = y_std (z(s) − z(0))."""
    act = REFERENCE_ACTIVATIONS[net.activation]
    mlp = net.members[member]

    def f(signal: np.ndarray) -> np.ndarray:
        h = (np.log1p(signal / net.s_scale) - net.x_mean) / net.x_std
        for i, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
            h = h @ w + b
            if i < len(mlp.weights) - 1:
                h = act(h)
        return net.y_mean + net.y_std * h

    return f(s) - f(np.zeros_like(s))


@pytest.mark.parametrize("activation", ["silu", "elu", "softplus"])
def test_matches_the_documented_formulas(make_network, activation):
    net = make_network(activation=activation, hidden=(8, 8, 8))
    s = np.random.default_rng(3).uniform(0, 50, (200, 3))
    q = net.evaluate(s)
    assert q.dtype == np.float64
    np.testing.assert_allclose(q, reference_q(net, s), rtol=1e-12, atol=1e-12)


def test_q_is_exactly_zero_at_zero_signal(make_network):
    net = make_network(members=3)
    assert np.all(net.evaluate(np.zeros(3)) == 0.0)
    s = np.random.default_rng(0).uniform(0, 50, (9000, 3))  # spans several blocks of the forward pass
    s[[0, 17, 4095, 4096, 8999]] = 0.0
    q, std = net.evaluate(s, return_std=True)
    assert np.all(q[[0, 17, 4095, 4096, 8999]] == 0.0)
    assert np.all(std[[0, 17, 4095, 4096, 8999]] == 0.0)
    assert np.all(net.member_outputs(np.zeros((2, 3))) == 0.0)


def test_shapes(make_network):
    net = make_network(n_regions=5)
    assert net.n_regions == 5
    assert net.widths == (5, 16, 16, 4)
    assert net.evaluate(np.ones(5)).shape == (len(VARIANTS),)
    assert net.evaluate(np.ones((7, 5))).shape == (7, 4)
    assert net.evaluate(np.ones((0, 5))).shape == (0, 4)
    q, std = net.evaluate(np.ones(5), return_std=True)
    assert q.shape == std.shape == (4,)
    assert net.member_outputs(np.ones((7, 5))).shape == (1, 7, 4)
    for bad in (np.ones(4), np.ones((2, 4)), np.ones((2, 5, 1)), 3.0):
        with pytest.raises(LikelihoodError, match="parameter 'signal' has shape"):
            net.evaluate(bad)


def test_batching_equals_one_by_one(make_network):
    net = make_network(members=2)
    s = np.random.default_rng(5).uniform(0, 50, (50, 3))
    batch = net.evaluate(s)
    single = np.array([net.evaluate(row) for row in s])
    np.testing.assert_allclose(batch, single, rtol=1e-13, atol=1e-13)


def test_domain_mask(make_network):
    net = make_network(s_max=10.0)
    s = np.array(
        [
            [0.0, 0.0, 0.0],
            [10.0, 10.0, 10.0],
            [5.0, 10.000001, 0.0],
            [-1e-9, 1.0, 1.0],
            [np.nan, 1.0, 1.0],
            [1.0, np.inf, 1.0],
        ]
    )
    np.testing.assert_array_equal(net.check_domain(s), [True, True, False, False, False, False])
    assert net.check_domain(np.ones(3)).shape == ()
    assert bool(net.check_domain(np.ones(3)))
    assert not bool(net.check_domain(np.full(3, 11.0)))


def test_outside_raise_names_surrogate_region_and_value(make_network):
    net = make_network(s_max=10.0, name="TOY-2024-01 (pyhf)")
    s = np.ones((4, 3))
    s[2, 1] = 12.5
    s[3, 0] = -2.0
    with pytest.raises(SurrogateDomainError) as info:
        net.evaluate(s)
    message = str(info.value)
    for part in ("TOY-2024-01 (pyhf)", "hypothesis 2", "region 'SR2'", "12.5", "[0, 10.0]", "2 of 4"):
        assert part in message
    assert isinstance(info.value, NextsmError)
    assert isinstance(info.value, ValueError)
    with pytest.raises(SurrogateDomainError, match=r"region 'SR3': signal nan"):
        net.evaluate([1.0, 1.0, np.nan])


def test_outside_nan_and_ignore(make_network):
    net = make_network(s_max=10.0, members=2)
    s = np.ones((3, 3))
    s[1, 2] = 20.0
    q_nan, std_nan = net.evaluate(s, outside="nan", return_std=True)
    assert np.all(np.isnan(q_nan[1]))
    assert np.all(np.isnan(std_nan[1]))
    np.testing.assert_allclose(q_nan[[0, 2]], net.evaluate(s[[0, 2]]), rtol=1e-13)
    q_ignore = net.evaluate(s, outside="ignore")
    assert np.all(np.isfinite(q_ignore))
    np.testing.assert_allclose(q_ignore, net.member_outputs(s).mean(axis=0), rtol=1e-13)
    with np.errstate(all="raise"):  # nonsense inputs extrapolate without floating-point warnings
        assert net.evaluate([[-5.0, np.nan, 1.0]], outside="ignore").shape == (1, 4)
    with pytest.raises(LikelihoodError, match="parameter 'outside'"):
        net.evaluate(s, outside="clip")  # type: ignore[call-overload]


def test_ensemble_mean_and_std(make_network):
    net = make_network(members=3, seed=11)
    singles = [
        SurrogateNetwork(
            members=(m,),
            s_scale=net.s_scale,
            x_mean=net.x_mean,
            x_std=net.x_std,
            y_mean=net.y_mean,
            y_std=net.y_std,
            domain=net.domain,
        )
        for m in net.members
    ]
    s = np.random.default_rng(2).uniform(0, 50, (40, 3))
    per_member = np.stack([single.evaluate(s) for single in singles])
    q, std = net.evaluate(s, return_std=True)
    np.testing.assert_allclose(q, per_member.mean(axis=0), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(std, per_member.std(axis=0), rtol=1e-10, atol=1e-13)
    assert np.all(std[np.any(s > 0, axis=1)] > 0)
    _, std_single = singles[0].evaluate(s, return_std=True)
    assert np.all(std_single == 0.0)


def test_arrays_are_frozen_copies(make_network):
    card = {"nested": {"a": 1}}
    net = make_network(card=card)
    card["nested"]["a"] = 2
    assert net.card["nested"]["a"] == 1
    with pytest.raises(ValueError, match="read-only"):
        net.members[0].weights[0][0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        net.x_std[0] = 1.0
    assert "regions=3" in repr(net)
    assert "hand-made" in repr(net)


def _kwargs(net: SurrogateNetwork) -> dict:
    return {
        "members": net.members,
        "s_scale": net.s_scale,
        "x_mean": net.x_mean,
        "x_std": net.x_std,
        "y_mean": net.y_mean,
        "y_std": net.y_std,
        "domain": net.domain,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"members": ()}, "members"),
        ({"x_std": np.array([1.0, 0.0, 1.0])}, "x_std"),
        ({"s_scale": np.ones(2)}, "s_scale"),
        ({"y_std": np.ones(3)}, "y_std"),
        ({"y_mean": np.array([0.0, np.nan, 0.0, 0.0])}, "y_mean"),
        ({"activation": "relu"}, "activation"),
        ({"region_names": ("a", "a", "b")}, "region_names"),
        ({"domain": SurrogateDomain(s_max=np.ones(2), q_max=np.ones(4))}, "domain.s_max"),
    ],
)
def test_construction_errors_name_the_field(make_network, change, field):
    kwargs = _kwargs(make_network()) | change
    with pytest.raises(SurrogateFormatError) as info:
        SurrogateNetwork(**kwargs)
    assert info.value.field == field
    assert f"field '{field}'" in str(info.value)


def test_member_shape_errors(make_network):
    net = make_network(hidden=(8,))
    w0, w1 = net.members[0].weights
    b0, b1 = net.members[0].biases
    cases = [
        (MLP((w0, w1), (b0, b1[:3])), "member0.bias1"),
        (MLP((w0, w1[:5]), (b0, b1)), "member0.weight1"),
        (MLP((w0,), (b0, b1)), "member0"),
        (MLP((w0[:, :4], np.ones((4, 3))), (b0[:4], np.ones(3))), "member0.weight1"),
    ]
    for mlp, field in cases:
        with pytest.raises(SurrogateFormatError) as info:
            SurrogateNetwork(**(_kwargs(net) | {"members": (mlp,)}))
        assert info.value.field == field
    other = make_network(hidden=(4,)).members[0]
    with pytest.raises(SurrogateFormatError, match="like member0") as info:
        SurrogateNetwork(**(_kwargs(net) | {"members": (net.members[0], other)}))
    assert info.value.field == "member1"
    with pytest.raises(SurrogateFormatError) as info:
        SurrogateDomain(s_max=np.array([-1.0, 1.0, 1.0]), q_max=np.ones(4))
    assert info.value.field == "domain.s_max"


def test_inference_does_not_import_torch():
    code = "import sys, nextsm.surrogates, nextsm.surrogates.io; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
