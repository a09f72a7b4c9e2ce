r"""Parametrised likelihood-ratio networks :math:`\log\hat r(x|\theta) = \log \hat p(x|\theta)/\hat p(x|\theta_{\rm ref})`.

:class:`ParametrizedRatio`
    One MLP on :math:`(x, \theta)` (Cranmer, Pavez, Louppe 2015 "CARL", arXiv:1506.02169; Baldi et al. 2016),
    reference-subtracted, :math:`\log\hat r(x|\theta) = f(x,\theta) - f(x,\theta_{\rm ref})`, so that
    :math:`\hat r(x|\theta_{\rm ref}) = 1` exactly.

:class:`MorphingAwareRatio`
    Uses that :math:`d\sigma(x|\theta)` is a quadratic form in :math:`a(\theta) = (1, \theta_1, …, \theta_p)`
    (the morphing structure of MadMiner's ``MorphingAwareRatioEstimator``, here positive by construction):

    .. math::

        \hat r(x|\theta) = \frac{a(\theta)^\top Q(x)\, a(\theta)}{a(\theta_{\rm ref})^\top Q(x)\, a(\theta_{\rm ref})}
            \cdot \frac{\sigma(\theta_{\rm ref})}{\sigma(\theta)},\qquad Q(x) = L(x) L(x)^\top ,

    with :math:`L` lower triangular (network output, softplus diagonal) and :math:`\sigma(\theta) = a^\top S a`
    the known cross section from the morphing.  All θ are then evaluated from one network pass per x.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from nextsm.sbi.errors import SBIError
from nextsm.sbi.estimators.networks import MLP, Standardizer
from nextsm.sbi.morphing import Morphing

__all__ = ["MorphingAwareRatio", "ParametrizedRatio", "xsec_quadratic_form"]


class ParametrizedRatio(nn.Module):
    """:math:`\\log\\hat r(x|\\theta) = f(x, \\theta) - f(x, \\theta_{\\rm ref})`; ``forward(x, θ)`` → ``(B,)``."""

    kind = "parametrized"
    theta_ref: torch.Tensor

    def __init__(self, n_x: int, n_theta: int, hidden: Sequence[int], activation: str, *, x_mean: ArrayLike,
                 x_std: ArrayLike, theta_mean: ArrayLike, theta_std: ArrayLike, theta_ref: ArrayLike) -> None:
        super().__init__()
        self.n_x, self.n_theta = n_x, n_theta
        self.net = MLP((n_x + n_theta, *hidden, 1), activation)
        self.x_scale = Standardizer(x_mean, x_std)
        self.theta_scale = Standardizer(theta_mean, theta_std)
        self.register_buffer("theta_ref", torch.tensor(np.asarray(theta_ref, dtype=np.float32)))

    def _f(self, xs: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([xs, self.theta_scale(theta)], dim=1))[:, 0]

    def forward(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Row-wise :math:`\\log\\hat r(x_i|\\theta_i)`."""
        xs = self.x_scale(x)
        return self._f(xs, theta) - self._f(xs, self.theta_ref.expand_as(theta))

    def log_ratio_grid(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """:math:`\\log\\hat r(x_i|\\theta_j)` for all pairs, ``(n_θ, N)``."""
        xs = self.x_scale(x)
        ref = self._f(xs, self.theta_ref.expand(x.shape[0], -1))
        n, m = x.shape[0], theta.shape[0]
        rows = self._f(xs.repeat(m, 1), theta.repeat_interleave(n, dim=0)).reshape(m, n)
        return rows - ref[None, :]


def xsec_quadratic_form(morphing: Morphing, xsec_components: ArrayLike) -> np.ndarray:
    """The symmetric :math:`S` with :math:`\\sigma(\\theta) = a(\\theta)^\\top S a(\\theta)`, from σ per monomial."""
    if morphing.max_power != 2:
        raise SBIError("parameter 'morphing': the morphing-aware ratio needs a quadratic morphing (max_power=2)")
    comp = np.asarray(xsec_components, dtype=np.float64)
    p = morphing.n_parameters
    s = np.zeros((p + 1, p + 1))
    for c, k in enumerate(morphing.exponents):
        idx = [j + 1 for j in range(p) for _ in range(int(k[j]))]  # 1 -> (0,0), θj -> (0,j), θiθj -> (i,j)
        i, j = (0, 0) if not idx else (0, idx[0]) if len(idx) == 1 else (idx[0], idx[1])
        if i == j:
            s[i, j] += comp[c]
        else:
            s[i, j] += comp[c] / 2
            s[j, i] += comp[c] / 2
    return s


def _component_pairs(n_theta: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pair (i, j) of :math:`a = (1, \theta)` and factor (1 or 2) of each quadratic monomial."""
    from nextsm.sbi.morphing import monomial_exponents

    pairs, factors = [], []
    for k in monomial_exponents(n_theta, 2):
        idx = [j + 1 for j in range(n_theta) for _ in range(int(k[j]))]
        i, j = (0, 0) if not idx else (0, idx[0]) if len(idx) == 1 else (idx[0], idx[1])
        pairs.append((i, j))
        factors.append(1.0 if i == j else 2.0)
    return np.array(pairs, dtype=np.int64), np.array(factors)


class MorphingAwareRatio(nn.Module):
    """Exactly quadratic, positive ratio (see the module docstring); ``forward(x, θ)`` → ``(B,)``."""

    kind = "morphing_aware"
    theta_ref: torch.Tensor
    xsec_form: torch.Tensor

    def __init__(self, n_x: int, n_theta: int, hidden: Sequence[int], activation: str, *, x_mean: ArrayLike,
                 x_std: ArrayLike, theta_ref: ArrayLike, xsec_form: ArrayLike,
                 theta_mean: ArrayLike | None = None, theta_std: ArrayLike | None = None) -> None:
        super().__init__()
        self.n_x, self.n_theta = n_x, n_theta
        d = n_theta + 1
        self._tril = torch.tril_indices(d, d)
        self.net = MLP((n_x, *hidden, d * (d + 1) // 2), activation)
        self.x_scale = Standardizer(x_mean, x_std)
        self.register_buffer("theta_ref", torch.tensor(np.asarray(theta_ref, dtype=np.float32)))
        self.register_buffer("xsec_form", torch.tensor(np.asarray(xsec_form, dtype=np.float32)))
        pairs, factors = _component_pairs(n_theta)
        self._pair_i, self._pair_j = torch.tensor(pairs[:, 0]), torch.tensor(pairs[:, 1])
        self._pair_factor = torch.tensor(factors, dtype=torch.float32)

    def components(self, x: torch.Tensor) -> torch.Tensor:
        """Coefficients of :math:`a^\top Q(x) a` on the morphing monomials (order of
        :func:`~nextsm.sbi.morphing.monomial_exponents`), ``(N, n_c)``."""
        q = self.quadratic(x)
        return q[:, self._pair_i, self._pair_j] * self._pair_factor

    def quadratic(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`Q(x) = L L^\\top`, ``(N, p+1, p+1)``."""
        d = self.n_theta + 1
        out = self.net(self.x_scale(x))
        diag = self._tril[0] == self._tril[1]
        out = torch.where(diag, nn.functional.softplus(out) + 1e-3, out)
        lower = x.new_zeros((x.shape[0], d, d))
        lower[:, self._tril[0], self._tril[1]] = out
        return lower @ lower.transpose(1, 2)

    @staticmethod
    def _a(theta: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.ones_like(theta[:, :1]), theta], dim=1)

    def _log_sigma(self, a: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.einsum("ti,ij,tj->t", a, self.xsec_form, a))

    def forward(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Row-wise :math:`\\log\\hat r(x_i|\\theta_i)`."""
        q = self.quadratic(x)
        a = self._a(theta)
        a0 = self._a(self.theta_ref.expand_as(theta))
        num = torch.einsum("ni,nij,nj->n", a, q, a)
        den = torch.einsum("ni,nij,nj->n", a0, q, a0)
        return torch.log(num) - torch.log(den) - self._log_sigma(a) + self._log_sigma(a0)

    def log_ratio_grid(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """:math:`\\log\\hat r(x_i|\\theta_j)` for all pairs from one network pass, ``(n_θ, N)``."""
        q = self.quadratic(x)
        a = self._a(theta)
        a0 = self._a(self.theta_ref[None, :])
        num = torch.einsum("ti,nij,tj->tn", a, q, a)
        den = torch.einsum("ti,nij,tj->tn", a0, q, a0)
        return (torch.log(num) - torch.log(den) - self._log_sigma(a)[:, None] + self._log_sigma(a0)[:, None])
