"""Where surrogates are found: the ones shipped with nextsm and the user's own.

A surrogate of workspace ``FILE`` of analysis folder ``ANALYSIS`` is the pair ``ANALYSIS__STEM.json`` /
``ANALYSIS__STEM.npz`` (:mod:`nextsm.surrogates.io`, STEM = the file name without ``.json``) in one of, in this
order: the folders given explicitly, ``$NEXTSM_SURROGATES`` (``os.pathsep``-separated), and the package's
``nextsm/surrogates/data``.  A surrogate is only used for the workspace it was trained on: its card's
``workspace_sha256`` must equal the hash of the workspace in the database at hand (checked where the database
files are available).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from nextsm.surrogates.network import SurrogateNetwork

__all__ = ["ENV_VAR", "SHIPPED", "find_surrogate", "surrogate_name", "surrogate_search_path"]

ENV_VAR = "NEXTSM_SURROGATES"
SHIPPED = Path(__file__).resolve().parent / "data"


def surrogate_name(analysis: str, file: str) -> str:
    """``ANALYSIS__STEM``: the base name of the surrogate of ``file`` of analysis folder ``analysis``."""
    stem = file[:-5] if file.endswith(".json") else file
    return f"{analysis}__{stem}"


def surrogate_search_path(folders: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """The folders searched, in order (module docstring)."""
    out = [Path(f) for f in folders]
    env = os.environ.get(ENV_VAR)
    if env:
        out += [Path(p) for p in env.split(os.pathsep) if p]
    out.append(SHIPPED)
    return out


def find_surrogate(analysis: str, file: str, *, folders: Sequence[str | os.PathLike[str]] = (),
                   workspace_sha256: str | None = None) -> SurrogateNetwork | None:
    """The first surrogate of (``analysis``, ``file``) on the search path, or ``None``.

    With ``workspace_sha256`` a surrogate trained on another version of the workspace is skipped.
    """
    from nextsm.surrogates.io import load

    name = surrogate_name(analysis, file)
    for folder in surrogate_search_path(folders):
        if (folder / f"{name}.json").is_file():
            network = load(folder / name)
            if workspace_sha256 is not None and network.card.get("workspace_sha256") != workspace_sha256:
                continue
            return network
    return None
