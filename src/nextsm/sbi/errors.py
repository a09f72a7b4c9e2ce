"""The errors of :mod:`nextsm.sbi`, all part of the :class:`~nextsm.errors.NextsmError` tree."""

from __future__ import annotations

from nextsm.errors import NextsmError

__all__ = ["EstimatorFormatError", "MissingExtraError", "SBIError"]


class SBIError(NextsmError, ValueError):
    """Bad input to the SBI tool chain; the message names the parameter or field at fault."""


class MissingExtraError(NextsmError, ImportError):
    """An optional dependency (torch, matplotlib) is missing; the message names the extra to install."""


class EstimatorFormatError(NextsmError):
    """A saved estimator (``.json`` + ``.npz``) or event file is malformed; names the file and field."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None) -> None:
        self.path = path
        self.field = field
        where = [part for part in (path, None if field is None else f"field '{field}'") if part is not None]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
