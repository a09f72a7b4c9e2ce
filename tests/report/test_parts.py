"""Pieces of the report that need no database: the study's p-value section, labels, layout, HTML escaping."""

from __future__ import annotations

import itertools

import pytest

from nextsm.machine.pvalue import global_pvalue
from nextsm.machine.store import RunStore, StepRecord
from nextsm.report import ReportError, collect
from nextsm.report.build import report_images, write_plot
from nextsm.report.html import _table, fmt, render
from nextsm.report.names import channel_label, particle_label, tex_label
from nextsm.report.plots import _spread

from .conftest import LSP_ONLY, make_run


def test_study_report_has_the_pvalue(study, tmp_path):
    data = collect(study, evaluate=False)
    assert data.run.folder == str(study / "real-0")  # the best (only) real run is reported
    pv = data.pvalue
    assert pv.k_real == {"real-0": 4.5}
    assert pv.k_fakes == {f"fakes/fake-{i:03d}/run": k for i, k in enumerate([0.5, 2.0, 3.5, 5.5])}
    expected = global_pvalue([4.5], [0.5, 2.0, 3.5, 5.5])
    assert pv.result["p"] == pytest.approx(expected.p)
    assert pv.result["n_above"] == 1
    images = report_images(data)
    assert set(images) == {"k-history", "pvalue"}
    page = render(data, images)
    assert f'<span id="pvalue-p">{fmt(expected.p)}</span>' in page
    assert 'id="fig-pvalue"' in page
    # these runs recorded only their settings (as runs made before provenance was recorded)
    assert data.run.recorded == {}
    assert "<th>nextsm version (run)</th><td>not recorded</td>" in page
    assert "<th>database content hash (run)</th><td>not recorded</td>" in page
    path = write_plot("pvalue", study, tmp_path / "k.pdf")
    assert path.read_bytes().startswith(b"%PDF")


def test_study_without_fakes_explains_why(tmp_path):
    (tmp_path / "study.json").write_text("{}", encoding="utf-8")
    make_run(tmp_path / "real-0", [2.0])
    data = collect(tmp_path, evaluate=False)
    assert data.pvalue.result is None
    assert "at least two fake runs" in data.pvalue.note
    assert "No p-value yet" in render(data, {})


def test_empty_study_is_refused(tmp_path):
    (tmp_path / "study.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ReportError, match="no run with a finite K"):
        collect(tmp_path)


def test_plot_output_format_is_checked(study, tmp_path):
    with pytest.raises(ReportError, match=r"\.png, \.pdf or \.svg"):
        write_plot("k-history", study, tmp_path / "k.jpg")
    with pytest.raises(ReportError, match="unknown plot"):
        write_plot("spectrum", study, tmp_path / "k.png")


def test_labels():
    assert particle_label(-1000006) == "Xt1~"
    assert channel_label((1000022, -5)) == "XZ1 b̄"
    assert tex_label(1000006) == "$X_{t}^{1}$"
    assert tex_label(-1000013) == r"$\bar{X}_{\mu}$"
    assert tex_label(24) == "$W^+$"


def test_ruler_labels_keep_their_distance():
    masses = [100.0, 101.0, 102.0, 500.0, 503.0]
    placed = _spread(masses, 20.0)
    assert all(b - a >= 20.0 - 1e-9 for a, b in itertools.pairwise(placed))
    assert placed[3] < 500.0 < placed[4]  # a pair is moved apart symmetrically
    assert _spread([100.0, 400.0], 20.0) == [100.0, 400.0]


def test_html_escapes_and_formats():
    table = _table(("a",), [("<script>alert(1)</script>",), (1234.5,), (1000022,), (None,), (float("inf"),)])
    assert "<script>" not in table
    assert "&lt;script&gt;" in table
    assert ">1234<" in table
    assert ">1000022<" in table
    assert table.count(">–<") == 1
    assert fmt(0.012345) == "0.0123"


def test_api_reference_lists_the_report_names():
    """docs/api.md (made by docs/make_api.py) documents every public name of nextsm.report."""
    import importlib
    from pathlib import Path

    api = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    for module in ("build", "collect", "data", "html", "names", "plots"):
        mod = importlib.import_module(f"nextsm.report.{module}")
        assert f"## `nextsm.report.{module}`" in api
        for name in mod.__all__:
            assert f"`{name}" in api, f"nextsm.report.{module}.{name} missing from docs/api.md"


def test_run_without_a_passing_model(tmp_path):
    """Every model rejected by a critic: no hiscore, no best model, still a page (and no database needed)."""
    from nextsm.report import write_report

    store = RunStore(tmp_path / "run")
    try:
        rejected = [{"critic": "fast", "passed": False, "reason": "excluded"}]
        for i in (1, 2):
            store.append(StepRecord(0, i, LSP_ONLY, 1.5, 1.0, [], rejected, "mass", "", False, LSP_ONLY, -1.0, {}))
    finally:
        store.close()
    data = collect(tmp_path / "run", database="/nonexistent")
    assert (data.hiscores, data.best, data.walkers[0].best_K) == ([], None, 1.5)
    page = write_report(tmp_path / "run", tmp_path / "out").read_text(encoding="utf-8")
    assert "No model of this run passed both critics" in page
    assert 'id="fig-k-history"' in page
