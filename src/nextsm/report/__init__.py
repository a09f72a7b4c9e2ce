"""What a physicist looks at: the report of a run (or a study) and its figures.

* :func:`write_report` writes ``OUT/index.html`` (self-contained: figures embedded, no script, no network) and
  ``OUT/report.json``;
* :func:`collect` gathers the numbers (:class:`ReportData`) from a run folder and the database;
* :mod:`nextsm.report.plots` draws the figures (ruler, decays, K history, combinability, K distribution).

The figures need the ``plot`` extra (matplotlib).
"""

from __future__ import annotations

from nextsm.report.build import write_report
from nextsm.report.collect import collect, evaluate_best, find_run, study_pvalue
from nextsm.report.data import BestModel, PValueData, ReportData, ReportError, RunInfo, WalkerHistory

__all__ = [
    "BestModel",
    "PValueData",
    "ReportData",
    "ReportError",
    "RunInfo",
    "WalkerHistory",
    "collect",
    "evaluate_best",
    "find_run",
    "study_pvalue",
    "write_report",
]
