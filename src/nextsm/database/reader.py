"""Build :class:`~nextsm.database.records.Database` records from the text files.

This is the *cold* path (every text file is read and parsed); :mod:`nextsm.database.cache` stores
its result so that later loads skip it.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from nextsm.database.records import GRID_FIELDS, Analysis, Database, Dataset, GlobalInfo, TxName
from nextsm.database.source import DatabaseSource
from nextsm.database.textformat import Entry, parse_entries, parse_grid, parse_literal, parse_scalar
from nextsm.errors import DatabaseError

__all__ = ["SkippedAnalysesWarning", "read_database"]


class SkippedAnalysesWarning(UserWarning):
    """Some analyses were malformed and skipped (``skip_bad=True``); the message lists them."""


_GLOBAL_KNOWN = {
    "id", "sqrts", "lumi", "url", "arxiv", "publication", "publicationDOI", "contact", "implementedBy",
    "lastUpdate", "supersedes", "supersededBy", "datasetOrder", "covariance", "jsonFiles",
    "jsonFiles_FullLikelihood", "includeCRs", "type", "signalUncertainty",
}


def _natural_key(name: str) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _text(entries: dict[str, Entry], key: str) -> str | None:
    entry = entries.get(key)
    if entry is None or entry.value in ("", "None"):
        return None
    return entry.value


def _number(entries: dict[str, Entry], key: str, path: str, expect: str | None = None) -> float | None:
    entry = entries.get(key)
    if entry is None or entry.value in ("", "None"):
        return None
    return parse_scalar(entry, path=path, field=key, expect=expect)


def _require(entries: dict[str, Entry], key: str, path: str) -> Entry:
    if key not in entries:
        raise DatabaseError("required field is missing", path=path, field=key)
    return entries[key]


def parse_global_info(text: str, path: str) -> GlobalInfo:
    """Parse a ``globalInfo.txt``."""
    e = parse_entries(text, path)
    parts = path.split("/")
    experiment = parts[-3] if len(parts) >= 3 else "unknown"
    order = None
    if "datasetOrder" in e:
        raw = parse_literal(e["datasetOrder"], path=path, field="datasetOrder")
        order = (raw,) if isinstance(raw, str) else tuple(str(x) for x in raw)
    covariance = None
    if "covariance" in e:
        covariance = np.asarray(parse_literal(e["covariance"], path=path, field="covariance"), dtype=float)
        n = len(order) if order is not None else -1
        if covariance.ndim != 2 or covariance.shape[0] != covariance.shape[1] or covariance.shape[0] != n:
            raise DatabaseError(f"covariance has shape {covariance.shape}, datasetOrder has {n} entries",
                                path=path, line=e["covariance"].line, field="covariance")
    json_files = parse_literal(e["jsonFiles"], path=path, field="jsonFiles") if "jsonFiles" in e else None
    json_full = (parse_literal(e["jsonFiles_FullLikelihood"], path=path, field="jsonFiles_FullLikelihood")
                 if "jsonFiles_FullLikelihood" in e else None)
    for fld, value in (("jsonFiles", json_files), ("jsonFiles_FullLikelihood", json_full)):
        if value is not None and not isinstance(value, dict):
            raise DatabaseError("expected a dict {workspace file: [regions]}", path=path, line=e[fld].line, field=fld)
    include_crs = None
    if "includeCRs" in e:
        raw_crs = parse_literal(e["includeCRs"], path=path, field="includeCRs")
        if not isinstance(raw_crs, bool):
            raise DatabaseError("expected True or False", path=path, line=e["includeCRs"].line, field="includeCRs")
        include_crs = raw_crs
    sqrts = parse_scalar(_require(e, "sqrts", path), path=path, field="sqrts", expect="energy") / 1000.0
    lumi = parse_scalar(_require(e, "lumi", path), path=path, field="lumi", expect="luminosity")
    return GlobalInfo(
        id=_require(e, "id", path).value,
        sqrts_tev=sqrts,
        lumi_ifb=lumi,
        experiment=experiment,
        url=_text(e, "url"),
        arxiv=_text(e, "arxiv"),
        publication=_text(e, "publication"),
        publication_doi=_text(e, "publicationDOI"),
        contact=_text(e, "contact"),
        implemented_by=_text(e, "implementedBy"),
        last_update=_text(e, "lastUpdate"),
        supersedes=_text(e, "supersedes"),
        superseded_by=_text(e, "supersededBy"),
        dataset_order=order,
        covariance=covariance,
        json_files=json_files,
        json_files_full=json_full,
        include_crs=include_crs,
        result_type=_text(e, "type"),
        signal_uncertainty=_number(e, "signalUncertainty", path),
        extra={k: v.value for k, v in e.items() if k not in _GLOBAL_KNOWN},
    )


def parse_txname(text: str, path: str) -> TxName:
    """Parse a ``<TxName>.txt``."""
    e = parse_entries(text, path)
    grids = {f: parse_grid(e[f], path=path, field=f) for f in GRID_FIELDS if f in e}
    if not grids:
        raise DatabaseError("no data grid (upperLimits, expectedUpperLimits or efficiencyMap)", path=path)
    return TxName(
        name=_require(e, "txName", path).value,
        path=path,
        constraint=_require(e, "constraint", path).value,
        condition=_text(e, "condition"),
        grids=grids,
        condition_description=_text(e, "conditionDescription"),
        final_state=_text(e, "finalState"),
        intermediate_state=_text(e, "intermediateState"),
        axes=_text(e, "axes"),
        axes_map=_text(e, "axesMap"),
        data_map=_text(e, "dataMap"),
        validated=_text(e, "validated"),
        source=_text(e, "source"),
        figure_url=_text(e, "figureUrl"),
    )


def parse_dataset(text: str, path: str, txnames: tuple[TxName, ...]) -> Dataset:
    """Parse a ``dataInfo.txt`` together with the txnames of its folder."""
    e = parse_entries(text, path)
    data_type = _require(e, "dataType", path).value
    if data_type not in ("upperLimit", "efficiencyMap"):
        raise DatabaseError(f"unknown dataType '{data_type}' (expected upperLimit or efficiencyMap)",
                            path=path, line=e["dataType"].line, field="dataType")
    ds = Dataset(
        data_id=_text(e, "dataId"),
        data_type=data_type,  # type: ignore[arg-type]
        path=path.rsplit("/", 1)[0],
        txnames=txnames,
        observed_n=_number(e, "observedN", path),
        expected_bg=_number(e, "expectedBG", path),
        bg_error=_number(e, "bgError", path),
        upper_limit=_number(e, "upperLimit", path, "xsec"),
        expected_upper_limit=_number(e, "expectedUpperLimit", path, "xsec"),
        third_moment=_number(e, "thirdMoment", path),
        aggregated=_text(e, "aggregated"),
        comment=_text(e, "comment"),
        json_file=_text(e, "jsonfile"),
    )
    if data_type == "efficiencyMap":
        for key, value in (("observedN", ds.observed_n), ("expectedBG", ds.expected_bg), ("bgError", ds.bg_error)):
            if value is None:
                raise DatabaseError("required for an efficiencyMap dataset", path=path, field=key)
    return ds


def _analysis_folder(rel: str) -> str | None:
    parts = rel.split("/")
    if len(parts) >= 4 and parts[0].endswith("TeV"):
        return "/".join(parts[:3])
    return None


def _build_analysis(folder: str, files: dict[str, str]) -> Analysis:
    gpath = f"{folder}/globalInfo.txt"
    if gpath not in files:
        raise DatabaseError("analysis folder without globalInfo.txt", path=folder)
    info = parse_global_info(files[gpath], gpath)
    by_dataset: dict[str, dict[str, str]] = defaultdict(dict)
    disabled = []
    for rel, text in files.items():
        sub = rel[len(folder) + 1:]
        if "/" not in sub:
            continue
        ds_name, fname = sub.split("/", 1)
        if "/" in fname:
            continue
        by_dataset[ds_name][fname] = text
    datasets = []
    for ds_name, dfiles in by_dataset.items():
        if "dataInfo.txt" not in dfiles:
            if any(f.startswith("dataInfo") for f in dfiles):
                disabled.append(ds_name)
            continue
        txnames = tuple(
            parse_txname(text, f"{folder}/{ds_name}/{fname}")
            for fname, text in sorted(dfiles.items())
            if fname.endswith(".txt") and fname != "dataInfo.txt" and text.startswith("txName")
        )
        datasets.append(parse_dataset(dfiles["dataInfo.txt"], f"{folder}/{ds_name}/dataInfo.txt", txnames))
    if not datasets:
        raise DatabaseError("analysis folder without any dataset (no */dataInfo.txt)", path=folder)
    if info.dataset_order is not None:
        rank = {name: i for i, name in enumerate(info.dataset_order)}
        missing = [n for n in info.dataset_order if n not in {d.data_id for d in datasets}]
        if missing:
            raise DatabaseError(f"datasetOrder names datasets that do not exist: {missing[:5]}",
                                path=gpath, field="datasetOrder")
        datasets.sort(key=lambda d: (rank.get(d.data_id or "", len(rank)), _natural_key(d.data_id or "")))
    else:
        datasets.sort(key=lambda d: _natural_key(d.data_id or ""))
    return Analysis(folder=folder, info=info, datasets=tuple(datasets), disabled_datasets=tuple(sorted(disabled)))


#: the files of a database that are read (and hashed); anything else, e.g. SModelS' binary pickles, is ignored
_TEXT_SUFFIXES = (".txt", ".json", ".txte")


def read_database(
    source: DatabaseSource,
    *,
    skip_bad: bool = False,
    progress: Callable[[Iterable[str]], Iterable[str]] | None = None,
) -> Database:
    """Read and parse every analysis of the database.

    Parameters
    ----------
    source:
        The opened database.
    skip_bad:
        If True, malformed analyses are skipped and listed in a :class:`SkippedAnalysesWarning`
        (and in ``Database.skipped``); if False (default), the first :class:`DatabaseError` is raised.
    progress:
        Optional wrapper around the iterable of analysis folders (e.g. a progress bar).
    """
    digest = hashlib.sha256()
    grouped: dict[str, dict[str, str]] = defaultdict(dict)
    workspaces: dict[str, list[str]] = defaultdict(list)
    version = "unknown"
    for rel, text in source.iter_texts((*_TEXT_SUFFIXES, "version")):
        if not (rel.endswith(_TEXT_SUFFIXES) or rel == "version"):  # "version" is a name, not a suffix
            continue
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(text.encode())
        if rel == "version":
            version = text.strip()
            continue
        folder = _analysis_folder(rel)
        if rel.endswith(".json"):
            if folder is not None:
                workspaces[folder].append(rel[len(folder) + 1:])
            continue
        folder = _analysis_folder(rel)
        if folder is not None:
            grouped[folder][rel] = text
    folders = sorted(grouped)
    iterator: Iterable[str] = progress(folders) if progress is not None else folders
    analyses = []
    skipped = []
    for folder in iterator:
        try:
            analysis = _build_analysis(folder, grouped[folder])
            analyses.append(replace(analysis, workspace_files=tuple(sorted(workspaces.get(folder, ())))))
        except DatabaseError as exc:
            if not skip_bad:
                raise
            skipped.append(f"{folder}: {exc}")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} malformed analyses:\n  " + "\n  ".join(skipped),
                      SkippedAnalysesWarning, stacklevel=2)
    return Database(path=str(source.path), version=version, content_hash=digest.hexdigest(),
                    analyses=tuple(analyses), skipped=tuple(skipped))
