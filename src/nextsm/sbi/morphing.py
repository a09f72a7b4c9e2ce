r"""Morphing: exact interpolation of event weights that are polynomial in the parameters.

If the squared matrix element is a polynomial of degree ``max_power`` in the Wilson coefficients
:math:`\theta \in \mathbb{R}^p` (quadratic for one insertion of dimension-6 operators),

.. math::

    |\mathcal M(z|\theta)|^2 = \sum_c \alpha_c(\theta)\, g_c(z), \qquad
    \alpha_c(\theta) = \prod_{j} \theta_j^{k_{cj}}, \quad \textstyle\sum_j k_{cj} \le {\tt max\_power},

there are :math:`n_c = \binom{p + {\tt max\_power}}{p}` components (6 for two parameters at quadratic
order).  Event weights computed at :math:`n_b = n_c` *benchmarks* :math:`\theta_b`,
:math:`w_b(z) = \sum_c M_{bc}\, g_c(z)` with :math:`M_{bc} = \alpha_c(\theta_b)`, determine the weight
at any :math:`\theta` exactly:

.. math::

    w(z|\theta) = \sum_b c_b(\theta)\, w_b(z), \qquad c(\theta) = \alpha(\theta)\, M^{-1}.

The :math:`(n_\theta \times N)` weight matrix of a whole event sample is therefore one matrix product
of the :math:`(n_\theta \times n_b)` coefficients with the :math:`(n_b \times N)` benchmark weights
(:meth:`Morphing.weights`, chunked over events).  The joint score needs
:math:`\nabla_\theta c_b(\theta) = \nabla_\theta \alpha(\theta)\, M^{-1}`.

Large :math:`|c_b(\theta)|` mean cancellations between benchmarks and noisy reweighted samples;
:meth:`Morphing.squared_coefficient_norm` is the figure of merit MadMiner minimises when it picks the basis
(Brehmer, Kling, Espejo, Cranmer, "MadMiner", Comput. Softw. Big Sci. 4 (2020) 3, arXiv:1907.10621, §3.2).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi.errors import SBIError

__all__ = ["Morphing", "monomial_exponents"]

FloatArray = NDArray[np.float64]


def monomial_exponents(n_parameters: int, max_power: int = 2) -> NDArray[np.int64]:
    """Exponents :math:`k_{cj}` of all monomials of total degree ≤ ``max_power``, shape ``(n_c, p)``.

    Ordered by degree, then lexicographically with the first parameter's power highest:
    for ``p = 2``: ``1, θ0, θ1, θ0², θ0θ1, θ1²``.
    """
    if n_parameters < 1:
        raise SBIError(f"parameter 'n_parameters' must be >= 1, got {n_parameters}")
    if max_power < 1:
        raise SBIError(f"parameter 'max_power' must be >= 1, got {max_power}")
    rows = [k for k in itertools.product(range(max_power + 1), repeat=n_parameters) if sum(k) <= max_power]
    rows.sort(key=lambda k: (sum(k), tuple(-v for v in k)))
    return np.array(rows, dtype=np.int64)


def _as_theta(theta: ArrayLike, n_parameters: int, name: str = "theta") -> FloatArray:
    arr = np.asarray(theta, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :] if arr.shape[0] == n_parameters else arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != n_parameters:
        raise SBIError(f"parameter '{name}' must have shape (n, {n_parameters}), got {np.shape(theta)}")
    return arr


@dataclass(frozen=True)
class Morphing:
    """A polynomial morphing basis.

    Parameters
    ----------
    benchmarks:
        The benchmark points :math:`\\theta_b`, shape ``(n_b, p)`` with ``n_b`` equal to the number of
        components of :func:`monomial_exponents`.
    max_power:
        Degree of the polynomial (2: SM + interference + squared dimension-6 terms).
    parameter_names:
        Names of the parameters (default ``theta0, theta1, ...``).
    """

    benchmarks: FloatArray
    max_power: int = 2
    parameter_names: tuple[str, ...] = ()
    exponents: NDArray[np.int64] = field(init=False, repr=False)
    matrix: FloatArray = field(init=False, repr=False)
    inverse: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        bench = np.array(self.benchmarks, dtype=np.float64)
        if bench.ndim != 2:
            raise SBIError(f"parameter 'benchmarks' must have shape (n_b, p), got {bench.shape}")
        exps = monomial_exponents(bench.shape[1], self.max_power)
        if bench.shape[0] != exps.shape[0]:
            raise SBIError(f"parameter 'benchmarks': {bench.shape[0]} benchmarks given, a degree-{self.max_power} "
                           f"morphing of {bench.shape[1]} parameters needs exactly {exps.shape[0]}")
        names = tuple(self.parameter_names) or tuple(f"theta{j}" for j in range(bench.shape[1]))
        if len(names) != bench.shape[1]:
            raise SBIError(f"parameter 'parameter_names' has {len(names)} names for {bench.shape[1]} parameters")
        matrix = np.prod(bench[:, None, :] ** exps[None, :, :], axis=2)
        cond = np.linalg.cond(matrix)
        if not np.isfinite(cond) or cond > 1e12:
            raise SBIError(f"parameter 'benchmarks': the morphing matrix is singular (condition number {cond:.3g})")
        bench.setflags(write=False)
        object.__setattr__(self, "benchmarks", bench)
        object.__setattr__(self, "parameter_names", names)
        object.__setattr__(self, "exponents", exps)
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "inverse", np.linalg.inv(matrix))

    @property
    def n_parameters(self) -> int:
        """Number of parameters ``p``."""
        return int(self.benchmarks.shape[1])

    @property
    def n_benchmarks(self) -> int:
        """Number of benchmarks (= components) ``n_b``."""
        return int(self.benchmarks.shape[0])

    def components(self, theta: ArrayLike) -> FloatArray:
        """:math:`\\alpha_c(\\theta)`, shape ``(n_θ, n_c)``."""
        th = _as_theta(theta, self.n_parameters)
        return np.prod(th[:, None, :] ** self.exponents[None, :, :], axis=2)

    def component_gradients(self, theta: ArrayLike) -> FloatArray:
        """:math:`\\partial \\alpha_c / \\partial \\theta_j`, shape ``(n_θ, p, n_c)``."""
        th = _as_theta(theta, self.n_parameters)
        out = np.empty((th.shape[0], self.n_parameters, self.exponents.shape[0]))
        for j in range(self.n_parameters):
            k = self.exponents.copy()
            factor = k[:, j].astype(np.float64)
            k[:, j] = np.maximum(k[:, j] - 1, 0)
            out[:, j, :] = factor[None, :] * np.prod(th[:, None, :] ** k[None, :, :], axis=2)
        return out

    def coefficients(self, theta: ArrayLike) -> FloatArray:
        """Morphing coefficients :math:`c_b(\\theta) = \\sum_c \\alpha_c(\\theta) (M^{-1})_{cb}`, ``(n_θ, n_b)``."""
        return self.components(theta) @ self.inverse

    def coefficient_gradients(self, theta: ArrayLike) -> FloatArray:
        """:math:`\\nabla_\\theta c_b(\\theta)`, shape ``(n_θ, p, n_b)``."""
        return self.component_gradients(theta) @ self.inverse

    def weights(self, theta: ArrayLike, benchmark_weights: ArrayLike, *, chunk_size: int = 200_000) -> FloatArray:
        """The weight matrix :math:`w_i(\\theta_j) = \\sum_b c_b(\\theta_j) w_{ib}`, shape ``(n_θ, N)``.

        One matrix product per chunk of ``chunk_size`` events (``benchmark_weights`` has shape ``(N, n_b)``).
        """
        coeff = self.coefficients(theta)
        bw = self._check_weights(benchmark_weights)
        if chunk_size < 1:
            raise SBIError(f"parameter 'chunk_size' must be >= 1, got {chunk_size}")
        out = np.empty((coeff.shape[0], bw.shape[0]))
        for start in range(0, bw.shape[0], chunk_size):
            stop = min(start + chunk_size, bw.shape[0])
            out[:, start:stop] = coeff @ bw[start:stop].T
        return out

    def xsec(self, theta: ArrayLike, benchmark_weights: ArrayLike) -> FloatArray:
        """Total cross section :math:`\\sigma(\\theta) = \\sum_i w_i(\\theta)`, shape ``(n_θ,)``."""
        bw = self._check_weights(benchmark_weights)
        return self.coefficients(theta) @ bw.sum(axis=0)

    def xsec_gradient(self, theta: ArrayLike, benchmark_weights: ArrayLike) -> FloatArray:
        """:math:`\\nabla_\\theta \\sigma(\\theta)`, shape ``(n_θ, p)``."""
        bw = self._check_weights(benchmark_weights)
        return self.coefficient_gradients(theta) @ bw.sum(axis=0)

    def squared_coefficient_norm(self, theta: ArrayLike) -> FloatArray:
        """:math:`\\sum_b c_b(\\theta)^2` per point (large values: cancellations, noisy reweighting)."""
        return np.sum(self.coefficients(theta) ** 2, axis=1)

    def _check_weights(self, benchmark_weights: ArrayLike) -> FloatArray:
        bw = np.asarray(benchmark_weights, dtype=np.float64)
        if bw.ndim != 2 or bw.shape[1] != self.n_benchmarks:
            raise SBIError(f"parameter 'benchmark_weights' must have shape (N, {self.n_benchmarks}), got {bw.shape}")
        return bw

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (inverse of :meth:`from_dict`)."""
        return {"benchmarks": self.benchmarks.tolist(), "max_power": self.max_power,
                "parameter_names": list(self.parameter_names)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Morphing:
        """Rebuild from :meth:`to_dict` output."""
        try:
            return cls(np.asarray(data["benchmarks"], dtype=np.float64), int(data.get("max_power", 2)),
                       tuple(data.get("parameter_names", ())))
        except KeyError as exc:
            raise SBIError(f"morphing description lacks field '{exc.args[0]}'") from None
