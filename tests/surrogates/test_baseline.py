"""The Poisson baseline of surrogates: exact where it should be, the same in torch and numpy, saved and loaded."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.stats import poisson

from nextsm.surrogates import SurrogateFormatError, load, save
from nextsm.surrogates.network import poisson_q


def _independent_counts_q(s, n, b):
    """-2 ln L(s)/L(0) of independent Poisson counts, from scipy's pmf."""
    return -2.0 * (poisson.logpmf(n, b + s).sum(axis=-1) - poisson.logpmf(n, b).sum(axis=-1))


def test_poisson_q_is_the_likelihood_ratio_of_independent_counts():
    rng = np.random.default_rng(4)
    n = rng.integers(0, 30, size=(4, 5)).astype(float)
    b = rng.uniform(0.5, 30.0, size=(4, 5))
    s = rng.uniform(0.0, 20.0, size=(50, 5))
    expected = np.stack([_independent_counts_q(s, n[v], b[v]) for v in range(4)], axis=1)
    np.testing.assert_allclose(poisson_q(s, n, b), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(poisson_q(np.zeros((1, 5)), n, b), 0.0)


@pytest.fixture
def with_baseline(make_network):
    net = make_network(n_regions=3)
    rng = np.random.default_rng(1)
    return dataclasses.replace(net, baseline_n=rng.integers(0, 20, (4, 3)).astype(float),
                               baseline_b=rng.uniform(1.0, 20.0, (4, 3)))


def test_baseline_adds_to_the_network(make_network, with_baseline):
    s = np.random.default_rng(2).uniform(0, 40, (30, 3))
    plain = make_network(n_regions=3).evaluate(s)
    np.testing.assert_allclose(with_baseline.evaluate(s) - plain,
                               poisson_q(s, with_baseline.baseline_n, with_baseline.baseline_b), atol=1e-9)
    assert np.all(with_baseline.evaluate(np.zeros((2, 3))) == 0.0)


def test_baseline_round_trip_and_version_1_without_it(tmp_path, make_network, with_baseline):
    s = np.random.default_rng(3).uniform(0, 40, (30, 3))
    save(with_baseline, tmp_path / "b")
    back = load(tmp_path / "b")
    assert back.has_baseline
    np.testing.assert_array_equal(back.evaluate(s), with_baseline.evaluate(s))
    # a version-1 file (no baseline) still loads
    plain = make_network(n_regions=3)
    json_path, _ = save(plain, tmp_path / "p")
    json_path.write_text(json_path.read_text().replace('"version": 2', '"version": 1'))
    assert not load(json_path).has_baseline


@pytest.mark.parametrize(("field", "value", "match"), [
    ("baseline_b", np.zeros((4, 3)), "must be positive"),
    ("baseline_n", -np.ones((4, 3)), "must be >= 0"),
    ("baseline_n", np.ones((4, 2)), "expected \\(4, 3\\)"),
])
def test_baseline_errors_name_the_field(with_baseline, field, value, match):
    with pytest.raises(SurrogateFormatError, match=match) as info:
        dataclasses.replace(with_baseline, **{field: value})
    assert info.value.field == field


def test_torch_module_includes_the_baseline(with_baseline):
    torch = pytest.importorskip("torch")
    from nextsm.surrogates.train import TorchSurrogate

    s = np.random.default_rng(5).uniform(0, 40, (20, 3))
    module = TorchSurrogate.from_network(with_baseline, dtype=torch.float64)
    with torch.no_grad():
        q = module(torch.as_tensor(s)).numpy()
    np.testing.assert_allclose(q, with_baseline.evaluate(s), rtol=1e-10, atol=1e-10)


def test_training_with_an_exact_baseline_learns_a_small_residual():
    """Labels that *are* independent Poisson counts: the residual is zero, so a short training is exact."""
    pytest.importorskip("torch")
    from nextsm.surrogates.train import train_surrogate

    rng = np.random.default_rng(6)
    n = np.tile(rng.integers(0, 20, 6).astype(float), (4, 1))
    b = np.tile(rng.uniform(1.0, 20.0, 6), (4, 1))
    s = rng.uniform(0, 30, (600, 6)) * (rng.random((600, 6)) < 0.5)
    q = poisson_q(s, n, b)
    options = {"hidden": (8,), "epochs": 20, "lr": 3e-3, "batch_size": 64, "seed": 0, "threads": 1}
    with_base, _ = train_surrogate(s, q, baseline=(n, b), **options)
    without, _ = train_surrogate(s, q, **options)
    err_with = np.median(np.abs(with_base.evaluate(s) - q))
    err_without = np.median(np.abs(without.evaluate(s) - q))
    assert with_base.card["training"]["settings"]["baseline"] is True
    assert err_with < 0.1 * err_without


def _spec_with_a_cr() -> dict:
    def bkg(data):
        return {"name": "bkg", "data": data, "modifiers": [
            {"name": "mu_B", "type": "normfactor", "data": None},
            {"name": "syst", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}]}
    return {"channels": [{"name": "CR_top", "samples": [bkg([100.0])]}, {"name": "SR_one", "samples": [bkg([5.0])]}],
            "observations": [{"name": "CR_top", "data": [110.0]}, {"name": "SR_one", "data": [7.0]}],
            "measurements": [{"name": "meas", "config": {"poi": "mu_B", "parameters": []}}], "version": "1.0.0"}


_ENTRY = [{"pyhf": "CR_top", "type": "CR", "smodels": "CR"}, {"smodels": "SR1", "pyhf": "SR_one"}]


def test_control_regions_are_left_out_of_the_baseline():
    """With includeCRs the CR inputs carry n = b = EXCLUDED_B: their term vanishes, the SR terms are untouched."""
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.surrogates.labels import poisson_baseline
    from nextsm.surrogates.network import EXCLUDED_B

    with_crs = HistFactoryModel(_spec_with_a_cr(), _ENTRY, True, name="cr.json")
    n, b = poisson_baseline(with_crs)
    control = np.array([sb.kind == "CR" for sb in with_crs.layout.signal_bins])
    assert control.sum() == 1
    assert np.all(n[:, control] == EXCLUDED_B)
    assert np.all(b[:, control] == EXCLUDED_B)
    s = np.zeros((3, with_crs.n_regions))
    s[:, control] = [[10.0], [1e3], [1e4]]  # a large CR contamination
    np.testing.assert_allclose(poisson_q(s, n, b), 0.0, atol=1e-6)
    n_obs, b_obs = with_crs.background_counts("observed")  # the SR terms: the model's own counts
    np.testing.assert_allclose(n[0, ~control], n_obs[~control])
    np.testing.assert_allclose(b[0, ~control], b_obs[~control])
    assert 0.0 < b[0, ~control][0] < 1e3
