"""The multilayer perceptron shared by every estimator, and input standardisation buffers."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from nextsm.sbi.errors import SBIError

__all__ = ["ACTIVATIONS", "MLP", "Standardizer"]

ACTIVATIONS = ("tanh", "relu", "silu", "sigmoid")


class MLP(nn.Module):
    """Fully connected network ``widths[0] → … → widths[-1]`` with ``activation`` between layers."""

    def __init__(self, widths: Sequence[int], activation: str = "tanh") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise SBIError(f"parameter 'activation' is {activation!r}, expected one of {ACTIVATIONS}")
        if len(widths) < 2 or min(widths) < 1:
            raise SBIError(f"parameter 'widths' must list >= 2 positive sizes, got {list(widths)}")
        self.widths = tuple(int(w) for w in widths)
        self.activation = activation
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(self.widths))
        self._act = {"tanh": torch.tanh, "relu": torch.relu, "silu": nn.functional.silu,
                     "sigmoid": torch.sigmoid}[activation]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Apply the layers; the last one is linear."""
        for layer in self.layers[:-1]:
            h = self._act(layer(h))
        return self.layers[-1](h)


class Standardizer(nn.Module):
    """``(v - mean) / std`` with the statistics as buffers (saved with the estimator)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: ArrayLike, std: ArrayLike) -> None:
        super().__init__()
        std_arr = np.asarray(std, dtype=np.float64)
        if np.any(std_arr <= 0):
            raise SBIError("parameter 'std' of a standardizer must be positive")
        self.register_buffer("mean", torch.tensor(np.asarray(mean, dtype=np.float32)))
        self.register_buffer("std", torch.tensor(std_arr.astype(np.float32)))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Standardised ``v``."""
        return (v - self.mean) / self.std
