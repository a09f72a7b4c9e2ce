r"""An exact off-shell-Higgs-like toy with quantum interference: signal, continuum and a destructive S–B term.

Physics picture
---------------
Two observables :math:`x = (m, c)`: an invariant mass :math:`m \in [m_{\rm lo}, m_{\rm hi}]` (a
:math:`m_{4\ell}`-like variable, default 200–1000 GeV) and a weakly discriminating angle :math:`c = \cos\theta^*
\in [-1, 1]`.  A signal amplitude (the off-shell Higgs tail, with a threshold bump near :math:`2m_t`) and a
continuum amplitude interfere; with signal strength μ (coupling modifier :math:`\kappa = \sqrt\mu`),

.. math::

    \frac{d\sigma(x|\mu)}{dx} = \mu\,S(x) + \sqrt\mu\,I(x) + B(x),\qquad I(x) = -2\rho\sqrt{S(x)\,B(x)},

.. math::

    S(x) &= \sigma_S\,\hat a_S(m)^2\,\tfrac12,\qquad \hat a_S(m)^2 \propto (m/m_{\rm lo})^{-n_S}
        \big[1 + h\,e^{-(m - m_{\rm peak})^2/2w^2}\big]^2,\\
    B(x) &= \sigma_B\,\hat a_B(m)^2\,\frac{1 + a c^2}{2(1 + a/3)},\qquad \hat a_B(m)^2 \propto (m/m_{\rm lo})^{-n_B},

each shape normalised to one, so σ_S and σ_B are the cross sections (fb) of the two processes alone.
The coherence :math:`0 \le \rho < 1` makes the interference destructive everywhere and keeps the density
positive for every μ ≥ 0 (:math:`\mu S + \sqrt\mu I + B \ge (1-\rho)(\mu S + B)`, by AM–GM).  The
densities are exact; the only numerics are the normalisation integrals (composite Gauss–Legendre,
converged to ~1e-14).  Yields at luminosity L: :math:`\nu(\mu) = L[\mu\sigma_S + \sqrt\mu\,\sigma_I + \sigma_B]`,
:math:`\sigma_I = \int I < 0`.

The picture is that of the ATLAS off-shell :math:`H^*\to ZZ\to 4\ell` measurement with NSBI (ATLAS
Collaboration, *Rep. Prog. Phys.* **88** (2025) 057803; method: *Rep. Prog. Phys.* **88** (2025) 067801),
where the interference makes the likelihood in μ non-parabolic.

Samples
-------
* :meth:`InterferenceToy.sample_process` draws the *basis* samples of the search-oriented mixture model:
  ``"signal"`` (S), ``"background"`` (B) and ``"sbi"`` (S + I + B at μ = 1); the interference alone is not
  a positive density and is never sampled.
* :meth:`InterferenceToy.sample_events` draws events at any μ by exact accept–reject from the proposal
  :math:`\propto \mu S + B` (acceptance :math:`(\mu S + \sqrt\mu I + B)/(\mu S + B) \le 1`).
* :meth:`InterferenceToy.simulate` returns weighted events with benchmark weights in κ (morphing
  :math:`d\sigma = \sum_c \kappa^c G_c`, benchmarks κ ∈ {0, 1, 2}), so the toy satisfies
  :class:`~nextsm.sbi.simulators.ExactSimulator` with θ = κ.

A background shape systematic (:meth:`InterferenceToy.background_variation`): the ±1σ templates are
:math:`B_\pm(x) = B(x)\,[1 \pm \epsilon\,\ell(m)]`, :math:`\ell(m) = 2\log(m/m_{\rm lo})/\log(m_{\rm hi}/m_{\rm lo}) - 1`
(a tilt of the spectrum that also moves the yield); the interference is kept nominal.
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
from nextsm.sbi.simulators.toy import _sample_power

__all__ = ["BASIS_SAMPLES", "InterferenceConfig", "InterferenceToy"]

FloatArray = NDArray[np.float64]

BASIS_SAMPLES = ("signal", "sbi", "background")


@dataclass(frozen=True)
class InterferenceConfig:
    """Constants of the interference toy (module docstring).

    Attributes
    ----------
    m_low, m_high:
        Mass range in GeV.
    sigma_s, sigma_b:
        Signal-only and continuum-only cross sections in fb.
    luminosity:
        Default luminosity in fb⁻¹ for :meth:`InterferenceToy.yields` and the event samplers.
    n_s, n_b:
        Power-law indices of the signal and continuum mass spectra.
    peak, peak_width, peak_height:
        Position, width (GeV) and relative height h of the signal's threshold bump.
    rho:
        Coherence of the interference, 0 ≤ ρ < 1 (destructive).
    angular:
        Coefficient a of the continuum's 1 + a c² angular distribution (the signal is flat).
    systematic:
        Relative size ε of the background shape variation.
    """

    m_low: float = 200.0
    m_high: float = 1000.0
    sigma_s: float = 0.1
    sigma_b: float = 1.0
    luminosity: float = 400.0
    n_s: float = 1.0
    n_b: float = 4.0
    peak: float = 350.0
    peak_width: float = 35.0
    peak_height: float = 0.8
    rho: float = 0.35
    angular: float = 3.0
    systematic: float = 0.15

    def __post_init__(self) -> None:
        checks = {"m_low": self.m_low > 0, "m_high": self.m_high > self.m_low, "sigma_s": self.sigma_s > 0,
                  "sigma_b": self.sigma_b > 0, "luminosity": self.luminosity > 0, "n_s": self.n_s >= 0,
                  "n_b": self.n_b >= 0, "peak_width": self.peak_width > 0, "peak_height": self.peak_height >= 0,
                  "rho": 0 <= self.rho < 1, "angular": self.angular > -1, "systematic": 0 <= self.systematic < 1}
        for name, ok in checks.items():
            if not ok:
                raise SBIError(f"InterferenceConfig field '{name}' has an invalid value {getattr(self, name)!r}")


class InterferenceToy:
    """The exact interference toy (module docstring); an :class:`~nextsm.sbi.simulators.ExactSimulator` in κ.

    Parameters
    ----------
    config:
        The constants (:class:`InterferenceConfig`).
    """

    name = "interference"
    parameter_names = ("kappa",)
    observable_names = ("m", "cos_theta")
    process_names = ("signal", "background")

    def __init__(self, config: InterferenceConfig | None = None) -> None:
        self.config = config or InterferenceConfig()
        self.morphing = Morphing(np.array([[0.0], [1.0], [2.0]]), 2, self.parameter_names)
        c = self.config
        # composite Gauss-Legendre on the mass range (the bump is resolved by 64 panels)
        nodes, weights = np.polynomial.legendre.leggauss(32)
        edges = np.linspace(c.m_low, c.m_high, 65)
        half = 0.5 * np.diff(edges)
        self._m_nodes = (edges[:-1, None] + half[:, None] * (nodes[None, :] + 1.0)).ravel()
        self._m_weights = (half[:, None] * weights[None, :]).ravel()
        self._norm_s = float(self._raw_signal(self._m_nodes) @ self._m_weights)
        self._norm_b = float(self._raw_background(self._m_nodes) @ self._m_weights)
        # ∫ â_S â_B dm and ∫ u_S u_B dc (closed form in c: ∫ sqrt(1 + a c^2) dc)
        mass_overlap = float(np.sqrt(self._mass_shapes(self._m_nodes).prod(axis=0)) @ self._m_weights)
        a = c.angular
        cn, cw = np.polynomial.legendre.leggauss(64)
        ang_overlap = float(np.sqrt(0.5 * (1 + a * cn**2) / (2 * (1 + a / 3))) @ cw)
        self.sigma_i = -2.0 * c.rho * np.sqrt(c.sigma_s * c.sigma_b) * mass_overlap * ang_overlap

    def __repr__(self) -> str:
        return f"InterferenceToy({self.config})"

    # ------------------------------------------------------------------ shapes
    def _raw_signal(self, m: FloatArray) -> FloatArray:
        c = self.config
        bump = 1.0 + c.peak_height * np.exp(-0.5 * ((m - c.peak) / c.peak_width) ** 2)
        return (m / c.m_low) ** (-c.n_s) * bump**2

    def _raw_background(self, m: FloatArray) -> FloatArray:
        return (m / self.config.m_low) ** (-self.config.n_b)

    def _mass_shapes(self, m: FloatArray) -> FloatArray:
        """Normalised :math:`\\hat a_S^2, \\hat a_B^2`, ``(2, N)``."""
        return np.stack([self._raw_signal(m) / self._norm_s, self._raw_background(m) / self._norm_b])

    def _x(self, x: ArrayLike) -> FloatArray:
        xx = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if xx.ndim != 2 or xx.shape[1] != 2:
            raise SBIError(f"parameter 'x' must have shape (N, 2), got {np.shape(x)}")
        return xx

    def process_densities(self, x: ArrayLike) -> FloatArray:
        """:math:`[S(x), I(x), B(x)]` in fb per unit x (zero outside the range), ``(N, 3)``."""
        xx = self._x(x)
        m, cth = xx[:, 0], xx[:, 1]
        c = self.config
        inside = (m >= c.m_low) & (m <= c.m_high) & (np.abs(cth) <= 1.0)
        shapes = self._mass_shapes(np.clip(m, c.m_low, c.m_high))
        s = c.sigma_s * shapes[0] * 0.5
        b = c.sigma_b * shapes[1] * (1 + c.angular * cth**2) / (2 * (1 + c.angular / 3))
        out = np.stack([s, -2.0 * c.rho * np.sqrt(s * b), b], axis=1)
        out[~inside] = 0.0
        return out

    def basis_densities(self, x: ArrayLike) -> FloatArray:
        """Normalised densities of the basis samples ``signal, sbi, background`` (:data:`BASIS_SAMPLES`), ``(N, 3)``."""
        s, i, b = self.process_densities(x).T
        return np.stack([s / self.config.sigma_s, (s + i + b) / self.xsec_at_mu(1.0)[0], b / self.config.sigma_b],
                        axis=1)

    def basis_xsecs(self) -> FloatArray:
        """Cross sections of the basis samples ``signal, sbi, background`` in fb, ``(3,)``."""
        c = self.config
        return np.array([c.sigma_s, c.sigma_s + self.sigma_i + c.sigma_b, c.sigma_b])

    def density(self, x: ArrayLike, mu: ArrayLike) -> FloatArray:
        """:math:`d\\sigma(x|\\mu)/dx = \\mu S + \\sqrt\\mu I + B`, ``(n_μ, N)``."""
        m = self._mu(mu)
        dens = self.process_densities(x)
        return np.stack([m, np.sqrt(m), np.ones_like(m)], axis=1) @ dens.T

    def xsec_at_mu(self, mu: ArrayLike) -> FloatArray:
        """:math:`\\sigma(\\mu) = \\mu\\sigma_S + \\sqrt\\mu\\,\\sigma_I + \\sigma_B` in fb, ``(n_μ,)``."""
        m = self._mu(mu)
        return m * self.config.sigma_s + np.sqrt(m) * self.sigma_i + self.config.sigma_b

    def yields(self, mu: ArrayLike, luminosity: float | None = None) -> FloatArray:
        """Expected event counts :math:`\\nu(\\mu) = L\\,\\sigma(\\mu)`, ``(n_μ,)``."""
        return self._lumi(luminosity) * self.xsec_at_mu(mu)

    def _lumi(self, luminosity: float | None) -> float:
        lumi = self.config.luminosity if luminosity is None else float(luminosity)
        if not lumi > 0:
            raise SBIError(f"parameter 'luminosity' must be positive, got {luminosity}")
        return lumi

    @staticmethod
    def _mu(mu: ArrayLike) -> FloatArray:
        m = np.atleast_1d(np.asarray(mu, dtype=np.float64))
        if m.ndim != 1 or not np.all(np.isfinite(m)) or np.any(m < 0):
            raise SBIError(f"parameter 'mu' must be a finite non-negative scalar or 1-d array, got {mu!r}")
        return m

    # ------------------------------------------------------------------ systematic
    def tilt(self, x: ArrayLike) -> FloatArray:
        """:math:`\\ell(m) \\in [-1, 1]` of the background shape variation, ``(N,)``."""
        c = self.config
        m = np.clip(self._x(x)[:, 0], c.m_low, c.m_high)
        return 2.0 * np.log(m / c.m_low) / np.log(c.m_high / c.m_low) - 1.0

    def background_variation(self, x: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Exact per-event ratios :math:`B_+(x)/B(x)` and :math:`B_-(x)/B(x)`, each ``(N,)``."""
        t = self.tilt(x)
        eps = self.config.systematic
        return 1.0 + eps * t, 1.0 - eps * t

    def background_expectation(self, function: Any) -> float:
        """:math:`\\int B(x)\\,g(\\ell(m))\\,dx / \\sigma_B` for a vectorised ``function`` g of the tilt (quadrature)."""
        c = self.config
        t = 2.0 * np.log(self._m_nodes / c.m_low) / np.log(c.m_high / c.m_low) - 1.0
        return float((np.asarray(function(t), dtype=np.float64) * self._mass_shapes(self._m_nodes)[1])
                     @ self._m_weights)

    # ------------------------------------------------------------------ sampling
    def _signal_draw(self, n: int, rng: np.random.Generator) -> FloatArray:
        c = self.config
        out = np.empty(0)
        bound = (1.0 + c.peak_height) ** 2
        while out.size < n:
            t = c.m_low * _sample_power(0.0, c.n_s, c.m_high / c.m_low, 2 * n + 16, rng)
            bump = 1.0 + c.peak_height * np.exp(-0.5 * ((t - c.peak) / c.peak_width) ** 2)
            out = np.concatenate([out, t[rng.random(t.size) * bound < bump**2]])
        return np.stack([out[:n], rng.uniform(-1.0, 1.0, n)], axis=1)

    def _background_draw(self, n: int, rng: np.random.Generator) -> FloatArray:
        c = self.config
        m = c.m_low * _sample_power(0.0, c.n_b, c.m_high / c.m_low, n, rng)
        cth = np.empty(0)
        top = 1.0 + max(c.angular, 0.0)
        while cth.size < n:
            cand = rng.uniform(-1.0, 1.0, 2 * n + 16)
            cth = np.concatenate([cth, cand[rng.random(cand.size) * top < 1 + c.angular * cand**2]])
        return np.stack([m, cth[:n]], axis=1)

    def sample_process(self, name: str, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` unweighted events of a basis sample (:data:`BASIS_SAMPLES`), ``(n, 2)``."""
        if name == "signal":
            return self._signal_draw(n, rng)
        if name == "background":
            return self._background_draw(n, rng)
        if name == "sbi":
            return self.sample_events(1.0, n, rng)
        raise SBIError(f"parameter 'name' is {name!r}, expected one of {BASIS_SAMPLES}")

    def sample_events(self, mu: float, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` unweighted events at signal strength ``mu`` (exact accept–reject), ``(n, 2)``."""
        if n < 0:
            raise SBIError(f"parameter 'n' must be non-negative, got {n}")
        m = float(self._mu(mu)[0])
        c = self.config
        p_signal = m * c.sigma_s / (m * c.sigma_s + c.sigma_b)
        out = np.empty((0, 2))
        while out.shape[0] < n:
            k = 2 * (n - out.shape[0]) + 16
            n_s = int(rng.binomial(k, p_signal))
            cand = np.concatenate([self._signal_draw(n_s, rng), self._background_draw(k - n_s, rng)])
            s, i, b = self.process_densities(cand).T
            accept = (m * s + np.sqrt(m) * i + b) / (m * s + b)
            out = np.concatenate([out, cand[rng.random(k) < accept]])
        return out[rng.permutation(out.shape[0])[:n]]

    def simulate(self, n: int, rng: np.random.Generator) -> WeightedEvents:
        """``n`` weighted events from the proposal ½(S/σ_S + B/σ_B) with benchmark weights at κ ∈ {0, 1, 2} (fb)."""
        if n < 2:
            raise SBIError(f"parameter 'n' must be >= 2, got {n}")
        n_s = n // 2
        x = np.concatenate([self._signal_draw(n_s, rng), self._background_draw(n - n_s, rng)])
        dens = self.process_densities(x)
        q = 0.5 * (dens[:, 0] / self.config.sigma_s + dens[:, 2] / self.config.sigma_b)
        alpha = self.morphing.components(self.morphing.benchmarks)  # (n_b, 3) powers κ^0, κ^1, κ^2
        weights = (self._components(dens) @ alpha.T) / (n * q[:, None])
        process = np.concatenate([np.zeros(n_s, np.int64), np.ones(n - n_s, np.int64)])
        return WeightedEvents(x, weights, self.morphing, process, self.observable_names, self.process_names,
                              None, self.provenance())

    # ------------------------------------------------------------------ ExactSimulator (θ = κ = √μ)
    @staticmethod
    def _components(dens: FloatArray) -> FloatArray:
        """Morphing components in the order κ⁰, κ¹, κ² = B, I, S, ``(N, 3)``."""
        return dens[:, ::-1]

    def xsec_components(self) -> FloatArray:
        """:math:`[\\sigma_B, \\sigma_I, \\sigma_S]` (powers κ⁰, κ¹, κ²) in fb."""
        return np.array([self.config.sigma_b, self.sigma_i, self.config.sigma_s])

    def xsec(self, theta: ArrayLike) -> FloatArray:
        """Exact :math:`\\sigma(\\kappa)` in fb, ``(n_θ,)``."""
        return self.morphing.components(_as_theta(theta, 1)) @ self.xsec_components()

    def log_marginal(self, x: ArrayLike, theta: ArrayLike) -> FloatArray:
        """Exact :math:`\\log p(x|\\kappa)`, ``(n_θ, N)``."""
        alpha = self.morphing.components(_as_theta(theta, 1))
        g = self._components(self.process_densities(x))
        with np.errstate(divide="ignore"):
            return np.log(alpha @ g.T) - np.log(alpha @ self.xsec_components())[:, None]

    def marginal_score(self, x: ArrayLike, theta: ArrayLike) -> FloatArray:
        """Exact :math:`\\partial_\\kappa \\log p(x|\\kappa)`, ``(n_θ, N, 1)``."""
        th = _as_theta(theta, 1)
        g = self._components(self.process_densities(x))
        alpha, grad = self.morphing.components(th), self.morphing.component_gradients(th)[:, 0, :]
        sig = self.xsec_components()
        out = (grad @ g.T) / (alpha @ g.T) - ((grad @ sig) / (alpha @ sig))[:, None]
        return out[:, :, None]

    def provenance(self) -> dict[str, Any]:
        """JSON metadata describing this simulator."""
        return {"simulator": self.name, "config": dataclasses.asdict(self.config),
                "parameter_names": list(self.parameter_names)}
