"""The report's figures, drawn with matplotlib's object API (no pyplot, no global figure state).

* :func:`ruler_figure`: the mass spectrum of the best model on a vertical axis, each particle annotated with the
  results of the best combination it enters (they *prefer* it) and the other results most sensitive to it
  (they *constrain* it);
* :func:`decays_figure`: the decay graph, particles placed at their masses, arrows with BRs and SM daughters;
* :func:`k_history_figure`: K of every walker against the step (mplhep's style if installed);
* :func:`combinability_figure`: which of the results involved may be combined;
* :func:`pvalue_figure_file`: the K_max distribution of a study with the real value and the p-value
  (:func:`nextsm.machine.pvalue.plot_k_distribution`).

All need the ``plot`` extra (matplotlib); :func:`save` writes any of them as PNG, PDF or SVG (by suffix).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nextsm.report.data import BestModel, CombinabilityData, PValueData, ReportError, WalkerHistory
from nextsm.report.names import tex_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "combinability_figure",
    "decays_figure",
    "figures",
    "k_history_figure",
    "png_bytes",
    "pvalue_figure_file",
    "require_matplotlib",
    "ruler_figure",
    "save",
]

_GREEN, _RED = "#1b7837", "#b2182b"


def require_matplotlib() -> None:
    """Raise :class:`ReportError` naming the ``plot`` extra if matplotlib cannot be imported."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError as exc:
        raise ReportError("reports and plots need the 'plot' extra (matplotlib): pip install 'nextsm[plot]'") from exc


def _figure(width: float, height: float) -> Figure:
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


@contextmanager
def _hep_style() -> Iterator[None]:
    """mplhep's ROOT-like style while a figure is built, if mplhep is installed (else matplotlib's defaults)."""
    try:
        import matplotlib.style
        import mplhep
    except ImportError:
        yield
        return
    # font sizes for the report's figure sizes (mplhep's defaults suit 10 × 10 inch figures)
    sizes = {"font.size": 12, "axes.labelsize": 14, "xtick.labelsize": 12, "ytick.labelsize": 12,
             "legend.fontsize": 10}
    with matplotlib.style.context([mplhep.style.ROOT, sizes]):
        yield


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path``; the format follows the suffix (``.png``, ``.pdf``, ``.svg``)."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ReportError(f"{path}: plots are written as .png, .pdf or .svg")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """``fig`` as PNG (for embedding in the HTML report)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _spread(values: Sequence[float], gap: float) -> list[float]:
    """Label positions near ``values`` (sorted increasingly) at least ``gap`` apart, centred on the originals."""
    out = list(values)
    for _ in range(50):
        moved = False
        for i in range(1, len(out)):
            if out[i] - out[i - 1] < gap:
                push = (gap - (out[i] - out[i - 1])) / 2
                out[i - 1] -= push
                out[i] += push
                moved = True
        if not moved:
            break
    return out


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _analyses(labels: Sequence[str], limit: int = 3) -> str:
    """Analysis ids of ``ANALYSIS[:SR]`` labels, each once, at most ``limit`` of them."""
    ids = list(dict.fromkeys(label.split(":")[0] for label in labels))
    return ", ".join(ids[:limit]) + (f" +{len(ids) - limit}" if len(ids) > limit else "")


def ruler_figure(best: BestModel) -> Figure:
    """The mass ruler of the best model (module docstring)."""
    particles = sorted(best.particles, key=lambda p: p.mass)
    fig = _figure(8.0, 1.6 + 0.9 * max(len(particles), 3))
    ax = fig.add_subplot()
    top = max(p.mass for p in particles) * 1.15 + 50
    ax.set_ylim(0, top)
    ax.set_xlim(0, 1)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_ylabel("mass [GeV]")
    positions = _spread([p.mass for p in particles], 0.09 * top)
    for p, y in zip(particles, positions, strict=True):
        ax.plot([0.0, 0.1], [p.mass, p.mass], color="k", lw=2.5)
        ax.plot([0.1, 0.14], [p.mass, y], color="0.6", lw=0.8)
        ax.text(0.15, y, f"{tex_label(p.pdg)}  {p.mass:.0f} GeV", va="center", fontsize=11)
        lines = []
        if p.prefer:
            lines.append(("prefer: " + _analyses(p.prefer), _GREEN))
        if p.constrain:
            lines.append(("constrain: " + _analyses(p.constrain), _RED))
        for k, (text, colour) in enumerate(lines):
            offset = (0.5 - k) * 0.035 * top if len(lines) == 2 else 0.0
            ax.text(0.40, y + offset, _cut(text, 78), va="center", fontsize=7.5, color=colour)
    ax.set_title(f"K = {best.K:.2f}, μ̂ = {best.mu_hat:.2f}", fontsize=11, loc="left")
    return fig


def _columns(n: int) -> list[float]:
    """x positions of ``n`` particles (heaviest first): alternate around the centre so that arrows do not overlap."""
    pattern = [0.5, 0.2, 0.8, 0.35, 0.65, 0.1, 0.9]
    return [pattern[i % len(pattern)] for i in range(n)]


def decays_figure(best: BestModel) -> Figure:
    """The decay graph of the best model (module docstring)."""
    from matplotlib.patches import FancyArrowPatch

    particles = sorted(best.particles, key=lambda p: -p.mass)
    fig = _figure(7.0, 1.5 + 1.0 * max(len(particles), 2))
    ax = fig.add_subplot()
    top = particles[0].mass * 1.12 + 50
    bottom = max(particles[-1].mass * 0.85 - 50, 0.0)
    ax.set_ylim(bottom, top)
    ax.set_xlim(0, 1)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_ylabel("mass [GeV]")
    where = {p.pdg: (x, p.mass) for p, x in zip(particles, _columns(len(particles)), strict=True)}
    box = {"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.3"}
    for p in particles:
        x, y = where[p.pdg]
        ax.text(x, y, f"{tex_label(p.pdg)}\n{p.mass:.0f} GeV", ha="center", va="center", fontsize=10, bbox=box,
                zorder=3)
    edges: dict[tuple[int, int], list[str]] = {}
    for d in best.decays:
        daughter = abs(d.daughters[0])
        sm = " ".join(tex_label(q) for q in d.daughters[1:])
        edges.setdefault((d.mother, daughter), []).append(f"{d.br:.2f} {sm}".strip())
    for (mother, daughter), labels in edges.items():
        if mother not in where or daughter not in where:
            continue
        (x0, y0), (x1, y1) = where[mother], where[daughter]
        bend = 0.0 if x0 == x1 else 0.15
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, color="0.25",
                                     shrinkA=16, shrinkB=16, connectionstyle=f"arc3,rad={bend}", zorder=2))
        ax.text((x0 + x1) / 2 + 0.02, (y0 + y1) / 2, "\n".join(labels), fontsize=8, ha="left", va="center",
                bbox={"boxstyle": "round,pad=0.2", "fc": "#fffbe6", "ec": "none"}, zorder=4)
    ax.set_title("decays (BR, SM daughters)", fontsize=11, loc="left")
    return fig


def k_history_figure(walkers: Sequence[WalkerHistory]) -> Figure:
    """K against the step for every walker: the walker's K (line) and the proposed models' K (dots)."""
    with _hep_style():
        fig = _figure(8.0, 4.5)
        ax = fig.add_subplot()
        for i, w in enumerate(walkers):
            colour = f"C{i % 10}"
            current = [(s, k) for s, k in zip(w.step, w.current_K, strict=True) if k is not None and math.isfinite(k)]
            proposed = [(s, k) for s, k in zip(w.step, w.K, strict=True) if k is not None and math.isfinite(k)]
            best = w.best_K
            label = f"walker {w.walker}" + ("" if best is None else f" (max {best:.2f})")
            if current:
                ax.plot(*zip(*current, strict=True), color=colour, lw=1.3, drawstyle="steps-post", label=label)
            if proposed:
                ax.plot(*zip(*proposed, strict=True), ".", color=colour, ms=2.5, alpha=0.35)
        ax.set_xlabel("step")
        ax.set_ylabel("K")
        if 0 < len(walkers) <= 12:
            ax.legend(fontsize=9, ncol=2 if len(walkers) > 4 else 1, frameon=False)
    return fig


def combinability_figure(data: CombinabilityData) -> Figure:
    """The combinability matrix of the results involved (results of the best combination in bold)."""
    import numpy as np

    n = len(data.labels)
    if n == 0:
        raise ReportError("no results to show in the combinability matrix")
    size = 2.6 + 0.32 * n
    fig = _figure(size + 2.4, size + 1.6)
    ax = fig.add_subplot()
    matrix = np.array(data.matrix, dtype=float)
    np.fill_diagonal(matrix, np.nan)
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["#f4a582", "#92c5de"]).with_extremes(bad="0.3")
    ax.imshow(matrix, cmap=cmap, vmin=0, vmax=1)
    labels = [_cut(label, 36) for label in data.labels]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
        for tick, chosen in zip(ticks, data.in_combination, strict=True):
            if chosen:
                tick.set_fontweight("bold")
    ax.set_title("combinable (blue) or not (orange); bold: best combination", fontsize=10, loc="left")
    return fig


def pvalue_figure_file(data: PValueData, path: str | Path) -> Path:
    """Plot the K_max distribution of a study with the real value and the p-value to ``path``."""
    from nextsm.machine.pvalue import PValueError, global_pvalue, plot_k_distribution

    try:
        result = global_pvalue(list(data.k_real.values()), list(data.k_fakes.values()))
        return plot_k_distribution(result, path)
    except PValueError as exc:
        raise ReportError(f"{data.study}: no p-value plot ({exc})") from exc


def figures(best: BestModel | None, walkers: Sequence[WalkerHistory]) -> dict[str, Any]:
    """The report's figures by name (``k-history`` always; ``ruler``, ``decays``, ``combinability`` with a best
    model)."""
    out: dict[str, Any] = {"k-history": k_history_figure(walkers)} if walkers else {}
    if best is not None:
        out["ruler"] = ruler_figure(best)
        out["decays"] = decays_figure(best)
        if best.combinability.labels:
            out["combinability"] = combinability_figure(best.combinability)
    return out
