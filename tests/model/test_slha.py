"""SLHA export/import of protomodels."""

from __future__ import annotations

import pyslha
import pytest

from nextsm.model.errors import ModelError
from nextsm.model.protomodel import ProtoModel
from nextsm.model.slha import DECOUPLED_MASS, from_slha, to_slha

MODEL = """{"masses": {"1000006": 500.0, "1000022": 100.0, "1000023": 250.0, "1000024": 250.0,
                       "1000021": 1200.0},
 "decays": {"1000006": {"1000022,6": 0.5, "1000024,5": 0.5}, "1000024": {"1000022,24": 1.0},
            "1000023": {"1000022,23": 1.0}, "1000021": {"1000006,-6": 1.0}},
 "ssmultipliers": {"-1000006,1000006": 1.0},
 "xsecs": {"13": {"-1000006,1000006": 610.0}, "8": {"-1000006,1000006": 80.0}}}"""


def test_export_is_valid_slha_with_all_blocks():
    model = ProtoModel.from_json(MODEL)
    doc = pyslha.readSLHA(to_slha(model))
    assert doc.blocks["MASS"][1000006] == 500.0
    assert doc.blocks["MASS"][1000001] == DECOUPLED_MASS
    assert doc.decays[1000022].totalwidth == 0.0
    gluino = {tuple(d.ids): d.br for d in doc.decays[1000021].decays}
    assert gluino == {(1000006, -6): 0.5, (-1000006, 6): 0.5}  # Majorana: both conjugates
    xsec = doc.xsections[(2212, 2212, -1000006, 1000006)]
    assert sorted(x.sqrts for x in xsec.xsecs) == [8000.0, 13000.0]
    assert max(x.value for x in xsec.xsecs) == pytest.approx(0.61)  # pb


def test_round_trip_keeps_masses_decays_and_xsecs():
    model = ProtoModel.from_json(MODEL)
    back = from_slha(to_slha(model))
    assert dict(back.masses) == dict(model.masses)
    assert {k: dict(v) for k, v in back.decays.items()} == {k: dict(v) for k, v in model.decays.items()}
    assert {k: dict(v) for k, v in back.xsecs.items()} == {k: dict(v) for k, v in model.xsecs.items()}
    back.validate()


def test_file_path_and_errors(tmp_path):
    path = tmp_path / "model.slha"
    path.write_text(to_slha(ProtoModel.from_json(MODEL)))
    assert from_slha(path).masses[1000006] == 500.0
    bad = to_slha(ProtoModel.from_json(MODEL)).replace("1000022          6", "1000022         11")
    with pytest.raises(ModelError, match="DECAY 1000006"):
        from_slha(bad)


@pytest.mark.validation
def test_smodels_decomposes_the_exported_file(tmp_path):
    """SModelS 3.2.1 reads the export: stop pairs with σ = 610 fb split by BR(t χ̃⁰₁) = BR(b χ̃⁺₁) = 1/2."""
    pytest.importorskip("smodels")
    from smodels.base.model import Model
    from smodels.base.physicsUnits import GeV, fb
    from smodels.decomposition import decomposer
    from smodels.share.models.mssm import BSMList
    from smodels.share.models.SMparticles import SMList

    path = tmp_path / "model.slha"
    path.write_text(to_slha(ProtoModel.from_json(MODEL)))
    model = Model(BSMparticles=BSMList, SMparticles=SMList)
    model.updateParticles(inputFile=str(path), ignorePromptQNumbers=["eCharge", "colordim", "spin"])
    topologies = decomposer.decompose(model, sigmacut=0.02 * fb, massCompress=True, invisibleCompress=True,
                                      minmassgap=10 * GeV)
    total_13 = sum(sms.weightList.getXsecsFor(13000 * GeV)[0].value.asNumber(fb)
                   for sms in topologies.getSMSList() if sms.weightList.getXsecsFor(13000 * GeV))
    assert total_13 == pytest.approx(610.0, rel=1e-6)


def test_cli_export_slha(tmp_path):
    from click.testing import CliRunner

    from nextsm.cli.main import cli

    model = tmp_path / "model.json"
    model.write_text(MODEL)
    result = CliRunner().invoke(cli, ["export-slha", str(model)])
    assert result.exit_code == 0, result.output
    assert "XSECTION" in result.stdout
    assert "BLOCK MASS" in result.stdout
    broken = tmp_path / "broken.json"
    broken.write_text(MODEL.replace('"1000022,6": 0.5', '"1000022,6": 1.5'))
    result = CliRunner().invoke(cli, ["export-slha", str(broken)])
    assert result.exit_code != 0
