"""Typed records of the SModelS database: analyses, datasets, txnames and their data grids.

Units are canonical throughout (see :mod:`nextsm.units`): masses and widths in GeV, cross sections in
fb, integrated luminosities in fb⁻¹, √s in TeV.

The hierarchy mirrors the text database::

    Analysis (one folder, e.g. 13TeV/ATLAS/ATLAS-SUSY-2018-04-eff, globalInfo.txt)
      └─ Dataset (one signal region folder with dataInfo.txt; the single 'data' folder of UL results)
           └─ TxName (one simplified model: <TxName>.txt with constraint, condition, grids)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from nextsm.database.textformat import GridTable

__all__ = ["Analysis", "Database", "Dataset", "GlobalInfo", "TxName"]

DataType = Literal["upperLimit", "efficiencyMap"]
GRID_FIELDS: tuple[str, ...] = ("upperLimits", "expectedUpperLimits", "efficiencyMap")


@dataclass(frozen=True)
class TxName:
    """One simplified-model result (``<TxName>.txt``).

    ``constraint`` and ``condition`` are kept as written (bracket or graph notation); they are parsed
    by :mod:`nextsm.database.constraints`.  ``grids`` maps the grid field (``upperLimits``,
    ``expectedUpperLimits``, ``efficiencyMap``) to its table.
    """

    name: str
    path: str
    constraint: str
    condition: str | None
    grids: Mapping[str, GridTable]
    condition_description: str | None = None
    final_state: str | None = None
    intermediate_state: str | None = None
    axes: str | None = None
    axes_map: str | None = None
    data_map: str | None = None
    validated: str | None = None
    source: str | None = None
    figure_url: str | None = None

    @property
    def is_graph_notation(self) -> bool:
        """True for SModelS-3 graph notation ``{(PV > X(1)), ...}``."""
        return self.constraint.lstrip().startswith("{")


@dataclass(frozen=True)
class Dataset:
    """One dataset: a signal region of an efficiency-map result, or the single set of UL maps."""

    data_id: str | None
    data_type: DataType
    path: str
    txnames: tuple[TxName, ...]
    observed_n: float | None = None
    expected_bg: float | None = None
    bg_error: float | None = None
    upper_limit: float | None = None
    expected_upper_limit: float | None = None
    third_moment: float | None = None
    aggregated: str | None = None
    comment: str | None = None
    json_file: str | None = None

    def txname(self, name: str) -> TxName:
        for tx in self.txnames:
            if tx.name == name:
                return tx
        raise KeyError(f"{self.path}: no txname '{name}' (have: {', '.join(t.name for t in self.txnames)})")


@dataclass(frozen=True)
class GlobalInfo:
    """The analysis metadata of ``globalInfo.txt``.

    ``json_files`` / ``json_files_full`` are the ``jsonFiles`` / ``jsonFiles_FullLikelihood``
    mappings as literal values (workspace file name → list of channel names or of
    ``{'smodels': ..., 'pyhf': ..., 'type': ...}`` dicts); ``covariance`` is ordered like
    ``dataset_order``.
    """

    id: str
    sqrts_tev: float
    lumi_ifb: float
    experiment: str
    url: str | None = None
    arxiv: str | None = None
    publication: str | None = None
    publication_doi: str | None = None
    contact: str | None = None
    implemented_by: str | None = None
    last_update: str | None = None
    supersedes: str | None = None
    superseded_by: str | None = None
    dataset_order: tuple[str, ...] | None = None
    covariance: NDArray[np.float64] | None = None
    json_files: dict[str, Any] | None = None
    json_files_full: dict[str, Any] | None = None
    include_crs: bool | None = None
    result_type: str | None = None
    signal_uncertainty: float | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    """One result folder of the database (``<sqrts>/<experiment>/<folder>``)."""

    folder: str
    info: GlobalInfo
    datasets: tuple[Dataset, ...]
    disabled_datasets: tuple[str, ...] = ()
    #: the ``.json`` files (pyhf workspaces) present in the folder, relative to it
    workspace_files: tuple[str, ...] = ()
    #: data (main bins then auxiliary data) replacing a workspace's observations: set by fake databases only
    workspace_data: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def name(self) -> str:
        """The folder name, unique in the database (e.g. ``ATLAS-SUSY-2018-04-eff``)."""
        return self.folder.rsplit("/", 1)[-1]

    @property
    def data_type(self) -> DataType:
        return self.datasets[0].data_type if self.datasets else "upperLimit"

    @property
    def is_superseded(self) -> bool:
        return bool(self.info.superseded_by)

    @property
    def has_covariance(self) -> bool:
        return self.info.covariance is not None

    @property
    def has_workspaces(self) -> bool:
        return bool(self.info.json_files or self.info.json_files_full)

    def missing_workspaces(self) -> list[str]:
        """Workspace files named by ``jsonFiles``/``jsonFiles_FullLikelihood`` but absent from this copy."""
        named: list[str] = []
        for mapping in (self.info.json_files, self.info.json_files_full):
            named.extend(mapping or {})
        return [f for f in dict.fromkeys(named) if f not in self.workspace_files]

    def dataset(self, data_id: str | None) -> Dataset:
        for ds in self.datasets:
            if ds.data_id == data_id:
                return ds
        raise KeyError(f"{self.folder}: no dataset '{data_id}'")

    def txnames(self) -> Iterator[TxName]:
        for ds in self.datasets:
            yield from ds.txnames


@dataclass(frozen=True)
class Database:
    """The whole database: analyses in a stable order, plus provenance."""

    path: str
    version: str
    content_hash: str
    analyses: tuple[Analysis, ...]
    skipped: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.analyses)

    def __iter__(self) -> Iterator[Analysis]:
        return iter(self.analyses)

    @cached_property
    def _by_folder(self) -> dict[str, Analysis]:
        out: dict[str, Analysis] = {}
        for a in self.analyses:
            out.setdefault(a.name, a)
        return out

    def analysis(self, name: str) -> Analysis:
        """Look up by folder name (``ATLAS-SUSY-2018-04-eff``) or, if unique, by analysis id."""
        found = self._by_folder.get(name)
        if found is not None:
            return found
        by_id = [a for a in self.analyses if a.id == name]
        if len(by_id) == 1:
            return by_id[0]
        if by_id:
            raise KeyError(f"analysis id '{name}' is ambiguous: {', '.join(a.name for a in by_id)}")
        raise KeyError(f"no analysis '{name}' in the database")

    def select(
        self,
        *,
        sqrts: float | None = None,
        experiment: str | None = None,
        data_type: DataType | None = None,
        include_superseded: bool = True,
    ) -> list[Analysis]:
        out = []
        for a in self.analyses:
            if sqrts is not None and abs(a.info.sqrts_tev - sqrts) > 1e-6:
                continue
            if experiment is not None and a.info.experiment != experiment:
                continue
            if data_type is not None and a.data_type != data_type:
                continue
            if not include_superseded and a.is_superseded:
                continue
            out.append(a)
        return out
