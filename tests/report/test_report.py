"""The report of a small real run: the numbers agree with the run store, the page is self-contained, the CLI."""

from __future__ import annotations

import json
import re
import sys

import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli
from nextsm.machine.store import RunStore
from nextsm.report import ReportError, collect

from .conftest import COMMAND, SEED, STEPS, WALKERS

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
def data(small_run):
    return collect(small_run)


def test_collect_agrees_with_the_run_store(small_run, data):
    store = RunStore(small_run)
    try:
        top = store.hiscores(10)
    finally:
        store.close()
    assert top, "the run must have a model that passed the critics"
    assert (data.run.walkers, data.run.steps, data.run.seed) == (WALKERS, WALKERS * STEPS, SEED)
    assert data.run.database_version == "3.0.0"
    assert [len(w.step) for w in data.walkers] == [STEPS] * WALKERS
    assert [h.K for h in data.hiscores] == [r.K for r in top]
    assert data.hiscores[0].K >= data.hiscores[-1].K
    best = data.best
    # evaluated again as the walker evaluates: the same K and μ̂ on the same database
    assert pytest.approx(top[0].K, abs=1e-9) == best.K
    assert best.mu_hat == pytest.approx(top[0].mu_hat, rel=1e-9)
    assert {p.pdg: p.mass for p in best.particles} == {int(k): v for k, v in top[0].model["masses"].items()}
    assert [(c.analysis, c.dataset) for c in best.combination] == [(c["analysis"], c["dataset"])
                                                                   for c in top[0].combination]
    assert sum(p.kappa_mu for p in best.productions) == pytest.approx(
        best.mu_hat * sum(top[0].model["ssmultipliers"].values()))
    # the best combination is a legal one: its results are pairwise combinable
    matrix = best.combinability.matrix
    assert matrix == [list(row) for row in zip(*matrix, strict=True)]
    chosen = [i for i, c in enumerate(best.combinability.in_combination) if c]
    assert len(chosen) == len(best.combination)
    assert all(matrix[i][j] for i in chosen for j in chosen if i != j)
    r_obs = [r.r_obs for r in best.constraining]
    assert r_obs == sorted(r_obs, reverse=True)
    assert json.loads(data.to_json())["best"]["K"] == pytest.approx(best.K)


def test_contributions_are_differences_from_the_walkers_k(small_run, data, database):
    """ΔK of every combined analysis is K − K refitted without it on the same [0, μ_max]: consistent with K."""
    from nextsm.machine import Combinability, k_statistic
    from nextsm.machine.explain import explain
    from nextsm.model.protomodel import ProtoModel
    from nextsm.theory import Predictor

    best = data.best
    assert best.mu_hat <= best.mu_max
    explanation = explain(ProtoModel.from_dict(best.model), Predictor(database), Combinability.load())
    assert pytest.approx(best.K, abs=1e-12) == explanation.K
    assert best.analysis_contributions == pytest.approx(explanation.analysis_contributions)
    lists = Combinability.load()
    for analysis, delta in best.analysis_contributions.items():
        rest = [r for r in explanation.results if r.prediction.analysis != analysis]
        refit = k_statistic(rest, lists, best.log_prior, mu_max=best.mu_max)
        assert pytest.approx(delta, abs=1e-9) == best.K - refit.K
    assert [c.r_obs for c in best.combination] == pytest.approx(
        [p.r_obs * best.mu_hat for p in explanation.statistic.combination])


def test_the_page_shows_the_recorded_provenance(small_run, small_report, data, database):
    from nextsm import __version__

    recorded = data.run.recorded
    assert recorded["database"]["content_hash"] == database.content_hash == data.run.database_hash
    assert (recorded["seed"], recorded["walkers"], recorded["steps"]) == (SEED, WALKERS, STEPS)
    assert recorded["nextsm_version"] == __version__
    page = small_report.read_text(encoding="utf-8")
    for shown in (f"<th>started (UTC)</th><td>{recorded['started']}</td>", f"<td>{COMMAND}</td>",
                  f"<th>database content hash (run)</th><td>{database.content_hash[:16]}</td>",
                  f"<th>nextsm version (run)</th><td>{__version__}</td>",
                  f"<th>steps requested per walker</th><td class=\"num\">{STEPS}</td>"):
        assert shown in page
    assert "not recorded" not in page
    assert 'id="database-mismatch"' not in page


def test_page_is_self_contained_and_shows_the_numbers(small_report, data):
    page = small_report.read_text(encoding="utf-8")
    assert f'<span id="best-K">{data.best.K:.3f}</span>' in page
    for h in data.hiscores:
        for _, mass in h.masses:
            assert f'data-mass="{mass:.1f}"' in page
    # no external resource: every src/href is embedded data or an anchor
    assert re.findall(r'(?:src|href)="(?!data:|#)[^"]*"', page) == []
    assert "<script" not in page
    assert page.count('src="data:image/png;base64,') == 4  # K history, ruler, decays, combinability
    stored = json.loads((small_report.parent / "report.json").read_text(encoding="utf-8"))
    assert stored["best"]["K"] == pytest.approx(data.best.K)


def test_cli_report_and_plots(small_run, tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["report", str(small_run), "--out", str(tmp_path / "rep"), "--no-contributions"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "rep" / "index.html").as_uri() in out.output
    for kind, suffix, magic in (("ruler", "png", b"\x89PNG"), ("decays", "pdf", b"%PDF"),
                                ("k-history", "png", b"\x89PNG"), ("combinability", "svg", b"<?xml")):
        path = tmp_path / f"{kind}.{suffix}"
        result = runner.invoke(cli, ["plot", kind, str(small_run), "--out", str(path)])
        assert result.exit_code == 0, result.output
        assert path.read_bytes().startswith(magic)
    refused = runner.invoke(cli, ["plot", "pvalue", str(small_run), "--out", str(tmp_path / "p.png")])
    assert isinstance(refused.exception, ReportError)
    assert "study folder" in str(refused.exception)


def test_not_a_run(tmp_path):
    with pytest.raises(ReportError, match=re.escape(str(tmp_path))):
        collect(tmp_path)


def test_missing_matplotlib_names_the_plot_extra(small_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = CliRunner().invoke(cli, ["report", str(small_run), "--out", str(tmp_path)])
    assert isinstance(result.exception, ReportError)
    assert "'plot' extra" in str(result.exception)
    assert not (tmp_path / "index.html").exists()


def test_the_best_model_is_evaluated_with_the_walkers_likelihoods(database):
    from nextsm.report.collect import walker_predictor

    with walker_predictor(database, {"likelihood": "surrogates"}) as predictor:
        assert predictor.surrogates
        assert predictor.source is not None  # the fall-back to pyhf outside a surrogate's domain
    for settings in ({}, {"likelihood": "best-sr"}):
        with walker_predictor(database, settings) as predictor:
            assert not predictor.surrogates
