r"""Augmented sampling done right: one weight matrix, vectorised unweighting, joint ratio and score.

MadMiner's ``SampleAugmenter`` treats one θ at a time and re-reads and re-morphs the whole event file for
each (docs/sbi.md §1.2).  Here the events are loaded once and

1. the :math:`(n_\theta \times N)` weight matrix :math:`W_{ji} = \sum_b c_b(\theta_j) w_{ib}` is one matrix
   product per chunk (:func:`weight_matrix`);
2. all θ are unweighted at once, either by inverse-CDF sampling on the row-offset cumulative sums
   (:func:`unweight`, O(N) per θ: row j's CDF is shifted by j, so a single ``searchsorted`` serves every θ)
   or by mixture-envelope rejection (:class:`EnvelopeSampler`, O(n_samples log N) per θ, no weight
   matrix); :func:`sample_events` picks per θ (below);
3. the joint ("gold") quantities follow from the morphing (Brehmer, Cranmer, Louppe, Pavez 2018, eqs. for
   :math:`r(x,z)` and :math:`t(x,z)`):

.. math::

    \log r(x_i, z_i|\theta, \theta_{\rm ref}) = \log\frac{w_i(\theta)}{\sigma(\theta)}
        - \log\frac{w_i(\theta_{\rm ref})}{\sigma(\theta_{\rm ref})},\qquad
    t(x_i, z_i|\theta) = \frac{\nabla_\theta w_i(\theta)}{w_i(\theta)} - \frac{\nabla_\theta\sigma(\theta)}{\sigma(\theta)} .

Alternatively :func:`weighted_ratio_set` skips unweighting: every event enters both classes with its
normalised weights :math:`N w_i(\theta)/\sigma(\theta)` and :math:`N w_i(\theta_{\rm ref})/\sigma(\theta_{\rm ref})`,
at θ values drawn per event — O(N n_b) work instead of O(n_θ N n_b).

Mixture-envelope rejection (composition + rejection; Devroye 1986, *Non-Uniform Random Variate
Generation*, §II.3 and §II.4).  Write the weights in any linear basis, :math:`w_i(\theta) = \sum_c a_c(\theta) V_{ic}`
(the benchmark basis :math:`a = c(\theta)`, :math:`V = w_{ib}`, or the monomial basis :math:`a = \alpha(\theta)`,
:math:`V = g_{ic}` with :math:`g = w_{\cdot b} (M^{-1})^{\top}`).  The triangle inequality gives the envelope

.. math::

    \max(w_i(\theta), 0) \le |w_i(\theta)| \le e_i(\theta) = \sum_c |a_c(\theta)|\,|V_{ic}|
        = E(\theta) \sum_c \pi_c(\theta)\, q_c(i), \qquad
    q_c(i) = \frac{|V_{ic}|}{S_c},\; S_c = \sum_i |V_{ic}|,\;
    \pi_c(\theta) = \frac{|a_c(\theta)| S_c}{E(\theta)},\; E(\theta) = \sum_c |a_c(\theta)| S_c ,

a mixture of θ-*independent* distributions :math:`q_c`.  Their cumulative sums are built once per event
sample (O(N n_c)); then per θ a candidate is: a component c ~ π(θ), an event i ~ q_c by bisection of the
cumulative sum of column c (O(log N)), accepted with probability :math:`\max(w_i(\theta), 0)/e_i(\theta)`
(O(n_c)).  Each round draws :math:`\lceil 1.05\,n_{\rm missing}/{\rm acceptance}\rceil + 4` candidates per θ and
keeps the first accepted ones in draw order until n_samples are filled.  Accepted candidates are i.i.d. with probability :math:`\max(w_i, 0)/\sum_k \max(w_k, 0)`, the same
law as :func:`unweight` (which clips negative weights) — exactly, for every θ, whatever the signs of the
weights; only rounding in :math:`w \le e` separates them.  The acceptance rate is
:math:`\sum_i \max(w_i, 0)/E(\theta) \ge \sigma(\theta)/E(\theta)`, known per θ without touching the events
(:meth:`EnvelopeSampler.acceptance`; per θ the basis with the larger rate is used).  It drops where the
morphing cancels (:math:`\sigma(\theta) \ll E(\theta)`); :func:`sample_events` then falls back to the inverse
CDF for that θ.  With ``negative="error"`` a negative weight must raise, which a rejection sampler cannot
detect (it looks at a few events): rejection is then used only if the weights are known to be ≥ 0 at every
θ, asserted (``nonnegative=True``) or proven (:meth:`EnvelopeSampler.nonnegative`: for quadratic morphing,
:math:`w_i(\theta) = (1, \theta)^{\top} Q_i (1, \theta)` is ≥ 0 for all θ iff :math:`Q_i` is positive
semi-definite, as for any LO |M|² and the toy).

Labels: ``y = 1`` for events from the numerator θ, ``y = 0`` from the reference, so the classifier logit is
:math:`\log\hat r(x|\theta) = \log p(x|\theta)/p(x|\theta_{\rm ref})` (MadMiner uses the opposite labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi.errors import SBIError
from nextsm.sbi.events import WeightedEvents
from nextsm.sbi.morphing import _as_theta

__all__ = [
    "EnvelopeSampler",
    "TrainingSet",
    "effective_sizes",
    "joint_quantities",
    "ratio_training_set",
    "sample_events",
    "score_training_set",
    "unweight",
    "weight_matrix",
    "weighted_ratio_set",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class TrainingSet:
    """Rows for the estimators (all arrays share the first dimension ``n``).

    Attributes
    ----------
    x:
        Observables ``(n, d)``.
    theta:
        Numerator θ of each row ``(n, p)`` (the reference for SALLY rows).
    y:
        1 for rows drawn from θ, 0 for rows from the reference.
    log_r_xz:
        :math:`\\log r(x,z|\\theta,\\theta_{\\rm ref})`, ``(n,)``.
    t_xz:
        :math:`t(x,z|\\theta)`, ``(n, p)``.
    sample_weight:
        Per-row weight (1 for unweighted sets), ``(n,)``.
    theta_ref:
        The reference hypothesis ``(p,)``.
    event:
        Index of the source event of every row ``(n,)`` (keyword-only), or ``None`` if unknown.  The
        augmented samplers reuse an event in many rows (at different θ, in both classes), so the training
        splits validation by these indices (:func:`~nextsm.sbi.training.train_member`); ``-1`` marks a row
        with no source event (each such row counts as its own event).
    """

    x: FloatArray
    theta: FloatArray
    y: FloatArray
    log_r_xz: FloatArray
    t_xz: FloatArray
    sample_weight: FloatArray
    theta_ref: FloatArray
    event: NDArray[np.int64] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.event is not None:
            event = np.asarray(self.event, dtype=np.int64)
            if event.shape != (len(self),):
                raise SBIError(f"parameter 'event' must have shape ({len(self)},), got {event.shape}")
            object.__setattr__(self, "event", event)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def resample(self, rng: np.random.Generator) -> TrainingSet:
        """A bootstrap replica (rows drawn with replacement), for ensemble members."""
        idx = rng.integers(0, len(self), len(self))
        return TrainingSet(self.x[idx], self.theta[idx], self.y[idx], self.log_r_xz[idx], self.t_xz[idx],
                           self.sample_weight[idx], self.theta_ref, event=_take(self.event, idx))


def _take(event: NDArray[np.int64] | None, idx: NDArray[np.int64]) -> NDArray[np.int64] | None:
    return None if event is None else event[idx]


def weight_matrix(events: WeightedEvents, theta: ArrayLike, *, chunk_size: int = 200_000) -> FloatArray:
    """:math:`W_{ji} = w_i(\\theta_j)` for all θ at once, ``(n_θ, N)`` (one matmul per event chunk)."""
    return events.weights(theta, chunk_size=chunk_size)


def effective_sizes(weights: ArrayLike) -> FloatArray:
    """Kish effective sample size :math:`(\\sum_i w_i)^2/\\sum_i w_i^2` per row of ``weights`` ``(n_θ, N)``."""
    w = np.clip(np.atleast_2d(np.asarray(weights, dtype=np.float64)), 0.0, None)
    return w.sum(axis=1) ** 2 / np.maximum((w**2).sum(axis=1), 1e-300)


def unweight(weights: ArrayLike, n_samples: int, rng: np.random.Generator, *, negative: str = "clip",
             theta_chunk: int = 64) -> NDArray[np.int64]:
    """Event indices ``(n_θ, n_samples)`` drawn with probability :math:`w_{ji}/\\sum_i w_{ji}` for every row j.

    Vectorised inverse CDF: the rows' normalised cumulative sums are offset by the row number and
    flattened, and one ``searchsorted`` of the equally offset uniforms serves ``theta_chunk`` rows at once.
    ``negative="clip"`` sets negative weights to zero (MadMiner's behaviour, biased for NLO samples),
    ``"error"`` raises :class:`~nextsm.sbi.errors.SBIError`.
    """
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if n_samples < 1:
        raise SBIError(f"parameter 'n_samples' must be >= 1, got {n_samples}")
    if negative not in ("clip", "error"):
        raise SBIError(f"parameter 'negative' must be 'clip' or 'error', got {negative!r}")
    if np.any(w < 0):
        if negative == "error":
            raise SBIError(f"parameter 'weights': {int((w < 0).sum())} negative weights (negative='error')")
        w = np.clip(w, 0.0, None)
    n_theta, n_events = w.shape
    out = np.empty((n_theta, n_samples), dtype=np.int64)
    for start in range(0, n_theta, theta_chunk):
        block = w[start:start + theta_chunk]
        cdf = np.cumsum(block, axis=1)
        total = cdf[:, -1:]
        if np.any(total <= 0):
            bad = start + int(np.argmax(total[:, 0] <= 0))
            raise SBIError(f"parameter 'weights': row {bad} has no positive weight")
        rows = np.arange(block.shape[0])[:, None]
        flat = (cdf / total + rows).ravel()
        u = rng.random((block.shape[0], n_samples)) + rows
        idx = np.searchsorted(flat, u.ravel(), side="right").reshape(block.shape[0], n_samples)
        out[start:start + block.shape[0]] = np.clip(idx - rows * n_events, 0, n_events - 1)
    return out


_METHODS = ("auto", "inverse-cdf", "rejection")
_BLOCK = 1 << 18  # candidates per vectorised rejection step (memory ~ 12 · 8 · _BLOCK · n_b bytes)
_COST_RATIO = 8.0  # cost of one rejection candidate / one event-θ of the inverse CDF (measured, order of magnitude)
_PSD_RTOL = 1e-10  # eigenvalues of Q_i down to -_PSD_RTOL · max|eigenvalue| count as rounding of zero


@dataclass(frozen=True)
class EnvelopeSampler:
    """Mixture-envelope rejection sampler of one event sample (module docstring).

    Build it once per sample with :meth:`from_events` (O(N n_b)), then :meth:`sample` any number of θ at
    O(n_samples / acceptance · (log N + n_b)) each.

    Attributes
    ----------
    events:
        The event sample.
    basis_weights:
        ``(N, 2 n_b)``: the benchmark weights :math:`w_{ib}` and the monomial-basis weights :math:`g_{ic}`.
    cumulative:
        ``(2 n_b, N)`` cumulative sums of :math:`|V_{ic}|` over events, one row per column c.
    totals:
        :math:`S_c`, ``(2 n_b,)``.
    last:
        Index of the last event with :math:`|V_{ic}| > 0` per column (guards bisection at u → 1).
    """

    events: WeightedEvents
    basis_weights: FloatArray
    cumulative: FloatArray
    totals: FloatArray
    last: NDArray[np.int64]

    @classmethod
    def from_events(cls, events: WeightedEvents) -> EnvelopeSampler:
        """Precompute the per-column cumulative sums (once per event sample)."""
        bw = np.asarray(events.benchmark_weights, dtype=np.float64)
        v = np.ascontiguousarray(np.hstack([bw, bw @ events.morphing.inverse.T]))
        cumulative = np.empty((v.shape[1], v.shape[0]))
        for start in range(0, v.shape[0], 16_384):  # blocked transpose (cache-friendly)
            np.abs(v[start:start + 16_384].T, out=cumulative[:, start:start + 16_384])
        np.cumsum(cumulative, axis=1, out=cumulative)
        totals = cumulative[:, -1].copy()
        last = np.array([np.searchsorted(row, tot, side="left") for row, tot in zip(cumulative, totals, strict=True)],
                        dtype=np.int64)
        return cls(events, v, cumulative, totals, np.minimum(last, len(events) - 1))

    def _coefficients(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(a (n_θ, 2 n_b), |a| masked to the better basis (n_θ, 2 n_b), acceptance (n_θ,))``."""
        m = self.events.morphing
        nb = m.n_benchmarks
        a = np.hstack([m.coefficients(theta), m.components(theta)])
        sigma = a[:, :nb] @ self.basis_weights[:, :nb].sum(axis=0)
        envelope = np.abs(a) * self.totals
        e_bench, e_comp = envelope[:, :nb].sum(axis=1), envelope[:, nb:].sum(axis=1)
        use_comp = e_comp <= e_bench
        masked = np.abs(a)
        masked[use_comp, :nb] = 0.0
        masked[~use_comp, nb:] = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = np.where(use_comp, sigma / e_comp, sigma / e_bench)
        return a, masked, np.clip(np.nan_to_num(acc, nan=0.0), 0.0, 1.0)

    def acceptance(self, theta: ArrayLike) -> FloatArray:
        """:math:`\\sigma(\\theta)/E(\\theta)` per θ in the better basis, ``(n_θ,)``.

        The exact acceptance rate where no weight at θ is negative, a lower bound otherwise.
        """
        return self._coefficients(_as_theta(theta, self.events.morphing.n_parameters))[2]

    def nonnegative(self) -> bool | None:
        """Whether every event weight is ≥ 0 at every θ ∈ ℝ^p (``None``: undecided, morphing beyond degree 2).

        Degree 1: the weights are constant in θ.  Degree 2: :math:`Q_i` (the quadratic form of
        :math:`w_i` in :math:`(1, \\theta)`) is positive semi-definite for every event, to a relative tolerance
        of ``1e-10`` on its eigenvalues (the basis change :math:`M^{-1}` leaves rounding-level noise).
        """
        m = self.events.morphing
        nb, p = m.n_benchmarks, m.n_parameters
        g = self.basis_weights[:, nb:]
        if m.max_power == 1:
            return bool(np.all(g[:, 0] >= 0) and np.all(g[:, 1:] == 0))
        if m.max_power != 2:
            return None
        q = np.zeros((g.shape[0], p + 1, p + 1))
        for c, k in enumerate(m.exponents):
            nz = np.flatnonzero(k)
            if k.sum() == 0:
                q[:, 0, 0] += g[:, c]
            elif k.sum() == 1:
                q[:, 0, nz[0] + 1] += 0.5 * g[:, c]
                q[:, nz[0] + 1, 0] += 0.5 * g[:, c]
            elif nz.size == 1:
                q[:, nz[0] + 1, nz[0] + 1] += g[:, c]
            else:
                q[:, nz[0] + 1, nz[1] + 1] += 0.5 * g[:, c]
                q[:, nz[1] + 1, nz[0] + 1] += 0.5 * g[:, c]
        eig = np.linalg.eigvalsh(q)
        return bool(np.all(eig[:, 0] >= -_PSD_RTOL * np.abs(eig).max(axis=1)))

    def sample(self, theta: ArrayLike, n_samples: int, rng: np.random.Generator, *,
               negative: str = "clip") -> NDArray[np.int64]:
        """Event indices ``(n_θ, n_samples)`` drawn with probability :math:`\\max(w_i(\\theta_j), 0)/\\sum_k \\max(w_k, 0)`.

        Every θ by rejection (:func:`sample_events` chooses between this and the inverse CDF).  With
        ``negative="error"`` an accepted-or-not candidate with a negative weight raises
        :class:`~nextsm.sbi.errors.SBIError` (a check, not a proof: see the module docstring).
        """
        th = _as_theta(theta, self.events.morphing.n_parameters)
        _check_sampling_args(n_samples, negative)
        a, masked, acc = self._coefficients(th)
        if np.any(acc <= 0):
            bad = int(np.argmax(acc <= 0))
            raise SBIError(f"parameter 'theta': row {bad} has no positive total weight, rejection is impossible")
        out = np.empty((th.shape[0], n_samples), dtype=np.int64)
        filled = np.zeros(th.shape[0], dtype=np.int64)
        mix = np.cumsum(masked * self.totals, axis=1)
        last_col = mix.shape[1] - 1 - np.argmax((masked * self.totals)[:, ::-1] > 0, axis=1)
        while True:
            active = np.flatnonzero(filled < n_samples)
            if active.size == 0:
                return out
            # enough candidates for ~105 % of the missing rows; rows of similar count share one padded block
            m = np.minimum(np.ceil((n_samples - filled[active]) / acc[active] * 1.05 + 4).astype(np.int64), _BLOCK)
            order = np.argsort(m, kind="stable")
            active, m = active[order], m[order]
            start = 0
            while start < active.size:
                fits = (np.arange(1, active.size - start + 1) * m[start:]) <= _BLOCK
                stop = start + max(1, int(fits.sum()))
                self._step(active[start:stop], int(m[stop - 1]), a, masked, mix, last_col, out, filled, rng,
                           negative)
                start = stop

    def _step(self, rows: NDArray[np.int64], n_cand: int, a: FloatArray, masked: FloatArray, mix: FloatArray,
              last_col: NDArray[np.int64], out: NDArray[np.int64], filled: NDArray[np.int64],
              rng: np.random.Generator, negative: str) -> None:
        """``n_cand`` candidates for each θ row of ``rows``; the first accepted ones fill ``out`` (in draw order)."""
        nb = self.events.morphing.n_benchmarks
        u = rng.random((3, rows.size, n_cand))
        cum = mix[rows]
        col = (cum[:, None, :] <= (u[0] * cum[:, -1:])[:, :, None]).sum(axis=2)
        col = np.minimum(col, last_col[rows][:, None]).ravel()
        # bisection per mixture component, with the candidates grouped by component and their uniforms sorted
        # (sorted keys keep the bisection paths in cache: 8x faster at N = 1e6)
        by_col = np.argsort(col.astype(np.int16), kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(col, minlength=mix.shape[1]))])
        keys = u[1].ravel()
        idx = np.empty(col.size, dtype=np.int64)
        for c in np.flatnonzero(np.diff(bounds)):
            members = by_col[bounds[c]:bounds[c + 1]]
            members = members[np.argsort(keys[members])]
            idx[members] = np.minimum(np.searchsorted(self.cumulative[c], keys[members] * self.totals[c],
                                                      side="right"), self.last[c])
        idx = idx.reshape(rows.size, n_cand)
        v = self.basis_weights[idx]
        w = (v[..., :nb] @ a[rows, :nb, None])[..., 0]
        if negative == "error" and np.any(w < 0):
            raise SBIError(f"parameter 'theta': event {int(idx[w < 0][0])} has a negative weight (negative='error')")
        e = (np.abs(v) @ masked[rows, :, None])[..., 0]
        accepted = u[2] * e < w
        rank = np.cumsum(accepted, axis=1) - 1
        need = out.shape[1] - filled[rows]
        r, j = np.nonzero(accepted & (rank < need[:, None]))
        out[rows[r], filled[rows[r]] + rank[r, j]] = idx[r, j]
        filled[rows] += np.minimum(accepted.sum(axis=1), need)


def _check_sampling_args(n_samples: int, negative: str) -> None:
    if n_samples < 1:
        raise SBIError(f"parameter 'n_samples' must be >= 1, got {n_samples}")
    if negative not in ("clip", "error"):
        raise SBIError(f"parameter 'negative' must be 'clip' or 'error', got {negative!r}")


def sample_events(events: WeightedEvents, theta: ArrayLike, n_samples: int, rng: np.random.Generator, *,
                  method: str = "auto", min_acceptance: float | None = None, negative: str = "clip",
                  nonnegative: bool | None = None, sampler: EnvelopeSampler | None = None, theta_chunk: int = 64,
                  chunk_size: int = 200_000) -> NDArray[np.int64]:
    """Event indices ``(n_θ, n_samples)``, row j drawn with probability :math:`\\max(w_i(\\theta_j), 0)/\\sum_k \\max(w_k, 0)`.

    ``method="inverse-cdf"``: :func:`unweight` on the weight matrix, built ``theta_chunk`` rows at a time
    (O(N n_b) per θ).  ``"rejection"``: :meth:`EnvelopeSampler.sample` for every θ.  ``"auto"``: rejection
    for the θ whose acceptance (:meth:`EnvelopeSampler.acceptance`) is at least ``min_acceptance``, the
    inverse CDF for the others.  The default ``min_acceptance=None`` compares the costs: rejection where
    ``n_samples / acceptance < 8 N`` (a candidate costs about 8 event-θ of the inverse CDF), and never below an
    acceptance of 0.01.  All methods draw from the same distribution, not the same random stream; the draws
    do not depend on ``theta_chunk``.

    ``negative="clip"`` (negative weights count as zero, as in :func:`unweight`) allows rejection for every θ.
    ``negative="error"`` must raise :class:`~nextsm.sbi.errors.SBIError` if any weight at a θ is negative, so
    rejection is used only when ``nonnegative`` is true; ``None`` asks :meth:`EnvelopeSampler.nonnegative`
    (exact for quadratic morphing).  Pass ``nonnegative=True`` only if the simulator guarantees
    :math:`w_i(\\theta) \\ge 0` for all θ (LO |M|², the toy).  ``sampler`` reuses precomputed tables.
    """
    m = events.morphing
    th = _as_theta(theta, m.n_parameters)
    _check_sampling_args(n_samples, negative)
    if method not in _METHODS:
        raise SBIError(f"parameter 'method' must be one of {', '.join(map(repr, _METHODS))}, got {method!r}")
    if theta_chunk < 1:
        raise SBIError(f"parameter 'theta_chunk' must be >= 1, got {theta_chunk}")
    use = np.zeros(th.shape[0], dtype=bool)
    if method != "inverse-cdf":
        sampler = sampler if sampler is not None else EnvelopeSampler.from_events(events)
        if negative == "error" and nonnegative is None:
            nonnegative = sampler.nonnegative()
        if negative == "error" and not nonnegative:
            if method == "rejection":
                raise SBIError("method='rejection' with negative='error' needs weights known to be >= 0 at every θ "
                               "(nonnegative=True); use method='auto' or 'inverse-cdf'")
        elif method == "rejection":
            use[:] = True
        else:
            threshold = (max(0.01, n_samples / (_COST_RATIO * len(events))) if min_acceptance is None
                         else float(min_acceptance))
            use = sampler.acceptance(th) >= threshold
    out = np.empty((th.shape[0], n_samples), dtype=np.int64)
    if use.any():
        assert sampler is not None
        out[use] = sampler.sample(th[use], n_samples, rng, negative=negative)
    rest = np.flatnonzero(~use)
    for start in range(0, rest.size, theta_chunk):
        block = rest[start:start + theta_chunk]
        out[block] = unweight(weight_matrix(events, th[block], chunk_size=chunk_size), n_samples, rng,
                              negative=negative)
    return out


def joint_quantities(events: WeightedEvents, index: ArrayLike, theta: ArrayLike,
                     theta_ref: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Joint log ratio and joint score of events ``index`` ``(n,)`` at row-wise θ ``(n, p)``.

    Returns ``(log_r_xz (n,), t_xz (n, p))`` from the benchmark weights via morphing.
    """
    idx = np.asarray(index, dtype=np.int64)
    m = events.morphing
    th = _as_theta(theta, m.n_parameters)
    ref = _as_theta(theta_ref, m.n_parameters)
    if th.shape[0] != idx.shape[0]:
        raise SBIError(f"parameter 'theta' has {th.shape[0]} rows for {idx.shape[0]} events")
    return _joint(events, idx, m.coefficients(th), m.coefficient_gradients(th), ref)


def _joint(events: WeightedEvents, idx: NDArray[np.int64], coeff: FloatArray, coeff_grad: FloatArray,
           ref: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:func:`joint_quantities` from row-wise morphing coefficients ``(n, n_b)`` and gradients ``(n, p, n_b)``."""
    m = events.morphing
    bw = events.benchmark_weights[idx]
    sigma_tot = events.benchmark_weights.sum(axis=0)
    w_theta = np.einsum("nb,nb->n", coeff, bw)
    grad_w = np.einsum("npb,nb->np", coeff_grad, bw)
    sigma = coeff @ sigma_tot
    grad_sigma = coeff_grad @ sigma_tot
    c_ref = m.coefficients(ref)[0]
    w_ref = bw @ c_ref
    sigma_ref = float(c_ref @ sigma_tot)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.log(w_theta / sigma) - np.log(w_ref / sigma_ref)
        t = grad_w / w_theta[:, None] - grad_sigma / sigma[:, None]
    return log_r, t


def _rows(events: WeightedEvents, idx: NDArray[np.int64], theta: FloatArray, theta_ref: FloatArray,
          y: float, weight: FloatArray | None = None, *, per_theta: int = 0) -> TrainingSet:
    """Training rows; with ``per_theta > 0`` ``theta`` holds one point per block of ``per_theta`` rows and the
    morphing coefficients are computed once per point (not once per row)."""
    m = events.morphing
    if per_theta:
        coeff = np.repeat(m.coefficients(theta), per_theta, axis=0)
        coeff_grad = np.repeat(m.coefficient_gradients(theta), per_theta, axis=0)
        theta = np.repeat(theta, per_theta, axis=0)
    else:
        coeff, coeff_grad = m.coefficients(theta), m.coefficient_gradients(theta)
    log_r, t = _joint(events, idx, coeff, coeff_grad, _as_theta(theta_ref, m.n_parameters))
    n = idx.shape[0]
    return TrainingSet(events.x[idx], theta, np.full(n, y), log_r, t,
                       np.ones(n) if weight is None else weight, theta_ref, event=idx.astype(np.int64))


def _concat(parts: list[TrainingSet]) -> TrainingSet:
    """Rows of ``parts`` in order; event indices kept if any part has them (``-1`` for the others)."""
    event = None
    if any(p.event is not None for p in parts):
        event = np.concatenate([np.full(len(p), -1, dtype=np.int64) if p.event is None else p.event for p in parts])
    x, theta, y, log_r_xz, t_xz, sample_weight = (np.concatenate([getattr(p, f) for p in parts]) for f in
                                                  ("x", "theta", "y", "log_r_xz", "t_xz", "sample_weight"))
    return TrainingSet(x, theta, y, log_r_xz, t_xz, sample_weight, parts[0].theta_ref, event=event)


def ratio_training_set(events: WeightedEvents, theta: ArrayLike, n_per_theta: int, rng: np.random.Generator,
                       *, theta_ref: ArrayLike | None = None, chunk_size: int = 200_000,
                       theta_chunk: int = 64, method: str = "auto",
                       min_acceptance: float | None = None) -> TrainingSet:
    """Unweighted rows for CARL/ALICE/ALICES/CASCAL/RASCAL (MadMiner's ``sample_train_ratio``).

    For each θ_j of ``theta`` ``(n_θ, p)``: ``n_per_theta`` events drawn from p(x|θ_j) (``y = 1``) and as many
    from p(x|θ_ref) paired with θ_j (``y = 0``); all θ are unweighted in one vectorised pass by
    :func:`sample_events` (``method``, ``min_acceptance``: rejection where it is cheaper, else the inverse
    CDF).  The inverse CDF builds the weight matrix ``theta_chunk`` rows at a time (memory
    ``8 · theta_chunk · N`` bytes, not ``8 · n_θ · N``: 10⁴ θ at 10⁶ events would need 80 GB at once); the
    draws do not depend on ``theta_chunk``.  ``event`` holds the source event of every row (both classes):
    an event is typically reused in many rows, which the training's event-level validation split respects.
    """
    m = events.morphing
    th = _as_theta(theta, m.n_parameters)
    ref = np.zeros(m.n_parameters) if theta_ref is None else _as_theta(theta_ref, m.n_parameters)[0]
    if theta_chunk < 1:
        raise SBIError(f"parameter 'theta_chunk' must be >= 1, got {theta_chunk}")
    sampler = None if method == "inverse-cdf" else EnvelopeSampler.from_events(events)
    num = sample_events(events, th, n_per_theta, rng, method=method, min_acceptance=min_acceptance,
                        sampler=sampler, theta_chunk=theta_chunk, chunk_size=chunk_size)
    den = sample_events(events, ref[None, :], th.shape[0] * n_per_theta, rng, method=method,
                        min_acceptance=min_acceptance, sampler=sampler, theta_chunk=theta_chunk,
                        chunk_size=chunk_size)
    return _concat([_rows(events, num.ravel(), th, ref, 1.0, per_theta=n_per_theta),
                    _rows(events, den.ravel(), th, ref, 0.0, per_theta=n_per_theta)])


def score_training_set(events: WeightedEvents, n_samples: int, rng: np.random.Generator, *,
                       theta_ref: ArrayLike | None = None, method: str = "auto") -> TrainingSet:
    """Unweighted rows from p(x|θ_ref) with the joint score at θ_ref (SALLY; MadMiner's ``sample_train_local``).

    ``event`` holds the source event of every row; with ``n_samples`` comparable to the number of events
    (or larger) events repeat, and the training's event-level validation split keeps the repeats together.
    """
    m = events.morphing
    ref = np.zeros(m.n_parameters) if theta_ref is None else _as_theta(theta_ref, m.n_parameters)[0]
    idx = sample_events(events, ref[None, :], n_samples, rng, method=method)[0]
    return _rows(events, idx, np.repeat(ref[None, :], n_samples, axis=0), ref, 0.0)


def weighted_ratio_set(events: WeightedEvents, theta: ArrayLike, *, theta_ref: ArrayLike | None = None) -> TrainingSet:
    """Weighted rows: event i at θ_i (``theta`` ``(N, p)``, one draw per event) in both classes.

    Class 1 carries :math:`N w_i(\\theta_i)/\\sigma(\\theta_i)`, class 0 :math:`N w_i(\\theta_{\\rm ref})/\\sigma(\\theta_{\\rm ref})`;
    the weighted cross-entropy is then an unbiased estimate of the one on unweighted samples.  Every event is
    in two rows (``event`` = its index in both).
    """
    m = events.morphing
    n = len(events)
    th = _as_theta(theta, m.n_parameters)
    if th.shape[0] != n:
        raise SBIError(f"parameter 'theta' must have one row per event ({n}), got {th.shape[0]}")
    ref = np.zeros(m.n_parameters) if theta_ref is None else _as_theta(theta_ref, m.n_parameters)[0]
    idx = np.arange(n)
    sigma_tot = events.benchmark_weights.sum(axis=0)
    w1 = np.einsum("nb,nb->n", m.coefficients(th), events.benchmark_weights) / (m.coefficients(th) @ sigma_tot)
    c_ref = m.coefficients(ref)[0]
    w0 = events.benchmark_weights @ c_ref / float(c_ref @ sigma_tot)
    return _concat([_rows(events, idx, th, ref, 1.0, n * np.clip(w1, 0, None)),
                    _rows(events, idx, th, ref, 0.0, n * np.clip(w0, 0, None))])

