"""The best legal combination is exact: compared with networkx' enumeration of maximal cliques."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from nextsm.machine.combiner import best_combination


def brute_force(weights, adjacency):
    graph = nx.from_numpy_array(adjacency.astype(int))
    return max(sum(weights[i] for i in clique) for clique in nx.find_cliques(graph))


def is_maximal_clique(members, adjacency):
    members = set(members)
    n = len(adjacency)
    clique = all(adjacency[i, j] for i in members for j in members if i != j)
    extendable = any(all(adjacency[k, i] for i in members) for k in range(n) if k not in members)
    return clique and not extendable


@pytest.mark.parametrize("seed", range(300))
def test_exact_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 16))
    density = rng.uniform(0.1, 0.95)
    upper = np.triu(rng.uniform(size=(n, n)) < density, 1)
    adjacency = upper | upper.T
    # weights as the combiner sees them: mostly small, some large excesses, some negative (deficits)
    weights = rng.normal(0.0, 1.0, n) + rng.exponential(1.0, n) * (rng.uniform(size=n) < 0.3)
    result = best_combination(weights, adjacency)
    assert result.weight == pytest.approx(brute_force(weights, adjacency), abs=1e-12)
    assert result.weight == pytest.approx(sum(weights[i] for i in result.members), abs=1e-12)
    assert is_maximal_clique(result.members, adjacency)


def test_maximality_forces_a_negative_member():
    # 0 and 1 are combinable, 2 with 0 only: {0, 1} beats {0, 2}; but with w1 < 0 the best maximal set is {0, 2}
    adjacency = np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=bool)
    assert best_combination([3.0, -1.0, 0.5], adjacency).members == (0, 2)
    assert best_combination([3.0, -1.0, -2.0], adjacency).members == (0, 1)  # both options negative


def test_isolated_results_and_empty_input():
    assert best_combination([], np.zeros((0, 0), dtype=bool)).members == ()
    assert best_combination([1.0, 5.0, 2.0], np.zeros((3, 3), dtype=bool)).members == (1,)


def test_invalid_input_is_rejected():
    with pytest.raises(ValueError, match="symmetric"):
        best_combination([1.0, 2.0], np.array([[0, 1], [0, 0]], dtype=bool))
    with pytest.raises(ValueError, match="2×2"):
        best_combination([1.0, 2.0], np.zeros((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="finite"):
        best_combination([1.0, np.nan], np.zeros((2, 2), dtype=bool))
