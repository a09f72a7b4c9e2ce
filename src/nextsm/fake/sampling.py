r"""Fake databases drawn from the database's own statistical models (``protomodels.md`` §6, decisions note).

:class:`FakeGenerator` is set up once per database (the background models of all signal regions, the expected
limits); :meth:`FakeGenerator.sample` then draws one fake in well under a second.

Background-only draws, with the fudge factor f multiplying every background uncertainty:

* **EM signal region without covariance:** λ = max(0, b + f δb z), z ~ N(0, 1); n ~ Poisson(λ).
* **EM analysis with a covariance (SL v1):** θ ~ N(0, f²Σ) over its regions, λ_i = max(0, b_i + θ_i).
* **with third moments (SL v2, arXiv:1809.05548):** z ~ N(0, ρ̃), λ_i = max(0, A_i + B_i f z_i + C_i f² z_i²)
  with the coefficients of :func:`~nextsm.likelihoods.simplified.third_moment_coefficients`, the model that the
  likelihood of the analysis uses.
* **UL map with an expected map:** one x ~ f N(0, 1) per map (redrawn while 1 + x/1.96 ≤ 0),
  UL_obs = UL_exp (1 + x/1.96) at every point of the expected map.
* **pyhf workspace** (when the generator is given the database files): main data ~ Poisson(ν(θ₀)) and auxiliary
  data from the constraint terms at the nominal parameters θ₀ (normal: a ~ N(a₀, f w); Poisson: a ~ Poisson(τ)),
  i.e. the systematics fluctuate too (the original froze them).  The per-SR counts of the same analysis are drawn
  independently of its workspace (as the original did for UL and EM versions of one analysis).
* Observed-only UL maps (no expected map), efficiencies, backgrounds, uncertainties and covariances are kept.

``fixed_backgrounds``: n = b exactly and x = 0 (technical closure).

The observed limit of a fake signal region is recomputed from its fake count with the asymptotic CLs limit of its
Poisson ⊗ Gaussian likelihood and put on the scale of the published expected limit:
UL_obs = UL_exp^pub · μ_UL^obs(n) / μ_UL^exp, where both μ_UL come from the same likelihood (a method difference
between the published and our limits then cancels).

Signal injection (``inject``): the model's predicted yields s_i are added to the counts (n += Poisson(s_i), or
s_i itself with ``fixed_signals``), and its predicted σ×BR (fb) is added to the observed UL map of every UL
prediction (the expected map's values with their shift, or the observed map if there is no expected one)
at all grid points within ``max_mass_dist`` (GeV, Euclidean in the map's mass coordinates; the
proto-model paper used 100 GeV) of the prediction's mass point.

Every fake also stores the per-SR background-only p-values of its counts (:func:`sr_pvalues`): uniform for SM
fakes, which the uniformity check (``docs/validation.md``) tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import poisson

from nextsm.fake.overlay import FakeOverlay, UlShift
from nextsm.likelihoods.limits import upper_limit
from nextsm.likelihoods.simplified import PoissonGaussian, third_moment_coefficients

if TYPE_CHECKING:
    from nextsm.database.records import Database
    from nextsm.database.source import DatabaseSource
    from nextsm.likelihoods.histfactory import HistFactoryModel
    from nextsm.model.protomodel import ProtoModel
    from nextsm.theory.predictions import Predictor, TheoryPrediction

__all__ = ["FakeGenerator", "FakeSettings", "sr_pvalues"]

#: regions per batched limit computation (a chunk costs chunk² numbers per NLL call)
_LIMIT_CHUNK = 64
#: Gauss–Hermite nodes of the p-value integral over the background nuisance
_HERMITE = np.polynomial.hermite_e.hermegauss(48)


@dataclass(frozen=True)
class FakeSettings:
    """How a fake is drawn (module docstring)."""

    fudge: float = 1.0
    fixed_backgrounds: bool = False
    fixed_signals: bool = False
    max_mass_dist: float = 100.0

    def __post_init__(self) -> None:
        if not self.fudge > 0:
            raise ValueError(f"parameter 'fudge' must be positive, got {self.fudge}")
        if not self.max_mass_dist > 0:
            raise ValueError(f"parameter 'max_mass_dist' must be positive, got {self.max_mass_dist}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Block:
    """Regions whose background is drawn together: λ = max(0, a + lin·z + quad·z²), z ~ N(0, C) (C = root·rootᵀ)."""

    index: NDArray[np.intp]
    root: NDArray[np.float64] | None  # None: independent unit Gaussians
    a: NDArray[np.float64]
    lin: NDArray[np.float64]
    quad: NDArray[np.float64]
    scale: NDArray[np.float64]  # marginal standard deviation of z_i (for the p-values)


def _matrix_root(cov: NDArray[np.float64]) -> NDArray[np.float64]:
    """R with R Rᵀ = cov (Cholesky, or the clipped eigen-decomposition of a not quite positive matrix)."""
    try:
        return np.asarray(np.linalg.cholesky(cov), dtype=np.float64)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(cov)
        return np.asarray(v * np.sqrt(np.clip(w, 0.0, None)), dtype=np.float64)


def sr_pvalues(n: NDArray[np.float64], a: NDArray[np.float64], lin: NDArray[np.float64],
               quad: NDArray[np.float64], scale: NDArray[np.float64],
               rng: np.random.Generator | None = None) -> NDArray[np.float64]:
    r"""Background-only p-values :math:`P(N \ge n)` of counts under λ = max(0, a + lin·z + quad·z²), z ~ N(0, scale²).

    With ``rng`` the p-value is randomised, :math:`p = P(N > n) + u P(N = n)`, u ~ U(0, 1), which makes it
    exactly uniform for counts drawn from the model (Poisson counts are discrete); without, it is
    :math:`P(N \ge n)`.  The Gaussian integral uses 48-point Gauss–Hermite quadrature.
    """
    nodes, weights = _HERMITE
    weights = weights / weights.sum()
    z = nodes[None, :] * scale[:, None]
    lam = np.maximum(a[:, None] + lin[:, None] * z + quad[:, None] * z * z, 0.0)
    k = np.round(n)[:, None]
    above = np.sum(weights * poisson.sf(k, lam), axis=1)  # P(N > n)
    equal = np.sum(weights * poisson.pmf(k, lam), axis=1)
    u = rng.uniform(size=len(n)) if rng is not None else np.ones(len(n))
    return np.asarray(np.clip(above + u * equal, 0.0, 1.0), dtype=np.float64)


@dataclass(frozen=True)
class _Workspace:
    folder: str
    file: str
    model: HistFactoryModel
    background: NDArray[np.float64]  # expected main + nominal auxiliary data at μ = 0
    constraints: list[tuple[slice, str, NDArray[np.float64]]]


class FakeGenerator:
    """Draws fakes of one database (module docstring).

    Set-up: the background models and expected limits of all signal regions; with ``source`` (the database
    files) also the pyhf model of every workspace (a few seconds per workspace, once).
    """

    def __init__(self, database: Database, settings: FakeSettings | None = None, *,
                 source: DatabaseSource | None = None) -> None:
        self.database = database
        self.settings = settings or FakeSettings()
        self.workspaces = _workspaces(database, source) if source is not None else []
        folders: list[str] = []
        regions: list[str] = []
        b: list[float] = []
        db: list[float] = []
        lumi: list[float] = []
        ul_exp: list[float] = []
        n_obs: list[float] = []
        blocks: list[_Block] = []
        for a in database.analyses:
            rows = [ds for ds in a.datasets if ds.data_type == "efficiencyMap" and ds.observed_n is not None
                    and ds.expected_bg is not None and ds.bg_error]
            if not rows:
                continue
            start = len(b)
            for ds in rows:
                folders.append(a.name)
                regions.append(str(ds.data_id))
                b.append(float(ds.expected_bg))  # type: ignore[arg-type]
                db.append(float(ds.bg_error))  # type: ignore[arg-type]
                lumi.append(a.info.lumi_ifb)
                ul_exp.append(math.nan if ds.expected_upper_limit is None else float(ds.expected_upper_limit))
                n_obs.append(float(ds.observed_n))  # type: ignore[arg-type]
            index = np.arange(start, len(b))
            blocks.append(self._block(a, rows, index, np.array(b[start:]), np.array(db[start:])))
        self.folders = folders
        self.regions = regions
        self.background = np.array(b)
        self.bg_error = np.array(db)
        self.lumi = np.array(lumi)
        self.published_expected = np.array(ul_exp)
        self.observed = np.array(n_obs)
        self.blocks = blocks
        self._mu_expected = _limits(self.background, self.background, self.bg_error, "apriori")
        self.ul_maps = [(a.name, str(ds.data_id), tx.name) for a in database.analyses for ds in a.datasets
                        if ds.data_type == "upperLimit" for tx in ds.txnames
                        if "expectedUpperLimits" in tx.grids and "upperLimits" in tx.grids]

    @staticmethod
    def _block(analysis: Any, rows: Sequence[Any], index: NDArray[np.intp], b: NDArray[np.float64],
               db: NDArray[np.float64]) -> _Block:
        cov = analysis.info.covariance
        order = analysis.info.dataset_order
        ones = np.ones(len(b))
        if cov is None or not order or [str(ds.data_id) for ds in rows] != list(order):
            return _Block(index, None, b, db, 0.0 * ones, ones)
        cov = np.asarray(cov, dtype=float)
        third = [ds.third_moment for ds in rows]
        if all(t is not None for t in third):
            a_coef, b_coef, c_coef, rho, _ = third_moment_coefficients(b, cov, np.array(third, dtype=float))
            return _Block(index, _matrix_root(rho), a_coef, b_coef, c_coef, np.sqrt(np.clip(np.diag(rho), 0, None)))
        return _Block(index, _matrix_root(cov), b, ones, 0.0 * ones, np.sqrt(np.diag(cov)))

    # ------------------------------------------------------------------ drawing
    def _background_counts(self, rng: np.random.Generator) -> NDArray[np.float64]:
        f = self.settings.fudge
        lam = np.empty_like(self.background)
        for blk in self.blocks:
            z = rng.standard_normal(len(blk.index))
            if blk.root is not None:
                z = blk.root @ z
            z = f * z
            lam[blk.index] = np.maximum(blk.a + blk.lin * z + blk.quad * z * z, 0.0)
        return rng.poisson(lam).astype(float)

    def _pvalue_model(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                                     NDArray[np.float64]]:
        a, lin, quad, scale = (np.empty_like(self.background) for _ in range(4))
        f = self.settings.fudge
        for blk in self.blocks:
            a[blk.index], lin[blk.index], quad[blk.index] = blk.a, blk.lin * f, blk.quad * f * f
            scale[blk.index] = blk.scale
        return a, lin, quad, scale

    def pvalues(self, counts: NDArray[np.float64], rng: np.random.Generator | None) -> NDArray[np.float64]:
        """Per-SR background-only p-values of ``counts`` (ordered as :attr:`regions`), see :func:`sr_pvalues`."""
        a, lin, quad, scale = self._pvalue_model()
        return sr_pvalues(counts, a, lin, quad, scale, rng=rng)

    def observed_limits(self, counts: NDArray[np.float64]) -> NDArray[np.float64]:
        """Observed 95 % CL limits (fb) on the visible σ for ``counts``, on the published expected scale."""
        mu_obs = _limits(counts, self.background, self.bg_error, "observed")
        ours = mu_obs / self.lumi
        scaled = self.published_expected * mu_obs / self._mu_expected
        return np.where(np.isfinite(scaled) & (scaled > 0), scaled, ours)

    def sample(self, rng: np.random.Generator, *, inject: ProtoModel | None = None,
               predictor: Predictor | None = None, seed: int | None = None) -> FakeOverlay:
        """One fake database (as an overlay of the real one).

        ``inject`` needs the ``predictor`` of the real database (its predictions give the injected signal).
        """
        s = self.settings
        counts = self.background.copy() if s.fixed_backgrounds else self._background_counts(rng)
        shifts: dict[tuple[str, str, str], UlShift] = {}
        for key in self.ul_maps:
            x = 0.0
            if not s.fixed_backgrounds:
                x = s.fudge * rng.standard_normal()
                while 1.0 + x / 1.96 <= 0.0:
                    x = s.fudge * rng.standard_normal()
            shifts[key] = UlShift(float(x))
        injected = None
        predictions: Sequence[TheoryPrediction] = ()
        if inject is not None:
            if predictor is None:
                raise ValueError("parameter 'predictor' (of the real database) is needed to inject a signal")
            predictions = predictor.predict(inject, likelihoods="none")
            counts = counts + self._em_signal(predictions, rng)
            for key, added in _ul_signal(predictions, predictor, s.max_mass_dist).items():
                shifts[key] = UlShift(shifts[key].x if key in shifts else None, added)
            injected = inject.to_dict()
        workspace_data = self._workspace_data(rng, predictions if inject is not None else ())
        limits = self.observed_limits(counts)
        pvals = self.pvalues(counts, rng if not s.fixed_backgrounds else None)
        em: dict[str, dict[str, tuple[float, float | None]]] = {}
        pv: dict[str, dict[str, float]] = {}
        for i, (folder, region) in enumerate(zip(self.folders, self.regions, strict=True)):
            ul = float(limits[i])
            em.setdefault(folder, {})[region] = (float(counts[i]), ul if math.isfinite(ul) else None)
            pv.setdefault(folder, {})[region] = round(float(pvals[i]), 6)
        ul_out: dict[str, dict[str, dict[str, UlShift]]] = {}
        for (folder, ds, tx), shift in shifts.items():
            ul_out.setdefault(folder, {}).setdefault(ds, {})[tx] = shift
        return FakeOverlay(self.database.path, self.database.content_hash, seed,
                           {**s.to_dict(), "kind": "signal-injected" if inject is not None else "SM"},
                           em, ul_out, injected, pv, workspace_data)

    def _workspace_data(self, rng: np.random.Generator, predictions: Sequence[TheoryPrediction]
                        ) -> dict[str, dict[str, list[float]]]:
        s = self.settings
        yields = {(p.folder, str(p.dataset)): p.yields[0] for p in predictions if p.type == "EM" and p.yields}
        out: dict[str, dict[str, list[float]]] = {}
        for ws in self.workspaces:
            n_main = ws.model.n_main
            main, aux = ws.background[:n_main].copy(), ws.background[n_main:].copy()
            if not s.fixed_backgrounds:
                main = rng.poisson(np.maximum(main, 0.0)).astype(float)
                for sl, kind, width in ws.constraints:
                    if kind == "normal":
                        aux[sl] = aux[sl] + s.fudge * width * rng.standard_normal(len(width))
                    else:
                        aux[sl] = rng.poisson(width).astype(float)
            signal = np.array([yields.get((ws.folder, r), 0.0) for r in ws.model.region_names])
            if np.any(signal > 0):
                added = np.maximum(ws.model.expected_data(1.0, signal)[:n_main] - ws.background[:n_main], 0.0)
                main = main + (added if s.fixed_signals else rng.poisson(added))
            out.setdefault(ws.folder, {})[ws.file] = [round(float(x), 10) for x in np.concatenate([main, aux])]
        return out

    def _em_signal(self, predictions: Sequence[TheoryPrediction], rng: np.random.Generator) -> NDArray[np.float64]:
        where = {(f, r): i for i, (f, r) in enumerate(zip(self.folders, self.regions, strict=True))}
        signal = np.zeros_like(self.background)
        for p in predictions:
            if p.type == "EM" and p.yields:
                i = where.get((p.folder, str(p.dataset)))
                if i is not None:
                    signal[i] += p.yields[0]
        if self.settings.fixed_signals:
            return signal
        return rng.poisson(signal).astype(float)


def _workspaces(database: Database, source: DatabaseSource) -> list[_Workspace]:
    from nextsm.likelihoods.histfactory import HistFactoryModel

    out = []
    for a in database.analyses:
        if not a.info.json_files or a.missing_workspaces():
            continue
        for file in a.info.json_files:
            model = HistFactoryModel.from_analysis(a, file, source)
            out.append(_Workspace(a.name, file, model, model.expected_data(0.0), model.constraints()))
    return out


def _limits(counts: NDArray[np.float64], b: NDArray[np.float64], db: NDArray[np.float64],
            expected: str) -> NDArray[np.float64]:
    """CLs 95 % limits on the signal events of independent single-region Poisson ⊗ Gaussian models, batched.

    A chunk of k regions is one k-region model with k hypotheses, hypothesis j carrying one signal event in
    region j only: the regions are uncorrelated, so hypothesis j's test statistic is region j's.
    """
    out = np.empty(len(counts))
    for start in range(0, len(counts), _LIMIT_CHUNK):
        sl = slice(start, min(start + _LIMIT_CHUNK, len(counts)))
        k = sl.stop - sl.start
        model = PoissonGaussian(counts[sl], b[sl], db[sl])
        out[sl] = upper_limit(model, np.eye(k), expected=expected)  # type: ignore[arg-type]
    return out


def _ul_signal(predictions: Sequence[TheoryPrediction], predictor: Predictor,
               max_mass_dist: float) -> dict[tuple[str, str, str], dict[int, float]]:
    """σ×BR (fb) of the UL predictions, per map and grid point within ``max_mass_dist`` of the prediction."""
    out: dict[tuple[str, str, str], dict[int, float]] = {}
    for p in predictions:
        if p.type != "UL" or p.masses is None or p.dataset_index < 0:
            continue
        cds = predictor.compiled.datasets[p.dataset_index]
        for tx in cds.txnames:
            if tx.name not in p.txnames or "upperLimits" not in tx.raw.grids:
                continue
            point = next((q for q in (tx.data_point(p.masses, pat) for pat in tx.patterns) if q is not None), None)
            if point is None:
                continue
            # the fake observed map lives on the points of the expected map where there is one
            grid = tx.raw.grids.get("expectedUpperLimits") or tx.raw.grids["upperLimits"]
            if grid.points.shape[1] != len(point):
                continue
            dist = np.sqrt(np.sum((grid.points - np.asarray(point)[None, :]) ** 2, axis=1))
            added = out.setdefault((cds.analysis.name, str(cds.dataset.data_id), tx.name), {})
            for i in np.flatnonzero(dist <= max_mass_dist):
                added[int(i)] = added.get(int(i), 0.0) + p.xsection_fb
    return out
