"""nextsm: search LHC data for the next Standard Model.

The public entry points of the foundation layer are the database reader
(:func:`nextsm.database.load_database`) and the likelihood engine (:mod:`nextsm.likelihoods`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from nextsm.errors import NextsmError

try:
    __version__ = version("nextsm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["NextsmError", "__version__"]
