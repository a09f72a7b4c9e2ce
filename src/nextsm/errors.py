"""The nextsm exception hierarchy.

Every error raised on purpose by nextsm derives from :class:`NextsmError`, so a caller can catch
everything the package raises with one ``except`` clause and still tell the cases apart.  Messages
name what is at fault: the file, the line, the field or the parameter.
"""

from __future__ import annotations

__all__ = [
    "DatabaseError",
    "DatabaseNotFoundError",
    "FailedFitError",
    "LikelihoodError",
    "MissingWorkspaceError",
    "NextsmError",
    "UnitError",
    "UnphysicalFitError",
]


class NextsmError(Exception):
    """Base class of every error nextsm raises on purpose."""


class UnitError(NextsmError, ValueError):
    """A value with units could not be parsed (unknown unit, wrong dimension, malformed expression)."""


class DatabaseError(NextsmError):
    """A file of the SModelS database is malformed.

    Parameters
    ----------
    message:
        What is wrong.
    path:
        The file at fault (relative to the database root where possible).
    line:
        1-based line number in that file, if known.
    field:
        The ``key:`` of the entry at fault, if known.
    """

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = message
        where = []
        if path is not None:
            where.append(path if line is None else f"{path}:{line}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class DatabaseNotFoundError(NextsmError, FileNotFoundError):
    """No SModelS database could be located (explicit path, ``NEXTSM_DATABASE``, shared copy)."""


class LikelihoodError(NextsmError, ValueError):
    """A likelihood could not be built or evaluated (bad shapes, inconsistent inputs, failed fit)."""


class UnphysicalFitError(LikelihoodError):
    """A profile fit ended where an expected event count is negative: pyhf's Poisson term of an empty bin,
    :math:`-\\lambda`, then grows without bound, so the 'likelihood' there is meaningless."""


class FailedFitError(LikelihoodError):
    """A profile fit did not converge (pyhf's optimiser reported failure, e.g. SLSQP's 'Inequality
    constraints incompatible')."""


class MissingWorkspaceError(LikelihoodError):
    """A pyhf workspace named by an analysis' ``jsonFiles`` is not present in the database copy."""
