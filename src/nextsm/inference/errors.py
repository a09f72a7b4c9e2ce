"""The error of the inference package, part of the :class:`~nextsm.errors.NextsmError` tree."""

from __future__ import annotations

from nextsm.errors import NextsmError

__all__ = ["InferenceError"]


class InferenceError(NextsmError, ValueError):
    """A Neyman construction, test statistic or focus function got inputs it cannot work with.

    The message names the parameter at fault and the value it had.
    """
