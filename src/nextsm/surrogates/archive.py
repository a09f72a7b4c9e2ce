"""Label archives: a training set's labels in one small file, its hypotheses re-drawn from the seed.

Labelling a large workspace costs core-hours (ATLAS-SUSY-2018-16: ≈ 1 s of fits per hypothesis), while the
hypotheses themselves are cheap to re-draw: :func:`~nextsm.surrogates.labels.draw_signals` is deterministic in
(workspace, regions, n, seed, sampling).  An archive (``.npz``, no pickle) therefore holds

* ``manifest``: the folder's ``manifest.json`` text;
* ``signals_sha256``: the SHA-256 of the hypotheses (``(n, N)`` little-endian float64), to check the re-drawn ones;
* ``chunks`` and ``labels``: the indices of the finished chunks and their labels, concatenated in that order;
* ``baseline_n``, ``baseline_b``: the Poisson baseline (``baseline.npz``), if the folder has one.

For 20 000 hypotheses that is ≈ 0.6 MB instead of 7 MB of folder.  :func:`unpack_labels` rebuilds a folder that
``nextsm surrogate labels`` resumes and ``nextsm surrogate train`` reads; unpacking into a folder that already holds
part of the same set adds only the chunks it lacks.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nextsm.surrogates.labels import (
    _RESUME_KEYS,
    FORMAT,
    LabelSet,
    SamplingSettings,
    TrainingSetError,
    _chunk_path,
    _write_chunk,
    draw_signals,
    load_labels,
)
from nextsm.surrogates.network import VARIANTS

__all__ = ["pack_labels", "signals_digest", "unpack_labels"]

#: manifest fields that must agree between an archive and a folder it is unpacked into
_SAME_SET_KEYS = ("format", "regions", *_RESUME_KEYS)


def signals_digest(signals: NDArray[np.float64]) -> str:
    """SHA-256 of hypotheses as little-endian float64 in C order (what :func:`unpack_labels` checks)."""
    return hashlib.sha256(np.ascontiguousarray(signals, dtype="<f8").tobytes()).hexdigest()


def pack_labels(folder: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Write the finished chunks of the training set in ``folder`` to the archive ``path`` (atomically)."""
    src = Path(folder)
    label_set = load_labels(src)  # checks the manifest and every chunk's shape
    size = int(label_set.meta["chunk_size"])
    n_chunks = -(-int(label_set.meta["n"]) // size)
    chunks = np.array([k for k in range(n_chunks) if _chunk_path(src, k).exists()], dtype=np.int64)
    signals = np.load(src / "signals.npy", allow_pickle=False)
    arrays: dict[str, Any] = {
        "manifest": np.array((src / "manifest.json").read_text(encoding="utf-8")),
        "signals_sha256": np.array(signals_digest(signals)),
        "chunks": chunks,
        "labels": np.asarray(label_set.labels, dtype=np.float64),
    }
    if label_set.baseline is not None:
        arrays["baseline_n"], arrays["baseline_b"] = label_set.baseline
    out = Path(path)
    if out.suffix != ".npz":
        raise TrainingSetError(f"{out}: a label archive must end in .npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    return out


def _read_archive(path: Path) -> tuple[dict[str, Any], str, NDArray[np.int64], NDArray[np.float64],
                                       tuple[NDArray[np.float64], NDArray[np.float64]] | None]:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [k for k in ("manifest", "signals_sha256", "chunks", "labels") if k not in arrays.files]
            if missing:
                raise TrainingSetError(f"{path}: not a label archive (missing {', '.join(missing)})")
            meta = json.loads(str(arrays["manifest"]))
            digest = str(arrays["signals_sha256"])
            chunks = np.asarray(arrays["chunks"], dtype=np.int64)
            labels = np.asarray(arrays["labels"], dtype=np.float64)
            baseline = ((np.array(arrays["baseline_n"]), np.array(arrays["baseline_b"]))
                        if "baseline_n" in arrays.files else None)
    except FileNotFoundError:
        raise TrainingSetError(f"{path}: no such label archive") from None
    except (ValueError, OSError) as exc:  # not an npz, or an npz holding objects
        raise TrainingSetError(f"{path}: not a readable label archive ({exc})") from None
    if meta.get("format") != FORMAT:
        raise TrainingSetError(f"{path}: manifest field 'format' must be {FORMAT!r}, got {meta.get('format')!r}")
    return meta, digest, chunks, labels, baseline


def unpack_labels(path: str | os.PathLike[str], folder: str | os.PathLike[str],
                  database: str | None = None) -> LabelSet:
    """Rebuild the training-set folder ``folder`` from the archive ``path``.

    The hypotheses are re-drawn from the manifest's seed and sampling with the database's region backgrounds
    (``database``: as :func:`~nextsm.database.load_database`) and must match the archive's digest.  Chunks the
    folder already has are kept; a folder of another training set is refused.
    """
    from nextsm.database import load_database

    archive = Path(path)
    meta, digest, chunks, labels, baseline = _read_archive(archive)
    size, n = int(meta["chunk_size"]), int(meta["n"])
    counts = [min(size, n - int(k) * size) for k in chunks]
    if any(c <= 0 for c in counts) or sum(counts) != len(labels) or labels.shape[1:] != (len(VARIANTS),):
        raise TrainingSetError(f"{archive}: {len(labels)} label rows of shape {labels.shape[1:]} do not fit chunks "
                               f"{chunks.tolist()[:5]}... of {size} out of n = {n}")
    out = Path(folder)
    manifest = out / "manifest.json"
    if manifest.exists():
        old = json.loads(manifest.read_text(encoding="utf-8"))
        for key in _SAME_SET_KEYS:
            if old.get(key) != meta.get(key):
                raise TrainingSetError(f"{manifest}: field '{key}' is {old.get(key)!r}, the archive {archive} has "
                                       f"{meta.get(key)!r}; unpack it into another folder")
    signals_file = out / "signals.npy"
    if signals_file.exists():
        signals = np.load(signals_file, allow_pickle=False)
    else:
        analysis = load_database(database).analysis(meta["analysis"])
        sampling = dict(meta["sampling"])
        sampling["dense_alphas"] = tuple(sampling["dense_alphas"])
        signals = draw_signals(analysis, meta["regions"], n, int(meta["seed"]), SamplingSettings(**sampling))
    if signals_digest(signals) != digest:
        raise TrainingSetError(f"{archive}: field 'signals_sha256' does not match the hypotheses re-drawn from seed "
                               f"{meta['seed']} (another database or numpy random stream?)")
    out.mkdir(parents=True, exist_ok=True)
    if not signals_file.exists():
        np.save(signals_file, signals, allow_pickle=False)
    if not manifest.exists():
        manifest.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    if baseline is not None and not (out / "baseline.npz").exists():
        np.savez(out / "baseline.npz", n=baseline[0], b=baseline[1])
    start = 0
    for k, count in zip(chunks, counts, strict=True):
        if not _chunk_path(out, int(k)).exists():
            _write_chunk(out, int(k), labels[start:start + count])
        start += count
    return load_labels(out)
