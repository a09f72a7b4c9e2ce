"""Fixtures of the surrogate tests: a closed-form toy likelihood, hand-made networks, a toy-trained surrogate.

The toy: N = 3 independent Gaussian counts with backgrounds b_i, widths σ_i and observations n_i,

    q_observed(s) = Σ_i [(n_i − b_i − s_i)² − (n_i − b_i)²] / σ_i²,    q_apriori(s) = Σ_i s_i² / σ_i²,

and the two Asimov variants equal to the a-priori one (the background-only fit of a Gaussian count with
no nuisance parameter reproduces b).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from nextsm.surrogates import MLP, SurrogateDomain, SurrogateNetwork


@dataclass(frozen=True)
class GaussianToy:
    """The closed-form toy of the module docstring."""

    background: np.ndarray
    sigma: np.ndarray
    observed: np.ndarray

    @property
    def n_regions(self) -> int:
        return len(self.background)

    def q(self, signal: np.ndarray) -> np.ndarray:
        """Exact q of the four variants, shape (H, 4)."""
        s = np.atleast_2d(np.asarray(signal, dtype=float))
        excess = self.observed - self.background
        q_obs = np.sum(((excess - s) ** 2 - excess**2) / self.sigma**2, axis=1)
        q_apriori = np.sum(s**2 / self.sigma**2, axis=1)
        return np.stack([q_obs, q_apriori, q_apriori, q_apriori], axis=1)

    def sample(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """m hypotheses: yields up to 5σ per region (denser near 0), each region off with probability 0.3."""
        s = rng.uniform(size=(m, self.n_regions)) ** 2 * 5.0 * self.sigma
        s[rng.uniform(size=s.shape) < 0.3] = 0.0
        return s


@pytest.fixture(scope="session")
def toy() -> GaussianToy:
    background = np.array([20.0, 8.0, 3.0])
    return GaussianToy(background, np.sqrt(background + (0.2 * background) ** 2), np.array([25.0, 6.0, 5.0]))


@pytest.fixture(scope="session")
def toy_data(toy: GaussianToy) -> tuple[np.ndarray, np.ndarray]:
    """2000 labelled toy hypotheses."""
    s = toy.sample(2000, np.random.default_rng(1))
    return s, toy.q(s)


@pytest.fixture(scope="session")
def toy_trained(toy: GaussianToy, toy_data: tuple[np.ndarray, np.ndarray]):
    """(network, report) of a 2×64 SiLU network trained on the toy (~2 s); its card carries reference points."""
    pytest.importorskip("torch")
    from nextsm.surrogates.train import train_surrogate

    s, q = toy_data
    reference = toy.sample(40, np.random.default_rng(2))
    card = {
        "analysis": "TOY-GAUSS-01",
        "workspace": "gaussian-toy.json",
        "workspace_sha256": "0" * 64,
        "training": {"provenance": "closed-form Gaussian toy (tests/surrogates/conftest.py)"},
        "monotonic": True,
        "reference_points": {
            "signal": reference.tolist(),
            "q": toy.q(reference).tolist(),
            "atol": 0.5,
            "rtol": 0.02,
        },
    }
    return train_surrogate(
        s,
        q,
        hidden=(64, 64),
        epochs=120,
        batch_size=64,
        lr=3e-3,
        patience=20,
        seed=0,
        threads=1,
        name="gaussian-toy",
        region_names=("SRA", "SRB", "SRC"),
        card=card,
    )


MakeNetwork = Callable[..., SurrogateNetwork]


@pytest.fixture
def make_network() -> MakeNetwork:
    """Factory of hand-made random networks: ``make_network(n_regions=3, hidden=(16, 16), members=1, ...)``."""

    def make(
        n_regions: int = 3,
        hidden: tuple[int, ...] = (16, 16),
        members: int = 1,
        activation: str = "silu",
        seed: int = 0,
        s_max: float = 50.0,
        name: str = "hand-made",
        card: dict | None = None,
    ) -> SurrogateNetwork:
        rng = np.random.default_rng(seed)
        widths = (n_regions, *hidden, 4)
        mlps = tuple(
            MLP(
                tuple(rng.normal(size=(a, b)) / np.sqrt(a) for a, b in itertools.pairwise(widths)),
                tuple(0.1 * rng.normal(size=b) for b in widths[1:]),
            )
            for _ in range(members)
        )
        return SurrogateNetwork(
            members=mlps,
            s_scale=rng.uniform(1.0, 5.0, n_regions),
            x_mean=rng.normal(size=n_regions),
            x_std=rng.uniform(0.5, 2.0, n_regions),
            y_mean=rng.normal(size=4),
            y_std=rng.uniform(1.0, 10.0, 4),
            domain=SurrogateDomain(s_max=np.full(n_regions, s_max), q_max=np.full(4, 100.0)),
            activation=activation,  # type: ignore[arg-type]
            name=name,
            region_names=tuple(f"SR{i + 1}" for i in range(n_regions)),
            card=card or {},
        )

    return make
