"""A fake database as an *overlay*: what differs from the real database, written to ``FAKE/fake.json``.

A fake (SM-only or signal-injected) database differs from the real one only in its observations, so it is stored
as the list of changes, a few hundred kB of JSON, together with the content hash of the database it was drawn
from:

* ``em``: per analysis folder and signal region, the fake observed count and the observed 95 % CL upper limit on
  the visible cross section (fb) that goes with it;
* ``ul``: per analysis folder, dataset and txname, the map's shift ``x`` (UL_obs = UL_exp (1 + x/1.96) at every
  point of the expected-UL map) and, with a signal injected, the σ×BR (fb) added at some grid points;
* ``workspaces``: per analysis folder and pyhf workspace, the fake data vector (main bins, then auxiliary data);
* provenance: the base database (path and content hash), seed, settings, the injected model.

:func:`apply_overlay` turns the real :class:`~nextsm.database.records.Database` and an overlay into the fake
``Database``; :func:`nextsm.database.load_database` does this itself when it is given a fake folder, so every
command that takes ``--database`` (``nextsm walk`` in particular) reads a fake directly.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nextsm.database.records import Analysis, Database, Dataset, TxName
from nextsm.database.textformat import GridTable
from nextsm.errors import NextsmError

__all__ = ["FAKE_FILE", "FORMAT", "FakeDatabaseError", "FakeOverlay", "UlShift", "apply_overlay", "is_fake_folder",
           "read_overlay"]

FAKE_FILE = "fake.json"
FORMAT = "nextsm-fake-1"


class FakeDatabaseError(NextsmError):
    """A fake database cannot be read or does not fit the database it claims to come from."""


@dataclass(frozen=True)
class UlShift:
    """The fake observed-UL map of one txname: UL_exp (1 + x/1.96) plus ``added`` σ×BR (fb) at some points.

    ``x = None``: a map without an expected map, kept as observed (plus ``added``, a signal injected).
    """

    x: float | None
    added: dict[int, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"x": self.x}
        if self.added:
            out["added"] = [[int(i), float(v)] for i, v in sorted(self.added.items())]
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> UlShift:
        try:
            x = data["x"]
            return cls(None if x is None else float(x), {int(i): float(v) for i, v in data.get("added", [])})
        except (KeyError, TypeError, ValueError) as exc:
            raise FakeDatabaseError(f"{where}: malformed UL entry {data!r} ({exc})") from None


@dataclass(frozen=True)
class FakeOverlay:
    """Everything that makes a fake database (module docstring)."""

    base_path: str
    base_hash: str
    seed: int | None
    settings: dict[str, Any]
    em: dict[str, dict[str, tuple[float, float | None]]]
    ul: dict[str, dict[str, dict[str, UlShift]]]
    injected: dict[str, Any] | None = None
    #: per-SR background-only p-values of the fake counts (for the uniformity check), folder → SR → p
    pvalues: dict[str, dict[str, float]] = field(default_factory=dict)
    #: pyhf workspaces: folder → file → the fake data vector (main bins then auxiliary data)
    workspaces: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """A hash of the fake's content (its identity in the compiled-database cache)."""
        return hashlib.sha256(json.dumps(self._content(), sort_keys=True).encode()).hexdigest()

    def _content(self) -> dict[str, Any]:
        return {
            "base_hash": self.base_hash,
            "em": {f: {sr: list(v) for sr, v in srs.items()} for f, srs in self.em.items()},
            "ul": {f: {ds: {tx: s.to_json() for tx, s in txs.items()} for ds, txs in dss.items()}
                   for f, dss in self.ul.items()},
            "workspaces": self.workspaces,
        }

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "base": {"path": self.base_path, "content_hash": self.base_hash},
                "seed": self.seed, "settings": self.settings, "injected": self.injected, "pvalues": self.pvalues,
                **{k: v for k, v in self._content().items() if k != "base_hash"}}

    def write(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``folder/fake.json`` (atomically: a killed writer leaves no half file)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / FAKE_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=None, separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
        return path


def is_fake_folder(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a folder holding a ``fake.json``."""
    p = Path(path)
    return p.is_dir() and (p / FAKE_FILE).is_file()


def read_overlay(folder: str | os.PathLike[str]) -> FakeOverlay:
    """Read ``folder/fake.json``."""
    path = Path(folder) / FAKE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FakeDatabaseError(f"{path}: no such file (not a fake database folder)") from None
    except json.JSONDecodeError as exc:
        raise FakeDatabaseError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FakeDatabaseError(f"{path}: field 'format' must be {FORMAT!r}, got "
                                f"{data.get('format') if isinstance(data, dict) else data!r}")
    try:
        base = data["base"]
        em = {str(f): {str(sr): (float(v[0]), None if v[1] is None else float(v[1])) for sr, v in srs.items()}
              for f, srs in data.get("em", {}).items()}
        ul = {str(f): {str(ds): {str(tx): UlShift.from_json(s, f"{path}: ul/{f}/{ds}/{tx}")
                                 for tx, s in txs.items()} for ds, txs in dss.items()}
              for f, dss in data.get("ul", {}).items()}
        workspaces = {str(f): {str(file): [float(x) for x in values] for file, values in files.items()}
                      for f, files in data.get("workspaces", {}).items()}
        return FakeOverlay(str(base["path"]), str(base["content_hash"]), data.get("seed"),
                           dict(data.get("settings", {})), em, ul, data.get("injected"),
                           {str(f): {str(k): float(p) for k, p in v.items()} for f, v in data.get("pvalues", {}).items()},
                           workspaces)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise FakeDatabaseError(f"{path}: malformed fake database ({type(exc).__name__}: {exc})") from None


def _fake_ul_grid(tx: TxName, shift: UlShift, where: str) -> GridTable:
    if shift.x is None:
        expected = tx.grids["upperLimits"]
        values = expected.values
    else:
        expected = tx.grids.get("expectedUpperLimits")  # type: ignore[assignment]
        if expected is None:
            raise FakeDatabaseError(f"{where}: the overlay shifts txname '{tx.name}', which has no expected-UL map")
        values = expected.values * (1.0 + shift.x / 1.96)
    if shift.added:
        idx = np.fromiter(shift.added.keys(), dtype=np.int64)
        if idx.min() < 0 or idx.max() >= len(values):
            raise FakeDatabaseError(f"{where}: txname '{tx.name}': injected point index out of range")
        values = values.copy()
        values[idx] += np.fromiter(shift.added.values(), dtype=float)
    return GridTable(points=expected.points, values=values, layout=expected.layout)


def _fake_dataset(ds: Dataset, folder: str, overlay: FakeOverlay) -> Dataset:
    key = str(ds.data_id)
    em = overlay.em.get(folder, {})
    if ds.data_type == "efficiencyMap":
        if key not in em:
            return ds
        n, ul = em[key]
        return replace(ds, observed_n=n, upper_limit=ul)
    shifts = overlay.ul.get(folder, {}).get(key, {})
    if not shifts:
        return ds
    txnames = []
    for tx in ds.txnames:
        shift = shifts.get(tx.name)
        if shift is None:
            txnames.append(tx)
            continue
        grids = dict(tx.grids)
        grids["upperLimits"] = _fake_ul_grid(tx, shift, f"{folder}/{key}")
        txnames.append(replace(tx, grids=grids))
    return replace(ds, txnames=tuple(txnames))


def apply_overlay(db: Database, overlay: FakeOverlay, *, path: str | None = None) -> Database:
    """The fake database: ``db`` with the overlay's observations (``db`` must be the overlay's base)."""
    if db.content_hash != overlay.base_hash:
        raise FakeDatabaseError(
            f"{path or 'overlay'}: field 'base.content_hash' is {overlay.base_hash[:12]}…, but the database at "
            f"{db.path} has {db.content_hash[:12]}…: the fake was drawn from another database")
    known = {a.name for a in db.analyses}
    unknown = sorted((set(overlay.em) | set(overlay.ul) | set(overlay.workspaces)) - known)
    if unknown:
        raise FakeDatabaseError(f"{path or 'overlay'}: analyses not in the database: {', '.join(unknown[:5])}")
    analyses: list[Analysis] = []
    for a in db.analyses:
        if a.name in overlay.em or a.name in overlay.ul:
            a = replace(a, datasets=tuple(_fake_dataset(ds, a.name, overlay) for ds in a.datasets))
        if a.name in overlay.workspaces:
            a = replace(a, workspace_data={f: tuple(v) for f, v in overlay.workspaces[a.name].items()})
        analyses.append(a)
    return Database(path=path or db.path, version=f"{db.version} (fake)",
                    content_hash=hashlib.sha256((db.content_hash + overlay.digest).encode()).hexdigest(),
                    analyses=tuple(analyses), skipped=db.skipped)
