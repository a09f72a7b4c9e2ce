r"""Fits, test statistics, asymptotic CLs and upper limits for any :class:`StatisticalModel`.

Everything here is vectorised over a batch of ``H`` signal hypotheses: a model's
:meth:`~nextsm.likelihoods.base.StatisticalModel.nll` is called with a vector of μ values, one per
hypothesis, so a closed-form backend evaluates a whole batch in one numpy call.

Test statistic (Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727, eq. 62), with μ̂ restricted to
μ̂ ≥ 0 (the fit bounds start at 0):

.. math::

    \tilde q_\mu = \begin{cases} 2\,[\mathrm{NLL}(\mu) - \mathrm{NLL}(\hat\mu)] & \hat\mu \le \mu \\
                                 0 & \hat\mu > \mu \end{cases}

Asymptotic CLs (ibid. eq. 66, the convention of pyhf and spey): with
:math:`\tilde q_{\mu,A}` evaluated on the background-only Asimov data of the same data set,

.. math::

    \Delta = \begin{cases} \sqrt{q} - \sqrt{q_A} & \sqrt q \le \sqrt{q_A} \\
                           (q - q_A) / (2\sqrt{q_A}) & \text{otherwise} \end{cases},\qquad
    p_{s+b} = \Phi(-\sqrt{q_A} - \Delta),\quad p_b = \Phi(-\Delta),\quad
    \mathrm{CL}_s = p_{s+b}/p_b .

Expected CLs at ``nsigma`` standard deviations of the background-only distribution:
:math:`\mathrm{CL}_s = \Phi(-\sqrt{q_A} - n_\sigma)/\Phi(-n_\sigma)` (median: ``nsigma = 0``).

Expectation types follow spey's ``ExpectationType``:

* ``"observed"``: fit and test the observed data; observed CLs.
* ``"apriori"``: data := pre-fit background expectation; expected CLs (the usual "expected limit").
* ``"aposteriori"``: fit the observed data; expected CLs from the post-fit Asimov data.

Unlike spey, which returns ``1 - CLs`` from ``exclusion_confidence_level``, :func:`cls` returns CLs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, ParamSpec, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_ndtr

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.base import DataKind, FitResult, as_mu_batch, as_signal_batch

if TYPE_CHECKING:
    from nextsm.likelihoods.base import StatisticalModel

__all__ = [
    "Expectation",
    "cls",
    "minimize_mu",
    "qmu_tilde",
    "twice_delta_nll",
    "upper_limit",
]

Expectation = Literal["observed", "apriori", "aposteriori"]
_EXPECTATIONS: tuple[Expectation, ...] = ("observed", "apriori", "aposteriori")

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0
#: relative μ tolerance of the bounded minimisation (the profiled NLL is flat to second order
#: there, so the NLL itself is exact to ~tol²)
_FIT_XTOL = 1e-10
_MU_CEILING = 1e12
#: points per call of the single-hypothesis zoom of :func:`minimize_mu`
_ZOOM_POINTS = 33


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _in_scope(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``function(model, ...)`` inside ``model.evaluation_scope()`` (one backend set-up for all its NLL calls)."""

    @functools.wraps(function)
    def scoped(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        model = args[0] if args else kwargs["model"]
        with model.evaluation_scope():  # type: ignore[attr-defined]
            return function(*args, **kwargs)

    return scoped


def _data_for(expected: Expectation) -> DataKind:
    if expected not in _EXPECTATIONS:
        raise LikelihoodError(f"parameter 'expected' must be one of {_EXPECTATIONS}, got {expected!r}")
    return "apriori" if expected == "apriori" else "observed"


@_in_scope
def minimize_mu(
    model: StatisticalModel,
    signal: ArrayLike,
    *,
    data: DataKind = "observed",
    mu_bounds: tuple[float, float | None] = (0.0, None),
    xtol: float = _FIT_XTOL,
    hi_start: ArrayLike | None = None,
) -> FitResult:
    """Bounded minimisation of the profiled NLL in μ, for all hypotheses at once.

    A search for the minimum of a unimodal function on ``[lo, hi]`` followed by a comparison with both end
    points, which is exact for the convex profiled NLLs of Poisson models with linear signal dependence. If the
    upper bound is ``None`` it is found per hypothesis: starting from 10, it is multiplied by 4 while the NLL
    still decreases there (up to 1e12).

    For a batch of hypotheses the search is a golden-section search (one NLL call per iteration, ~50 calls).
    For a single hypothesis (the walker's case) it is a batched zoom: the NLL is evaluated on
    :data:`_ZOOM_POINTS` equidistant points in one call and the bracket shrinks to the two neighbours of the
    best one, a factor (points − 1)/2 per call, so ~9 calls reach the same tolerance.

    Parameters
    ----------
    model:
        Any statistical model.
    signal:
        Signal yields at μ = 1, shape ``(H, n_regions)`` or ``(n_regions,)``.
    data:
        ``"observed"`` or ``"apriori"``.
    mu_bounds:
        ``(lo, hi)``; ``hi=None`` means "find it".
    xtol:
        Absolute tolerance on μ relative to the size of the bracket.
    hi_start:
        First trial upper bound (above ``lo``) when ``hi=None``, a scalar or one per hypothesis; default 10.
        A model whose fits are slow far beyond the data's sensitivity passes the scale of μ it expects.
    """
    sig = as_signal_batch(signal, model.n_regions)
    n_hyp = sig.shape[0]
    lo_bound, hi_bound = mu_bounds
    if hi_bound is not None and not hi_bound > lo_bound:
        raise LikelihoodError(f"parameter 'mu_bounds' must have lo < hi, got {mu_bounds}")

    def f(mu: NDArray[np.float64]) -> NDArray[np.float64]:
        return model.nll(mu, sig, data=data)

    lo = np.full(n_hyp, float(lo_bound))
    if hi_bound is None:
        if hi_start is None:
            hi = np.maximum(lo + 10.0, 10.0)
        else:
            hi = lo + as_mu_batch(hi_start, n_hyp, name="hi_start", finite=False)
            if not np.all(hi > lo):
                raise LikelihoodError("parameter 'hi_start' must be positive")
        f_hi, f_in = _pair(model, sig, data, hi, lo + 0.9 * (hi - lo))
        grow = f_hi < f_in
        while np.any(grow):
            hi[grow] = lo[grow] + 4.0 * (hi[grow] - lo[grow])
            grow &= hi < _MU_CEILING
            if not np.any(grow):
                break
            f_hi, f_in = _pair(model, sig, data, hi, lo + 0.9 * (hi - lo))
            grow &= f_hi < f_in
    else:
        hi = np.full(n_hyp, float(hi_bound))
    if n_hyp == 1:
        return _zoom_minimum(model, sig, data, float(lo[0]), float(hi[0]), xtol)
    a, b = lo.copy(), hi.copy()
    c = b - _GOLDEN * (b - a)
    d = a + _GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    n_iter = int(np.ceil(np.log(xtol) / np.log(_GOLDEN)))
    for _ in range(n_iter):
        left = fc < fd
        # minimum in [a, d] where f(c) < f(d), else in [c, b]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new_c = b - _GOLDEN * (b - a)
        new_d = a + _GOLDEN * (b - a)
        c_next = np.where(left, new_c, d)
        d_next = np.where(left, c, new_d)
        probe = np.where(left, c_next, d_next)
        f_probe = f(probe)
        fc, fd = np.where(left, f_probe, fd), np.where(left, fc, f_probe)
        c, d = c_next, d_next
    mid = 0.5 * (a + b)
    candidates = np.stack([mid, lo, hi])
    values = np.stack([f(mid), f(lo), f(hi)])
    best = np.argmin(values, axis=0)
    cols = np.arange(n_hyp)
    return FitResult(muhat=candidates[best, cols], nll_min=values[best, cols])


def _pair(model: StatisticalModel, sig: NDArray[np.float64], data: DataKind, mu_a: NDArray[np.float64],
          mu_b: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """NLL at two μ vectors; one call for a single hypothesis."""
    if sig.shape[0] == 1:
        both = model.nll(np.concatenate([mu_a, mu_b]), np.repeat(sig, 2, axis=0), data=data)
        return both[:1], both[1:]
    return model.nll(mu_a, sig, data=data), model.nll(mu_b, sig, data=data)


def _zoom_minimum(model: StatisticalModel, sig: NDArray[np.float64], data: DataKind, lo: float, hi: float,
                  xtol: float) -> FitResult:
    """Minimum of a unimodal NLL on [lo, hi] for one hypothesis by batched zooming (see :func:`minimize_mu`)."""
    n = _ZOOM_POINTS
    rows = np.repeat(sig, n, axis=0)
    a, b = lo, hi
    best_mu, best = lo, math.inf
    while True:
        grid = np.linspace(a, b, n)
        values = model.nll(grid, rows, data=data)
        i = int(np.argmin(values))
        if values[i] < best:
            best_mu, best = float(grid[i]), float(values[i])
        a, b = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, n - 1)])
        if b - a <= xtol * (hi - lo) or not math.isfinite(values[i]):
            break
    return FitResult(muhat=np.array([best_mu]), nll_min=np.array([best]))


@_in_scope
def twice_delta_nll(
    model: StatisticalModel,
    mu: ArrayLike,
    signal: ArrayLike,
    *,
    data: DataKind = "observed",
    reference: Literal["zero", "max"] = "zero",
    mu_bounds: tuple[float, float | None] = (0.0, None),
) -> NDArray[np.float64]:
    r"""``-2 ln L(μ)/L(μ_ref)`` with μ_ref = 0 (``"zero"``, the surrogate label) or μ̂ (``"max"``)."""
    sig = as_signal_batch(signal, model.n_regions)
    mu_v = as_mu_batch(mu, sig.shape[0], finite=False)
    nll_mu = model.nll(mu_v, sig, data=data)
    if reference == "zero":
        nll_ref = model.nll(np.zeros_like(mu_v), sig, data=data)
    elif reference == "max":
        nll_ref = model.fit(sig, data=data, mu_bounds=mu_bounds).nll_min
    else:
        raise LikelihoodError(f"parameter 'reference' must be 'zero' or 'max', got {reference!r}")
    return 2.0 * (nll_mu - nll_ref)


def _qtilde(
    nll_mu: NDArray[np.float64], fit: FitResult, mu: NDArray[np.float64]
) -> NDArray[np.float64]:
    q = 2.0 * (nll_mu - fit.nll_min)
    return np.where(fit.muhat > mu, 0.0, np.clip(q, 0.0, None))


@_in_scope
def qmu_tilde(
    model: StatisticalModel,
    mu: ArrayLike,
    signal: ArrayLike,
    *,
    data: DataKind = "observed",
    fit: FitResult | None = None,
) -> NDArray[np.float64]:
    r"""The test statistic :math:`\tilde q_\mu` (module docstring), shape ``(H,)``."""
    sig = as_signal_batch(signal, model.n_regions)
    mu_v = as_mu_batch(mu, sig.shape[0], finite=False)
    if fit is None:
        fit = model.fit(sig, data=data, mu_bounds=(0.0, None))
    return _qtilde(model.nll(mu_v, sig, data=data), fit, mu_v)


def _cls_from_q(q: NDArray[np.float64], q_a: NDArray[np.float64]) -> NDArray[np.float64]:
    sqrt_q, sqrt_qa = np.sqrt(q), np.sqrt(q_a)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(sqrt_q <= sqrt_qa, sqrt_q - sqrt_qa, (q - q_a) / (2.0 * sqrt_qa))
        log_cls = log_ndtr(-sqrt_qa - delta) - log_ndtr(-delta)
    # q_A = 0: the data cannot tell μ from 0, nothing is excluded
    return np.where(q_a > 0.0, np.exp(np.minimum(np.nan_to_num(log_cls, nan=0.0), 0.0)), 1.0)


def _expected_cls(q_a: NDArray[np.float64], nsigma: float) -> NDArray[np.float64]:
    return np.exp(np.minimum(log_ndtr(-np.sqrt(q_a) - nsigma) - log_ndtr(-nsigma), 0.0))


class _CLsCalculator:
    """Caches the two fits (data and Asimov data) that every CLs evaluation of a batch needs."""

    def __init__(self, model: StatisticalModel, signal: NDArray[np.float64], expected: Expectation,
                 nsigma: float) -> None:
        self.model = model
        self.signal = signal
        self.expected = expected
        self.nsigma = float(nsigma)
        self.data = _data_for(expected)
        self.asimov_model = model.asimov(self.data)
        self.fit_asimov = self.asimov_model.fit(signal, data=self.data, mu_bounds=(0.0, None))
        self.fit_data = (model.fit(signal, data=self.data, mu_bounds=(0.0, None))
                         if expected == "observed" else None)

    def __call__(self, mu: NDArray[np.float64]) -> NDArray[np.float64]:
        q_a = _qtilde(self.asimov_model.nll(mu, self.signal, data=self.data), self.fit_asimov, mu)
        if self.expected != "observed":
            return _expected_cls(q_a, self.nsigma)
        assert self.fit_data is not None
        q = _qtilde(self.model.nll(mu, self.signal, data=self.data), self.fit_data, mu)
        return _cls_from_q(q, q_a)


@_in_scope
def cls(
    model: StatisticalModel,
    mu: ArrayLike,
    signal: ArrayLike,
    *,
    expected: Expectation = "observed",
    nsigma: float = 0.0,
) -> NDArray[np.float64]:
    """Asymptotic CLs of the hypothesis μ (module docstring), shape ``(H,)``.

    ``nsigma`` selects the point of the expected band for ``expected != "observed"``
    (0 = median, ±1, ±2).  Returns CLs, not ``1 - CLs``.
    """
    sig = as_signal_batch(signal, model.n_regions)
    mu_v = as_mu_batch(mu, sig.shape[0], finite=False)
    return _CLsCalculator(model, sig, expected, nsigma)(mu_v)


@_in_scope
def upper_limit(
    model: StatisticalModel,
    signal: ArrayLike,
    *,
    expected: Expectation = "observed",
    cl: float = 0.95,
    nsigma: float = 0.0,
    rtol: float = 1e-6,
    max_iter: int = 100,
) -> NDArray[np.float64]:
    r"""CLs upper limit on μ at confidence level ``cl``: the root of CLs(μ) = 1 − cl, per hypothesis.

    The root is bracketed by factors of 2 around μ = 1 and then found by the Illinois variant of
    regula falsi on ln CLs(ln μ), vectorised over the batch (only unconverged rows are
    re-evaluated).  Hypotheses whose limit lies beyond 1e12 (no sensitivity) get ``inf``.
    """
    if not 0.0 < cl < 1.0:
        raise LikelihoodError(f"parameter 'cl' must lie in (0, 1), got {cl}")
    sig = as_signal_batch(signal, model.n_regions)
    n_hyp = sig.shape[0]
    calc = _CLsCalculator(model, sig, expected, nsigma)
    log_alpha = np.log1p(-cl)

    def g(log_mu: NDArray[np.float64]) -> NDArray[np.float64]:
        # models may hold per-hypothesis parameters, so the whole batch is always evaluated
        with np.errstate(divide="ignore"):
            return np.log(calc(np.exp(log_mu))) - log_alpha

    # bracket: g(lo) > 0 > g(hi), lo and hi a factor 2 apart
    x = np.zeros(n_hyp)
    gx = g(x)
    step = np.where(gx > 0, np.log(2.0), -np.log(2.0))
    x_other = x + step
    g_other = g(x_other)
    todo = np.sign(g_other) == np.sign(gx)
    limit = np.log(_MU_CEILING)
    while np.any(todo):
        x = np.where(todo, x_other, x)
        gx = np.where(todo, g_other, gx)
        x_other = np.where(todo, x_other + step, x_other)
        g_other = np.where(todo, g(x_other), g_other)
        todo &= (np.sign(g_other) == np.sign(gx)) & (np.abs(x_other) < limit)
    lo = np.where(gx > 0, x, x_other)
    hi = np.where(gx > 0, x_other, x)
    g_lo = np.where(gx > 0, gx, g_other)
    g_hi = np.where(gx > 0, g_other, gx)
    no_root = ~((g_lo > 0) & (g_hi <= 0))
    result = np.full(n_hyp, np.nan)
    active = ~no_root
    side = np.zeros(n_hyp, dtype=int)
    tol = np.log1p(rtol)
    for _ in range(max_iter):
        if not np.any(active):
            break
        denom = g_lo - g_hi
        safe = active & (denom > 0)
        x_new = np.where(safe, (lo * (-g_hi) + hi * g_lo) / np.where(safe, denom, 1.0), 0.5 * (lo + hi))
        x_new = np.clip(x_new, lo, hi)
        g_new = g(x_new)
        pos = active & (g_new > 0)
        neg = active & ~(g_new > 0)
        # Illinois: halve the value kept on the side that stayed put twice in a row
        g_hi = np.where(pos & (side == 1), 0.5 * g_hi, g_hi)
        g_lo = np.where(neg & (side == -1), 0.5 * g_lo, g_lo)
        lo, g_lo = np.where(pos, x_new, lo), np.where(pos, g_new, g_lo)
        hi, g_hi = np.where(neg, x_new, hi), np.where(neg, g_new, g_hi)
        side = np.where(pos, 1, np.where(neg, -1, side))
        exact = active & (np.abs(g_new) < 1e-12)
        narrow = active & ~exact & (hi - lo < tol)
        result[exact] = np.exp(x_new[exact])
        result[narrow] = np.exp(0.5 * (lo[narrow] + hi[narrow]))
        active &= ~(exact | narrow)
    unfinished = active
    result[unfinished] = np.exp(0.5 * (lo[unfinished] + hi[unfinished]))
    beyond = no_root & (g_hi > 0)
    result[beyond] = np.inf
    result[no_root & ~beyond] = 0.0
    return result
