"""The numpy-facing estimator: K trained members (an ensemble when K > 1) and their metadata."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from nextsm.sbi.errors import SBIError

if TYPE_CHECKING:
    from nextsm.sbi.estimators.ratio import MorphingAwareRatio, ParametrizedRatio

__all__ = ["Estimator"]

FloatArray = NDArray[np.float64]


class Estimator:
    """A trained ratio or score estimator with ``K`` members (ensemble prediction: the mean of the members).

    Parameters
    ----------
    members:
        Torch modules of one kind (:class:`~nextsm.sbi.estimators.ParametrizedRatio`,
        :class:`~nextsm.sbi.estimators.MorphingAwareRatio` or :class:`~nextsm.sbi.estimators.ScoreNet`).
    method:
        Training method (``carl``, ``alice``, ``alices``, ``cascal``, ``rascal``, ``sally``).
    parameter_names, observable_names:
        The θ and x conventions (saved with the estimator).
    card:
        Free-form JSON provenance (training configuration, data, timings).
    """

    def __init__(self, members: Sequence[nn.Module], *, method: str, parameter_names: Sequence[str],
                 observable_names: Sequence[str], card: dict[str, Any] | None = None) -> None:
        if not members:
            raise SBIError("parameter 'members' is empty")
        kinds = {getattr(m, "kind", None) for m in members}
        if len(kinds) != 1:
            raise SBIError(f"parameter 'members' mixes kinds {sorted(map(str, kinds))}")
        self.members = [m.eval() for m in members]
        self.kind: str = kinds.pop()  # type: ignore[assignment]
        self.method = method
        self.parameter_names = tuple(parameter_names)
        self.observable_names = tuple(observable_names)
        self.card = dict(card or {})

    def __repr__(self) -> str:
        return f"Estimator(kind={self.kind!r}, method={self.method!r}, members={self.n_members})"

    @property
    def n_members(self) -> int:
        """Number of ensemble members K."""
        return len(self.members)

    @property
    def theta_ref(self) -> FloatArray:
        """The reference hypothesis."""
        # members are typed nn.Module, whose dynamic attributes mypy sees as Tensor | Module
        theta_ref = cast(torch.Tensor, self.members[0].theta_ref)
        return theta_ref.detach().double().numpy()

    def _x(self, x: ArrayLike) -> torch.Tensor:
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != len(self.observable_names):
            raise SBIError(f"parameter 'x' must have shape (N, {len(self.observable_names)}), got {arr.shape}")
        return torch.from_numpy(arr)

    def _theta(self, theta: ArrayLike) -> torch.Tensor:
        arr = np.atleast_2d(np.asarray(theta, dtype=np.float32))
        if arr.shape[1] != len(self.parameter_names):
            raise SBIError(f"parameter 'theta' must have shape (n, {len(self.parameter_names)}), got {arr.shape}")
        return torch.from_numpy(arr)

    def _need(self, kinds: tuple[str, ...], what: str) -> None:
        if self.kind not in kinds:
            raise SBIError(f"{what} needs a {' or '.join(kinds)} estimator, this one is {self.kind!r}")

    def log_ratio_members(self, x: ArrayLike, theta: ArrayLike, *, max_rows: int = 1 << 18) -> FloatArray:
        """:math:`\\log\\hat r_k(x_i|\\theta_j)` per member, ``(K, n_θ, N)`` (batched over x and θ)."""
        self._need(("parametrized", "morphing_aware"), "log_ratio")
        xt, tt = self._x(x), self._theta(theta)
        n = xt.shape[0]
        out = np.empty((self.n_members, tt.shape[0], n))
        x_chunk = max(1, min(n, max_rows))
        t_chunk = max(1, max_rows // x_chunk)
        with torch.no_grad():
            for k, member in enumerate(self.members):
                ratio_net = cast("ParametrizedRatio | MorphingAwareRatio", member)  # kind checked by _need
                for i in range(0, n, x_chunk):
                    for j in range(0, tt.shape[0], t_chunk):
                        block = ratio_net.log_ratio_grid(xt[i:i + x_chunk], tt[j:j + t_chunk])
                        out[k, j:j + t_chunk, i:i + x_chunk] = block.double().numpy()
        return out

    def log_ratio(self, x: ArrayLike, theta: ArrayLike) -> FloatArray:
        """Ensemble mean :math:`\\log\\hat r(x_i|\\theta_j)`, ``(n_θ, N)``."""
        return self.log_ratio_members(x, theta).mean(axis=0)

    def score_members(self, x: ArrayLike, theta: ArrayLike | None = None) -> FloatArray:
        """Per-member score: SALLY :math:`\\hat t_k(x)` ``(K, N, p)``; ratio nets :math:`\\nabla_\\theta\\log\\hat r_k(x|\\theta)`
        at one θ (default: the reference) ``(K, N, p)``."""
        xt = self._x(x)
        outs = []
        for member in self.members:
            if self.kind == "score":
                with torch.no_grad():
                    outs.append(member(xt).double().numpy())
                continue
            th = self._theta(self.theta_ref if theta is None else theta)
            if th.shape[0] != 1:
                raise SBIError("parameter 'theta' must be a single point for ratio-network scores")
            tt = th.expand(xt.shape[0], -1).clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(member(xt, tt).sum(), tt)
            outs.append(grad.double().numpy())
        return np.stack(outs)

    def score(self, x: ArrayLike, theta: ArrayLike | None = None) -> FloatArray:
        """Ensemble-mean score, ``(N, p)``."""
        return self.score_members(x, theta).mean(axis=0)
