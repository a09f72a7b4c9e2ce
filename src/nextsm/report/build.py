"""``nextsm report``: collect a run's data, draw the figures, write ``OUT/index.html`` and ``OUT/report.json``.

The page is self-contained (figures embedded as PNG, inline CSS, no script): copy ``index.html`` anywhere and open
it in a browser, no server and no network needed.  ``report.json`` holds the same numbers
(:meth:`~nextsm.report.data.ReportData.to_dict`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from nextsm.report.collect import collect
from nextsm.report.data import ReportData
from nextsm.report.html import render

__all__ = ["PLOT_KINDS", "STAGES", "report_images", "write_plot", "write_report"]

#: the stages :func:`write_report` reports to its ``progress`` callback, in order (some may be skipped)
STAGES = ("reading the run", "loading the database", "evaluating the best model", "K_max of the study's runs",
          "drawing the figures", "writing the page")


def report_images(data: ReportData) -> dict[str, bytes]:
    """The report's figures as PNG bytes by name (needs the ``plot`` extra)."""
    from nextsm.report import plots

    images = {name: plots.png_bytes(fig) for name, fig in plots.figures(data.best, data.walkers).items()}
    if data.pvalue is not None and data.pvalue.result is not None:
        with tempfile.TemporaryDirectory() as tmp:
            images["pvalue"] = plots.pvalue_figure_file(data.pvalue, Path(tmp) / "pvalue.png").read_bytes()
    return images


def write_report(folder: str | Path, out: str | Path, *, database: str | None = None,
                 combinability: str | None = None, n_hiscores: int = 10, rank: int = 1, contributions: bool = True,
                 progress: Callable[[str], None] | None = None) -> Path:
    """Write the report on the run (or study) in ``folder`` to the folder ``out``; returns ``out/index.html``.

    Options as in :func:`~nextsm.report.collect.collect`.  Raises :class:`~nextsm.report.data.ReportError` if
    ``folder`` is no run or study, or matplotlib (the ``plot`` extra) is missing.
    """
    from nextsm.report.plots import require_matplotlib

    require_matplotlib()
    say = progress or (lambda stage: None)
    data = collect(folder, database=database, combinability=combinability, n_hiscores=n_hiscores, rank=rank,
                   contributions=contributions, progress=say)
    say("drawing the figures")
    images = report_images(data)
    say("writing the page")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(data.to_json(indent=None), encoding="utf-8")
    page = out / "index.html"
    page.write_text(render(data, images), encoding="utf-8")
    return page


#: the figures ``nextsm plot`` draws
PLOT_KINDS = ("ruler", "decays", "k-history", "combinability", "pvalue")


def write_plot(kind: str, folder: str | Path, out: str | Path, *, database: str | None = None,
               combinability: str | None = None, rank: int = 1,
               progress: Callable[[str], None] | None = None) -> Path:
    """Draw one figure of the report on the run (or study) in ``folder`` to ``out`` (``.png``, ``.pdf``, ``.svg``).

    ``kind`` is one of :data:`PLOT_KINDS`; ``pvalue`` needs a study folder, ``ruler``, ``decays`` and
    ``combinability`` the database (the model of hiscore ``rank`` is evaluated on it).
    """
    from nextsm.report import plots
    from nextsm.report.data import ReportError

    if kind not in PLOT_KINDS:
        raise ReportError(f"unknown plot {kind!r}; choose one of {', '.join(PLOT_KINDS)}")
    plots.require_matplotlib()
    data = collect(folder, database=database, combinability=combinability, n_hiscores=rank, rank=rank,
                   contributions=False, evaluate=kind in ("ruler", "decays", "combinability"), progress=progress)
    if kind == "pvalue":
        if data.pvalue is None:
            raise ReportError(f"{folder}: the p-value plot needs a study folder (study.json, see `nextsm study`)")
        if Path(out).suffix.lower() not in (".png", ".pdf", ".svg"):
            raise ReportError(f"{out}: plots are written as .png, .pdf or .svg")
        return plots.pvalue_figure_file(data.pvalue, out)
    if kind == "k-history":
        return plots.save(plots.k_history_figure(data.walkers), out)
    if data.best is None:
        raise ReportError(f"{folder}: no hiscore #{rank} (no model of the run passed both critics)")
    figure = {"ruler": plots.ruler_figure, "decays": plots.decays_figure,
              "combinability": lambda best: plots.combinability_figure(best.combinability)}[kind](data.best)
    return plots.save(figure, out)
