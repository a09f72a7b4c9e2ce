"""The two errors of the surrogate package, both part of the :class:`~nextsm.errors.NextsmError` tree."""

from __future__ import annotations

from nextsm.errors import NextsmError

__all__ = ["SurrogateDomainError", "SurrogateFormatError"]


class SurrogateDomainError(NextsmError, ValueError):
    """A signal hypothesis lies outside the validity domain a surrogate was trained on.

    The message names the surrogate, the hypothesis, the signal region and the value at fault.
    """


class SurrogateFormatError(NextsmError):
    """A surrogate definition (a saved ``.json``/``.npz`` pair or arrays in memory) is malformed.

    Parameters
    ----------
    message:
        What is wrong.
    path:
        The file at fault, if the definition was read from disk.
    field:
        The metadata key or array name at fault (``"version"``, ``"member0.weight1"``, ...), if known.
    """

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None) -> None:
        self.path = path
        self.field = field
        self.reason = message
        where = [part for part in (path, None if field is None else f"field '{field}'") if part is not None]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
