"""Lazy import of torch (the ``sbi`` extra) with an error that names the extra."""

from __future__ import annotations

from types import ModuleType

import numpy as np

from nextsm.sbi.errors import MissingExtraError

__all__ = ["require_torch", "torch_generator"]


def require_torch() -> ModuleType:
    """Return the ``torch`` module or raise :class:`MissingExtraError` naming the ``sbi`` extra."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed in the test environment
        raise MissingExtraError(
            f"nextsm.sbi estimators need PyTorch: pip install 'nextsm[sbi]' ({exc})"
        ) from None
    return torch


def torch_generator(rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """A CPU ``torch.Generator`` seeded from ``rng`` (so one numpy seed fixes everything)."""
    torch = require_torch()
    gen = torch.Generator()
    gen.manual_seed(int(rng.integers(0, 2**62)))
    return gen
