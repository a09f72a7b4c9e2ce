"""Errors of the proto-model layer."""

from __future__ import annotations

from nextsm.errors import NextsmError

__all__ = ["ModelError"]


class ModelError(NextsmError, ValueError):
    """A proto-model is malformed or inconsistent.

    The message names the JSON field at fault, e.g.
    ``decays["1000006"]["1000022,6"]: BR must be in [0, 1]``.
    """
