"""Where the SModelS database is, and uniform read access to it (folder or ``.tar.gz``).

Lookup order of :func:`locate_database`:

1. an explicit path (a database folder or a ``.tar.gz`` of one);
2. the environment variable ``NEXTSM_DATABASE``;
3. the shared copy beside the checkout, ``../shared/data/smodels-database-3.0.0.tar.gz``
   (searched upwards from the current directory and from this package's location).

If none exists, :class:`~nextsm.errors.DatabaseNotFoundError` says how to obtain the official database.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from nextsm.errors import DatabaseError, DatabaseNotFoundError

__all__ = ["DatabaseSource", "locate_database", "open_source"]

ENV_VAR = "NEXTSM_DATABASE"
SHARED_NAME = "smodels-database-3.0.0.tar.gz"

_HOW_TO_GET = (
    "Get the official SModelS database v3.0.0 (text format) from the public GitHub repository "
    "'SModelS/smodels-database-release' (tag v3.0.0), e.g. as a .tar.gz, and pass its path with "
    "--database PATH or set NEXTSM_DATABASE=PATH (a folder or a .tar.gz both work)."
)


def _shared_candidates() -> Iterator[Path]:
    starts = [Path.cwd().resolve(), Path(__file__).resolve().parent]
    seen: set[Path] = set()
    for start in starts:
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "data" / SHARED_NAME
            if candidate not in seen:
                seen.add(candidate)
                yield candidate


def locate_database(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of the database (folder or ``.tar.gz``), following the lookup order above."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            raise DatabaseNotFoundError(f"database path '{p}' does not exist. {_HOW_TO_GET}")
        return p
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if not p.exists():
            raise DatabaseNotFoundError(f"{ENV_VAR}='{env}' does not exist. {_HOW_TO_GET}")
        return p
    for candidate in _shared_candidates():
        if candidate.is_file():
            return candidate
    raise DatabaseNotFoundError(f"no SModelS database found (no path given, {ENV_VAR} unset, "
                                f"no ../shared/data/{SHARED_NAME}). {_HOW_TO_GET}")


class DatabaseSource:
    """Read-only access to the files of a database, by POSIX path relative to its root.

    The root is the folder that holds ``8TeV/`` and ``13TeV/`` (for the official tarball, the
    ``smodels-database/`` folder inside it).  Use :func:`open_source` to create one.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        self.path = path
        self._files: dict[str, int] = {}  # relative path -> size
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}
        self._root: Path | None = None
        if path.is_dir():
            root = path
            if not (root / "13TeV").is_dir() and (root / "smodels-database" / "13TeV").is_dir():
                root = root / "smodels-database"
            if not ((root / "13TeV").is_dir() or (root / "8TeV").is_dir()):
                raise DatabaseError("not an SModelS database folder (no 8TeV/ or 13TeV/ inside)", path=str(path))
            self._root = root
            for dirpath, _dirs, files in os.walk(root):
                for name in files:
                    full = Path(dirpath) / name
                    self._files[full.relative_to(root).as_posix()] = full.stat().st_size
        elif tarfile.is_tarfile(path):
            self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 - kept open until close()
            members = [m for m in self._tar.getmembers() if m.isfile()]
            prefix = ""
            for m in members:
                parts = PurePosixPath(m.name).parts
                for i, part in enumerate(parts):
                    if part in ("8TeV", "13TeV"):
                        prefix = "/".join(parts[:i])
                        break
                if prefix or any(p in ("8TeV", "13TeV") for p in parts):
                    break
            cut = len(prefix) + 1 if prefix else 0
            for m in members:
                if m.name.startswith(prefix):
                    rel = m.name[cut:]
                    self._members[rel] = m
                    self._files[rel] = m.size
            if not any(f.startswith(("8TeV/", "13TeV/")) for f in self._files):
                raise DatabaseError("archive holds no SModelS database (no 8TeV/ or 13TeV/ folder)", path=str(path))
        else:
            raise DatabaseError("neither a folder nor a readable .tar/.tar.gz archive", path=str(path))

    # -- access -------------------------------------------------------------------------------
    def files(self) -> dict[str, int]:
        """All files as ``{relative posix path: size in bytes}``."""
        return dict(self._files)

    def exists(self, rel: str) -> bool:
        return rel in self._files

    def read_bytes(self, rel: str) -> bytes:
        if rel not in self._files:
            raise DatabaseError("file not found in the database", path=rel)
        if self._root is not None:
            return (self._root / rel).read_bytes()
        assert self._tar is not None
        handle = self._tar.extractfile(self._members[rel])
        if handle is None:  # pragma: no cover - only for non-regular members
            raise DatabaseError("cannot read archive member", path=rel)
        return handle.read()

    def read_text(self, rel: str) -> str:
        try:
            return self.read_bytes(rel).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatabaseError(f"not UTF-8 text ({exc})", path=rel) from None

    def iter_texts(self, suffix: str | tuple[str, ...] = ".txt") -> Iterator[tuple[str, str]]:
        """Yield ``(relative path, text)`` of every file ending in ``suffix`` (one or a tuple), in archive order.

        Other files are not read (a folder may hold binary files, e.g. SModelS' ``.db3.pcl`` pickles)."""
        if self._tar is not None:
            for rel, member in self._members.items():
                if rel.endswith(suffix):
                    handle = self._tar.extractfile(member)
                    if handle is not None:
                        yield rel, handle.read().decode("utf-8", errors="replace")
        else:
            for rel in sorted(self._files):
                if rel.endswith(suffix):
                    yield rel, self.read_text(rel)

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None

    def __enter__(self) -> DatabaseSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(path: str | os.PathLike[str] | None = None) -> DatabaseSource:
    """Locate the database (see :func:`locate_database`) and open it for reading."""
    return DatabaseSource(locate_database(path))
