r"""The search-oriented mixture model of NSBI: a density ratio built from per-process ratio networks.

With K basis samples j (densities :math:`p_j`, expected yields :math:`\nu_j`) and coefficient functions
:math:`f_j(\mu)`, the expected event density is :math:`n(x|\mu) = \sum_j f_j(\mu)\,\nu_j\,p_j(x)`, so

.. math::

    \frac{p(x|\mu)}{p_{\rm ref}(x)} = \frac{1}{\nu(\mu)}\sum_j f_j(\mu)\,\nu_j\,r_j(x),\qquad
    r_j(x) = \frac{p_j(x)}{p_{\rm ref}(x)},\qquad \nu(\mu) = \sum_j f_j(\mu)\,\nu_j ,

and the extended unbinned log-likelihood of events :math:`x_1 … x_n` is, up to a data-only constant
(:math:`\sum_i \log p_{\rm ref}(x_i)`),

.. math::

    \log L(\mu) = -\nu(\mu) + \sum_i w_i \log\Big[\sum_j f_j(\mu)\,\nu_j\,r_j(x_i)\Big]

(event weights :math:`w_i = 1` for data, Asimov weights for expected results).  Each :math:`r_j` is a
per-process ratio network (a calibrated classifier of sample j against the reference sample: K. Cranmer,
J. Pavez, G. Louppe, *Approximating likelihood ratios with calibrated discriminative classifiers*,
arXiv:1506.02169), or the exact ratio when the densities are known.

**Interference** (:func:`interference_coefficients`).  For :math:`n = \mu S + \sqrt\mu\,I + B` the
interference I is not a positive density and cannot be sampled, but with the positive basis samples S,
B and "SBI" (:math:`S + I + B` at μ = 1),

.. math::

    \mu S + \sqrt\mu\,I + B = (\mu - \sqrt\mu)\,S + \sqrt\mu\,(S + I + B) + (1 - \sqrt\mu)\,B ,

i.e. :math:`f = (\mu - \sqrt\mu,\ \sqrt\mu,\ 1 - \sqrt\mu)` for the basis ``(signal, sbi, background)``.  This
is the construction of the ATLAS NSBI framework (*An implementation of neural simulation-based inference
for parameter estimation in ATLAS*, Rep. Prog. Phys. **88** (2025) 067801) used in the off-shell
:math:`H^*\to ZZ\to 4\ell` measurement (Rep. Prog. Phys. **88** (2025) 057803).

Learned ratios need not make the bracket positive where some :math:`f_j < 0` (for μ ≠ 1 one coefficient
is negative); the bracket is floored at ``floor`` times the sum of the absolute terms, and
:meth:`MixtureModel.n_floored` reports how many events hit the floor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.inference.errors import InferenceError

__all__ = ["MixtureModel", "interference_coefficients", "interference_mixture"]

FloatArray = NDArray[np.float64]


def _mu(mu: ArrayLike) -> FloatArray:
    m = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    if m.ndim != 1 or not np.all(np.isfinite(m)):
        raise InferenceError(f"parameter 'mu' must be a finite scalar or 1-d array, got shape {np.shape(mu)}")
    return m


def interference_coefficients(mu: ArrayLike) -> FloatArray:
    """:math:`f(\\mu) = (\\mu - \\sqrt\\mu, \\sqrt\\mu, 1 - \\sqrt\\mu)` for the basis ``(S, SBI(μ=1), B)``, ``(n_μ, 3)``."""
    m = _mu(mu)
    if np.any(m < 0):
        raise InferenceError(f"parameter 'mu' must be non-negative for the interference mixture, got {m.min():g}")
    root = np.sqrt(m)
    return np.stack([m - root, root, 1.0 - root], axis=1)


@dataclass(frozen=True)
class MixtureModel:
    """:math:`p(x|\\mu)/p_{\\rm ref}(x) = \\nu(\\mu)^{-1}\\sum_j f_j(\\mu)\\nu_j r_j(x)` (module docstring).

    Parameters
    ----------
    coefficients:
        Vectorised μ ``(n_μ,)`` → :math:`f_j(\\mu)` ``(n_μ, K)``.
    yields:
        :math:`\\nu_j`, expected events of each basis sample at the analysis luminosity, ``(K,)``.
    names:
        Basis-sample names (``K`` strings).
    floor:
        Relative floor of the bracket :math:`\\sum_j f_j\\nu_j r_j` (learned ratios only; exact ones are positive).
    """

    coefficients: Callable[[FloatArray], FloatArray]
    yields: FloatArray
    names: tuple[str, ...]
    floor: float = 1e-9

    def __post_init__(self) -> None:
        y = np.asarray(self.yields, dtype=np.float64)
        if y.ndim != 1 or y.size != len(self.names) or not np.all(np.isfinite(y)):
            raise InferenceError(f"parameter 'yields' must hold {len(self.names)} finite values, got {np.shape(y)}")
        if not 0 <= self.floor < 1:
            raise InferenceError(f"parameter 'floor' must be in [0, 1), got {self.floor}")
        object.__setattr__(self, "yields", y)

    @property
    def n_basis(self) -> int:
        """Number of basis samples K."""
        return int(self.yields.size)

    def coefficient_matrix(self, mu: ArrayLike) -> FloatArray:
        """:math:`f_j(\\mu)\\,\\nu_j`, ``(n_μ, K)``."""
        f = np.asarray(self.coefficients(_mu(mu)), dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != self.n_basis:
            raise InferenceError(f"parameter 'coefficients' returned shape {f.shape}, expected (n_mu, {self.n_basis})")
        return f * self.yields[None, :]

    def total_yield(self, mu: ArrayLike) -> FloatArray:
        """:math:`\\nu(\\mu) = \\sum_j f_j(\\mu)\\nu_j`, ``(n_μ,)``."""
        return self.coefficient_matrix(mu).sum(axis=1)

    def _ratios(self, log_r: ArrayLike) -> FloatArray:
        lr = np.asarray(log_r, dtype=np.float64)
        if lr.ndim != 2 or lr.shape[1] != self.n_basis:
            raise InferenceError(f"parameter 'log_r' must have shape (N, {self.n_basis}), got {lr.shape}")
        return np.exp(lr)

    def bracket(self, log_r: ArrayLike, mu: ArrayLike) -> FloatArray:
        """:math:`\\sum_j f_j(\\mu)\\nu_j r_j(x_i)` (floored, module docstring), ``(n_μ, N)``."""
        r = self._ratios(log_r)
        fv = self.coefficient_matrix(mu)
        value = fv @ r.T
        return np.maximum(value, self.floor * (np.abs(fv) @ r.T))

    def n_floored(self, log_r: ArrayLike, mu: ArrayLike) -> NDArray[np.int64]:
        """Events whose bracket is not positive (hence floored), per μ, ``(n_μ,)``."""
        r = self._ratios(log_r)
        fv = self.coefficient_matrix(mu)
        return np.count_nonzero(fv @ r.T <= self.floor * (np.abs(fv) @ r.T), axis=1)

    def log_density_ratio(self, log_r: ArrayLike, mu: ArrayLike) -> FloatArray:
        """:math:`\\log p(x_i|\\mu)/p_{\\rm ref}(x_i)`, ``(n_μ, N)``."""
        return np.log(self.bracket(log_r, mu)) - np.log(self.total_yield(mu))[:, None]

    def log_likelihood(self, log_r: ArrayLike, mu: ArrayLike, weights: ArrayLike | None = None, *,
                       chunk: int = 1 << 22) -> FloatArray:
        """Extended :math:`\\log L(\\mu)` of the events (weights: 1 or Asimov), ``(n_μ,)``; module docstring."""
        r = self._ratios(log_r)
        m = _mu(mu)
        w = np.ones(r.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (r.shape[0],):
            raise InferenceError(f"parameter 'weights' must have shape ({r.shape[0]},), got {w.shape}")
        fv = self.coefficient_matrix(m)
        out = -fv.sum(axis=1)
        step = max(1, chunk // max(m.size, 1))
        for start in range(0, r.shape[0], step):
            block = r[start:start + step]
            value = np.maximum(fv @ block.T, self.floor * (np.abs(fv) @ block.T))
            out += np.log(value) @ w[start:start + step]
        return out


def interference_mixture(yields: Sequence[float] | ArrayLike, *, floor: float = 1e-9) -> MixtureModel:
    """The mixture of :func:`interference_coefficients` with yields :math:`(\\nu_S, \\nu_{SBI}, \\nu_B)`."""
    y = np.asarray(yields, dtype=np.float64)
    if y.shape != (3,) or np.any(y <= 0):
        raise InferenceError(f"parameter 'yields' must hold three positive yields (S, SBI, B), got {y.tolist()}")
    return MixtureModel(interference_coefficients, y, ("signal", "sbi", "background"), floor)
