r"""An exact-likelihood EFT toy: the ground truth for every estimator and test of :mod:`nextsm.sbi`.

Physics picture
---------------
Parton-level variables :math:`z = (u, \phi, \eta)`: an energy variable :math:`u = E/E_0 \in [1, u_{\max}]`,
an azimuthal angle :math:`\phi \in [-\pi, \pi)` and a rapidity :math:`\eta`.  Two Wilson coefficients,
:math:`\theta = (\tilde c, c)` (``c_odd``, ``c_even``), enter one helicity amplitude as
:math:`A = 1 + \kappa_e c\,u + i\kappa_o\tilde c\,u\,e^{i\phi}` (energy growth :math:`\propto u`, a CP-odd phase);
with a partially incoherent CP-odd interference (:math:`\beta < 1`, so :math:`|\mathcal M|^2 > 0`),

.. math::

    |\mathcal M(z|\theta)|^2 = (1 + c\,u)^2 + \tilde c^{\,2} u^2 - 2\beta\,\tilde c\,u\,(1 + c\,u)\sin\phi ,

exactly quadratic in θ.  The CP-even interference :math:`2cu` grows with energy and changes the rate;
the CP-odd interference :math:`\propto \sin\phi` integrates to zero (no linear rate effect: only the
angle knows the sign of :math:`\tilde c`).  Signal and background differential cross sections (fb):

.. math::

    d\sigma_S(z|\theta) &= \sigma_S\,\rho_S(u)\,\tfrac{1}{2\pi}\,\mathcal N(\eta;0,1)\,|\mathcal M(z|\theta)|^2\,dz,
    \qquad \rho_S(u) \propto u^{-n_S},\\
    d\sigma_B(z) &= \sigma_B\,\rho_B(u)\,\tfrac{1 + \gamma\cos 2\phi}{2\pi}\,\mathcal N(\eta;0,s_B)\,dz,
    \qquad \rho_B(u) \propto u^{-n_B},

so :math:`\sigma(\theta) = \sigma_S[1 + 2c\,\mu_1 + (\tilde c^2 + c^2)\mu_2] + \sigma_B` with the moments
:math:`\mu_k = \int\rho_S u^k`.  Detector smearing :math:`x = (u(1 + r_E\epsilon_1),\;
{\rm wrap}(\phi + r_\phi\epsilon_2),\; \eta + r_\eta\epsilon_3)`, :math:`\epsilon \sim \mathcal N(0, 1)`.

Closed forms
------------
* joint likelihood :math:`p(x, z|\theta) = p(x|z)\,d\sigma_{\rm proc}(z|\theta)/\sigma(\theta)`; :math:`p(x|z)`
  cancels in the joint ratio :math:`r(x,z|\theta_0,\theta_1) = \frac{d\sigma(z|\theta_0)/\sigma(\theta_0)}
  {d\sigma(z|\theta_1)/\sigma(\theta_1)}` and the joint score
  :math:`t(x,z|\theta) = \nabla_\theta\log d\sigma(z|\theta) - \nabla_\theta\log\sigma(\theta)`
  (background events: :math:`-\nabla\log\sigma`).
* marginal: smearing a wrapped normal turns :math:`\sin\phi \to e^{-r_\phi^2/2}\sin x_\phi` and
  :math:`\cos 2\phi \to e^{-2r_\phi^2}\cos 2x_\phi`, the η-smearing widens the Gaussians, and the energy
  convolution :math:`I_k(x_E) = \int \rho(u)\,u^k\,\mathcal N(x_E; u, r_E u)\,du` is a 1-D Gauss–Legendre
  quadrature.  Hence :math:`d\sigma(x|\theta)/dx = \sum_c \alpha_c(\theta)\,G_c(x)` with six functions
  :math:`G_c` computed once per event, and :math:`p(x|\theta)` for every θ is one matrix product.

This is the structure of Brehmer, Cranmer, Louppe, Pavez, "Constraining Effective Field Theories with
Machine Learning", PRL 121 (2018) 111801 (arXiv:1805.00013) and "A Guide to Constraining EFTs with ML",
PRD 98 (2018) 052004 (arXiv:1805.00020), in a setting where everything is computable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi.errors import SBIError
from nextsm.sbi.events import WeightedEvents
from nextsm.sbi.morphing import Morphing, _as_theta

__all__ = ["DEFAULT_BENCHMARKS", "ToyConfig", "ToyEFTSimulator"]

FloatArray = NDArray[np.float64]

DEFAULT_BENCHMARKS = ((0.0, 0.0), (1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (1.0, 1.0))
_SQRT2PI = np.sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class ToyConfig:
    """Constants of the toy (defaults give intervals of ±0.1–0.3 at a few hundred fb⁻¹).

    Attributes
    ----------
    sigma_s, sigma_b:
        SM signal and background cross sections in fb.
    n_s, n_b:
        Power-law indices of the energy spectra :math:`\\rho \\propto u^{-n}` (> 1).
    u_max:
        Upper end of the energy range (``u ∈ [1, u_max]``).
    beta:
        Coherence of the CP-odd interference, ``0 ≤ beta < 1``.
    gamma:
        ``cos 2φ`` modulation of the background, ``|gamma| < 1``.
    eta_width_b:
        Width of the background rapidity distribution (signal: 1).
    kappa_odd, kappa_even:
        Strengths of the two operators (:math:`\\tilde c \\to \\kappa_{\\rm odd}\\tilde c`, :math:`c \\to \\kappa_{\\rm even} c`
        in :math:`|\\mathcal M|^2`), i.e. the units of θ.
    res_e, res_phi, res_eta:
        Relative energy resolution, angular and rapidity resolutions.
    quadrature_nodes:
        Gauss–Legendre nodes of the energy convolution.
    """

    sigma_s: float = 40.0
    sigma_b: float = 60.0
    n_s: float = 4.0
    n_b: float = 3.0
    u_max: float = 4.0
    beta: float = 0.8
    gamma: float = 0.3
    eta_width_b: float = 2.0
    kappa_odd: float = 0.2
    kappa_even: float = 0.1
    res_e: float = 0.1
    res_phi: float = 0.4
    res_eta: float = 0.1
    quadrature_nodes: int = 256

    def __post_init__(self) -> None:
        checks = {
            "sigma_s": self.sigma_s > 0, "sigma_b": self.sigma_b >= 0, "n_s": self.n_s > 1, "n_b": self.n_b > 1,
            "u_max": self.u_max > 1, "beta": 0 <= self.beta < 1, "gamma": abs(self.gamma) < 1,
            "eta_width_b": self.eta_width_b > 0, "kappa_odd": self.kappa_odd > 0,
            "kappa_even": self.kappa_even > 0, "res_e": self.res_e > 0, "res_phi": self.res_phi > 0,
            "res_eta": self.res_eta > 0, "quadrature_nodes": self.quadrature_nodes >= 16,
        }
        for name, ok in checks.items():
            if not ok:
                raise SBIError(f"ToyConfig field '{name}' has an invalid value {getattr(self, name)!r}")


def _power_moment(k: float, n: float, u_max: float) -> float:
    """:math:`\\int_1^{u_{max}} u^{k-n} du`."""
    p = k - n + 1.0
    return float(np.log(u_max)) if p == 0 else float((u_max**p - 1.0) / p)


def _sample_power(k: float, n: float, u_max: float, size: int, rng: np.random.Generator) -> FloatArray:
    """Inverse-CDF draws from :math:`\\propto u^{k-n}` on ``[1, u_max]``."""
    v = rng.random(size)
    p = k - n + 1.0
    if p == 0:
        return np.exp(v * np.log(u_max))
    return (1.0 + v * (u_max**p - 1.0)) ** (1.0 / p)


class ToyEFTSimulator:
    """The exact toy (see the module docstring); satisfies :class:`~nextsm.sbi.simulators.ExactSimulator`.

    Parameters
    ----------
    config:
        The constants (:class:`ToyConfig`).
    benchmarks:
        Morphing benchmarks, six points of ``(c_odd, c_even)``.
    """

    name = "toy"
    parameter_names = ("c_odd", "c_even")
    observable_names = ("x_energy", "x_phi", "x_eta")
    parton_names = ("u", "phi", "eta")
    process_names = ("signal", "background")

    def __init__(self, config: ToyConfig | None = None, benchmarks: ArrayLike = DEFAULT_BENCHMARKS) -> None:
        self.config = config or ToyConfig()
        self.morphing = Morphing(np.asarray(benchmarks, dtype=np.float64), 2, self.parameter_names)
        c = self.config
        norm_s = _power_moment(0.0, c.n_s, c.u_max)
        self._mu = np.array([_power_moment(k, c.n_s, c.u_max) / norm_s for k in (0.0, 1.0, 2.0)])
        self._norm_s = norm_s
        self._norm_b = _power_moment(0.0, c.n_b, c.u_max)
        nodes, weights = np.polynomial.legendre.leggauss(c.quadrature_nodes)
        half = 0.5 * (c.u_max - 1.0)
        self._u_nodes = 1.0 + half * (nodes + 1.0)
        self._u_weights = half * weights

    # ------------------------------------------------------------------ closed forms at parton level
    def _m_components(self, z: FloatArray) -> FloatArray:
        """The six functions :math:`m_c(u, \\phi)` of :math:`|M|^2 = \\sum_c \\alpha_c(\\theta) m_c`, ``(N, 6)``."""
        u, s = z[:, 0], np.sin(z[:, 1])
        b, ko, ke = self.config.beta, self.config.kappa_odd, self.config.kappa_even
        return np.stack([np.ones_like(u), -2 * b * ko * u * s, 2 * ke * u, ko**2 * u**2, -2 * b * ko * ke * u**2 * s,
                         ke**2 * u**2], axis=1)

    def matrix_element_squared(self, z: ArrayLike, theta: ArrayLike) -> FloatArray:
        """:math:`|\\mathcal M(z|\\theta)|^2` from the amplitude directly (not the expansion), ``(n_θ, N)``."""
        zz = np.atleast_2d(np.asarray(z, dtype=np.float64))
        th = _as_theta(theta, 2)
        u, phi = zz[None, :, 0], zz[None, :, 1]
        codd, ceven = self.config.kappa_odd * th[:, 0:1], self.config.kappa_even * th[:, 1:2]
        b = self.config.beta
        coherent = np.abs(1 + ceven * u + 1j * codd * u * np.exp(1j * phi)) ** 2
        return b * coherent + (1 - b) * ((1 + ceven * u) ** 2 + (codd * u) ** 2)

    def _signal_base(self, z: FloatArray) -> FloatArray:
        """:math:`\\sigma_S \\rho_S(u) \\mathcal N(\\eta) / 2\\pi` (the θ-independent factor), ``(N,)``."""
        c = self.config
        rho = z[:, 0] ** (-c.n_s) / self._norm_s
        return c.sigma_s * rho * np.exp(-0.5 * z[:, 2] ** 2) / _SQRT2PI / (2 * np.pi)

    def _background_density(self, z: FloatArray) -> FloatArray:
        c = self.config
        rho = z[:, 0] ** (-c.n_b) / self._norm_b
        eta = np.exp(-0.5 * (z[:, 2] / c.eta_width_b) ** 2) / (_SQRT2PI * c.eta_width_b)
        return c.sigma_b * rho * (1 + c.gamma * np.cos(2 * z[:, 1])) / (2 * np.pi) * eta

    def parton_components(self, z: ArrayLike, process: ArrayLike) -> FloatArray:
        """:math:`g_c(z)` with :math:`d\\sigma(z|\\theta)/dz = \\sum_c \\alpha_c(\\theta) g_c(z)`, ``(N, 6)``."""
        zz = np.atleast_2d(np.asarray(z, dtype=np.float64))
        proc = np.asarray(process)
        g = self._m_components(zz) * self._signal_base(zz)[:, None]
        bkg = proc == 1
        g[bkg] = 0.0
        g[bkg, 0] = self._background_density(zz[bkg])
        return g

    def log_parton_density(self, z: ArrayLike, process: ArrayLike, theta: ArrayLike) -> FloatArray:
        """:math:`\\log p(z, {\\rm proc}|\\theta) = \\log d\\sigma_{\\rm proc}(z|\\theta) - \\log\\sigma(\\theta)`, ``(n_θ, N)``."""
        g = self.parton_components(z, process)
        alpha = self.morphing.components(theta)
        return np.log(alpha @ g.T) - np.log(self.xsec(theta))[:, None]

    def joint_log_ratio(self, z: ArrayLike, process: ArrayLike, theta0: ArrayLike, theta1: ArrayLike) -> FloatArray:
        """:math:`\\log r(x,z|\\theta_0,\\theta_1)`, ``(n_θ, N)`` (θ0 and θ1 of equal length or broadcast)."""
        return self.log_parton_density(z, process, theta0) - self.log_parton_density(z, process, theta1)

    def joint_score(self, z: ArrayLike, process: ArrayLike, theta: ArrayLike) -> FloatArray:
        """:math:`t(x,z|\\theta) = \\nabla_\\theta \\log p(x,z|\\theta)`, ``(n_θ, N, 2)``."""
        g = self.parton_components(z, process)
        dens = self.morphing.components(theta) @ g.T
        grad = np.einsum("tpc,nc->tnp", self.morphing.component_gradients(theta), g)
        return grad / dens[:, :, None] - (self.xsec_gradient(theta) / self.xsec(theta)[:, None])[:, None, :]

    # ------------------------------------------------------------------ rates
    def xsec_components(self) -> FloatArray:
        """:math:`\\sigma_c = \\int g_c`, ``(6,)`` so that :math:`\\sigma(\\theta) = \\sum_c \\alpha_c(\\theta)\\sigma_c`."""
        c = self.config
        mu0, mu1, mu2 = self._mu
        ko, ke = c.kappa_odd, c.kappa_even
        return np.array([c.sigma_s * mu0 + c.sigma_b, 0.0, 2 * ke * c.sigma_s * mu1, ko**2 * c.sigma_s * mu2, 0.0,
                         ke**2 * c.sigma_s * mu2])

    def xsec(self, theta: ArrayLike) -> FloatArray:
        """Exact :math:`\\sigma(\\theta)` in fb, ``(n_θ,)``."""
        return self.morphing.components(theta) @ self.xsec_components()

    def xsec_gradient(self, theta: ArrayLike) -> FloatArray:
        """:math:`\\nabla_\\theta\\sigma(\\theta)`, ``(n_θ, 2)``."""
        return self.morphing.component_gradients(theta) @ self.xsec_components()

    # ------------------------------------------------------------------ detector level
    def _energy_convolutions(self, x_energy: FloatArray) -> FloatArray:
        """:math:`[I_0, I_1, I_2]` of the signal and :math:`I^B` of the background, ``(N, 4)``."""
        c = self.config
        u = self._u_nodes[None, :]
        sd = c.res_e * u
        kern = np.exp(-0.5 * ((x_energy[:, None] - u) / sd) ** 2) / (_SQRT2PI * sd) * self._u_weights[None, :]
        rho_s = u ** (-c.n_s) / self._norm_s
        out = np.empty((x_energy.shape[0], 4))
        for k in range(3):
            out[:, k] = (kern * rho_s * u**k).sum(axis=1)
        out[:, 3] = (kern * u ** (-c.n_b) / self._norm_b).sum(axis=1)
        return out

    def marginal_components(self, x: ArrayLike, *, chunk_size: int = 20_000) -> FloatArray:
        """:math:`G_c(x)` with :math:`d\\sigma(x|\\theta)/dx = \\sum_c \\alpha_c(\\theta) G_c(x)`, ``(N, 6)``."""
        xx = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if xx.shape[1] != 3:
            raise SBIError(f"parameter 'x' must have shape (N, 3), got {xx.shape}")
        c = self.config
        out = np.empty((xx.shape[0], 6))
        w_s = np.sqrt(1.0 + c.res_eta**2)
        w_b = np.sqrt(c.eta_width_b**2 + c.res_eta**2)
        for start in range(0, xx.shape[0], chunk_size):
            part = xx[start:start + chunk_size]
            conv = self._energy_convolutions(part[:, 0])
            eta_s = np.exp(-0.5 * (part[:, 2] / w_s) ** 2) / (_SQRT2PI * w_s)
            eta_b = np.exp(-0.5 * (part[:, 2] / w_b) ** 2) / (_SQRT2PI * w_b)
            a = np.exp(-0.5 * c.res_phi**2) * np.sin(part[:, 1])
            base = c.sigma_s * eta_s / (2 * np.pi)
            ko, ke = c.kappa_odd, c.kappa_even
            block = np.stack([conv[:, 0], -2 * c.beta * ko * a * conv[:, 1], 2 * ke * conv[:, 1], ko**2 * conv[:, 2],
                              -2 * c.beta * ko * ke * a * conv[:, 2], ke**2 * conv[:, 2]], axis=1) * base[:, None]
            cos2 = 1 + c.gamma * np.exp(-2 * c.res_phi**2) * np.cos(2 * part[:, 1])
            block[:, 0] += c.sigma_b * eta_b * cos2 / (2 * np.pi) * conv[:, 3]
            out[start:start + chunk_size] = block
        return out

    def log_marginal(self, x: ArrayLike, theta: ArrayLike) -> FloatArray:
        """Exact :math:`\\log p(x|\\theta)` (quadrature), ``(n_θ, N)``."""
        g = self.marginal_components(x)
        return np.log(self.morphing.components(theta) @ g.T) - np.log(self.xsec(theta))[:, None]

    def marginal_score(self, x: ArrayLike, theta: ArrayLike) -> FloatArray:
        """Exact :math:`\\nabla_\\theta \\log p(x|\\theta)`, ``(n_θ, N, 2)``."""
        g = self.marginal_components(x)
        dens = self.morphing.components(theta) @ g.T
        grad = np.einsum("tpc,nc->tnp", self.morphing.component_gradients(theta), g)
        return grad / dens[:, :, None] - (self.xsec_gradient(theta) / self.xsec(theta)[:, None])[:, None, :]

    # ------------------------------------------------------------------ generation
    def _smear(self, z: FloatArray, rng: np.random.Generator) -> FloatArray:
        c = self.config
        eps = rng.standard_normal(z.shape)
        phi = np.mod(z[:, 1] + c.res_phi * eps[:, 1] + np.pi, 2 * np.pi) - np.pi
        return np.stack([z[:, 0] * (1 + c.res_e * eps[:, 0]), phi, z[:, 2] + c.res_eta * eps[:, 2]], axis=1)

    def _signal_proposal(self, n: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """Draws from :math:`q(u) \\propto \\rho_S(u)(1 + u^2)`, uniform φ, standard-normal η; returns z, q ratio."""
        c = self.config
        mu2 = self._mu[2]
        high = rng.random(n) < mu2 / (1 + mu2)
        u = np.where(high, _sample_power(2.0, c.n_s, c.u_max, n, rng), _sample_power(0.0, c.n_s, c.u_max, n, rng))
        z = np.stack([u, rng.uniform(-np.pi, np.pi, n), rng.standard_normal(n)], axis=1)
        return z, (1 + mu2) / (1 + u**2)  # dσ_S(z|θ) / q(z) = σ_S |M|² (1 + μ2) / (1 + u²)

    def _background(self, n: int, rng: np.random.Generator) -> FloatArray:
        c = self.config
        u = _sample_power(0.0, c.n_b, c.u_max, n, rng)
        phi = np.empty(0)
        while phi.size < n:  # accept-reject of 1 + γ cos 2φ
            cand = rng.uniform(-np.pi, np.pi, 2 * n)
            keep = rng.random(2 * n) * (1 + abs(c.gamma)) < 1 + c.gamma * np.cos(2 * cand)
            phi = np.concatenate([phi, cand[keep]])
        return np.stack([u, phi[:n], c.eta_width_b * rng.standard_normal(n)], axis=1)

    def simulate(self, n: int, rng: np.random.Generator, *, signal_fraction: float = 0.7) -> WeightedEvents:
        """``n`` weighted events (signal from a broad proposal, background unweighted) with benchmark weights.

        :math:`\\sum_i w_{ib} = \\sigma(\\theta_b)` in expectation; the signal weights are
        :math:`w_{ib} = d\\sigma_S(z_i|\\theta_b) / (n_S\\,q(z_i))`.
        """
        if n < 2:
            raise SBIError(f"parameter 'n' must be >= 2, got {n}")
        if not 0.0 < signal_fraction < 1.0:
            raise SBIError(f"parameter 'signal_fraction' must be in (0, 1), got {signal_fraction}")
        n_s = max(1, min(n - 1, round(signal_fraction * n)))
        n_b = n - n_s
        z_s, q_ratio = self._signal_proposal(n_s, rng)
        w_s = self.config.sigma_s * self.matrix_element_squared(z_s, self.morphing.benchmarks).T * q_ratio[:, None] / n_s
        z_b = self._background(n_b, rng)
        w_b = np.full((n_b, self.morphing.n_benchmarks), self.config.sigma_b / n_b)
        z = np.concatenate([z_s, z_b])
        return WeightedEvents(self._smear(z, rng), np.concatenate([w_s, w_b]), self.morphing,
                              np.concatenate([np.zeros(n_s, np.int64), np.ones(n_b, np.int64)]),
                              self.observable_names, self.process_names, z, self.provenance())

    def sample(self, theta: ArrayLike, n: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
        """``n`` *unweighted* events at one θ by exact accept-reject: ``(x, z, process)``."""
        th = _as_theta(theta, 2)[0]
        total = self.xsec(th)[0]
        n_s = int(rng.binomial(n, (total - self.config.sigma_b) / total))
        # |M|²/(1+u²) <= (1+β)[2 + (2c² + c̃²)u²]/(1+u²) <= bound
        ko, ke = self.config.kappa_odd, self.config.kappa_even
        bound = (1 + self.config.beta) * max(2.0, 2 * (ke * th[1]) ** 2 + (ko * th[0]) ** 2)
        z_s = np.empty((0, 3))
        while z_s.shape[0] < n_s:
            cand, _ = self._signal_proposal(2 * n_s + 16, rng)
            accept = self.matrix_element_squared(cand, th)[0] / (1 + cand[:, 0] ** 2)
            z_s = np.concatenate([z_s, cand[rng.random(cand.shape[0]) * bound < accept]])
        z = np.concatenate([z_s[:n_s], self._background(n - n_s, rng)])
        proc = np.concatenate([np.zeros(n_s, np.int64), np.ones(n - n_s, np.int64)])
        return self._smear(z, rng), z, proc

    def provenance(self) -> dict[str, Any]:
        """JSON metadata describing this simulator."""
        return {"simulator": self.name, "config": dataclasses.asdict(self.config),
                "parameter_names": list(self.parameter_names)}
