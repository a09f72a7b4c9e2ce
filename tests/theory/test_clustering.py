"""UL-map clustering (SModelS doCluster) on hand-made members."""

from __future__ import annotations

import pytest

from nextsm.theory.clustering import Member, cluster_members, weighted_average


def linear_ul(masses):
    """A toy UL map: UL = 1000 fb × 100 GeV / m(mother)."""
    return 1.0e5 / masses[0][0]


def member(key, m, weight=1.0):
    masses = ((m, 100.0), (m, 100.0))
    return Member(key, masses, weight, linear_ul(masses))


def test_weighted_average_rounds_to_five_digits_and_keeps_identical_points():
    a, b = ((500.0, 100.0), (500.0, 100.0)), ((520.0, 100.0), (520.0, 100.0))
    assert weighted_average([a, b], [1.0, 3.0]) == ((515.0, 100.0), (515.0, 100.0))
    assert weighted_average([a, a], [1.0, 2.0]) is a
    assert weighted_average([a, ((500.0,), (500.0, 100.0))], [1.0, 1.0]) is None
    third = weighted_average([a, b], [1.0, 2.0])
    assert third[0][0] == pytest.approx(513.33, abs=1e-9)


def test_close_members_merge_and_far_ones_do_not():
    members = [member(0, 500.0), member(1, 510.0), member(2, 900.0)]
    clusters = cluster_members(members, linear_ul, 0.2)
    keys = sorted(sorted(m.key for m in c) for c in clusters)
    assert keys == [[0, 1], [2]]


def test_identical_members_form_one_cluster_first():
    members = [member(0, 500.0, 2.0), member(1, 500.0, 1.0)]
    (cluster,) = cluster_members(members, linear_ul, 0.0)
    assert {m.key for m in cluster} == {0, 1}


def test_chain_of_members_is_cut_where_the_average_drifts_too_far():
    # ULs 200, 166.7, 142.9, 125, 111.1: neighbours are within 0.2, the ends are not
    members = [member(i, m) for i, m in enumerate((500.0, 600.0, 700.0, 800.0, 900.0))]
    clusters = cluster_members(members, linear_ul, 0.2)
    for cluster in clusters:
        avg = weighted_average([m.masses for m in cluster], [m.weight for m in cluster])
        ul = linear_ul(avg)
        assert all(2 * abs(ul - m.upper_limit) / (ul + m.upper_limit) <= 0.2 for m in cluster)
    assert 1 < len(clusters) < 5
    assert sorted(m.key for c in clusters for m in c) == [0, 1, 2, 3, 4]


def test_clusters_are_sorted_by_total_weight():
    members = [member(0, 500.0, 1.0), member(1, 1500.0, 5.0)]
    clusters = cluster_members(members, linear_ul, 0.2)
    assert [c[0].key for c in clusters] == [1, 0]
    assert cluster_members([], linear_ul) == []
