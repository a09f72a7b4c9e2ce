"""Matching of decomposition elements to database constraint patterns."""

from __future__ import annotations

import pytest

from nextsm.database.constraints import UnsupportedConstraintError, parse_constraint
from nextsm.theory.matching import bsm_state_matches, compile_pattern, vertex_matches

N1, N2, C1, GL, T1, SNUE, SEL = 1000022, 1000023, 1000024, 1000021, 1000006, 1000012, 1000011


def pattern(text, final=None, intermediate=None):
    return compile_pattern(parse_constraint(text).terms[0].element, final, intermediate)


@pytest.mark.parametrize(
    ("pat", "labels", "expected"),
    [
        (("t",), ("t+",), True),
        (("t+",), ("t-",), False),
        (("l", "l"), ("e-", "mu+"), True),
        (("l", "l"), ("e-", "ta+"), False),
        (("L", "nu"), ("nu", "ta-"), True),  # order does not matter
        (("jet", "jet"), ("q", "c"), True),
        (("jet", "jet"), ("q", "b"), False),
        (("jetb",), ("b",), True),
        (("*",), ("W+",), True),
        (("anySM",), ("higgs",), True),
        (("*anySM",), (), True),  # an inclusive list may absorb nothing
        (("*anySM",), ("q", "q", "b"), True),
        (("b", "*anySM"), ("b", "W+"), False),  # the inclusive list absorbs every SM label first (SModelS)
        (("W", "b"), ("b",), False),
    ],
)
def test_vertex_matches(pat, labels, expected):
    assert vertex_matches(pat, labels) is expected


@pytest.mark.parametrize(
    ("pdg", "label", "expected"),
    [
        (N1, "MET", True), (SNUE, "MET", True), (T1, "MET", False), (GL, "MET", False),
        (GL, "gluino", True), (N2, "gluino", False), (C1, "C1+", True), (-C1, "C1+", False), (-C1, "C1", True),
        (SEL, "C1", False),  # a slepton is a scalar
        (SEL, "Hpm", True), (-SEL, "HSCP+", True), (T1, "RHadronU+", True), (-T1, "RHadronU", True),
        (T1, "anyBSM", True), (T1, "nonsense", False),
    ],
)
def test_bsm_state_labels(pdg, label, expected):
    assert bsm_state_matches(pdg, label) is expected


def test_bracket_pattern_matches_both_orderings_of_a_symmetric_element():
    p = pattern("[[['t']],[['t']]]")
    chains = [((T1, N1), (("t+",),)), ((-T1, N1), (("t-",),))]
    assert p.orderings(chains) == [(0, 1), (1, 0)]
    assert p.shape == (1, 1)


def test_asymmetric_pattern_matches_one_ordering():
    p = pattern("[[['b'],['W']],[['t']]]")
    chains = [((-T1, N1), (("t-",),)), ((T1, C1, N1), (("b",), ("W+",)))]
    assert p.orderings(chains) == [(1, 0)]


def test_intermediate_and_final_states_restrict_the_bsm_content():
    p = pattern("[[['jet','jet']],[['jet','jet']]]", ["MET", "MET"], [["gluino"], ["gluino"]])
    gluinos = [((GL, N1), (("q", "q"),)), ((GL, N1), (("q", "q"),))]
    squarks = [((1000001, N1), (("q", "q"),)), ((-1000001, N1), (("q", "q"),))]
    assert p.orderings(gluinos)
    assert not p.orderings(squarks)
    hscp = pattern("[[],[]]", ["HSCP", "HSCP"])
    assert not hscp.orderings([((N1,), ()), ((N1,), ())])


def test_inclusive_branch_matches_any_chain_with_the_right_final_state():
    p = pattern("[[['W']],['*']]")
    assert p.branches[1].inclusive
    assert p.shape is None
    chains = [((C1, N1), (("W+",),)), ((GL, T1, N1), (("t-",), ("t+",)))]
    assert p.orderings(chains) == [(0, 1)]


def test_graph_pattern_with_inclusive_lists_and_node_indices():
    p = pattern("{(PV > C1+(1),C1-(3)), (C1+(1) > *anySM,MET(2)), (C1-(3) > *anySM,MET(4))}")
    assert p.branches[0].nodes == (1, 2)
    assert p.branches[1].nodes == (3, 4)
    chains = [((C1, N1), (("W+",),)), ((-C1, N1), (("W-",),))]
    assert p.orderings(chains) == [(0, 1)]
    assert not p.orderings([((C1, N1), (("W+",),)), ((C1, N1), (("W+",),))])


@pytest.mark.parametrize(
    "text",
    [
        "{(PV > Zprime(1)), (Zprime(1) > MET(2),MET(3))}",  # one primary state
        "{(PV > anyBSM(1),anyBSM(2)), (anyBSM(1) > jet,jet,jet), (anyBSM(2) > jet,jet,jet)}",  # RPV
        "[[['t']],[['t']],[['t']]]",
    ],
)
def test_topologies_no_protomodel_can_produce_are_unsupported(text):
    with pytest.raises(UnsupportedConstraintError):
        pattern(text)
