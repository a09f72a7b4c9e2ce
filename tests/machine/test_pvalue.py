"""Global p-value: KDE tail against direct integration and an analytic case, the empirical fraction, K_max of runs."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import binom, gaussian_kde, norm

from nextsm.errors import NextsmError
from nextsm.machine.pvalue import ONE_SIGMA, PValueError, global_pvalue, k_max, plot_k_distribution
from nextsm.machine.store import RunStore, StepRecord


def make_run(folder, walkers: list[list[float | None]], current: float | None = None):
    """A run whose walker i proposed models with the K values ``walkers[i]`` (None: rejected by a critic)."""
    store = RunStore(folder)
    for w, ks in enumerate(walkers):
        for step, k in enumerate(ks, start=1):
            store.append(StepRecord(w, step, {"masses": {"1000022": 300.0}}, k, None, [], [], "mass", "", True,
                                    {"masses": {"1000022": 300.0}}, current if current is not None else k, {}))
    store.close()
    return folder


def published_like_fakes(n: int = 50) -> np.ndarray:
    """50 fake K_max with the published mean 4.60 and sd 2.18 (P21 data; the list itself is not available)."""
    x = np.random.default_rng(2021).standard_normal(n)
    return 4.60 + 2.18 * (x - x.mean()) / x.std(ddof=1)


# --- KDE tail ---------------------------------------------------------------------------------------------

def test_kde_tail_equals_direct_integration_and_closed_form():
    fakes = published_like_fakes()
    result = global_pvalue([6.58, 6.90, 6.764], fakes)
    assert result.k_real_mean == pytest.approx(6.748)
    kde = gaussian_kde(fakes)
    direct, _ = integrate.quad(lambda k: float(kde.pdf(k)[0]), result.k_real_mean, np.inf, epsabs=1e-12)
    assert result.p == pytest.approx(direct, rel=1e-7)
    # ρ is a mixture of N(K_i, σ_h²), σ_h = N^(-1/5) s (Scott): its tail is the mean of Φ((K_i - K̄_obs)/σ_h)
    sigma_h = 50 ** (-0.2) * fakes.std(ddof=1)
    assert result.bandwidth == pytest.approx(sigma_h, rel=1e-12)
    closed = norm.cdf((fakes - result.k_real_mean) / sigma_h).mean()
    assert result.p == pytest.approx(closed, rel=1e-10)
    assert result.z == pytest.approx(norm.isf(result.p), rel=1e-12)
    assert 0.1 < result.p < 0.3  # a Gaussian sample with P21's mean and sd; P21's skewed sample gives 0.192


def test_kde_of_normal_sample_is_the_smoothed_normal():
    # a deterministic "sample" of N(0,1): its N quantiles; the KDE is then ≈ N(0, s²(1 + h²)), h = N^(-1/5)
    n = 2000
    x = norm.ppf((np.arange(n) + 0.5) / n)
    result = global_pvalue([1.0], x)
    sigma = math.hypot(x.std(ddof=1), result.bandwidth)
    assert result.bandwidth == pytest.approx(n ** (-0.2) * x.std(ddof=1))
    assert result.p == pytest.approx(norm.sf(1.0 / sigma), abs=2e-4)
    assert abs(result.p - norm.sf(1.0)) > 4e-3  # the smoothing is resolved: the unsmoothed tail is off
    assert result.z == pytest.approx(1.0 / sigma, abs=1e-3)


def test_kde_of_random_normal_sample_within_sampling_error():
    n = 5000
    x = np.random.default_rng(7).standard_normal(n)
    result = global_pvalue([1.0], x)
    expected = norm.sf(1.0 / math.sqrt(1.0 + n ** (-0.4)))
    assert result.p == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / n))


# --- empirical fraction ----------------------------------------------------------------------------------

def test_fraction_binomial_error_and_clopper_pearson():
    fakes = np.arange(1.0, 11.0)  # 1 … 10
    result = global_pvalue([7.5, 8.5], fakes)  # K̄_obs = 8: the fakes 8, 9, 10 count (≥, ties included)
    assert result.k_real_mean == 8.0
    assert result.n_above == 3
    assert result.fraction == pytest.approx(0.3)
    assert result.fraction_error == pytest.approx(math.sqrt(0.3 * 0.7 / 10))
    low, high = result.fraction_interval
    alpha = 1 - ONE_SIGMA
    assert pytest.approx(0.682689, abs=1e-6) == ONE_SIGMA
    # Clopper-Pearson by its definition: P(X ≥ 3 | low) = P(X ≤ 3 | high) = α/2
    assert binom.sf(2, 10, low) == pytest.approx(alpha / 2, rel=1e-8)
    assert binom.cdf(3, 10, high) == pytest.approx(alpha / 2, rel=1e-8)
    assert low < 0.3 < high
    wider = global_pvalue([7.5, 8.5], fakes, cl=0.95).fraction_interval
    assert wider[0] < low
    assert wider[1] > high


def test_fraction_edges():
    fakes = [1.0, 2.0, 3.0, 4.0]
    none_above = global_pvalue([9.0], fakes)
    assert (none_above.n_above, none_above.fraction, none_above.fraction_error) == (0, 0.0, 0.0)
    assert none_above.fraction_interval[0] == 0.0
    assert binom.cdf(0, 4, none_above.fraction_interval[1]) == pytest.approx((1 - ONE_SIGMA) / 2)
    all_above = global_pvalue([0.0], fakes)
    assert all_above.fraction == 1.0
    assert all_above.fraction_interval[1] == 1.0
    assert 0.9 < all_above.p < 1.0  # broad kernels (N = 4) keep some mass below 0
    assert all_above.z < -1.5


def test_zero_variance_fakes_give_only_the_fraction():
    result = global_pvalue([3.5], [3.0, 3.0, 3.0])
    assert result.p is None
    assert result.z is None
    assert result.bandwidth is None
    assert result.kde() is None
    assert "no kernel density estimate" in result.note
    assert result.fraction == 0.0
    assert json.loads(json.dumps(result.to_dict()))["p"] is None


@pytest.mark.parametrize(("real", "fakes", "message"), [
    ([5.0], [4.0], "at least two fake runs, got 1"),
    ([5.0], [], "at least two fake runs, got 0"),
    ([], [1.0, 2.0], "at least one real run"),
    ([5.0], [1.0, float("nan")], "fake K_max values must be finite"),
    ([float("inf")], [1.0, 2.0], "real K_max values must be finite"),
])
def test_invalid_inputs(real, fakes, message):
    with pytest.raises(PValueError, match=message):
        global_pvalue(real, fakes)


@pytest.mark.parametrize("cl", [0.0, 1.0, 68.0])
def test_invalid_confidence_level(cl):
    with pytest.raises(PValueError, match=r"cl must lie in \(0, 1\)"):
        global_pvalue([1.0], [1.0, 2.0], cl=cl)


def test_to_dict_is_json_and_result_is_immutable():
    result = global_pvalue([6.0, 7.0], published_like_fakes())
    data = json.loads(json.dumps(result.to_dict()))
    assert data["k_real_mean"] == 6.5
    assert data["n_fakes"] == 50
    assert len(data["k_fakes"]) == 50
    assert data["p"] == pytest.approx(result.p)
    assert data["z"] == pytest.approx(result.z)
    with pytest.raises(ValueError, match="read-only"):
        result.k_fakes[0] = 0.0
    far = global_pvalue([1e3], [1.0, 2.0])  # p underflows to 0: Z is infinite, null in JSON
    assert far.p == 0.0
    assert far.z == math.inf
    assert far.to_dict()["z"] is None


# --- K_max of runs ---------------------------------------------------------------------------------------

def test_k_max_over_walkers_and_steps_ignores_none(tmp_path):
    run = make_run(tmp_path / "run", [[1.0, None, 2.5], [None, 4.25, 3.0], [None]])
    assert k_max(run) == 4.25
    assert k_max(str(run)) == 4.25


def test_k_max_sees_the_current_k(tmp_path):
    run = make_run(tmp_path / "run", [[None, None]], current=1.5)  # starting model K 1.5, all proposals rejected
    assert k_max(run) == 1.5


def test_k_max_errors_name_the_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PValueError, match=r"empty: not a run folder \(no run\.sqlite\)"):
        k_max(empty)
    assert not (empty / "run.sqlite").exists()  # looking does not create a run
    with pytest.raises(NextsmError, match="missing: not a run folder"):
        k_max(tmp_path / "missing")
    rejected = make_run(tmp_path / "rejected", [[None, None]])
    with pytest.raises(PValueError, match="rejected: the run has no step with a finite K"):
        k_max(rejected)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.sqlite").write_text("not a database " * 100)
    with pytest.raises(PValueError, match=r"broken: run\.sqlite cannot be read"):
        k_max(broken)


# --- plot ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["png", "pdf"])
def test_plot_writes_the_file(tmp_path, suffix):
    pytest.importorskip("matplotlib")
    path = plot_k_distribution(global_pvalue([6.76], published_like_fakes()), tmp_path / f"k.{suffix}")
    head = path.read_bytes()[:8]
    assert head.startswith(b"\x89PNG" if suffix == "png" else b"%PDF")


def test_plot_without_kde(tmp_path):
    pytest.importorskip("matplotlib")
    path = plot_k_distribution(global_pvalue([3.5], [3.0, 3.0]), tmp_path / "flat.png")
    assert path.stat().st_size > 1000


def test_plot_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if matplotlib were absent
    with pytest.raises(PValueError, match=r"pip install 'nextsm\[plot\]'"):
        plot_k_distribution(global_pvalue([3.5], [3.0, 4.0]), tmp_path / "k.png")
    assert not (tmp_path / "k.png").exists()
