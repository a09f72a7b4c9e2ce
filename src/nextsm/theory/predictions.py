r"""Theory predictions: a protomodel confronted with every result of the database.

For each dataset of the database (a UL map set, or one signal region of an efficiency-map result) the
:class:`Predictor` collects the decomposition elements matching its txnames (:mod:`nextsm.theory.matching`),
weights them and produces :class:`TheoryPrediction` objects, following SModelS 3.2.1
(``matching.theoryPrediction``):

* **UL-type**: per txname, the elements inside the UL grid are clustered (:mod:`nextsm.theory.clustering`);
  each cluster gives :math:`\sigma = \sum_{\rm terms} c_t \sum_{e \in t} \sigma_e \mathcal{B}_e` (the
  constraint), :math:`r_{\rm obs} = \sigma / \sigma^{\rm UL}_{\rm obs}(\bar m)`, :math:`r_{\rm exp} = \sigma /
  \sigma^{\rm UL}_{\rm exp}(\bar m)` at the cluster's average masses :math:`\bar m`, and the largest condition
  violation.
* **EM-type**: all matched elements of all txnames of the signal region form one cluster with
  :math:`\sigma\varepsilon = \sum c_t \sum_e \sigma_e \mathcal{B}_e \varepsilon_e(m_e)`, the signal yield
  :math:`s = \sigma\varepsilon \cdot \mathcal{L}` and :math:`r = \sigma\varepsilon / \sigma^{\rm UL}_{\rm SR}`
  with the SR's published observed (expected) limit on the visible cross section.
* Elements *related* by compression (a common uncompressed origin) are counted once per cluster: the
  heaviest contribution wins (SModelS ``isRelatedTo``).
* **combined** (on request): the yields of all SRs of an analysis with a covariance matrix or pyhf workspaces
  enter its full likelihood (:func:`nextsm.likelihoods.efficiency_map_likelihoods`); r is the inverse of the
  asymptotic CLs upper limit on μ.

Every prediction keeps the elements and the BSM particles that contribute to it.

Speed: the database is compiled once (:func:`~nextsm.theory.compiled.compile_database`); the decay trees of a
model are cached by (masses, decays) (:class:`~nextsm.theory.decomposition.Decomposer`); which txnames an
element can match depends only on its topology and BSM codes and is cached; grid values are cached by
(grid stack, point).  A change of κ therefore only re-weights cached trees and matches.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from nextsm.database.constraints import condition_violation
from nextsm.errors import NextsmError
from nextsm.theory.clustering import Member, cluster_members, weighted_average
from nextsm.theory.compiled import CompiledDatabase, CompiledDataset, CompiledTxName, compile_database
from nextsm.theory.decomposition import (
    DEFAULT_MIN_MASS_GAP,
    DEFAULT_SIGMA_CUT_FB,
    Decomposer,
    Element,
)
from nextsm.theory.matching import Pattern

if TYPE_CHECKING:
    from nextsm.database.records import Database
    from nextsm.database.source import DatabaseSource
    from nextsm.model.protomodel import Pair, ProtoModel
    from nextsm.model.xsec import ReferenceCrossSections

__all__ = ["PredictionType", "Predictor", "TheoryPrediction", "best_results"]

PredictionType = Literal["UL", "EM", "combined"]
#: SModelS drops predictions below this cross section (fb)
MIN_XSECTION_FB = 1e-6
#: efficiencies below this count as zero (SModelS ``_getSMSFor``)
MIN_EFFICIENCY = 1e-14
#: SModelS' default maximal distance between elements of one cluster
DEFAULT_MAX_MASS_DIST = 0.2


@dataclass(frozen=True)
class TheoryPrediction:
    """The prediction of a model for one dataset (UL cluster, signal region) or one combined analysis.

    Attributes
    ----------
    analysis, folder:
        Analysis id (``CMS-SUS-19-006``) and database folder name (``CMS-SUS-19-006``, ``...-eff``, ``...-agg``).
    dataset:
        Signal-region id for EM results, ``None`` for UL and combined results.
    type:
        ``"UL"``, ``"EM"`` or ``"combined"``.
    txnames:
        Txnames contributing.
    sqrts, lumi:
        TeV and fb⁻¹ of the analysis.
    xsection_fb:
        Predicted σ×BR (UL) or σ×BR×ε (EM, combined: summed over SRs) in fb.
    upper_limit_fb, expected_upper_limit_fb:
        Observed and expected 95 % CL limits on ``xsection_fb`` (``None`` if not available).
    r_obs, r_exp:
        ``xsection_fb / upper_limit_fb`` and its expected counterpart.
    max_condition:
        Largest condition violation (0 if none).
    masses:
        Average masses of the cluster per pattern branch (UL), else ``None``.
    yields:
        Signal events per SR (EM: one; combined: in the order of ``regions``).
    regions:
        The SR ids of ``yields``.
    elements:
        Indices (into the decomposition) of the contributing elements.
    particles:
        Signed codes of the BSM particles in the contributing elements.
    nll_bsm, nll_sm, mu_hat:
        −ln L(μ=1), −ln L(μ=0) and μ̂ ≥ 0 of the result's likelihood (observed data), if computed.
    note:
        Why a likelihood is missing or approximated.
    """

    analysis: str
    folder: str
    dataset: str | None
    type: PredictionType
    txnames: tuple[str, ...]
    sqrts: float
    lumi: float
    xsection_fb: float
    upper_limit_fb: float | None
    expected_upper_limit_fb: float | None
    r_obs: float | None
    r_exp: float | None
    max_condition: float = 0.0
    masses: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    yields: tuple[float, ...] = ()
    regions: tuple[str, ...] = ()
    elements: tuple[int, ...] = ()
    particles: frozenset[int] = frozenset()
    nll_bsm: float | None = None
    nll_sm: float | None = None
    mu_hat: float | None = None
    note: str = ""
    dataset_index: int = field(default=-1, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, str | None, tuple[str, ...]]:
        """(folder, dataset, txnames): the identity used when comparing with SModelS."""
        return (self.folder, self.dataset, self.txnames)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (the ``nextsm predict --json`` record)."""
        out: dict[str, Any] = {
            "analysis": self.analysis,
            "folder": self.folder,
            "dataset": self.dataset,
            "type": self.type,
            "txnames": list(self.txnames),
            "sqrts": self.sqrts,
        }
        out["signal_fb"] = self.xsection_fb  # σ×BR (UL) or σ×BR×ε (EM, combined: summed over SRs)
        if self.type != "UL":
            out["yields"] = dict(zip(self.regions, self.yields, strict=True))
        out.update({
            "upper_limit_fb": self.upper_limit_fb,
            "expected_upper_limit_fb": self.expected_upper_limit_fb,
            "r_obs": self.r_obs,
            "r_exp": self.r_exp,
            "max_condition": self.max_condition,
            "nll_bsm": self.nll_bsm,
            "nll_sm": self.nll_sm,
            "mu_hat": self.mu_hat,
            "particles": sorted(self.particles),
            "elements": list(self.elements),
        })
        if self.masses is not None:
            out["masses"] = [list(m) for m in self.masses]
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class _Match:
    """An element matched to one pattern of one txname (before weighting)."""

    element: int
    txname: int
    pattern: int
    masses: tuple[tuple[float, ...], tuple[float, ...]]
    value: float  # efficiency (EM) or UL in fb (UL)
    expected: float = math.nan  # expected UL in fb (UL maps whose expected map shares the stack)


@dataclass(frozen=True, slots=True)
class _MatchGroup:
    """Txnames of one grid stack whose pattern an element matches in the same way."""

    stack: int
    pattern: Pattern
    orders: tuple[tuple[int, int], ...]
    members: tuple[tuple[int, int, int], ...]  # (dataset index, txname index, pattern index)


def _ratio(num: float, den: float | None) -> float | None:
    if den is None or not math.isfinite(den) or den <= 0.0:
        return None
    return num / den


class Predictor:
    """Theory predictions of protomodels for a database, with the caches that make repeated calls fast.

    Parameters
    ----------
    database:
        The loaded database, or an already compiled one.
    reference:
        Reference cross sections (default: :meth:`ReferenceCrossSections.load`).
    sigma_cut_fb, min_mass_gap:
        Decomposition settings (proto-model machine defaults: 0.02 fb and 10 GeV).
    max_mass_dist:
        Largest UL distance within a cluster (SModelS ``maxMassDist``).
    source:
        Database files, needed for pyhf workspaces in combined predictions.
    surrogates:
        Combined predictions of analyses with pyhf workspaces use the workspaces' neural surrogates
        (:func:`nextsm.surrogates.likelihood.surrogate_likelihoods`) where all are available; with ``source``
        hypotheses outside a surrogate's domain fall back to pyhf.
    include_superseded, ignore_prompt_quantum_numbers:
        See :func:`~nextsm.theory.compiled.compile_database` (defaults as SModelS 3.2.1).

    Examples
    --------
    >>> predictor = Predictor(load_database())                    # doctest: +SKIP
    >>> for p in predictor.predict(ProtoModel.from_json("m.json")):  # doctest: +SKIP
    ...     print(p.analysis, p.r_obs)
    """

    def __init__(
        self,
        database: Database | CompiledDatabase,
        reference: ReferenceCrossSections | None = None,
        *,
        sigma_cut_fb: float = DEFAULT_SIGMA_CUT_FB,
        min_mass_gap: float = DEFAULT_MIN_MASS_GAP,
        max_mass_dist: float = DEFAULT_MAX_MASS_DIST,
        source: DatabaseSource | None = None,
        include_superseded: bool = True,
        ignore_prompt_quantum_numbers: bool = True,
        surrogates: bool = False,
    ) -> None:
        self.compiled = (database if isinstance(database, CompiledDatabase)
                         else compile_database(database, include_superseded=include_superseded,
                                               ignore_prompt_quantum_numbers=ignore_prompt_quantum_numbers))
        self._reference = reference
        self.sigma_cut_fb = float(sigma_cut_fb)
        self.min_mass_gap = float(min_mass_gap)
        self.decomposer = Decomposer(sigma_cut_fb=sigma_cut_fb, min_mass_gap=min_mass_gap)
        self.max_mass_dist = float(max_mass_dist)
        self.source = source
        #: combined predictions of analyses with pyhf workspaces use their neural surrogates where available
        self.surrogates = bool(surrogates)
        self._match_cache: dict[tuple[Any, ...], tuple[_MatchGroup, ...]] = {}
        self._value_cache: dict[tuple[int, int, str, bytes], float] = {}
        self._stack_cache: dict[tuple[int, bytes], np.ndarray] = {}
        self._combined_models: dict[str, Any] = {}

    # ------------------------------------------------------------------ inputs
    @property
    def reference(self) -> ReferenceCrossSections:
        if self._reference is None:
            from nextsm.model.xsec import ReferenceCrossSections

            self._reference = ReferenceCrossSections.load()
        return self._reference

    def cross_sections(self, model: ProtoModel, sqrts: Iterable[float] = (8.0, 13.0)) -> dict[float, dict[Pair, float]]:
        """κ × reference cross sections (or the model's override) in fb per √s and pair."""
        from nextsm.model.cross_sections import model_cross_sections

        return model_cross_sections(model, self.reference, tuple(float(s) for s in sqrts))

    def decompose(self, model: ProtoModel, xsecs: Mapping[float, Mapping[Pair, float]]) -> list[Element]:
        """The decomposition with this predictor's settings (decay trees cached by masses and decays)."""
        return self.decomposer(model, xsecs)

    # ------------------------------------------------------------------ matching
    @staticmethod
    def _chains(element: Element) -> list[tuple[tuple[int, ...], tuple[tuple[str, ...], ...]]]:
        return [(b.codes(), tuple(v.labels() for v in b.vertices)) for b in element.branches]

    def _matches_for(self, element: Element) -> tuple[_MatchGroup, ...]:
        """The txname patterns ``element`` matches, grouped by grid stack and pattern (cached by topology).

        Txnames of one stack share their grid points and layout, so the data point is the same for all of them.
        """
        chains = self._chains(element)
        key = (chains[0][0], chains[0][1], chains[1][0], chains[1][1])
        cached = self._match_cache.get(key)
        if cached is not None:
            return cached
        shape = tuple(sorted(len(c[1]) for c in chains))
        groups: dict[tuple[Any, ...], list[tuple[int, int, int]]] = {}
        datasets = self.compiled.datasets
        for pattern, members in self.compiled.distinct_patterns(shape):  # type: ignore[arg-type]
            orders = pattern.orderings(chains)
            if not orders:
                continue
            for ids, it, ip in members:
                groups.setdefault((datasets[ids].txnames[it].stack, pattern, tuple(orders)), []).append((ids, it, ip))
        result = tuple(_MatchGroup(stack, pattern, orders, tuple(members))
                       for (stack, pattern, orders), members in groups.items())
        self._match_cache[key] = result
        return result

    def _grid_values(self, tx: CompiledTxName, ids: int, it: int, grid_field: str,
                     points: list[np.ndarray]) -> list[float]:
        """Grid values at ``points`` (cached by point)."""
        keys = [(ids, it, grid_field, p.tobytes()) for p in points]
        missing = [i for i, k in enumerate(keys) if k not in self._value_cache]
        if missing:
            interp = tx.interpolator(grid_field)
            if interp is None:
                vals = np.full(len(missing), np.nan)
            else:
                vals = interp(np.array([points[i] for i in missing]))
            for i, v in zip(missing, vals, strict=True):
                self._value_cache[keys[i]] = float(v)
        return [self._value_cache[k] for k in keys]

    def _choose(self, tx: CompiledTxName, pattern: Pattern, element: Element,
                orders: tuple[tuple[int, int], ...]) -> tuple[tuple[tuple[float, ...], tuple[float, ...]], np.ndarray] | None:
        """Masses in pattern order and grid point of the ordering SModelS keeps (largest data point)."""
        best = None
        for order in orders:
            masses = (element.masses[order[0]], element.masses[order[1]])
            point = tx.data_point(masses, pattern)
            if point is None:
                continue
            rank = point[tx.order].tolist()
            if best is None or rank > best[0]:
                best = (rank, masses, point)
        return None if best is None else (best[1], best[2])

    def _stack_values(self, istack: int, points: list[np.ndarray]) -> list[np.ndarray]:
        """Values of every grid of stack ``istack`` at ``points`` (cached by point)."""
        keys = [(istack, p.tobytes()) for p in points]
        missing = list(dict.fromkeys(k for k in keys if k not in self._stack_cache))
        if missing:
            where = {k: i for i, k in enumerate(keys)}
            values = self.compiled.stack(istack)(np.array([points[where[k]] for k in missing]))
            for k, row in zip(missing, values, strict=True):
                self._stack_cache[k] = row
        return [self._stack_cache[k] for k in keys]

    def match(self, elements: Sequence[Element]) -> dict[int, list[_Match]]:
        """Dataset index -> matched elements with their efficiency or UL (elements outside grids dropped)."""
        pending: dict[int, list[tuple[_MatchGroup, int, tuple[tuple[float, ...], tuple[float, ...]], np.ndarray]]] = {}
        datasets = self.compiled.datasets
        for ie, element in enumerate(elements):
            for group in self._matches_for(element):
                ids, it, _ = group.members[0]
                chosen = self._choose(datasets[ids].txnames[it], group.pattern, element, group.orders)
                if chosen is not None:
                    pending.setdefault(group.stack, []).append((group, ie, chosen[0], chosen[1]))
        out: dict[int, list[_Match]] = {}
        for istack, items in pending.items():
            rows = self._stack_values(istack, [p for *_, p in items])
            for (group, ie, masses, _), row in zip(items, rows, strict=True):
                for ids, it, ip in group.members:
                    tx = datasets[ids].txnames[it]
                    value = float(row[tx.column])
                    if not math.isfinite(value):
                        continue
                    if tx.grid_field == "efficiencyMap" and abs(value) < MIN_EFFICIENCY:
                        continue
                    expected = float(row[tx.expected_column]) if tx.expected_column >= 0 else math.nan
                    out.setdefault(ids, []).append(_Match(ie, it, ip, masses, value, expected))
        return out

    # ------------------------------------------------------------------ predictions
    def predict(
        self,
        model: ProtoModel,
        *,
        sqrts: Iterable[float] = (8.0, 13.0),
        xsecs: Mapping[float, Mapping[Pair, float]] | None = None,
        combine: bool | Literal["surrogates"] = False,
        likelihoods: Literal["none", "best", "all"] = "best",
    ) -> list[TheoryPrediction]:
        """All predictions of ``model`` (module docstring), sorted by analysis folder, dataset and txnames.

        Parameters
        ----------
        sqrts:
            Centre-of-mass energies (TeV) to consider; results at other energies are skipped.
        xsecs:
            Cross sections (fb) per √s and pair instead of :meth:`cross_sections`.
        combine:
            Add one ``combined`` prediction per analysis with a covariance matrix or pyhf workspaces;
            ``"surrogates"``: only for the analyses whose workspaces all have neural surrogates, if the predictor
            has ``surrogates=True`` (what the walker asks for: fast full likelihoods there, best SRs elsewhere).
        likelihoods:
            Which predictions get ``nll_bsm``, ``nll_sm`` and ``mu_hat``: ``"best"`` the UL results, the best
            expected SR of each EM analysis and the combined ones; ``"all"`` every prediction.
        """
        energies = tuple(float(s) for s in sqrts)
        if xsecs is None:
            xsecs = self.cross_sections(model, energies)
        xsecs = {float(s): t for s, t in xsecs.items() if float(s) in energies}
        elements = self.decompose(model, xsecs)
        return self.predict_elements(elements, combine=combine, likelihoods=likelihoods, sqrts=energies)

    def predict_elements(
        self,
        elements: Sequence[Element],
        *,
        combine: bool | Literal["surrogates"] = False,
        likelihoods: Literal["none", "best", "all"] = "best",
        sqrts: Sequence[float] = (8.0, 13.0),
    ) -> list[TheoryPrediction]:
        """Predictions for an explicit decomposition (see :meth:`predict`)."""
        if likelihoods not in ("none", "best", "all"):
            raise NextsmError(f"parameter 'likelihoods' must be 'none', 'best' or 'all', got {likelihoods!r}")
        matched = self.match(elements)
        out: list[TheoryPrediction] = []
        for ids in sorted(matched):
            cds = self.compiled.datasets[ids]
            if not any(abs(cds.sqrts - s) < 1e-6 for s in sqrts):
                continue
            if cds.data_type == "upperLimit":
                out.extend(self._ul_predictions(cds, matched[ids], elements))
            else:
                pred = self._em_prediction(cds, matched[ids], elements)
                if pred is not None:
                    out.append(pred)
        if combine:
            out.extend(self._combined_predictions(out, surrogates_only=combine == "surrogates"))
        out.sort(key=lambda p: (p.folder, p.type == "combined", p.dataset or "", p.txnames))
        if likelihoods != "none":
            out = self._with_likelihoods(out, likelihoods)
        return out

    @staticmethod
    def _unique(items: list[tuple[float, _Match]], elements: Sequence[Element]) -> list[tuple[float, _Match]]:
        """Drop matches related to a heavier one (common compression ancestor), in order of decreasing weight."""
        items = sorted(items, key=lambda x: x[0], reverse=True)
        kept: list[tuple[float, _Match]] = []
        seen: set[int] = set()
        for weight, m in items:
            ancestors = elements[m.element].ancestors
            if ancestors & seen:
                continue
            kept.append((weight, m))
            seen |= ancestors
        return kept

    @staticmethod
    def _constraint_value(tx: CompiledTxName, weights: Mapping[int, float]) -> float:
        return math.fsum(c * weights.get(ip, 0.0) for c, ip in tx.terms)

    @staticmethod
    def _max_condition(tx: CompiledTxName, items: Sequence[tuple[float, _Match]], elements: Sequence[Element]) -> float:
        """Largest condition violation of ``tx`` for the matched ``items`` (weights σ×ε)."""
        if not tx.conditions:
            return 0.0
        worst = 0.0
        chains_of = {}
        for _, m in items:
            if m.element not in chains_of:
                chains_of[m.element] = Predictor._chains(elements[m.element])
        pattern_weight: dict[int, float] = {}
        for ic, pattern in enumerate(tx.condition_patterns):
            total = 0.0
            for weight, m in items:
                if pattern.orderings(chains_of[m.element]):
                    total += weight
            pattern_weight[ic] = total
        for cond in tx.conditions:
            values = [math.fsum(c * pattern_weight[ic] for c, ic in arg) for arg in cond.arguments]
            worst = max(worst, condition_violation(cond.condition, values))
        return worst

    def _ul_predictions(self, cds: CompiledDataset, matches: list[_Match],
                        elements: Sequence[Element]) -> list[TheoryPrediction]:
        out = []
        by_tx: dict[int, list[tuple[float, _Match]]] = {}
        for m in matches:
            w = elements[m.element].weights.get(cds.sqrts, 0.0)
            if w > 0.0:
                by_tx.setdefault(m.txname, []).append((w, m))
        for it in sorted(by_tx):
            tx = cds.txnames[it]
            items = self._unique(by_tx[it], elements)
            members = [Member(k, m.masses, w, m.value) for k, (w, m) in enumerate(items)]

            def limits_at(masses: tuple[tuple[float, ...], tuple[float, ...]], tx: CompiledTxName = tx,
                          it: int = it, items: list[tuple[float, _Match]] = items) -> tuple[float, float]:
                """Observed and expected UL (NaN where undefined) at averaged masses."""
                point = tx.data_point(masses, tx.patterns[items[0][1].pattern])
                if point is None:
                    return math.nan, math.nan
                if tx.expected_column >= 0:
                    row = self._stack_values(tx.stack, [point])[0]
                    return float(row[tx.column]), float(row[tx.expected_column])
                observed = self._grid_values(tx, cds.index, it, "upperLimits", [point])[0]
                expected = (self._grid_values(tx, cds.index, it, "expectedUpperLimits", [point])[0]
                            if "expectedUpperLimits" in tx.raw.grids else math.nan)
                return observed, expected

            def ul_at(masses: tuple[tuple[float, ...], tuple[float, ...]],
                      limits_at: Any = limits_at) -> float | None:
                value = limits_at(masses)[0]
                return value if math.isfinite(value) else None

            for cluster in cluster_members(members, ul_at, self.max_mass_dist):
                chosen = [items[m.key] for m in cluster]
                weights: dict[int, float] = {}
                for w, m in chosen:
                    weights[m.pattern] = weights.get(m.pattern, 0.0) + w
                xsec = self._constraint_value(tx, weights)
                if xsec < MIN_XSECTION_FB:
                    continue
                if len(cluster) == 1 and tx.expected_column >= 0:
                    avg = cluster[0].masses
                    ul: float | None = cluster[0].upper_limit
                    exp_value = chosen[0][1].expected
                else:
                    avg = (cluster[0].masses if len(cluster) == 1 else
                           weighted_average([m.masses for m in cluster], [m.weight for m in cluster]))  # type: ignore[assignment]
                    obs_value, exp_value = limits_at(avg)
                    ul = cluster[0].upper_limit if len(cluster) == 1 else (
                        obs_value if math.isfinite(obs_value) else None)
                expected = exp_value if math.isfinite(exp_value) else None
                out.append(TheoryPrediction(
                    analysis=cds.analysis_id, folder=cds.analysis.name, dataset=None, type="UL",
                    txnames=(tx.name,), sqrts=cds.sqrts, lumi=cds.lumi, xsection_fb=xsec,
                    upper_limit_fb=ul, expected_upper_limit_fb=expected,
                    r_obs=_ratio(xsec, ul), r_exp=_ratio(xsec, expected),
                    max_condition=self._max_condition(tx, chosen, elements), masses=avg,
                    elements=tuple(sorted({m.element for _, m in chosen})),
                    particles=frozenset(c for _, m in chosen for c in elements[m.element].pids),
                    dataset_index=cds.index,
                ))
        return out

    def _em_prediction(self, cds: CompiledDataset, matches: list[_Match],
                       elements: Sequence[Element]) -> TheoryPrediction | None:
        items = []
        for m in matches:
            w = elements[m.element].weights.get(cds.sqrts, 0.0)
            if w > 0.0:
                items.append((w * m.value, m))
        if not items:
            return None
        items = self._unique(items, elements)
        by_tx: dict[int, dict[int, float]] = {}
        for w, m in items:
            d = by_tx.setdefault(m.txname, {})
            d[m.pattern] = d.get(m.pattern, 0.0) + w
        xsec = math.fsum(self._constraint_value(cds.txnames[it], ws) for it, ws in by_tx.items())
        if xsec < MIN_XSECTION_FB:
            return None
        max_cond = max((self._max_condition(cds.txnames[it], [x for x in items if x[1].txname == it], elements)
                        for it in by_tx), default=0.0)
        ds = cds.dataset
        return TheoryPrediction(
            analysis=cds.analysis_id, folder=cds.analysis.name, dataset=ds.data_id, type="EM",
            txnames=tuple(sorted({cds.txnames[it].name for it in by_tx})), sqrts=cds.sqrts, lumi=cds.lumi,
            xsection_fb=xsec, upper_limit_fb=ds.upper_limit, expected_upper_limit_fb=ds.expected_upper_limit,
            r_obs=_ratio(xsec, ds.upper_limit), r_exp=_ratio(xsec, ds.expected_upper_limit),
            max_condition=max_cond, yields=(xsec * cds.lumi,), regions=(str(ds.data_id),),
            elements=tuple(sorted({m.element for _, m in items})),
            particles=frozenset(c for _, m in items for c in elements[m.element].pids),
            dataset_index=cds.index,
        )

    # ------------------------------------------------------------------ combination and likelihoods
    def _surrogate_model(self, folder: str) -> Any:
        """The analysis' surrogate likelihood(s), or ``None`` unless every workspace has a surrogate (cached)."""
        key = f"surrogates:{folder}"
        if key not in self._combined_models:
            from nextsm.surrogates.likelihood import surrogate_likelihoods

            analysis = self.compiled.database.analysis(folder)
            found = surrogate_likelihoods(analysis, source=self.source) if analysis.info.json_files else None
            self._combined_models[key] = None if found is None else (found[0] if len(found) == 1 else found)
        return self._combined_models[key]

    def _combined_model(self, folder: str) -> Any:
        if folder not in self._combined_models:
            from nextsm.likelihoods.factory import efficiency_map_likelihoods

            analysis = self.compiled.database.analysis(folder)
            model = None
            if self.surrogates and analysis.info.json_files:
                found = self._surrogate_model(folder)
                if found is not None:
                    self._combined_models[folder] = found
                    return found
            if analysis.has_covariance or (analysis.has_workspaces and self.source is not None):
                results = efficiency_map_likelihoods(analysis, source=self.source)
                model = results[0] if len(results) == 1 else results
            self._combined_models[folder] = model
        return self._combined_models[folder]

    def _combined_predictions(self, predictions: Sequence[TheoryPrediction], *,
                              surrogates_only: bool = False) -> list[TheoryPrediction]:
        by_folder: dict[str, list[TheoryPrediction]] = {}
        for p in predictions:
            if p.type == "EM":
                by_folder.setdefault(p.folder, []).append(p)
        out = []
        for folder, preds in sorted(by_folder.items()):
            if surrogates_only:  # the surrogates of a predictor that has them on (then _combined_model agrees)
                model = self._surrogate_model(folder) if self.surrogates else None
            else:
                model = self._combined_model(folder)
            if model is None:
                continue
            results = model if isinstance(model, list) else [model]
            yields = {p.dataset: p.yields[0] for p in preds}
            for result in results:
                regions = tuple(result.regions)
                signal = np.array([[yields.get(r, 0.0) for r in regions]])
                if not signal.any():
                    continue
                first = preds[0]
                note = result.note or ""
                try:
                    mu_ul = float(result.model.upper_limit(signal)[0])
                    mu_ul_exp = float(result.model.upper_limit(signal, expected="apriori")[0])
                except NextsmError as exc:
                    mu_ul, mu_ul_exp, note = math.nan, math.nan, f"{note}; {exc}".strip("; ")
                xsec = math.fsum(p.xsection_fb for p in preds if p.dataset in regions)
                out.append(TheoryPrediction(
                    analysis=first.analysis, folder=folder, dataset=None, type="combined",
                    txnames=tuple(sorted({t for p in preds for t in p.txnames})), sqrts=first.sqrts,
                    lumi=first.lumi, xsection_fb=xsec,
                    upper_limit_fb=xsec * mu_ul if math.isfinite(mu_ul) else None,
                    expected_upper_limit_fb=xsec * mu_ul_exp if math.isfinite(mu_ul_exp) else None,
                    r_obs=1.0 / mu_ul if math.isfinite(mu_ul) and mu_ul > 0 else None,
                    r_exp=1.0 / mu_ul_exp if math.isfinite(mu_ul_exp) and mu_ul_exp > 0 else None,
                    yields=tuple(float(s) for s in signal[0]), regions=regions,
                    elements=tuple(sorted({e for p in preds for e in p.elements})),
                    particles=frozenset(c for p in preds for c in p.particles),
                    note=note, dataset_index=first.dataset_index,
                ))
        return out

    def statistical_model(self, prediction: TheoryPrediction, *,
                          cap_excess: bool = False) -> tuple[Any, np.ndarray] | None:
        """The likelihood of a prediction and its signal at μ = 1: ``(StatisticalModel, signal (n_regions,))``.

        UL maps need an expected limit (truncated Gaussian in σ; ``cap_excess`` caps UL_obs at UL_exp + 2σ_exp
        as the proto-model papers do, so that a weak observed limit cannot fake a large excess); an EM signal
        region gives its Poisson ⊗ Gaussian in events; a combined prediction its analysis' full model.  ``None``
        if the result has no likelihood.
        """
        from nextsm.likelihoods.simplified import PoissonGaussian
        from nextsm.likelihoods.ul_gaussian import TruncatedGaussian

        p = prediction
        if p.type == "UL":
            if not p.upper_limit_fb or not p.expected_upper_limit_fb:
                return None
            return (TruncatedGaussian.from_limits(p.upper_limit_fb, p.expected_upper_limit_fb, cap_excess=cap_excess),
                    np.array([p.xsection_fb]))
        if p.type == "EM":
            ds = self.compiled.datasets[p.dataset_index].dataset
            if ds.observed_n is None or ds.expected_bg is None or not ds.bg_error:
                return None
            return PoissonGaussian([ds.observed_n], [ds.expected_bg], [ds.bg_error]), np.array([p.yields[0]])
        model = self._combined_model(p.folder)
        for result in (model if isinstance(model, list) else [model]):
            if result is not None and tuple(result.regions) == p.regions:
                return result.model, np.array(p.yields)
        return None

    def _with_likelihoods(self, predictions: list[TheoryPrediction],
                          which: Literal["best", "all"]) -> list[TheoryPrediction]:
        from nextsm.likelihoods.simplified import PoissonGaussian
        from nextsm.likelihoods.ul_gaussian import TruncatedGaussian

        wanted = set(range(len(predictions)))
        if which == "best":
            best = {id(p) for p in best_results(predictions)}
            wanted = {i for i, p in enumerate(predictions) if id(p) in best or p.type != "EM"}
        out = list(predictions)
        ul_rows = [i for i in wanted if predictions[i].type == "UL"
                   and predictions[i].upper_limit_fb and predictions[i].expected_upper_limit_fb]
        if ul_rows:
            obs = np.array([predictions[i].upper_limit_fb for i in ul_rows], dtype=float)
            exp = np.array([predictions[i].expected_upper_limit_fb for i in ul_rows], dtype=float)
            sig = np.array([[predictions[i].xsection_fb] for i in ul_rows], dtype=float)
            model = TruncatedGaussian.from_limits(obs, exp)
            nll1 = model.nll(1.0, sig)
            nll0 = model.nll(0.0, sig)
            fit = model.fit(sig)
            for k, i in enumerate(ul_rows):
                out[i] = replace(predictions[i], nll_bsm=float(nll1[k]), nll_sm=float(nll0[k]),
                                 mu_hat=float(fit.muhat[k]))
        for i in wanted:
            p = predictions[i]
            if p.type == "EM":
                ds = self.compiled.datasets[p.dataset_index].dataset
                if ds.observed_n is None or ds.expected_bg is None or not ds.bg_error:
                    continue
                em_model = PoissonGaussian([ds.observed_n], [ds.expected_bg], [ds.bg_error])
                sig = np.array([[p.yields[0]]])
                fit = em_model.fit(sig)
                out[i] = replace(p, nll_bsm=float(em_model.nll(1.0, sig)[0]),
                                 nll_sm=float(em_model.nll(0.0, sig)[0]), mu_hat=float(fit.muhat[0]))
            elif p.type == "combined":
                model = self._combined_model(p.folder)
                results = model if isinstance(model, list) else [model]
                for result in results:
                    if tuple(result.regions) == p.regions:
                        sig = np.array([p.yields])
                        try:
                            fit = result.model.fit(sig)
                            out[i] = replace(p, nll_bsm=float(result.model.nll(1.0, sig)[0]),
                                             nll_sm=float(result.model.nll(0.0, sig)[0]),
                                             mu_hat=float(fit.muhat[0]))
                        except NextsmError as exc:
                            out[i] = replace(p, note=f"{p.note}; {exc}".strip("; "))
                        break
        return out


def best_results(predictions: Sequence[TheoryPrediction]) -> list[TheoryPrediction]:
    """One prediction per result, as SModelS with ``useBestDataset=True``: every UL prediction, and per EM
    analysis its combined prediction if present, else the SR with the largest expected r (ties: larger σ)."""
    out: list[TheoryPrediction] = []
    by_folder: dict[str, list[TheoryPrediction]] = {}
    for p in predictions:
        if p.type == "UL":
            out.append(p)
        else:
            by_folder.setdefault(p.folder, []).append(p)
    for preds in by_folder.values():
        combined = [p for p in preds if p.type == "combined"]
        if combined:
            out.extend(combined)
            continue
        best = None
        for p in preds:
            r = p.r_exp if p.r_exp is not None else (p.r_obs or 0.0)
            if best is None or r > best[0] or (r == best[0] and p.xsection_fb > best[1].xsection_fb):
                best = (r, p)
        if best is not None:
            out.append(best[1])
    return out
