"""The shipped surrogate as a drop-in: Predictor(surrogates=True) and `nextsm predict --likelihood surrogate`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli

pytestmark = pytest.mark.database

STAU = {"masses": {"1000015": 250.0, "1000022": 50.0}, "decays": {"1000015": {"1000022,15": 1.0}},
        "ssmultipliers": {"-1000015,1000015": 1.0}}
#: pyhf (HistFactoryModel, numpy) for this model, measured with `nextsm predict --likelihood histfactory`
PYHF = {"r_obs": 1.40907, "r_exp": 1.25885, "delta_nll": 104.30832 - 99.58629}


def test_predict_with_the_surrogate_agrees_with_pyhf(tmp_path, database_path):
    model = tmp_path / "stau.json"
    model.write_text(json.dumps(STAU))
    out = CliRunner().invoke(cli, ["predict", str(model), "--database", str(database_path), "--likelihood",
                                   "surrogate", "--json"])
    assert out.exit_code == 0, out.output
    combined = [p for p in json.loads(out.output) if p["type"] == "combined" and p["analysis"] == "ATLAS-SUSY-2018-04"]
    assert len(combined) == 1
    p = combined[0]
    assert "surrogate" in p["note"]
    assert p["r_obs"] == pytest.approx(PYHF["r_obs"], rel=0.05)
    assert p["r_exp"] == pytest.approx(PYHF["r_exp"], rel=0.05)
    assert p["nll_bsm"] - p["nll_sm"] == pytest.approx(PYHF["delta_nll"], abs=0.25)


def test_a_fake_database_does_not_use_surrogates(database, tmp_path):
    from dataclasses import replace

    from nextsm.surrogates.likelihood import surrogate_likelihoods

    analysis = database.analysis("ATLAS-SUSY-2018-04-eff")
    assert surrogate_likelihoods(analysis) is not None
    fake = replace(analysis, workspace_data={"SRcombined.json": (1.0,)})
    assert surrogate_likelihoods(fake) is None  # trained on the real data, not on a fake's


def test_the_walker_uses_surrogates_only_where_they_exist(database):
    """combine="surrogates": a combined prediction for the analysis with a surrogate, best SRs elsewhere."""
    from nextsm.machine.combinability import Combinability
    from nextsm.machine.walker import evaluate
    from nextsm.model import ProtoModel
    from nextsm.theory.predictions import Predictor

    model = ProtoModel.from_dict({**STAU, "ssmultipliers": {"-1000015,1000015": 0.3}})  # allowed: μ̂ > 0
    plain, with_surrogates = Predictor(database), Predictor(database, surrogates=True)
    combined = [p for p in with_surrogates.predict(model, combine="surrogates") if p.type == "combined"]
    assert {p.analysis for p in combined} == {"ATLAS-SUSY-2018-04"}
    assert "surrogate" in combined[0].note
    assert not [p for p in plain.predict(model, combine="surrogates") if p.type == "combined"]
    lists = Combinability.load()
    ev_plain, ev_surrogates = evaluate(model, plain, lists), evaluate(model, with_surrogates, lists)
    assert ev_plain.statistic is not None
    assert ev_surrogates.statistic is not None
    used_plain = {(p.analysis, p.type) for p in ev_plain.statistic.combination}
    used = {(p.analysis, p.type) for p in ev_surrogates.statistic.combination}
    assert ("ATLAS-SUSY-2018-04", "EM") in used_plain
    assert ("ATLAS-SUSY-2018-04", "combined") in used  # the best SR gave way to the full likelihood
    slow = next(c for c in ev_surrogates.critics if c["critic"] == "slow")
    assert slow["passed"]
    assert any(r["type"] == "combined" for r in slow["results"])  # the critic sees the full likelihood too


def test_fallback_without_the_database_files_is_refused_clearly(database):
    from nextsm.errors import LikelihoodError
    from nextsm.surrogates.likelihood import surrogate_likelihoods

    with pytest.raises(LikelihoodError, match=r"'outside' is 'fallback'.*pass 'source'"):
        surrogate_likelihoods(database.analysis("ATLAS-SUSY-2018-04-eff"), outside="fallback")
