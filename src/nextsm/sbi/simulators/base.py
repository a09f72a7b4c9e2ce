"""What a simulator must provide to plug into :mod:`nextsm.sbi` (the toy now, Pythia WH later)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi.events import WeightedEvents
from nextsm.sbi.morphing import Morphing

__all__ = ["ExactSimulator", "Simulator"]


@runtime_checkable
class Simulator(Protocol):
    """A generator of weighted events with morphing benchmark weights.

    Everything downstream (augmented sampling, training, inference) needs only :meth:`simulate`'s
    :class:`~nextsm.sbi.events.WeightedEvents`: joint ratios and scores are computed from the
    benchmark weights by morphing (:mod:`nextsm.sbi.sampling`), as MadMiner does for MadGraph events.
    """

    name: str
    morphing: Morphing

    # read-only members: simulators declare them as class-level tuples of fixed length (``tuple[str, str]``),
    # which a settable ``tuple[str, ...]`` attribute would not accept
    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of θ, in the order of the morphing."""
        ...

    @property
    def observable_names(self) -> tuple[str, ...]:
        """Names of the columns of the events' ``x``."""
        ...

    def simulate(self, n: int, rng: np.random.Generator) -> WeightedEvents:
        """``n`` weighted events; ``sum_i w_i(θ)`` estimates σ(θ) in fb."""
        ...


@runtime_checkable
class ExactSimulator(Simulator, Protocol):
    """A simulator whose likelihood is known: the ground truth of the validation."""

    def xsec(self, theta: ArrayLike) -> NDArray[np.float64]:
        """Exact σ(θ) in fb, ``(n_θ,)``."""
        ...

    def log_marginal(self, x: ArrayLike, theta: ArrayLike) -> NDArray[np.float64]:
        """Exact :math:`\\log p(x|\\theta)`, ``(n_θ, N)``."""
        ...

    def marginal_score(self, x: ArrayLike, theta: ArrayLike) -> NDArray[np.float64]:
        """Exact :math:`\\nabla_\\theta \\log p(x|\\theta)`, ``(n_θ, N, p)``."""
        ...
