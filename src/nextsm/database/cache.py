"""The compiled database cache: parse the text files once, load the result in about a second.

Layout (one folder per database content, named by the SHA-256 of its text and JSON files)::

    <cache dir>/
      index.json                     fingerprint of a database path -> content hash
      db-<content hash>-v<FORMAT>/
        meta.json                    every record except the grids' numbers (plain JSON)
        grids.npy                    all grid numbers, concatenated (float64, memory-mappable)

* The *fingerprint* of a database is cheap to compute (path, size and mtime of the archive, or of
  every file of a folder); it only serves to find the content hash without re-reading 400 MB.
* A cache folder is written under a temporary name and renamed into place (atomic on POSIX), so
  several processes may build or read the cache at the same time; the loser of a race simply
  discards its copy.  No pickle: JSON + ``.npy`` only.
* ``FORMAT`` is bumped whenever the layout or the parsing changes, which invalidates old caches.

The cache directory is, in order: the explicit argument, ``NEXTSM_CACHE_DIR``,
``$XDG_CACHE_HOME/nextsm``, ``~/.cache/nextsm``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nextsm.database.records import Analysis, Database, Dataset, GlobalInfo, TxName
from nextsm.database.textformat import GridTable

__all__ = ["FORMAT", "cache_dir", "fingerprint", "load_cached", "store"]

FORMAT = 2


def cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get("NEXTSM_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "nextsm"


def fingerprint(path: Path) -> str:
    """A cheap identity of the database at ``path`` (changes whenever a file changes)."""
    h = hashlib.sha256(str(path.resolve()).encode())
    if path.is_dir():
        for dirpath, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                st = (Path(dirpath) / name).stat()
                h.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    else:
        st = path.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


# -- serialisation ----------------------------------------------------------------------------

def _grid_to_json(grid: GridTable, chunks: list[np.ndarray], offset: list[int]) -> dict[str, Any]:
    n, d = grid.points.shape
    start = offset[0]
    chunks.append(grid.points.ravel())
    chunks.append(grid.values)
    offset[0] += n * d + n
    return {"o": start, "n": n, "d": d, "layout": grid.layout}


def _grid_from_json(g: dict[str, Any], data: np.ndarray) -> GridTable:
    o, n, d = g["o"], g["n"], g["d"]
    return GridTable(data[o:o + n * d].reshape(n, d), data[o + n * d:o + n * d + n], g["layout"])


_TX_FIELDS = ("condition_description", "final_state", "intermediate_state", "axes", "axes_map", "data_map",
              "validated", "source", "figure_url")
_DS_FIELDS = ("observed_n", "expected_bg", "bg_error", "upper_limit", "expected_upper_limit", "third_moment",
              "aggregated", "comment", "json_file")
_INFO_FIELDS = ("url", "arxiv", "publication", "publication_doi", "contact", "implemented_by", "last_update",
                "supersedes", "superseded_by", "json_files", "json_files_full", "include_crs", "result_type",
                "signal_uncertainty")


def _to_json(db: Database) -> tuple[dict[str, Any], np.ndarray]:
    chunks: list[np.ndarray] = []
    offset = [0]
    analyses = []
    for a in db.analyses:
        info = a.info
        jinfo: dict[str, Any] = {"id": info.id, "sqrts_tev": info.sqrts_tev, "lumi_ifb": info.lumi_ifb,
                                 "experiment": info.experiment, "extra": dict(info.extra)}
        jinfo.update({f: getattr(info, f) for f in _INFO_FIELDS})
        jinfo["dataset_order"] = list(info.dataset_order) if info.dataset_order is not None else None
        jinfo["covariance"] = info.covariance.tolist() if info.covariance is not None else None
        datasets = []
        for ds in a.datasets:
            txs = []
            for tx in ds.txnames:
                jt = {"name": tx.name, "path": tx.path, "constraint": tx.constraint, "condition": tx.condition,
                      "grids": {k: _grid_to_json(g, chunks, offset) for k, g in tx.grids.items()}}
                jt.update({f: getattr(tx, f) for f in _TX_FIELDS})
                txs.append(jt)
            jd = {"data_id": ds.data_id, "data_type": ds.data_type, "path": ds.path, "txnames": txs}
            jd.update({f: getattr(ds, f) for f in _DS_FIELDS})
            datasets.append(jd)
        analyses.append({"folder": a.folder, "info": jinfo, "datasets": datasets,
                         "disabled_datasets": list(a.disabled_datasets),
                         "workspace_files": list(a.workspace_files)})
    meta = {"format": FORMAT, "path": db.path, "version": db.version, "content_hash": db.content_hash,
            "skipped": list(db.skipped), "analyses": analyses}
    data = np.concatenate(chunks) if chunks else np.empty(0)
    return meta, data


def _from_json(meta: dict[str, Any], data: np.ndarray) -> Database:
    analyses = []
    for ja in meta["analyses"]:
        ji = ja["info"]
        info = GlobalInfo(
            id=ji["id"], sqrts_tev=ji["sqrts_tev"], lumi_ifb=ji["lumi_ifb"], experiment=ji["experiment"],
            dataset_order=tuple(ji["dataset_order"]) if ji["dataset_order"] is not None else None,
            covariance=np.asarray(ji["covariance"], dtype=float) if ji["covariance"] is not None else None,
            extra=ji["extra"], **{f: ji[f] for f in _INFO_FIELDS},
        )
        datasets = []
        for jd in ja["datasets"]:
            txs = tuple(
                TxName(name=jt["name"], path=jt["path"], constraint=jt["constraint"], condition=jt["condition"],
                       grids={k: _grid_from_json(g, data) for k, g in jt["grids"].items()},
                       **{f: jt[f] for f in _TX_FIELDS})
                for jt in jd["txnames"]
            )
            datasets.append(Dataset(data_id=jd["data_id"], data_type=jd["data_type"], path=jd["path"], txnames=txs,
                                    **{f: jd[f] for f in _DS_FIELDS}))
        analyses.append(Analysis(folder=ja["folder"], info=info, datasets=tuple(datasets),
                                 disabled_datasets=tuple(ja["disabled_datasets"]),
                                 workspace_files=tuple(ja["workspace_files"])))
    return Database(path=meta["path"], version=meta["version"], content_hash=meta["content_hash"],
                    analyses=tuple(analyses), skipped=tuple(meta["skipped"]))


# -- index and storage --------------------------------------------------------------------------

def _entry_dir(root: Path, content_hash: str) -> Path:
    return root / f"db-{content_hash[:32]}-v{FORMAT}"


def _read_index(root: Path) -> dict[str, str]:
    try:
        return json.loads((root / "index.json").read_text())
    except (OSError, ValueError):
        return {}


def _write_index(root: Path, key: str, content_hash: str) -> None:
    index = _read_index(root)
    index[key] = content_hash
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".index-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(index, fh)
    os.replace(tmp, root / "index.json")


def load_cached(db_path: Path, root: Path) -> Database | None:
    """Return the cached database for ``db_path``, or None if there is no valid cache entry."""
    content_hash = _read_index(root).get(fingerprint(db_path))
    if content_hash is None:
        return None
    entry = _entry_dir(root, content_hash)
    try:
        meta = json.loads((entry / "meta.json").read_text())
        data = np.load(entry / "grids.npy", mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT or meta.get("content_hash") != content_hash:
        return None
    # Entries are shared by content: the same archive at another path (a copy, a mount) hits the
    # entry built from the first one, so report the path this load was asked for.
    return _from_json({**meta, "path": str(db_path)}, np.asarray(data))


def store(db: Database, db_path: Path, root: Path) -> Path:
    """Write ``db`` to the cache (atomically) and register ``db_path``'s fingerprint; return the entry."""
    root.mkdir(parents=True, exist_ok=True)
    entry = _entry_dir(root, db.content_hash)
    if not (entry / "meta.json").exists():
        meta, data = _to_json(db)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".building-"))
        try:
            np.save(tmp / "grids.npy", data, allow_pickle=False)
            (tmp / "meta.json").write_text(json.dumps(meta, separators=(",", ":")))
            with contextlib.suppress(OSError):  # another process won the race: its copy is equivalent
                os.replace(tmp, entry)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    _write_index(root, fingerprint(db_path), db.content_hash)
    return entry
