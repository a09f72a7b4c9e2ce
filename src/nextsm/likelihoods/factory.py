"""Build the right statistical model for a database result.

=====================================  =========================================  ======================
database result                        model                                      ``kind``
=====================================  =========================================  ======================
UL map with expected UL                :class:`~.ul_gaussian.TruncatedGaussian`   ``ul-truncated-gaussian``
UL map, observed only                  :class:`~.ul_gaussian.ObservedUpperLimit`  ``ul-observed-only``
one efficiency-map SR                  :class:`~.simplified.PoissonGaussian`      ``single-sr``
EM SRs, no combination recipe          :class:`~.best_region.BestExpectedRegion`  ``best-sr``
EM SRs with covariance                 SL v1 (SL v2 with third moments)           ``sl-v1`` / ``sl-v2``
EM SRs with pyhf workspaces            :class:`~.histfactory.HistFactoryModel`    ``histfactory``
=====================================  =========================================  ======================

A workspace named in ``jsonFiles`` but absent from the database is reported in the result's
``note`` and replaced by the best simplified description (SL with covariance if there is one,
else the best expected SR among the workspace's SRs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import LikelihoodError, MissingWorkspaceError
from nextsm.likelihoods.base import StatisticalModel
from nextsm.likelihoods.best_region import BestExpectedRegion
from nextsm.likelihoods.simplified import CorrelatedBackground, PoissonGaussian, ThirdMomentExpansion
from nextsm.likelihoods.ul_gaussian import ObservedUpperLimit, TruncatedGaussian

if TYPE_CHECKING:
    from nextsm.database.records import Analysis, Dataset
    from nextsm.database.source import DatabaseSource
    from nextsm.database.textformat import GridTable

__all__ = [
    "EM_METHODS",
    "ResultKind",
    "ResultLikelihood",
    "efficiency_map_likelihood",
    "efficiency_map_likelihoods",
    "upper_limit_likelihood",
]

ResultKind = Literal["ul-truncated-gaussian", "ul-observed-only", "single-sr", "best-sr", "sl-v1", "sl-v2",
                     "histfactory", "surrogate"]
EMMethod = Literal["auto", "histfactory", "sl", "best-sr"]
EM_METHODS: tuple[EMMethod, ...] = ("auto", "histfactory", "sl", "best-sr")


@dataclass(frozen=True)
class ResultLikelihood:
    """A statistical model together with what it describes.

    Attributes
    ----------
    analysis_id:
        The analysis (e.g. ``"CMS-SUS-19-006"``).
    kind:
        The likelihood type (module table).
    regions:
        The signal inputs the model takes, in order: signal-region (dataset) ids for efficiency-map
        results, the txname for UL results.
    model:
        The batched statistical model.
    note:
        Why this description was chosen when it is not the analysis' full one (e.g. a missing
        workspace), else empty.
    """

    analysis_id: str
    kind: ResultKind
    regions: tuple[str, ...]
    model: StatisticalModel
    note: str = ""

    @property
    def label(self) -> str:
        """``analysis:regions`` for tables."""
        regions = ",".join(self.regions) if len(self.regions) <= 3 else f"{len(self.regions)} SRs"
        return f"{self.analysis_id}:{regions}"


# ------------------------------------------------------------------------------------------------
# efficiency-map results
# ------------------------------------------------------------------------------------------------
def _em_datasets(analysis: Analysis) -> list[Dataset]:
    datasets = [ds for ds in analysis.datasets if ds.data_type == "efficiencyMap"]
    if not datasets:
        raise LikelihoodError(f"{analysis.id} has no efficiency-map signal regions")
    return datasets


def _counts(analysis: Analysis, datasets: Sequence[Dataset]) -> tuple[NDArray[np.float64], ...]:
    for ds in datasets:
        for field, value in (("observedN", ds.observed_n), ("expectedBG", ds.expected_bg),
                             ("bgError", ds.bg_error)):
            if value is None:
                raise LikelihoodError(f"{analysis.id}: dataset '{ds.data_id}' has no field '{field}'")
    observed = np.array([ds.observed_n for ds in datasets], dtype=float)
    background = np.array([ds.expected_bg for ds in datasets], dtype=float)
    error = np.array([ds.bg_error for ds in datasets], dtype=float)
    return observed, background, error


def _single(analysis: Analysis, ds: Dataset, marginalised: bool) -> ResultLikelihood:
    n, b, err = _counts(analysis, [ds])
    return ResultLikelihood(analysis.id, "single-sr", (str(ds.data_id),),
                            PoissonGaussian(n, b, err, marginalised=marginalised))


def _best(analysis: Analysis, datasets: Sequence[Dataset], note: str = "") -> ResultLikelihood:
    n, b, err = _counts(analysis, datasets)
    lumi = analysis.info.lumi_ifb
    published = np.array([np.nan if ds.expected_upper_limit is None else ds.expected_upper_limit * lumi
                          for ds in datasets])
    expected_ul = np.where(np.isfinite(published), published, 1.96 * np.sqrt(b + err**2))
    model = BestExpectedRegion(PoissonGaussian(n, b, err), expected_ul)
    return ResultLikelihood(analysis.id, "best-sr", tuple(str(ds.data_id) for ds in datasets), model, note)


def _simplified(analysis: Analysis, note: str = "") -> ResultLikelihood:
    cov = analysis.info.covariance
    assert cov is not None
    order = analysis.info.dataset_order
    datasets = [analysis.dataset(d) for d in order] if order else _em_datasets(analysis)
    if cov.shape != (len(datasets), len(datasets)):
        raise LikelihoodError(f"{analysis.id}: covariance is {cov.shape[0]}×{cov.shape[1]} but there are "
                              f"{len(datasets)} signal regions (fields 'covariance', 'datasetOrder')")
    n, b, _ = _counts(analysis, datasets)
    regions = tuple(str(ds.data_id) for ds in datasets)
    third = [ds.third_moment for ds in datasets]
    if all(t is not None for t in third):
        model: StatisticalModel = ThirdMomentExpansion(n, b, cov, np.array(third, dtype=float))
        return ResultLikelihood(analysis.id, "sl-v2", regions, model, note)
    return ResultLikelihood(analysis.id, "sl-v1", regions, CorrelatedBackground(n, b, cov), note)


def _workspace_regions(spec: Sequence[object], include_crs: bool = False) -> list[str]:
    """SModelS SR names of a ``jsonFiles`` entry (strings, or dicts with type SR), in listing order; with
    ``include_crs`` (SModelS' ``includeCRs``) the CRs too, as the signal patch of the workspace has them."""
    kinds = ("SR", "CR") if include_crs else ("SR",)
    names: list[str] = []
    for item in spec:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict) and item.get("type", "SR") in kinds and item.get("smodels"):
            names.append(str(item["smodels"]))
    return names


def efficiency_map_likelihoods(
    analysis: Analysis,
    *,
    method: EMMethod = "auto",
    source: DatabaseSource | None = None,
    marginalised: bool = False,
) -> list[ResultLikelihood]:
    """All likelihoods the database provides for an efficiency-map analysis.

    ``method="auto"`` takes the most complete description: one HistFactory model per workspace
    (needs ``source``, the database files), else SL v1/v2 when a covariance is given, else the best
    expected SR (or the single SR).  A workspace missing from the database is replaced as described
    in the module docstring and the reason is put in ``note``.
    """
    if method not in EM_METHODS:
        raise LikelihoodError(f"parameter 'method' must be one of {EM_METHODS}, got {method!r}")
    datasets = _em_datasets(analysis)
    if len(datasets) == 1 and method in ("auto", "best-sr"):
        return [_single(analysis, datasets[0], marginalised)]
    json_files = analysis.info.json_files or {}
    if method == "histfactory" or (method == "auto" and json_files and source is not None):
        if not json_files:
            raise LikelihoodError(f"{analysis.id} has no pyhf workspaces (field 'jsonFiles')")
        if source is None:
            raise LikelihoodError("parameter 'source' (the database files) is needed for pyhf workspaces")
        return _histfactory_results(analysis, datasets, source)
    if method == "sl" or (method == "auto" and analysis.info.covariance is not None):
        if analysis.info.covariance is None:
            raise LikelihoodError(f"{analysis.id} has no covariance matrix (field 'covariance')")
        return [_simplified(analysis)]
    return [_best(analysis, datasets)]


def _histfactory_results(analysis: Analysis, datasets: Sequence[Dataset],
                         source: DatabaseSource) -> list[ResultLikelihood]:
    from nextsm.likelihoods.histfactory import HistFactoryModel

    by_id = {str(ds.data_id): ds for ds in datasets}
    results: list[ResultLikelihood] = []
    for name, spec in (analysis.info.json_files or {}).items():
        try:
            model = HistFactoryModel.from_analysis(analysis, name, source)
        except MissingWorkspaceError as exc:
            regions = [r for r in _workspace_regions(spec) if r in by_id]
            note = f"{exc}; using the best simplified description instead"
            if analysis.info.covariance is not None:
                results.append(_simplified(analysis, note))
            elif regions:
                results.append(_best(analysis, [by_id[r] for r in regions], note))
            else:
                results.append(_best(analysis, datasets, note))
            continue
        results.append(ResultLikelihood(analysis.id, "histfactory", tuple(model.regions), model,
                                        f"workspace {name}"))
    return results


def efficiency_map_likelihood(
    analysis: Analysis,
    *,
    regions: Sequence[str] | None = None,
    method: EMMethod = "auto",
    workspace: str | None = None,
    source: DatabaseSource | None = None,
    marginalised: bool = False,
) -> ResultLikelihood:
    """One likelihood for an efficiency-map analysis.

    ``regions`` with a single SR id gives that SR's Poisson ⊗ Gaussian; several ids give the best
    expected SR among them.  Otherwise see :func:`efficiency_map_likelihoods`; for analyses with
    several workspaces ``workspace`` picks one (default: the first listed in ``jsonFiles``).
    """
    if regions is not None:
        chosen = [analysis.dataset(r) for r in regions]
        if len(chosen) == 1:
            return _single(analysis, chosen[0], marginalised)
        return _best(analysis, chosen)
    results = efficiency_map_likelihoods(analysis, method=method, source=source, marginalised=marginalised)
    if workspace is None:
        return results[0]
    names = list((analysis.info.json_files or {}).keys())
    if workspace not in names:
        raise LikelihoodError(f"{analysis.id} has no workspace '{workspace}' (field 'jsonFiles': {names})")
    return results[names.index(workspace)]


# ------------------------------------------------------------------------------------------------
# upper-limit results
# ------------------------------------------------------------------------------------------------
def _flat_points(masses: ArrayLike, grid: GridTable, flatten: Callable[..., ArrayLike]) -> NDArray[np.float64]:
    """``(H, d)`` flat coordinates from flat rows or from a list of nested SModelS mass points."""
    dim = grid.points.shape[1]
    try:
        arr = np.asarray(masses, dtype=float)
    except ValueError:  # ragged: nested points with widths
        arr = None
    if arr is not None and arr.ndim == 1 and arr.shape[0] == dim:
        return arr.reshape(1, dim)
    if arr is not None and arr.ndim == 2 and arr.shape[1] == dim:
        return arr
    try:
        return np.array([np.asarray(flatten(p, grid.layout), dtype=np.float64) for p in masses],  # type: ignore[union-attr]
                        dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LikelihoodError(f"parameter 'masses' does not match the grid layout {grid.layout}: {exc}") from None


def upper_limit_likelihood(
    analysis: Analysis,
    txname: str,
    masses: ArrayLike,
    *,
    corr: float = 0.6,
    cap_excess: bool = False,
) -> ResultLikelihood:
    """Likelihood of a UL-map result at a batch of mass points.

    ``masses`` are ``(H, d)`` flat grid coordinates (the order of the txname's data grid, see
    :class:`~nextsm.database.textformat.GridTable`), or one point given in SModelS' nested form.
    The signal passed to the model afterwards is the predicted cross section σ×BR (fb) of the
    txname's topology.  Points outside the grid raise :class:`LikelihoodError`.
    """
    from nextsm.database.grids import GridInterpolator, flatten_point

    ul_sets = [ds for ds in analysis.datasets if ds.data_type == "upperLimit"]
    if not ul_sets:
        raise LikelihoodError(f"{analysis.id} has no upper-limit maps")
    try:
        tx = ul_sets[0].txname(txname)
    except Exception as exc:  # records raise DatabaseError with the list of names
        raise LikelihoodError(str(exc)) from None
    grid = tx.grids["upperLimits"]
    points = _flat_points(masses, grid, flatten_point)
    observed = GridInterpolator.from_grid(grid)(points)
    outside = ~np.isfinite(observed)
    if np.any(outside):
        first = points[np.flatnonzero(outside)[0]].tolist()
        raise LikelihoodError(f"{analysis.id}/{txname}: {int(outside.sum())} mass point(s) outside the "
                              f"upper-limit grid, e.g. {first}")
    expected_grid = tx.grids.get("expectedUpperLimits")
    if expected_grid is None:
        return ResultLikelihood(analysis.id, "ul-observed-only", (txname,), ObservedUpperLimit.from_limit(observed),
                                "no expected upper limits: r-value only")
    expected = GridInterpolator.from_grid(expected_grid)(points)
    if np.any(~np.isfinite(expected)):
        return ResultLikelihood(analysis.id, "ul-observed-only", (txname,), ObservedUpperLimit.from_limit(observed),
                                "mass point outside the expected-UL grid: r-value only")
    model = TruncatedGaussian.from_limits(observed, expected, corr=corr, cap_excess=cap_excess)
    return ResultLikelihood(analysis.id, "ul-truncated-gaussian", (txname,), model)
