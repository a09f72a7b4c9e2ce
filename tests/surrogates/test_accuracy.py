"""accuracy_report: |Δq| statistics against exact labels (no torch needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nextsm.errors import LikelihoodError
from nextsm.surrogates import accuracy_report


def test_statistics_of_known_errors(make_network):
    net = make_network()
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 50, (1000, 3))
    q_net = net.evaluate(s)
    offsets = np.tile(np.linspace(0.0, 1.0, 1000)[:, None], (1, 4))
    labels = q_net - offsets
    labels[:500, 2] = 50.0  # half of variant 2 above q_limit
    report = accuracy_report(net, s, labels, q_limit=30.0, bin_edges=(-np.inf, 30.0, np.inf))
    kept = labels[:, 0] <= 30.0
    np.testing.assert_allclose(report.median[0], np.median(offsets[kept, 0]))
    np.testing.assert_allclose(report.p99[0], np.percentile(offsets[kept, 0], 99))
    assert report.n[2] == np.count_nonzero(labels[:, 2] <= 30.0)
    np.testing.assert_allclose(report.max_error[1], offsets[labels[:, 1] <= 30.0, 1].max())
    assert report.bin_count.shape == (2, 4)
    assert report.bin_count[:, 2].tolist() == [int(report.n[2]), 1000 - int(report.n[2])]
    assert report.meets(median=1.0, p99=1.0)
    assert not report.meets()
    card = report.to_card()
    assert json.loads(json.dumps(card, allow_nan=False)) == card
    assert card["bin_edges"] == [None, 30.0, None]
    assert set(card["variants"]) == {"observed", "apriori", "asimov_observed", "asimov_apriori"}


def test_empty_bins_are_nan_and_none(make_network):
    net = make_network()
    s = np.ones((5, 3))
    report = accuracy_report(net, s, net.evaluate(s), bin_edges=(-1e9, -1e8, 1e9))
    assert report.bin_count[0].tolist() == [0, 0, 0, 0]
    assert np.all(np.isnan(report.bin_median[0]))
    assert report.to_card()["variants"]["apriori"]["bins"]["median_abs_error"][0] is None


def test_shape_errors(make_network):
    net = make_network()
    with pytest.raises(LikelihoodError, match="'labels'"):
        accuracy_report(net, np.ones((5, 3)), np.ones((5, 3)))
    with pytest.raises(LikelihoodError, match="'bin_edges'"):
        accuracy_report(net, np.ones((5, 3)), np.ones((5, 4)), bin_edges=(1.0, 0.0))
