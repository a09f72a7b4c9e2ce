"""Durable record of a run: every step of every walker in one SQLite file (``RUN/run.sqlite``).

SQLite in WAL mode is safe for several processes writing at once (each walker has its own connection; writes
are short transactions).  A step is committed before the walker goes on, so a run killed at any moment loses
nothing committed and ``--resume`` continues from the last step of every walker (model, K and the state of its
random generator are stored with the step).  No pickle: models and records are JSON.

The ``meta`` table holds JSON values by key: :data:`SETTINGS` (what a resumed run must match, see
:func:`nextsm.machine.run.prepare`), :data:`PROVENANCE` (recorded once, when the run is created: nextsm version,
database path, version and content hash, seed, walkers, steps requested, command-line options, start time, Python
and numpy versions) and :data:`RESUMES` (one entry per resumption).  Runs made before provenance was recorded have
only :data:`SETTINGS`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nextsm.errors import NextsmError

__all__ = ["PROVENANCE", "RESUMES", "SETTINGS", "RunStore", "StepRecord", "StoreError"]

#: ``meta`` keys (module docstring)
SETTINGS, PROVENANCE, RESUMES = "settings", "provenance", "resumes"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    walker INTEGER NOT NULL, step INTEGER NOT NULL,
    model TEXT NOT NULL, K REAL, mu_hat REAL, combination TEXT, critics TEXT,
    move TEXT, detail TEXT, accepted INTEGER NOT NULL, current_model TEXT NOT NULL, current_K REAL,
    rng TEXT NOT NULL, seconds REAL,
    PRIMARY KEY (walker, step));
CREATE INDEX IF NOT EXISTS steps_k ON steps (K);
"""


class StoreError(NextsmError):
    """A run store holds something other than what is asked of it (the message names the ``meta`` key)."""


@dataclass(frozen=True)
class StepRecord:
    """One step: the proposed model and its evaluation, the decision, and the walker's state after it."""

    walker: int
    step: int
    model: dict[str, Any]
    K: float | None
    mu_hat: float | None
    combination: list[dict[str, Any]]
    critics: list[dict[str, Any]]
    move: str
    detail: str
    accepted: bool
    current_model: dict[str, Any]
    current_K: float | None  # noqa: N815 - K is the test statistic's name
    rng: dict[str, Any]
    seconds: float = 0.0


class RunStore:
    """The SQLite file of a run folder."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "run.sqlite"
        self._db = sqlite3.connect(self.path, timeout=60.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def set_meta(self, key: str, value: Any) -> None:
        """Store the JSON value ``value`` under ``key`` (replacing any)."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def append_meta(self, key: str, value: Any) -> None:
        """Append ``value`` to the JSON list under ``key`` (created if absent), in one transaction."""
        with self._db:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            values = [] if row is None else json.loads(row[0])
            if not isinstance(values, list):
                raise StoreError(f"{self.path}: meta key {key!r} holds a {type(values).__name__}, not a list")
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps([*values, value])))

    def meta(self) -> dict[str, Any]:
        """Every ``meta`` value by key."""
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def append(self, r: StepRecord) -> None:
        """Commit one step (atomic)."""
        with self._db:
            self._db.execute(
                "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (r.walker, r.step, json.dumps(r.model), r.K, r.mu_hat, json.dumps(r.combination),
                 json.dumps(r.critics), r.move, r.detail, int(r.accepted), json.dumps(r.current_model),
                 r.current_K, json.dumps(r.rng), r.seconds))

    @staticmethod
    def _record(row: tuple[Any, ...]) -> StepRecord:
        return StepRecord(row[0], row[1], json.loads(row[2]), row[3], row[4], json.loads(row[5] or "[]"),
                          json.loads(row[6] or "[]"), row[7] or "", row[8] or "", bool(row[9]), json.loads(row[10]),
                          row[11], json.loads(row[12]), row[13] or 0.0)

    def last(self, walker: int) -> StepRecord | None:
        row = self._db.execute("SELECT * FROM steps WHERE walker = ? ORDER BY step DESC LIMIT 1",
                               (walker,)).fetchone()
        return None if row is None else self._record(row)

    def steps(self, walker: int | None = None) -> Iterator[StepRecord]:
        query = "SELECT * FROM steps" + (" WHERE walker = ?" if walker is not None else "") + " ORDER BY walker, step"
        for row in self._db.execute(query, () if walker is None else (walker,)):
            yield self._record(row)

    def count(self) -> dict[int, int]:
        return dict(self._db.execute("SELECT walker, COUNT(*) FROM steps GROUP BY walker"))

    def hiscores(self, n: int = 10) -> list[StepRecord]:
        """The ``n`` best distinct models (by K) over all walkers, among those both critics let pass."""
        out: list[StepRecord] = []
        seen: set[str] = set()
        for row in self._db.execute("SELECT * FROM steps WHERE K IS NOT NULL ORDER BY K DESC"):
            if row[2] in seen:
                continue
            record = self._record(row)
            if not all(c.get("passed", True) for c in record.critics):
                continue
            seen.add(row[2])
            out.append(record)
            if len(out) >= n:
                break
        return out
