r"""NSBI likelihoods as :class:`~nextsm.inference.models.LikelihoodModel`\ s: small event samples, extended
unbinned likelihood, exact or learned per-event densities.

Both NSBI toys have an expected event density that is a *quadratic polynomial* in a variable t(μ):

* the EFT toy (:class:`~nextsm.sbi.simulators.ToyEFTSimulator`) on a line θ = θ₀ + μ d of its two Wilson
  coefficients: :math:`d\sigma(x|\theta)/dx = \sum_c \alpha_c(\theta) G_c(x)` is quadratic in θ, so t = μ;
* the interference toy (:class:`~nextsm.sbi.simulators.interference.InterferenceToy`): μS + √μ I + B, so
  t = √μ; the mixture model of :mod:`nextsm.inference.mixture` keeps this form for learned ratios.

Each event i is therefore summarised by three numbers :math:`q_{ik}` and, with the yield polynomial
:math:`\nu(t) = \sum_k y_k t^k`,

.. math::

    \log L(\mu) = -\nu(t) + \sum_i \log\Big(\sum_{k=0}^{2} q_{ik}\,t^k\Big),\qquad t = t(\mu),

up to a data-only constant (the extended unbinned likelihood; a statistic is a ratio at fixed D, so the
constant drops).  A learned estimator enters only through the encoder x ↦ q:

* exact EFT: :math:`q = L\,G(x)\,A`, A the slice's monomial coefficients;
* the morphing-aware ratio (:class:`~nextsm.sbi.estimators.MorphingAwareRatio`,
  :math:`\hat r = a^\top Q(x) a / a_{\rm ref}^\top Q a_{\rm ref}\cdot\sigma_{\rm ref}/\sigma`): with
  :math:`a(\theta) = a_0 + \mu a_1`, :math:`q \propto (a_0^\top Q a_0,\ 2a_0^\top Q a_1,\ a_1^\top Q a_1)/a_{\rm ref}^\top Q
  a_{\rm ref}` — all μ from one network pass per event (ensembles: the mean of r̂, which keeps the form);
* mixture models: :math:`q = r(x)\,P^\top`, P the coefficient matrix :math:`f_j(\mu)\nu_j` expanded in t.

Data sets are arrays ``(n_data, max_events, 3)`` of these summaries, padded with NaN (a data set of n events
uses the first n rows).  ``sample`` simulates with the exact simulator, so the Neyman construction is
calibrated on true toys whatever the estimator (the toys of an NSBI analysis); the LRT supremum is a grid
search in t refined by Newton steps.  Where a learned bracket is not positive it is floored (see
:mod:`nextsm.inference.mixture`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import poisson

from nextsm.inference.errors import InferenceError
from nextsm.inference.mixture import MixtureModel
from nextsm.inference.models import _grid, mu_per_dataset

__all__ = [
    "QuadraticEventModel",
    "eft_slice_model",
    "interference_model",
    "mixture_encoder",
    "quadratic_coefficients",
]

FloatArray = NDArray[np.float64]
Sampler = Callable[[float, int, np.random.Generator], FloatArray]
Encoder = Callable[[FloatArray], FloatArray]

#: (t = 0, 1, 2) values -> polynomial coefficients (c0, c1, c2)
_VANDERMONDE_INV = np.linalg.inv(np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 2.0, 4.0]]))
_ELEMENTS = 1 << 22


def quadratic_coefficients(values: ArrayLike) -> FloatArray:
    """Coefficients :math:`(c_0, c_1, c_2)` of a quadratic from its values at t = 0, 1, 2 (first axis)."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape[0] != 3:
        raise InferenceError(f"parameter 'values' must have 3 rows (t = 0, 1, 2), got shape {v.shape}")
    return np.tensordot(_VANDERMONDE_INV, v, axes=(1, 0))


@dataclass(frozen=True)
class QuadraticEventModel:
    """Extended unbinned likelihood of event samples with a density quadratic in t(μ) (module docstring).

    Parameters
    ----------
    sampler:
        ``(mu, n_events, rng) → x`` of shape ``(n_events, d)``: exact events at one μ.
    encoder:
        ``x (N, d) → q (N, 3)``: the per-event coefficients (exact or learned).
    yield_coefficients:
        :math:`(y_0, y_1, y_2)` of the expected count ν(t).
    upper:
        Upper end of the physical range [0, upper] of μ.
    sqrt:
        ``True`` for t = √μ (interference), ``False`` for t = μ.
    label:
        Name for tables.
    floor:
        Relative floor of a non-positive learned bracket.
    tail:
        Poisson tail probability that fixes ``max_events`` (the padding) at the largest yield.
    search_points:
        Grid points in t of the LRT supremum search (before the Newton refinement).
    """

    sampler: Sampler
    encoder: Encoder
    yield_coefficients: FloatArray
    upper: float
    sqrt: bool = False
    label: str = ""
    floor: float = 1e-9
    tail: float = 1e-12
    search_points: int = 161

    def __post_init__(self) -> None:
        y = np.asarray(self.yield_coefficients, dtype=np.float64)
        if y.shape != (3,) or not np.all(np.isfinite(y)):
            raise InferenceError(f"parameter 'yield_coefficients' must hold 3 finite values, got {np.shape(y)}")
        if not (math.isfinite(self.upper) and self.upper > 0):
            raise InferenceError(f"parameter 'upper' must be positive and finite, got {self.upper}")
        object.__setattr__(self, "yield_coefficients", y)
        t = np.linspace(0.0, self._t(np.array([self.upper]))[0], 201)
        nu = y[0] + y[1] * t + y[2] * t**2
        if np.any(nu <= 0):
            raise InferenceError("parameter 'yield_coefficients' gives a non-positive expected count on the range")
        object.__setattr__(self, "_max_events", int(poisson.isf(self.tail, float(nu.max()))) + 8)

    def __repr__(self) -> str:
        return f"QuadraticEventModel({self.label or 'unnamed'}, bounds={self.bounds})"

    @property
    def bounds(self) -> tuple[float, float]:
        """Physical range (0, upper) of μ."""
        return 0.0, float(self.upper)

    @property
    def max_events(self) -> int:
        """Padding length of a data set."""
        return int(self._max_events)  # type: ignore[attr-defined]

    def _t(self, mu: FloatArray) -> FloatArray:
        return np.sqrt(np.maximum(mu, 0.0)) if self.sqrt else mu

    def expected_events(self, mu: ArrayLike) -> FloatArray:
        """ν(μ), ``(n_μ,)``."""
        t = self._t(_grid(mu))
        y = self.yield_coefficients
        return y[0] + y[1] * t + y[2] * t**2

    # ------------------------------------------------------------------ data
    def encode(self, events: list[FloatArray]) -> FloatArray:
        """Padded summaries ``(len(events), max_events, 3)`` of a list of event arrays (one per data set)."""
        counts = np.array([e.shape[0] for e in events], dtype=np.int64)
        if counts.size and counts.max() > self.max_events:
            raise InferenceError(f"parameter 'events': a data set has {counts.max()} events, more than "
                                 f"max_events = {self.max_events}")
        out = np.full((len(events), self.max_events, 3), np.nan)
        nonempty = [e for e in events if e.shape[0]]
        if nonempty:
            q = np.asarray(self.encoder(np.concatenate(nonempty)), dtype=np.float64)
            if q.shape[1:] != (3,):
                raise InferenceError(f"parameter 'encoder' returned shape {q.shape}, expected (N, 3)")
            start = 0
            for i, n in enumerate(counts):
                out[i, :n] = q[start:start + n]
                start += n
        return out

    def simulate_events(self, mu: ArrayLike, n: int, rng: np.random.Generator) -> list[FloatArray]:
        """``n`` data sets of exact events (Poisson counts), at one μ or at ``mu[i]``."""
        m = mu_per_dataset(mu, n, self.bounds)
        counts = rng.poisson(self.expected_events(m))
        events: list[FloatArray] = [np.empty((0, 0))] * n
        values, inverse = np.unique(m, return_inverse=True)
        for j, value in enumerate(values):
            rows = np.flatnonzero(inverse == j)
            x = np.asarray(self.sampler(float(value), int(counts[rows].sum()), rng), dtype=np.float64)
            x = x[rng.permutation(x.shape[0])]  # samplers may return events ordered by process
            for i, part in zip(rows, np.split(x, np.cumsum(counts[rows])[:-1]), strict=True):
                events[i] = part
        return events

    def sample(self, mu: ArrayLike, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` simulated, encoded data sets (``LikelihoodModel`` contract)."""
        return self.encode(self.simulate_events(mu, n, rng))

    def _data(self, data: NDArray) -> FloatArray:
        d = np.asarray(data, dtype=np.float64)
        if d.ndim == 2 and d.shape[1] == 3:
            d = d[None]
        if d.ndim != 3 or d.shape[2] != 3:
            raise InferenceError(f"parameter 'data' must have shape (n_data, n_events, 3), got {np.shape(data)}")
        return d

    # ------------------------------------------------------------------ likelihood
    def _log_bracket_sum(self, d: FloatArray, t: FloatArray) -> FloatArray:
        """:math:`\\sum_i \\log q_i(t_j)` per data set (rows) and t (columns)."""
        valid = ~np.isnan(d[:, :, 0])
        q = np.where(valid[:, :, None], d, 0.0)
        powers = np.stack([np.ones_like(t), t, t**2])  # (3, n_t)
        out = np.empty((d.shape[0], t.size))
        step = max(1, _ELEMENTS // max(1, d.shape[1] * t.size))
        for s in range(0, d.shape[0], step):
            block = q[s:s + step]
            value = block @ powers
            floor = self.floor * (np.abs(block) @ powers)
            with np.errstate(divide="ignore"):
                logs = np.log(np.maximum(value, floor))
            out[s:s + step] = np.where(valid[s:s + step, :, None], logs, 0.0).sum(axis=1)
        return out

    def log_likelihood(self, data: NDArray, mu: ArrayLike) -> FloatArray:
        """:math:`\\log L(\\mu_j)` of every data set, ``(n_data, n_μ)`` (module docstring)."""
        d, m = self._data(data), _grid(mu)
        if np.any(m < 0):
            raise InferenceError(f"parameter 'mu' must be non-negative, got {m.min():g}")
        return self._log_bracket_sum(d, self._t(m)) - self.expected_events(m)[None, :]

    def log_likelihood_at(self, data: NDArray, mu: ArrayLike) -> FloatArray:
        """:math:`\\log L(\\mu_i)` of data set i, ``(n,)``."""
        d = self._data(data)
        m = np.broadcast_to(np.asarray(mu, dtype=np.float64), (d.shape[0],))
        t = self._t(m)
        valid = ~np.isnan(d[:, :, 0])
        q = np.where(valid[:, :, None], d, 0.0)
        value = q[:, :, 0] + q[:, :, 1] * t[:, None] + q[:, :, 2] * t[:, None] ** 2
        floor = self.floor * (np.abs(q[:, :, 0]) + np.abs(q[:, :, 1]) * t[:, None] + np.abs(q[:, :, 2]) * t[:, None] ** 2)
        with np.errstate(divide="ignore"):
            logs = np.where(valid, np.log(np.maximum(value, floor)), 0.0)
        return logs.sum(axis=1) - self.expected_events(m)

    def max_log_likelihood(self, data: NDArray) -> FloatArray:
        """:math:`\\sup_{\\mu \\in [0, upper]} \\log L(\\mu)`: a t grid, then Newton steps from the best point."""
        d = self._data(data)
        t_max = float(self._t(np.array([self.upper]))[0])
        t_grid = np.linspace(0.0, t_max, self.search_points)
        y = self.yield_coefficients
        ll = self._log_bracket_sum(d, t_grid) - (y[0] + y[1] * t_grid + y[2] * t_grid**2)[None, :]
        best = ll.max(axis=1)
        t = t_grid[np.argmax(ll, axis=1)]
        valid = ~np.isnan(d[:, :, 0])
        q = np.where(valid[:, :, None], d, 0.0)
        for _ in range(6):
            value = q[:, :, 0] + q[:, :, 1] * t[:, None] + q[:, :, 2] * t[:, None] ** 2
            slope = q[:, :, 1] + 2 * q[:, :, 2] * t[:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                g1 = np.where(valid, slope / value, 0.0).sum(axis=1) - (y[1] + 2 * y[2] * t)
                g2 = (np.where(valid, 2 * q[:, :, 2] / value - (slope / value) ** 2, 0.0).sum(axis=1) - 2 * y[2])
                step = np.where(g2 < 0, -g1 / g2, 0.0)
            t = np.clip(t + np.clip(np.nan_to_num(step), -0.5 * t_max, 0.5 * t_max), 0.0, t_max)
        mu_hat = t**2 if self.sqrt else t
        refined = self.log_likelihood_at(d, mu_hat)
        return np.maximum(best, np.where(np.isfinite(refined), refined, -np.inf))


# ------------------------------------------------------------------ encoders and factories
def _slice(origin: ArrayLike, direction: ArrayLike) -> tuple[FloatArray, FloatArray]:
    o = np.asarray(origin, dtype=np.float64).reshape(-1)
    d = np.asarray(direction, dtype=np.float64).reshape(-1)
    if o.shape != d.shape or not np.any(d != 0):
        raise InferenceError(f"parameters 'origin', 'direction' must be equal-length vectors with direction ≠ 0, "
                             f"got {o.tolist()}, {d.tolist()}")
    return o, d


def eft_slice_model(simulator: Any, *, luminosity: float, upper: float, origin: ArrayLike = (0.0, 0.0),
                    direction: ArrayLike = (0.0, 1.0), estimator: Any = None,
                    label: str | None = None) -> QuadraticEventModel:
    """The EFT toy on the line θ = origin + μ·direction, μ ∈ [0, upper], at ``luminosity`` (fb⁻¹).

    ``estimator=None`` uses the exact density (the toy's ``marginal_components``); otherwise a
    morphing-aware :class:`~nextsm.sbi.estimators.Estimator` (``kind == "morphing_aware"``).
    """
    if not luminosity > 0:
        raise InferenceError(f"parameter 'luminosity' must be positive, got {luminosity}")
    o, d = _slice(origin, direction)
    thetas = o[None, :] + np.array([0.0, 1.0, 2.0])[:, None] * d[None, :]
    alpha = quadratic_coefficients(simulator.morphing.components(thetas))  # (3, n_c)
    yields = luminosity * quadratic_coefficients(simulator.xsec(thetas))

    def sampler(mu: float, n: int, rng: np.random.Generator) -> FloatArray:
        if n == 0:
            return np.empty((0, len(simulator.observable_names)))
        return simulator.sample(o + mu * d, n, rng)[0]

    encoder: Encoder
    if estimator is None:
        def exact_encoder(x: FloatArray) -> FloatArray:
            return luminosity * simulator.marginal_components(x) @ alpha.T

        encoder = exact_encoder
        name = label or f"EFT toy slice {o.tolist()} + μ {d.tolist()}, exact"
    else:
        encoder = _morphing_aware_encoder(estimator, o, d, luminosity * float(simulator.xsec(o[None, :])[0]))
        name = label or f"EFT toy slice {o.tolist()} + μ {d.tolist()}, {estimator.method} (morphing-aware)"
    return QuadraticEventModel(sampler, encoder, yields, upper, sqrt=False, label=name)


def _morphing_aware_encoder(estimator: Any, origin: FloatArray, direction: FloatArray, scale: float) -> Encoder:
    if getattr(estimator, "kind", None) != "morphing_aware":
        raise InferenceError(f"parameter 'estimator' must be a morphing-aware ratio estimator, got kind "
                             f"{getattr(estimator, 'kind', None)!r}")
    import torch

    a0 = np.concatenate([[1.0], origin])
    a1 = np.concatenate([[0.0], direction])
    a_ref = np.concatenate([[1.0], estimator.theta_ref])

    def encoder(x: FloatArray) -> FloatArray:
        out = np.zeros((x.shape[0], 3))
        xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
        with torch.no_grad():
            for member in estimator.members:
                for s in range(0, x.shape[0], 1 << 16):
                    q = member.quadratic(xt[s:s + (1 << 16)]).double().numpy()
                    ref = np.einsum("i,nij,j->n", a_ref, q, a_ref)
                    parts = np.stack([np.einsum("i,nij,j->n", a0, q, a0), 2 * np.einsum("i,nij,j->n", a0, q, a1),
                                      np.einsum("i,nij,j->n", a1, q, a1)], axis=1)
                    out[s:s + (1 << 16)] += parts / ref[:, None]
        return scale * out / estimator.n_members

    return encoder


def mixture_encoder(mixture: MixtureModel, log_ratio: Callable[[FloatArray], FloatArray], *,
                    sqrt: bool = True) -> Encoder:
    """Encoder of a :class:`~nextsm.inference.mixture.MixtureModel` whose coefficients are quadratic in t(μ).

    ``log_ratio`` maps events ``(N, d)`` to :math:`\\log r_j(x)` ``(N, K)``; the coefficients are expanded
    in t from their values at t = 0, 1, 2 (exact for a quadratic, checked at t = 0.5).
    """
    t = np.array([0.0, 1.0, 2.0, 0.5])
    mu = t**2 if sqrt else t
    fv = mixture.coefficient_matrix(mu)  # (4, K)
    poly = quadratic_coefficients(fv[:3])  # (3, K)
    check = poly[0] + poly[1] * 0.5 + poly[2] * 0.25
    if not np.allclose(check, fv[3], rtol=1e-10, atol=1e-10 * np.abs(fv).max()):
        raise InferenceError("parameter 'mixture': the coefficients are not quadratic in t(μ)")

    def encoder(x: FloatArray) -> FloatArray:
        return np.exp(np.asarray(log_ratio(x), dtype=np.float64)) @ poly.T

    return encoder


def interference_model(toy: Any, *, upper: float, log_ratio: Callable[[FloatArray], FloatArray] | None = None,
                       luminosity: float | None = None, label: str | None = None) -> QuadraticEventModel:
    """The interference toy, μ ∈ [0, upper]: exact (``log_ratio=None``) or a mixture of learned ratios.

    ``log_ratio`` maps events to :math:`\\log r_j(x)` for the basis ``(signal, sbi, background)`` against any
    common reference.
    """
    from nextsm.inference.mixture import interference_mixture

    lumi = toy.config.luminosity if luminosity is None else float(luminosity)
    yields = lumi * np.array([toy.config.sigma_b, toy.sigma_i, toy.config.sigma_s])

    def sampler(mu: float, n: int, rng: np.random.Generator) -> FloatArray:
        return toy.sample_events(mu, n, rng)

    encoder: Encoder
    if log_ratio is None:
        def exact_encoder(x: FloatArray) -> FloatArray:
            return lumi * toy.process_densities(x)[:, ::-1]  # B, I, S = powers t^0, t^1, t^2

        encoder = exact_encoder
        name = label or "interference toy, exact"
    else:
        encoder = mixture_encoder(interference_mixture(lumi * toy.basis_xsecs()), log_ratio, sqrt=True)
        name = label or "interference toy, mixture NSBI"
    return QuadraticEventModel(sampler, encoder, yields, upper, sqrt=True, label=name)
