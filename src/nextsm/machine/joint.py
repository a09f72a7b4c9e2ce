r"""The joint likelihood of a combination of approximately uncorrelated results.

:math:`L_c(\mu) = \prod_{i \in c} L_i(\mu)`, i.e. :math:`-\ln L_c = \sum_i -\ln L_i(\mu\, s_i)`, each factor
profiled over its own nuisances.  :class:`JointModel` is a :class:`~nextsm.likelihoods.StatisticalModel` whose
signal is the concatenation of the members' signals, so μ̂, CLs and upper limits of a combination come from the
same code as for a single result (``nextsm.likelihoods.limits``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.base import DataKind, StatisticalModel, as_signal_batch

__all__ = ["JointModel"]


class JointModel(StatisticalModel):
    """Product of independent likelihoods; ``signal[:, offsets[i]:offsets[i+1]]`` goes to member ``i``."""

    description = "product of independent likelihoods"

    def __init__(self, members: Sequence[StatisticalModel]) -> None:
        if not members:
            raise LikelihoodError("a joint likelihood needs at least one member")
        self.members = tuple(members)
        sizes = [int(m.n_regions) for m in self.members]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.n_regions = int(self.offsets[-1])

    def nll(self, mu: ArrayLike, signal: ArrayLike, *, data: DataKind = "observed") -> NDArray[np.float64]:
        sig = as_signal_batch(signal, self.n_regions)
        total = np.zeros(sig.shape[0])
        for i, member in enumerate(self.members):
            total = total + member.nll(mu, sig[:, self.offsets[i]:self.offsets[i + 1]], data=data)
        return total

    def asimov(self, data: DataKind = "observed") -> JointModel:
        return JointModel([m.asimov(data) for m in self.members])

    def evaluation_scope(self) -> AbstractContextManager[None]:
        """Every member's scope, entered in order and left in reverse."""
        return self._scopes()

    @contextmanager
    def _scopes(self) -> Iterator[None]:
        with ExitStack() as stack:
            for member in self.members:
                stack.enter_context(member.evaluation_scope())
            yield
