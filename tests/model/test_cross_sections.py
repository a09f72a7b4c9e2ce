"""Model cross sections = reference table × κ, with the model's override."""

from __future__ import annotations

import pytest

from nextsm.model.cross_sections import model_cross_sections
from nextsm.model.protomodel import ProtoModel
from nextsm.model.xsec import ReferenceCrossSections


@pytest.fixture(scope="module")
def reference():
    return ReferenceCrossSections.load()


def test_kappa_scales_the_reference_and_override_wins(reference):
    model = ProtoModel.from_json("""{"masses": {"1000006": 1000.0, "1000022": 100.0, "1000021": 1500.0},
        "decays": {"1000006": {"1000022,6": 1.0}, "1000021": {"1000006,-6": 1.0}},
        "ssmultipliers": {"-1000006,1000006": 2.0, "1000021,1000021": 1.0},
        "xsecs": {"13": {"1000021,1000021": 3.0}}}""")
    xs = model_cross_sections(model, reference)
    ref13 = reference.pair_xsec(-1000006, 1000006, 1000.0, 1000.0, 13.0)
    assert xs[13.0][(-1000006, 1000006)] == pytest.approx(2.0 * ref13)
    assert ref13 == pytest.approx(6.83, rel=0.05)  # NNLO+NNLL stop pairs at 1 TeV, 13 TeV: 6.83 fb
    assert xs[13.0][(1000021, 1000021)] == 3.0
    assert xs[8.0][(1000021, 1000021)] == pytest.approx(reference.pair_xsec(1000021, 1000021, 1500.0, 1500.0, 8.0))


def test_pairs_without_table_or_kappa_get_nothing(reference):
    model = ProtoModel.from_json("""{"masses": {"1000012": 300.0, "1000022": 100.0},
        "decays": {"1000012": {"1000022,12": 1.0}}, "ssmultipliers": {"1000012,1000012": 1.0}}""")
    assert model_cross_sections(model, reference) == {8.0: {}, 13.0: {}}
