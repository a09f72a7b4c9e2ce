r"""Clustering of matched elements for upper-limit results, as SModelS 3.2.1 (``matching.clusterTools``).

Elements matched to one UL map are combined into *clusters* whose members have similar upper limits; the
cluster's cross section is the constraint evaluated on its members, its upper limit the map's value at the
weighted average of the members' masses.  With :math:`u_i` the UL of member :math:`i` and :math:`\bar u` the UL
at the average masses, the distance is :math:`d(a, b) = 2|u_a - u_b| / (u_a + u_b)`; a cluster is valid if
:math:`\bar u` exists and :math:`d(\bar u, u_i) \le d_{\max}` (``maxMassDist = 0.2``) for every member.

Algorithm (SModelS ``doCluster``): members are sorted by UL; members with the same UL and the same masses
form the initial clusters; the closest pair of clusters (smallest distance between their average ULs, first
in the sorted order on ties) is merged if the merged cluster is valid, otherwise that pair is barred; this
repeats until no pair is closer than :math:`d_{\max}`.  Clusters are returned by decreasing total weight.
Averages are weighted by the members' weights and rounded to 5 significant digits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nextsm.database.grids import round_significant

__all__ = ["Member", "cluster_members", "weighted_average"]

#: significant digits of averaged masses (SModelS ``AverageSMS``: ``average(..., nround=5)``)
AVERAGE_DIGITS = 5

Masses = tuple[tuple[float, ...], tuple[float, ...]]


@dataclass(frozen=True, slots=True)
class Member:
    """One matched element of a UL map: its masses (in pattern branch order), weight (fb) and UL (fb)."""

    key: int
    masses: Masses
    weight: float
    upper_limit: float


def weighted_average(masses: Sequence[Masses], weights: Sequence[float]) -> Masses | None:
    """Node-by-node weighted average of mass vectors, rounded to 5 significant digits (``None`` if shapes differ)."""
    first = masses[0]
    if any(len(m[0]) != len(first[0]) or len(m[1]) != len(first[1]) for m in masses):
        return None
    if len(masses) == 1 or all(m == first for m in masses):
        return first
    w = np.asarray(weights, dtype=float)
    out = []
    for b in (0, 1):
        arr = np.array([m[b] for m in masses], dtype=float)
        avg = (w[:, None] * arr).sum(axis=0) / w.sum()
        out.append(tuple(float(x) for x in round_significant(avg, AVERAGE_DIGITS)))
    return (out[0], out[1])


class _Cluster:
    __slots__ = ("average", "members", "upper_limit")

    def __init__(self, members: list[Member], average: Masses | None, upper_limit: float | None) -> None:
        self.members = members
        self.average = average
        self.upper_limit = upper_limit


def _distance(u1: float | None, u2: float | None) -> float | None:
    if u1 is None or u2 is None:
        return None
    if u1 + u2 == 0.0:
        return 0.0
    return 2.0 * abs(u1 - u2) / (u1 + u2)


def cluster_members(
    members: Sequence[Member],
    upper_limit_at: Callable[[Masses], float | None],
    max_dist: float = 0.2,
) -> list[list[Member]]:
    """Cluster ``members`` (module docstring); ``upper_limit_at`` gives the UL (fb) at average masses."""
    if not members:
        return []

    def make(group: list[Member]) -> _Cluster:
        if len(group) == 1:
            return _Cluster(group, group[0].masses, group[0].upper_limit)
        avg = weighted_average([m.masses for m in group], [m.weight for m in group])
        return _Cluster(group, avg, None if avg is None else upper_limit_at(avg))

    ordered = sorted(members, key=lambda m: m.upper_limit)
    clusters: list[_Cluster] = []
    rest = list(ordered)
    while rest:
        first = rest.pop(0)
        group, keep = [first], []
        for m in rest:
            if m.upper_limit == first.upper_limit and m.masses == first.masses:
                group.append(m)
            else:
                keep.append(m)
        rest = keep
        clusters.append(_Cluster(group, first.masses, first.upper_limit))
    clusters.sort(key=lambda c: c.upper_limit if c.upper_limit is not None else np.inf)

    def valid(c: _Cluster) -> bool:
        if c.average is None or c.upper_limit is None:
            return False
        dists = [_distance(c.upper_limit, m.upper_limit) for m in c.members]
        return not any(d is None for d in dists) and max(dists, default=0.0) <= max_dist  # type: ignore[type-var,operator]

    n = len(clusters)
    big = 2.0 * max_dist
    dist = np.full((n, n), np.inf)
    for i in range(n):
        for j in range(i + 1, n):
            d = _distance(clusters[i].upper_limit, clusters[j].upper_limit)
            dist[i, j] = dist[j, i] = np.inf if d is None else d
    while len(clusters) > 1:
        finite = dist[np.isfinite(dist)]
        min_dist = float(finite.min()) if finite.size else big
        if not min_dist < max_dist:
            break
        i, j = (int(x) for x in np.argwhere(dist == min_dist)[0])
        merged = make(clusters[i].members + clusters[j].members)
        if valid(merged):
            lo, hi = min(i, j), max(i, j)
            clusters.pop(hi)
            clusters[lo] = merged
            dist = np.delete(np.delete(dist, hi, 0), hi, 1)
            for a in range(len(clusters)):
                if a >= lo:
                    continue
                d = _distance(clusters[a].upper_limit, merged.upper_limit)
                dist[a, lo] = dist[lo, a] = np.inf if d is None else d
        else:
            dist[i, j] = dist[j, i] = big
    clusters.sort(key=lambda c: (sum(m.weight for m in c.members), len(c.members)), reverse=True)
    return [c.members for c in clusters]
