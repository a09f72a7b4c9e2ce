"""Histogram calibration of a two-sample ratio (``diagnostics.histogram_calibration``) on Gaussians with an exact ratio."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.sbi import diagnostics
from nextsm.sbi.errors import SBIError


def _exact(x: np.ndarray) -> np.ndarray:  # log N(x; 1, 1) / N(x; 0, 1)
    return x - 0.5


def _overconfident(x: np.ndarray) -> np.ndarray:  # twice too steep and offset: E_ref[r̂] is far from 1
    return 2.0 * (x - 0.5) + 0.7


def test_calibration_pulls_a_miscalibrated_ratio_back_to_the_exact_one() -> None:
    rng = np.random.default_rng(7)
    x_ref, x_num, x_new = rng.normal(size=40_000), rng.normal(1.0, 1.0, 40_000), rng.normal(size=40_000)
    cal = diagnostics.histogram_calibration(_overconfident(x_num), np.ones(x_num.size),
                                            _overconfident(x_ref), np.ones(x_ref.size), n_bins=20)
    assert abs(np.mean(np.exp(_overconfident(x_new))) - 1) > 1.0
    assert abs(np.mean(np.exp(cal(_overconfident(x_new)))) - 1) < 0.05  # held-out events
    grid = np.linspace(-1.0, 1.5, 6)  # inside the reference bins of finite width (the outer 5 % bins are wide)
    assert np.max(np.abs(cal(_overconfident(grid)) - _exact(grid))) < 0.25
    assert np.max(np.abs(_overconfident(grid) - _exact(grid))) > 1.0


def test_calibration_is_exact_on_its_own_events_and_keeps_the_order_within_a_bin() -> None:
    rng = np.random.default_rng(8)
    x_ref, x_num = rng.normal(size=5000), rng.normal(1.0, 1.0, 5000)
    w_ref, w_num = rng.uniform(0.5, 1.5, 5000), rng.uniform(0.5, 1.5, 5000)
    cal = diagnostics.histogram_calibration(_overconfident(x_num), w_num, _overconfident(x_ref), w_ref, n_bins=10)
    assert np.exp(cal(_overconfident(x_ref))) @ w_ref / w_ref.sum() == pytest.approx(1.0, rel=1e-10)
    lr = np.sort(_overconfident(x_ref))
    b = np.searchsorted(cal.edges, lr, side="right")
    same = b[1:] == b[:-1]
    assert np.all(np.diff(cal(lr))[same] >= 0)


def test_bad_input_names_the_parameter() -> None:
    with pytest.raises(SBIError, match="n_bins"):
        diagnostics.histogram_calibration([0.0], [1.0], [0.0], [1.0], n_bins=0)
    with pytest.raises(SBIError, match="weights_num"):
        diagnostics.histogram_calibration([0.0, 1.0], [1.0], [0.0], [1.0], n_bins=1)
