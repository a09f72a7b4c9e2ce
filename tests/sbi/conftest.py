"""Fixtures of the SBI tests: the exact toy and a weighted sample (seeded), torch on one thread."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.sbi.simulators import ToyEFTSimulator


@pytest.fixture(scope="session")
def toy() -> ToyEFTSimulator:
    return ToyEFTSimulator()


@pytest.fixture(scope="session")
def events(toy):
    return toy.simulate(40_000, np.random.default_rng(12345))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
