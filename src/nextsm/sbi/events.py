"""Weighted events with per-benchmark weights: the common currency of every simulator.

A simulator (the exact toy, later the Pythia WH chain) returns a :class:`WeightedEvents`: observables
``x`` ``(N, d)``, one weight per morphing benchmark ``benchmark_weights`` ``(N, n_b)`` in fb (so that
:math:`\\sigma(\\theta) = \\sum_i w_i(\\theta)`), the process index of each event, optionally the parton-level
variables ``z`` and the :class:`~nextsm.sbi.morphing.Morphing` that turns benchmark weights into weights
at any θ.  Files are an ``.npz`` of float/int arrays (no pickle) plus a ``.json`` of metadata.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi.errors import EstimatorFormatError, SBIError
from nextsm.sbi.morphing import Morphing

__all__ = ["EVENTS_FORMAT", "WeightedEvents", "load_events", "paired_paths", "save_events"]

EVENTS_FORMAT = "nextsm-sbi-events"
_VERSION = 1


@dataclass(frozen=True)
class WeightedEvents:
    """A weighted event sample.

    Attributes
    ----------
    x:
        Observables, ``(N, d)``.
    benchmark_weights:
        Weight of each event at each benchmark of ``morphing`` in fb, ``(N, n_b)``.
    morphing:
        The morphing basis.
    process:
        Process index per event, ``(N,)`` (into ``process_names``).
    observable_names, process_names:
        Labels.
    z:
        Parton-level variables ``(N, d_z)`` if the simulator keeps them (the toy does), else ``None``.
    metadata:
        Free-form JSON-serialisable provenance (simulator name, configuration, seed).
    """

    x: NDArray[np.float64]
    benchmark_weights: NDArray[np.float64]
    morphing: Morphing
    process: NDArray[np.int64]
    observable_names: tuple[str, ...]
    process_names: tuple[str, ...]
    z: NDArray[np.float64] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if self.x.ndim != 2 or self.x.shape[1] != len(self.observable_names):
            raise SBIError(f"field 'x' must have shape (N, {len(self.observable_names)}), got {self.x.shape}")
        if self.benchmark_weights.shape != (n, self.morphing.n_benchmarks):
            raise SBIError(f"field 'benchmark_weights' must have shape ({n}, {self.morphing.n_benchmarks}), "
                           f"got {self.benchmark_weights.shape}")
        if self.process.shape != (n,):
            raise SBIError(f"field 'process' must have shape ({n},), got {self.process.shape}")
        if self.z is not None and self.z.shape[0] != n:
            raise SBIError(f"field 'z' must have {n} rows, got {self.z.shape}")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def weights(self, theta: ArrayLike, *, chunk_size: int = 200_000) -> NDArray[np.float64]:
        """Event weights at each θ, ``(n_θ, N)`` (see :meth:`Morphing.weights`)."""
        return self.morphing.weights(theta, self.benchmark_weights, chunk_size=chunk_size)

    def xsec(self, theta: ArrayLike) -> NDArray[np.float64]:
        """:math:`\\sigma(\\theta)` in fb, ``(n_θ,)``."""
        return self.morphing.xsec(theta, self.benchmark_weights)

    def subset(self, index: ArrayLike, *, rescale: bool = False) -> WeightedEvents:
        """The events ``index``; with ``rescale`` the weights are scaled by ``N / len(index)`` (a random split)."""
        idx = np.asarray(index)
        bw = self.benchmark_weights[idx]
        if rescale:
            bw = bw * (len(self) / max(len(bw), 1))
        return WeightedEvents(self.x[idx], bw, self.morphing, self.process[idx], self.observable_names,
                              self.process_names, None if self.z is None else self.z[idx], dict(self.metadata))

    def split(self, fraction: float, rng: np.random.Generator) -> tuple[WeightedEvents, WeightedEvents]:
        """Random disjoint split into ``(fraction, 1 - fraction)``, weights rescaled so both estimate σ."""
        if not 0.0 < fraction < 1.0:
            raise SBIError(f"parameter 'fraction' must be in (0, 1), got {fraction}")
        perm = rng.permutation(len(self))
        k = round(fraction * len(self))
        return self.subset(perm[:k], rescale=True), self.subset(perm[k:], rescale=True)


def paired_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(.json, .npz)`` pair of ``path`` (a trailing ``.json`` or ``.npz`` is dropped)."""
    base = Path(path)
    if base.suffix in (".json", ".npz"):
        base = base.with_suffix("")
    return base.with_name(base.name + ".json"), base.with_name(base.name + ".npz")


def save_events(events: WeightedEvents, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``path.npz`` (arrays) and ``path.json`` (metadata, morphing basis); returns both paths."""
    jpath, npath = paired_paths(path)
    arrays: dict[str, Any] = {"x": events.x, "benchmark_weights": events.benchmark_weights,
                              "process": events.process}
    if events.z is not None:
        arrays["z"] = events.z
    np.savez(npath, **arrays)
    meta = {"format": EVENTS_FORMAT, "version": _VERSION, "n_events": len(events),
            "observable_names": list(events.observable_names), "process_names": list(events.process_names),
            "morphing": events.morphing.to_dict(), "metadata": events.metadata, "arrays": sorted(arrays)}
    jpath.write_text(json.dumps(meta, indent=1))
    return jpath, npath


def load_events(path: str | os.PathLike[str]) -> WeightedEvents:
    """Read a file pair written by :func:`save_events` (``allow_pickle=False``)."""
    jpath, npath = paired_paths(path)
    try:
        meta = json.loads(jpath.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EstimatorFormatError(f"cannot read event metadata ({exc})", path=str(jpath)) from None
    if meta.get("format") != EVENTS_FORMAT or meta.get("version") != _VERSION:
        raise EstimatorFormatError(f"expected format {EVENTS_FORMAT!r} version {_VERSION}", path=str(jpath),
                                   field="format")
    try:
        with np.load(npath, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise EstimatorFormatError(f"cannot read event arrays ({exc})", path=str(npath)) from None
    for name in ("x", "benchmark_weights", "process"):
        if name not in arrays:
            raise EstimatorFormatError("array missing", path=str(npath), field=name)
    return WeightedEvents(arrays["x"].astype(np.float64), arrays["benchmark_weights"].astype(np.float64),
                          Morphing.from_dict(meta["morphing"]), arrays["process"].astype(np.int64),
                          tuple(meta["observable_names"]), tuple(meta["process_names"]),
                          arrays["z"].astype(np.float64) if "z" in arrays else None, meta.get("metadata", {}))
