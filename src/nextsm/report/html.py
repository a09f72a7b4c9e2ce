"""The report as one self-contained HTML page: inline CSS, figures embedded as base64 PNG, no script, no network.

Every value is escaped (:func:`html.escape`); key numbers carry ``id``/``data-*`` attributes (``best-K``, the
hiscore masses) so that they can be found in the page by tools and tests.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape

from nextsm.report.data import BestModel, PValueData, ReportData, RunInfo, WalkerHistory

__all__ = ["fmt", "render"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1d1d1f;
     background:#fafafa;line-height:1.45}
header{background:#243447;color:#fff;padding:1em 2em}header h1{margin:0;font-size:1.5em}
header p{margin:.3em 0 0;opacity:.85}
nav{background:#e8edf2;padding:.5em 2em;position:sticky;top:0}nav a{margin-right:1.2em;color:#243447}
main{padding:0 2em 3em;max-width:1250px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5em 1.5em 1.2em;margin:1.2em 0}
h2{border-bottom:2px solid #243447;padding-bottom:.2em}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f0f3f6}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.chosen td{background:#eef8ee}
.figure{margin:.8em 0}.figure img{max-width:100%;height:auto;border:1px solid #eee}
.pass{color:#1b7837;font-weight:bold}.fail{color:#b2182b;font-weight:bold}
.big{font-size:1.35em}.note{color:#555;font-size:.9em}
pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.85em}
"""


def fmt(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits; ``–`` for None, NaN or infinity."""
    if value is None or not math.isfinite(value):
        return "–"
    if 10 ** digits <= abs(value) < 1e7:  # 1234 rather than 1.23e+03 (masses, event counts)
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def _cell(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    if isinstance(value, float):
        return f'<td class="num">{escape(fmt(value))}</td>'
    if isinstance(value, _Raw):
        return f"<td>{value.html}</td>"
    return f"<td>{escape('' if value is None else str(value))}</td>"


class _Raw:
    """Already escaped HTML for a table cell."""

    def __init__(self, html: str) -> None:
        self.html = html


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, chosen: Sequence[bool] | None = None,
           table_id: str | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="chosen"' if chosen is not None and chosen[i] else ""
        body.append(f"<tr{cls}>" + "".join(_cell(v) for v in row) + "</tr>")
    ident = f' id="{escape(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(images: Mapping[str, bytes], name: str, caption: str) -> str:
    png = images.get(name)
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (f'<div class="figure"><img id="fig-{escape(name)}" alt="{escape(caption)}" '
            f'src="data:image/png;base64,{data}"><div class="note">{escape(caption)}</div></div>')


#: what the page shows for a value an old run did not record
NOT_RECORDED = "not recorded"


def _recorded_rows(run: RunInfo) -> list[tuple[str, object]]:
    """The provenance the run recorded when it was created (``not recorded`` for runs made before that)."""
    rec = run.recorded
    database = rec.get("database") or {}
    options = rec.get("options") or {}
    runner = rec.get("runner") or {}

    def value(v: object) -> object:
        return NOT_RECORDED if v is None or v == "" else v

    versions = (f"Python {rec['python']}, numpy {rec['numpy']}" if rec.get("python") and rec.get("numpy")
                else None)
    return [("started (UTC)", value(rec.get("started"))), ("nextsm version (run)", value(rec.get("nextsm_version"))),
            ("steps requested per walker", value(rec.get("steps"))),
            ("database (run)", value(database.get("path") or database.get("error"))),
            ("database version (run)", value(database.get("version"))),
            ("database content hash (run)", value((database.get("content_hash") or "")[:16])),
            ("command line", value(options.get("command"))),
            ("runner", value(", ".join(f"{k} {v}" for k, v in runner.items() if v is not None))),
            ("Python, numpy (run)", value(versions))]


def _run_section(run: RunInfo, walkers: Sequence[WalkerHistory], images: Mapping[str, bytes]) -> str:
    rows = [("run folder", run.folder), ("walkers", run.walkers), ("steps (all walkers)", run.steps),
            ("seed", run.seed), ("acceptance rule", run.rule), *_recorded_rows(run),
            ("database (report)", run.database), ("database version (report)", run.database_version or "–"),
            ("database content hash (report)", run.database_hash[:16] or "–"),
            ("nextsm version (report)", run.code_version),
            ("walk time (sum over steps)", f"{run.step_seconds:.1f} s"),
            ("median step", f"{run.median_step_ms:.1f} ms")]
    meta = "<table>" + "".join(f"<tr><th>{escape(k)}</th>{_cell(v)}</tr>" for k, v in rows) + "</table>"
    recorded_hash = (run.recorded.get("database") or {}).get("content_hash")
    if recorded_hash and run.database_hash and recorded_hash != run.database_hash:
        meta += ('<p class="note fail" id="database-mismatch">The report evaluates the best model on another '
                 "database than the run was made with: its K may differ from the stored K.</p>")
    walker_rows = [(w.walker, len(w.step), f"{w.acceptance:.0%}", w.best_K,
                    next((k for k in reversed(w.current_K) if k is not None), None)) for w in walkers]
    return ('<section id="run"><h2>Run</h2>' + meta + "<h3>K history per walker</h3>"
            + _figure(images, "k-history", "K of each walker (line) and of the proposed models (dots) per step")
            + _table(("walker", "steps", "accepted", "max K", "final K"), walker_rows) + "</section>")


def _hiscore_section(data: ReportData) -> str:
    if not data.hiscores:
        return ('<section id="hiscores"><h2>Hiscores</h2><p>No model of this run passed both critics.</p>'
                "</section>")
    rows = []
    for h in data.hiscores:
        masses = ", ".join(f'{escape(n)} <span class="mass" data-mass="{m:.1f}">{m:.0f}</span>' for n, m in h.masses)
        rows.append((h.rank, _Raw(f'<span class="hiscore-K">{h.K:.3f}</span>'), h.mu_hat, f"{h.walker}:{h.step}",
                     _Raw(masses), ", ".join(h.combination)))
    return ('<section id="hiscores"><h2>Hiscores</h2><p class="note">The best distinct models of the run (all '
            "walkers) that passed both critics; masses in GeV. μ̂ is fitted for each model at the κ's it was "
            "proposed with: μ̂κ are the signal strength multipliers of the model (docs/machine.md, "
            "“What the stored μ̂ means”).</p>"
            + _table(("#", "K", "μ̂", "walker:step", "particles (GeV)", "best combination"), rows,
                     table_id="hiscore-table") + "</section>")


def _critics(best: BestModel) -> str:
    items = []
    for c in best.critics:
        verdict = '<span class="pass">pass</span>' if c.get("passed") else '<span class="fail">FAIL</span>'
        items.append(f"<li>{escape(str(c.get('critic')))} critic: {verdict} — {escape(str(c.get('reason')))}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _best_section(best: BestModel, images: Mapping[str, bytes]) -> str:
    parts = [f'<section id="best"><h2>Best model (hiscore #{best.rank}: walker {best.walker}, step {best.step})</h2>',
             f'<p class="big">K = <span id="best-K">{best.K:.3f}</span>, Z = {fmt(best.Z)}, '
             f'μ̂ = <span id="best-mu">{fmt(best.mu_hat)}</span></p>',
             f'<p class="note">2 ln L(μ̂)/L(0) = {fmt(best.llr)}, 2 ln π = {fmt(2 * best.log_prior)}, μ̂ ≤ μ_max = '
             f"{fmt(best.mu_max)}; K as stored by the walker: {fmt(best.stored_K, 5)}. Cross sections, signals and r-values are at μ̂ (μ̂ absorbed into the "
             "κ's).</p>", "<h3>Critics</h3>", _critics(best),
             '<h3 id="ruler">Mass spectrum</h3>',
             _figure(images, "ruler", "Mass ruler: green, results of the best combination the particle enters; red, "
                     "the other results most sensitive to it"),
             _table(("particle", "PDG", "mass (GeV)", "ΔK when removed", "prefer (best combination)",
                     "constrain (highest r_exp at μ̂)"),
                    [(p.name, p.pdg, p.mass, p.contribution, ", ".join(p.prefer), ", ".join(p.constrain))
                     for p in best.particles], table_id="particle-table"),
             '<h3 id="decays">Decays</h3>', _figure(images, "decays", "Decay graph with branching ratios"),
             _table(("mother", "channel", "BR"), [(d.mother_name, d.channel, d.br) for d in best.decays]),
             "<h3>Signal strength multipliers and cross sections</h3>"]
    energies = sorted({s for p in best.productions for s in p.sigma_fb}, key=float)
    parts.append(_table(("production", "κ (stored)", "μ̂κ", *(f"σ({s} TeV) at μ̂ [fb]" for s in energies)),
                        [(p.label, p.kappa, p.kappa_mu, *(p.sigma_fb.get(s) for s in energies))
                         for p in best.productions]))
    parts.append('<h3 id="combination">Best combination</h3><p class="note">Per result at μ̂: observed and expected '
                 "events (EM), Z = ±√|2 ln L(μ̂)/L(0)|, predicted signal (events, or σ×BR for UL maps).</p>")
    parts.append(_table(("analysis", "dataset", "type", "√s (TeV)", "txnames", "observed", "expected ± error",
                         "Z", "signal", "r_obs", "r_exp"),
                        [(c.analysis, c.dataset or "", c.type, c.sqrts, ", ".join(c.txnames), c.observed,
                          "–" if c.expected is None else f"{fmt(c.expected)} ± {fmt(c.bg_error, 2)}", c.Z,
                          f"{fmt(c.signal)} {c.signal_unit}", c.r_obs, c.r_exp) for c in best.combination],
                        table_id="combination-table"))
    parts.append('<h3 id="rvalues">Most constraining results</h3><p class="note">Highest r_obs at μ̂ among all '
                 "results (one per UL map, the best expected SR of each EM analysis); shaded: in the best "
                 "combination.</p>")
    parts.append(_table(("analysis", "dataset", "type", "√s (TeV)", "txnames", "particles", "r_obs", "r_exp"),
                        [(r.analysis, r.dataset or "", r.type, r.sqrts, ", ".join(r.txnames), ", ".join(r.particles),
                          r.r_obs, r.r_exp) for r in best.constraining],
                        chosen=[r.in_combination for r in best.constraining]))
    parts.append('<h3 id="contributions">Contributions</h3><p class="note">ΔK = K − K without it, evaluated as '
                 "the walker evaluates (<code>nextsm explain</code>): without a particle, the reduced model with its "
                 "own cap on μ̂; without an analysis, the best combination searched again without it, μ̂ ≤ μ_max = "
                 f"{fmt(best.mu_max)} as for K.</p>")
    parts.append(_table(("particle", "ΔK"), [(p.name, p.contribution) for p in best.particles
                                              if p.contribution is not None or p.pdg != 1000022]))
    # sorted outside the call: inside it, the expected Sequence[object] rows would type x[1] as object
    by_analysis = sorted(best.analysis_contributions.items(), key=lambda x: -x[1])
    parts.append(_table(("analysis", "ΔK"), by_analysis))
    parts.append('<h3 id="combinability">Combinability of the results involved</h3>')
    parts.append(_figure(images, "combinability", "Combinability matrix (results of the best combination in bold)"))
    parts.append("<details><summary>Model JSON (μ̂ absorbed into κ; input of <code>nextsm explain</code>)</summary>"
                 f"<pre>{escape(json.dumps(best.model_absorbed, indent=1))}</pre></details>")
    return "".join(parts) + "</section>"


def _pvalue_section(pv: PValueData, images: Mapping[str, bytes]) -> str:
    parts = ['<section id="pvalue"><h2>Global p-value</h2>']
    r = pv.result
    if r is not None:
        z = "–" if r.get("z") is None else f"{r['z']:.2f}"
        parts.append(f'<p class="big">p = <span id="pvalue-p">{fmt(r.get("p"))}</span>, Z = {z}; '
                     f"K̄_obs = {fmt(r['k_real_mean'], 4)} ({len(pv.k_real)} real runs, {len(pv.k_fakes)} fakes)</p>")
        parts.append(f'<p class="note">Fraction of fakes with K_max ≥ K̄_obs: {r["n_above"]}/{r["n_fakes"]} = '
                     f"{fmt(r['fraction'])} ± {fmt(r['fraction_error'], 2)}. {escape(r.get('note') or '')}</p>")
        parts.append(_figure(images, "pvalue", "K_max of the fake runs (histogram, KDE) and the mean real K_max"))
    else:
        parts.append(f"<p>No p-value yet: {escape(pv.note)}</p>")
    rows = [(run, "real", k) for run, k in pv.k_real.items()] + [(run, "fake", k) for run, k in pv.k_fakes.items()]
    parts.append(_table(("run", "kind", "K_max"), rows))
    return "".join(parts) + "</section>"


def render(data: ReportData, images: Mapping[str, bytes]) -> str:
    """The HTML page of ``data``; ``images`` maps figure names (``k-history``, ``ruler``, ``decays``,
    ``combinability``, ``pvalue``) to PNG bytes."""
    links = [("run", "Run"), ("hiscores", "Hiscores")]
    if data.best is not None:
        links += [("best", "Best model"), ("combination", "Combination"), ("rvalues", "r-values"),
                  ("contributions", "Contributions"), ("combinability", "Combinability")]
    if data.pvalue is not None:
        links.append(("pvalue", "p-value"))
    nav = "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in links)
    body = [_run_section(data.run, data.walkers, images), _hiscore_section(data)]
    if data.best is not None:
        body.append(_best_section(data.best, images))
    if data.pvalue is not None:
        body.append(_pvalue_section(data.pvalue, images))
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
            f"<title>nextsm report: {escape(data.title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>nextsm report: {escape(data.title)}</h1><p>made {escape(data.created)} by nextsm "
            f"{escape(data.run.code_version)}</p></header><nav>{nav}</nav><main>{''.join(body)}</main></body></html>")
