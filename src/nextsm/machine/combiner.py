r"""The best legal combination of results: a maximal set of pairwise combinable results of largest weight.

Given results :math:`i` with weights :math:`w_i` (the combiner uses :math:`w_i = 2[\ln L_i(\hat\mu) - \ln L_i(0)]`
or, at fixed μ, :math:`2[\ln L_i(1) - \ln L_i(0)]`; any real numbers work) and the symmetric relation
"combinable", a *legal* combination is a clique of the combinability graph that is **maximal** (no further
result is combinable with all of its members, P21's second condition).  :func:`best_combination` returns the
legal combination with the largest :math:`\sum_{i \in c} w_i`, exactly.

Algorithm: Bron–Kerbosch enumeration of maximal cliques with Tomita pivoting, turned into a branch and bound:
a branch with current clique :math:`R`, candidates :math:`P` is cut when
:math:`w(R) + \sum_{v \in P} \max(w_v, 0) \le w^*`, the best weight found so far (no completion can beat it).
Unlike PathFinder (J. Yellen, WHDFS) no offset is added to negative weights, so the result is the true optimum
over maximal cliques (PathFinder's offset favours larger sets).  Candidates are explored by decreasing weight so
that good incumbents are found early.  Exactness is tested against networkx' plain maximal-clique enumeration
on random graphs (``tests/machine/test_combiner.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Combination", "best_combination", "combinability_matrix"]


@dataclass(frozen=True)
class Combination:
    """The chosen results (indices, increasing) and their summed weight."""

    members: tuple[int, ...]
    weight: float


def combinability_matrix(items: Sequence[object], combinable: Callable[[object, object], bool]) -> np.ndarray:
    """Boolean ``(n, n)`` matrix of ``combinable(items[i], items[j])`` (diagonal False)."""
    n = len(items)
    out = np.zeros((n, n), dtype=bool)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = bool(combinable(items[i], items[j]))
    return out


def best_combination(weights: ArrayLike, adjacency: ArrayLike) -> Combination:
    """The maximal clique of ``adjacency`` (symmetric boolean matrix) with the largest summed ``weights``.

    Ties are broken towards the combination found first (results in decreasing weight). An empty input gives
    an empty combination of weight 0.
    """
    w = np.asarray(weights, dtype=float)
    adj = np.asarray(adjacency, dtype=bool)
    n = len(w)
    if adj.shape != (n, n):
        raise ValueError(f"adjacency must be {n}×{n}, got {adj.shape}")
    if not np.array_equal(adj, adj.T):
        raise ValueError("adjacency must be symmetric")
    if n == 0:
        return Combination((), 0.0)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite")
    order = np.argsort(-w, kind="stable")
    # bit sets over positions in `order`
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    neighbours = [0] * n
    for a in range(n):
        bits = 0
        for b in np.flatnonzero(adj[order[a]] & (np.arange(n) != order[a])):
            bits |= 1 << int(rank[b])
        neighbours[a] = bits
    ws = [float(w[order[a]]) for a in range(n)]
    positive = [max(x, 0.0) for x in ws]
    best_weight = -np.inf
    best_set = 0

    def members(bits: int) -> list[int]:
        out = []
        while bits:
            low = bits & -bits
            out.append(low.bit_length() - 1)
            bits ^= low
        return out

    def bound(p: int) -> float:
        return sum(positive[v] for v in members(p))

    def expand(r: int, weight: float, p: int, x: int) -> None:
        nonlocal best_weight, best_set
        if p == 0:
            if x == 0 and weight > best_weight:
                best_weight, best_set = weight, r
            return
        if weight + bound(p) <= best_weight:
            return
        # Tomita pivot: the vertex of P ∪ X with most neighbours in P
        pivot = max(members(p | x), key=lambda u: (neighbours[u] & p).bit_count())
        for v in members(p & ~neighbours[pivot]):  # increasing position = decreasing weight
            nv = neighbours[v]
            expand(r | (1 << v), weight + ws[v], p & nv, x & nv)
            p &= ~(1 << v)
            x |= 1 << v
            if weight + bound(p) <= best_weight and p:
                # the remaining branches cannot beat the incumbent (they only add from P)
                return

    expand(0, 0.0, (1 << n) - 1, 0)
    chosen = sorted(int(order[a]) for a in members(best_set))
    return Combination(tuple(chosen), float(sum(w[i] for i in chosen)))
