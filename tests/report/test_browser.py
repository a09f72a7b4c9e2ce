"""The report of a small real run in headless Chromium: no console error, every image loads, the key numbers
are in the DOM.  A screenshot is kept (pytest's tmp dir, and ``$NEXTSM_ARTIFACTS`` if set)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .browser import Chromium, find_chromium

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

#: what the page is asked for after loading
EXPRESSIONS = {
    "best_K": "document.getElementById('best-K').textContent",
    "hiscore_text": "document.getElementById('hiscore-table').innerText",
    "masses": "Array.from(document.querySelectorAll('#hiscore-table .mass')).map(e => e.dataset.mass)",
    "sections": "Array.from(document.querySelectorAll('section')).map(s => s.id)",
}


@pytest.fixture(scope="module")
def browser():
    with Chromium(CHROMIUM) as chromium:
        yield chromium


def _keep(screenshot: bytes, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(screenshot)
    if os.environ.get("NEXTSM_ARTIFACTS"):
        target = Path(os.environ["NEXTSM_ARTIFACTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / name)
    return path


@needs_chromium
def test_the_checker_sees_broken_pages(browser, tmp_path):
    """The checks below can fail: a page with a missing image and a console error is caught."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                    '<img id="gone" src="missing.png"><script>console.error("deliberate")</script></body></html>',
                    encoding="utf-8")
    check = browser.check(page.as_uri(), {})
    assert any("deliberate" in e for e in check.errors)
    assert any("missing.png" in e for e in check.errors)
    assert check.images == [{"id": "gone", "complete": True, "naturalWidth": 0, "naturalHeight": 0}]


@needs_chromium
def test_study_page_in_chromium(browser, study, tmp_path):
    """A study's page: the p-value figure loads and the p-value is in the DOM."""
    from nextsm.report import collect
    from nextsm.report.build import report_images
    from nextsm.report.html import fmt, render

    data = collect(study, evaluate=False)
    page = tmp_path / "study.html"
    page.write_text(render(data, report_images(data)), encoding="utf-8")
    check = browser.check(page.as_uri(), {"p": "document.getElementById('pvalue-p').textContent"})
    _keep(check.screenshot, tmp_path, "study-screenshot.png")
    assert check.errors == []
    assert [i["id"] for i in check.images] == ["fig-k-history", "fig-pvalue"]
    assert all(i["naturalWidth"] > 0 for i in check.images)
    assert check.values["p"] == fmt(data.pvalue.result["p"])


@pytest.mark.database
@needs_chromium
def test_report_in_chromium(browser, small_report, tmp_path):
    data = json.loads((small_report.parent / "report.json").read_text(encoding="utf-8"))
    check = browser.check(small_report.as_uri(), EXPRESSIONS)
    shot = _keep(check.screenshot, tmp_path, "report-screenshot.png")
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 50_000
    assert check.errors == []
    assert len(check.images) == 4
    for image in check.images:
        assert image["complete"], image
        assert image["naturalWidth"] > 0, image
        assert image["naturalHeight"] > 0, image
    assert check.values["best_K"] == f"{data['best']['K']:.3f}"
    assert check.values["sections"] == ["run", "hiscores", "best"]
    want = [f"{mass:.1f}" for h in data["hiscores"] for _, mass in h["masses"]]
    assert check.values["masses"] == want
    for h in data["hiscores"]:
        assert f"{h['K']:.3f}" in check.values["hiscore_text"]
        for name, mass in h["masses"]:
            assert f"{name} {mass:.0f}" in check.values["hiscore_text"]
