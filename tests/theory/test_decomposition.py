"""Decomposition of proto-models into simplified-model elements (SModelS 3.2.1 behaviour)."""

from __future__ import annotations

import math

import pytest

from nextsm.model.protomodel import ProtoModel
from nextsm.theory import Element, decompose, sm_label, total_weight

N1, N2, C1, GL, T1, B1, SNUE, SEL = 1000022, 1000023, 1000024, 1000021, 1000006, 1000005, 1000012, 1000011
STOPS = (-T1, T1)


def by_bracket(elements: list[Element]) -> dict[str, Element]:
    out = {e.bracket(): e for e in elements}
    assert len(out) == len(elements), "brackets are not unique in this test"
    return out


def test_stop_pair_gives_t_tbar_element():
    model = ProtoModel(masses={T1: 500.0, N1: 100.0}, decays={T1: {(N1, 6): 1.0}})
    (element,) = decompose(model, {13: {STOPS: 610.0}, 8: {STOPS: 80.0}})
    assert element.bracket() == "[[['t+']],[['t-']]]"
    assert element.bracket_list() == [[["t+"]], [["t-"]]]
    assert dict(element.weights) == pytest.approx({13.0: 610.0, 8.0: 80.0})
    assert element.masses == ((500.0, 100.0), (500.0, 100.0))
    assert element.pids == frozenset({T1, -T1, N1})
    assert element.production == frozenset({STOPS})
    assert element.branches[0].vertices[0].mother == T1
    assert element.branches[1].vertices[0].daughters == (-6,)
    assert element.max_weight == pytest.approx(610.0)


def test_branching_ratios_split_the_weight():
    model = ProtoModel(
        masses={T1: 500.0, N1: 100.0, C1: 250.0},
        decays={T1: {(N1, 6): 0.5, (C1, 5): 0.5}, C1: {(N1, 24): 1.0}},
    )
    elements = by_bracket(decompose(model, {13: {STOPS: 600.0}}))
    assert sorted(elements) == sorted(
        [
            "[[['t+']],[['t-']]]",
            "[[['t-']],[['b'],['W+']]]",
            "[[['t+']],[['b'],['W-']]]",
            "[[['b'],['W+']],[['b'],['W-']]]",
        ]
    )
    for element in elements.values():
        assert element.weights[13.0] == pytest.approx(150.0)
    mixed = elements["[[['t-']],[['b'],['W+']]]"]
    assert mixed.masses == ((500.0, 100.0), (500.0, 250.0, 100.0))


def test_cascade_through_two_unstable_states():
    model = ProtoModel(
        masses={GL: 1500.0, T1: 800.0, N1: 100.0},
        decays={GL: {(T1, -6): 1.0}, T1: {(N1, 6): 1.0}},
    )
    elements = decompose(model, {13: {(GL, GL): 40.0}})
    assert {e.bracket() for e in elements} == {
        "[[['t+'],['t-']],[['t+'],['t-']]]",
        "[[['t+'],['t-']],[['t-'],['t+']]]",
        "[[['t-'],['t+']],[['t-'],['t+']]]",
    }
    for element in elements:
        assert element.masses == ((1500.0, 800.0, 100.0), (1500.0, 800.0, 100.0))
    assert total_weight(elements, 13.0) == pytest.approx(40.0)


def test_self_conjugate_gluino_gives_both_charge_conjugates():
    model = ProtoModel(
        masses={GL: 1500.0, T1: 800.0, N1: 100.0},
        decays={GL: {(T1, -6): 1.0}, T1: {(N1, 6): 1.0}},
    )
    elements = by_bracket(decompose(model, {13: {(GL, GL): 40.0}}))
    # each gluino: X_t t̄ or X̄_t t with BR 1/2; mixed combination twice
    assert elements["[[['t+'],['t-']],[['t+'],['t-']]]"].weights[13.0] == pytest.approx(10.0)
    assert elements["[[['t-'],['t+']],[['t-'],['t+']]]"].weights[13.0] == pytest.approx(10.0)
    assert elements["[[['t+'],['t-']],[['t-'],['t+']]]"].weights[13.0] == pytest.approx(20.0)
    assert elements["[[['t+'],['t-']],[['t+'],['t-']]]"].pids == frozenset({GL, -T1, N1})


def test_sigma_cut_drops_light_elements_and_pairs():
    model = ProtoModel(
        masses={T1: 500.0, N1: 100.0, C1: 250.0},
        decays={T1: {(N1, 6): 0.99, (C1, 5): 0.01}, C1: {(N1, 24): 1.0}},
    )
    xsecs = {13: {STOPS: 100.0, (-C1, C1): 0.019}}
    kept = {e.bracket(): e.weights[13.0] for e in decompose(model, xsecs, sigma_cut_fb=0.02)}
    # 100 × 0.01 × 0.01 = 0.01 fb < cut; mixed 100 × 0.99 × 0.01 = 0.99 fb kept; chargino pair below cut
    assert "[[['b'],['W+']],[['b'],['W-']]]" not in kept
    assert kept["[[['t-']],[['b'],['W+']]]"] == pytest.approx(0.99)
    assert not any(e.production == frozenset({(-C1, C1)}) for e in decompose(model, xsecs))
    assert len(decompose(model, xsecs, sigma_cut_fb=0.0)) == 5
    # the cut is inclusive (SModelS drops weights strictly below it)
    assert "[[['b'],['W+']],[['b'],['W-']]]" in {e.bracket() for e in decompose(model, xsecs, sigma_cut_fb=0.01)}
    assert decompose(model, xsecs, sigma_cut_fb=1000.0) == []


def test_mass_compression_of_a_compressed_chargino():
    model = ProtoModel(
        masses={T1: 500.0, N1: 100.0, C1: 105.0},
        decays={T1: {(C1, 5): 1.0}, C1: {(N1, 2, -1): 1.0}},
    )
    xsecs = {13: {STOPS: 100.0, (-C1, C1): 50.0}}
    elements = by_bracket(decompose(model, xsecs))
    # the uncompressed element is kept, the compressed one (X_W^1 -> X_Z^1 removed) added with its weight
    assert elements["[[['b'],['q','q']],[['b'],['q','q']]]"].weights[13.0] == pytest.approx(100.0)
    compressed = elements["[[['b']],[['b']]]"]
    assert compressed.weights[13.0] == pytest.approx(100.0)
    assert compressed.masses == ((500.0, 100.0), (500.0, 100.0))
    assert compressed.branches[0].final == N1
    # chargino pair: full compression would leave pure MET, so SModelS keeps it uncompressed only
    assert elements["[[['q','q']],[['q','q']]]"].weights[13.0] == pytest.approx(50.0)
    assert "[[],[]]" not in elements
    # a larger gap than min_mass_gap: no compression
    assert "[[['b']],[['b']]]" not in by_bracket(decompose(model, xsecs, min_mass_gap=5.0))
    assert "[[['b']],[['b']]]" not in by_bracket(decompose(model, xsecs, mass_compression=False))


def test_invisible_compression_of_sneutrinos():
    model = ProtoModel(masses={SNUE: 300.0, N1: 100.0}, decays={SNUE: {(N1, 12): 1.0}})
    elements = by_bracket(decompose(model, {13: {(SNUE, SNUE): 40.0}}))
    assert set(elements) == {"[[['nu']],[['nu']]]", "[[],[]]"}
    invisible = elements["[[],[]]"]
    assert invisible.weights[13.0] == pytest.approx(40.0)
    assert invisible.masses == ((300.0,), (300.0,))
    assert all(b.invisible and b.final == SNUE for b in invisible.branches)
    assert set(by_bracket(decompose(model, {13: {(SNUE, SNUE): 40.0}}, invisible_compression=False))) == {
        "[[['nu']],[['nu']]]"
    }


def test_invisible_compression_at_the_end_of_a_cascade():
    model = ProtoModel(
        masses={SEL: 400.0, C1: 350.0, SNUE: 300.0, N1: 100.0},
        decays={SEL: {(-C1, 12): 1.0}, C1: {(N1, 24): 1.0}, SNUE: {(N1, 12): 1.0}},
    )
    elements = by_bracket(decompose(model, {13: {(SEL, SNUE): 10.0}}))
    # X_e^- -> ν X_W^1-, X_W^1- -> W- X_Z^1; the X_nu branch becomes invisible
    assert elements["[[],[['nu'],['W-']]]"].masses == ((300.0,), (400.0, 350.0, 100.0))
    assert elements["[[['nu']],[['nu'],['W-']]]"].weights[13.0] == pytest.approx(10.0)


def test_weights_sum_to_sigma_times_brs():
    model = ProtoModel(
        masses={GL: 1400.0, T1: 700.0, B1: 750.0, C1: 300.0, N2: 310.0, N1: 200.0},
        decays={
            GL: {(T1, -6): 0.4, (B1, -5): 0.3, (N1, 1, -1): 0.3},
            T1: {(N1, 6): 0.5, (C1, 5): 0.3, (N2, 6): 0.2},
            B1: {(N1, 5): 0.6, (-C1, 6): 0.4},
            C1: {(N1, 24): 1.0},
            N2: {(N1, 23): 0.5, (C1, -24): 0.5},
        },
    )
    xsecs = {13: {(GL, GL): 30.0, STOPS: 100.0, (-B1, B1): 70.0}, 8: {(GL, GL): 3.0}}
    elements = decompose(model, xsecs, sigma_cut_fb=0.0, mass_compression=False, invisible_compression=False)
    assert total_weight(elements, 13.0) == pytest.approx(200.0)
    assert total_weight(elements, 8.0) == pytest.approx(3.0)
    # with the cut, the total is below σ but every kept element passes it
    cut = decompose(model, xsecs, sigma_cut_fb=0.5, mass_compression=False, invisible_compression=False)
    assert total_weight(cut, 13.0) < 200.0
    assert min(e.max_weight for e in cut) >= 0.5
    for element in elements:
        assert all(math.isfinite(w) and w > 0 for w in element.weights.values())


def test_labels_and_inputs():
    assert sm_label(6) == "t+"
    assert sm_label(-6) == "t-"
    assert sm_label(-5) == "b"
    assert sm_label(-1) == "q"
    assert sm_label(-16) == "nu"
    assert sm_label(25) == "higgs"
    model = ProtoModel(masses={T1: 500.0, N1: 100.0}, decays={T1: {(N1, 6): 1.0}}, xsecs={13: {STOPS: 5.0}})
    assert decompose(model)[0].weights[13.0] == pytest.approx(5.0)  # model.xsecs by default
    assert decompose(model, {13: {STOPS: 0.0}}) == []
    assert decompose(model, {13: {(-B1, B1): 10.0}}) == []  # absent particles are ignored


# --------------------------------------------------------------------------------- validation vs SModelS
_MODELS = {
    "stop-gluino-compressed-n2": (
        ProtoModel(
            masses={T1: 500.0, N1: 100.0, C1: 250.0, GL: 1200.0, N2: 105.0},
            decays={
                T1: {(N1, 6): 0.5, (C1, 5): 0.5},
                C1: {(N1, 24): 0.7, (N2, 24): 0.3},
                N2: {(N1, 1, -1): 1.0},
                GL: {(T1, -6): 0.6, (N1, 5, -5): 0.4},
            },
        ),
        {13: {STOPS: 610.0, (GL, GL): 10.0, (N2, C1): 30.0, (-C1, N2): 20.0}, 8: {STOPS: 100.0}},
    ),
    "ewkinos-sleptons": (
        ProtoModel(
            masses={N1: 100.0, C1: 105.0, N2: 108.0, SNUE: 300.0, SEL: 310.0, 1000015: 400.0},
            decays={
                C1: {(N1, -11, 12): 0.3, (N1, 2, -1): 0.7},
                N2: {(N1, 11, -11): 0.5, (N1, 2, -2): 0.5},
                SNUE: {(N1, 12): 0.6, (C1, 11): 0.4},
                SEL: {(N1, 11): 0.5, (-C1, 12): 0.5},
                1000015: {(N1, 15): 0.8, (-C1, 16): 0.2},
            },
        ),
        {
            13: {
                (-C1, C1): 500.0,
                (N2, C1): 300.0,
                (-C1, N2): 200.0,
                (SNUE, SNUE): 40.0,
                (-SEL, SEL): 30.0,
                (-SEL, SNUE): 20.0,
                (-1000015, 1000015): 5.0,
                (N1, N1): 0.01,
            }
        },
    ),
    "gluino-squarks": (
        ProtoModel(
            masses={N1: 500.0, GL: 1500.0, B1: 1200.0, T1: 1100.0, C1: 520.0, N2: 600.0},
            decays={
                GL: {(N1, 1, -1): 0.2, (B1, -5): 0.3, (T1, -6): 0.3, (C1, 1, -2): 0.2},
                B1: {(N1, 5): 0.5, (-C1, 6): 0.5},
                T1: {(N1, 6): 0.4, (C1, 5): 0.4, (N2, 6): 0.2},
                C1: {(N1, 24): 1.0},
                N2: {(C1, -24): 0.5, (N1, 23): 0.3, (N1, 25): 0.2},
            },
        ),
        {13: {(GL, GL): 20.0, (-B1, B1): 5.0, STOPS: 8.0}, 8: {(GL, GL): 2.0}},
    ),
}


def _canonical(branches: list[list[list[str]]]) -> str:
    return repr(sorted(([sorted(v) for v in b] for b in branches), key=repr)).replace(" ", "")


def _smodels_elements(model: ProtoModel, xsecs, tmp_path) -> list[tuple[str, tuple[float, ...], dict]]:
    from smodels.base.model import Model
    from smodels.base.physicsUnits import GeV, TeV, fb
    from smodels.decomposition import decomposer
    from smodels.share.models.mssm import BSMList
    from smodels.share.models.SMparticles import SMList

    from nextsm.model.slha import to_slha

    path = tmp_path / "model.slha"
    path.write_text(to_slha(model, xsecs))
    smodel = Model(BSMparticles=BSMList, SMparticles=SMList)
    smodel.updateParticles(inputFile=str(path), ignorePromptQNumbers=["eCharge", "colordim", "spin"])
    topos = decomposer.decompose(
        smodel, sigmacut=0.02 * fb, massCompress=True, invisibleCompress=True, minmassgap=10 * GeV
    )
    out = []
    for sms in topos.getSMSList():
        branches, _, _ = sms.treeToBrackets()
        masses = tuple(sorted(n.mass.asNumber(GeV) for n in sms.nodes if not n.isSM))
        weights = {round(x.info.sqrts.asNumber(TeV), 3): x.value.asNumber(fb) for x in sms.weightList}
        out.append((_canonical(branches), masses, weights))
    return sorted(out, key=lambda t: (t[0], t[1], sorted(t[2].items())))


@pytest.mark.validation
@pytest.mark.parametrize("name", sorted(_MODELS))
def test_matches_smodels_decomposition(name, tmp_path):
    pytest.importorskip("smodels")
    model, xsecs = _MODELS[name]
    reference = _smodels_elements(model, xsecs, tmp_path)
    ours = sorted(
        (
            (_canonical(e.bracket_list()), tuple(sorted(m for b in e.masses for m in b)), dict(e.weights))
            for e in decompose(model, xsecs, sigma_cut_fb=0.02, min_mass_gap=10.0)
        ),
        key=lambda t: (t[0], t[1], sorted(t[2].items())),
    )
    assert len(ours) == len(reference)
    for (b_ref, m_ref, w_ref), (b, m, w) in zip(reference, ours, strict=True):
        assert b == b_ref
        assert m == pytest.approx(m_ref)
        assert sorted(w) == sorted(w_ref)
        for sqrts, value in w_ref.items():
            assert w[sqrts] == pytest.approx(value, rel=1e-6)


def test_decomposer_reuses_trees_for_a_kappa_change_and_gives_the_same_elements():
    from nextsm.theory import Decomposer

    model = ProtoModel(
        masses={GL: 1500.0, T1: 800.0, C1: 300.0, N1: 100.0},
        decays={GL: {(T1, -6): 0.7, (N1, 6, -6): 0.3}, T1: {(N1, 6): 0.6, (C1, 5): 0.4}, C1: {(N1, 24): 1.0}},
    )
    decomposer = Decomposer()
    for scale in (1.0, 1.3, 0.7, 3.0):
        xsecs = {13: {(GL, GL): 20.0 * scale, STOPS: 30.0}, 8: {(GL, GL): 2.0 * scale, STOPS: 5.0}}
        assert decomposer(model, xsecs) == decompose(model, xsecs)
    assert decomposer.hits == 3
    # a cut far below the cached trees' floor builds them again
    tiny = {13: {(GL, GL): 2.0e4, STOPS: 3.0e4}}
    assert decomposer(model, tiny) == decompose(model, tiny)
    assert decomposer.hits == 3


def test_related_elements_share_a_compression_ancestor():
    # C1 - N1 = 5 GeV: the chargino vertex is mass-compressed; the compressed element keeps its parent
    model = ProtoModel(masses={T1: 600.0, C1: 105.0, N1: 100.0}, decays={T1: {(C1, 5): 1.0}, C1: {(N1, 24): 1.0}})
    elements = decompose(model, {13: {STOPS: 100.0}})
    by = {e.bracket(): (i, e) for i, e in enumerate(elements)}
    assert sorted(by) == ["[[['b'],['W+']],[['b'],['W-']]]", "[[['b']],[['b']]]"]
    i_full, full = by["[[['b'],['W+']],[['b'],['W-']]]"]
    _, compressed = by["[[['b']],[['b']]]"]
    assert full.ancestors == frozenset()
    assert compressed.ancestors == frozenset({i_full})
    assert compressed.weights == full.weights
