r"""Many profile fits of one pyhf model at once: a vectorised quasi-Newton solver in JAX (extra ``jax``).

Surrogate training sets need :math:`-\ln L(\mu = 1, s_h)` with every nuisance parameter profiled for
10⁴–10⁵ signal hypotheses :math:`s_h` of the *same* workspace.  One SLSQP fit per hypothesis
(:class:`~nextsm.likelihoods.histfactory.HistFactoryModel`) spends most of its time in per-call overhead:
0.6–2.3 s per fit on the workspaces with 100–200 nuisance parameters.  Here all hypotheses of a chunk are
fitted together by one compiled program (``jax.vmap`` of the solver below), and only the hypotheses it does
not bring to convergence are fitted again by SLSQP.

Solver (per hypothesis, on the free nuisance parameters :math:`\theta` with box bounds :math:`[l, u]`)
-------------------------------------------------------------------------------------------------------
Start at the background-only optimum :math:`\hat\theta_0` of the same data, with the inverse Hessian
:math:`B_0 = H(\hat\theta_0)^{-1}` of the background-only fit (exact, by automatic differentiation, computed
once and shared by all hypotheses).  Iterate a fixed number of times:

* active set :math:`A = \{i : \theta_i \le l_i, g_i > 0\} \cup \{i : \theta_i \ge u_i, g_i < 0\}`;
  the projected gradient :math:`\tilde g` is :math:`g` with the entries in :math:`A` set to zero;
* direction :math:`p = -B\tilde g` (zero on :math:`A`);
* step: the best of :math:`\Pi(\theta + \alpha p)` for :math:`\alpha \in \{1, 0.5, 0.2, 0.05\}` (Π: clipping
  to the box), evaluated together; kept only if it lowers the NLL;
* BFGS update of :math:`B` with :math:`s = \Delta\theta`, :math:`y = \Delta g` when :math:`s\cdot y > 0`
  (Nocedal & Wright, *Numerical Optimization*, 2nd ed., eq. 6.17).

Convergence is judged at the end by the Newton decrement :math:`\tilde g^{T} B \tilde g` (twice the predicted
remaining decrease of the NLL): a hypothesis with a decrement above ``tolerance`` (default 10⁻⁶, i.e. an
error of ≲10⁻⁶ on q), or a non-finite value, is reported as not converged and left to the caller.  So is an
end point with a negative expected count in some bin (its NLL is set to NaN): pyhf's Poisson term of an empty
bin is −λ, which rewards λ → −∞ (see :meth:`~nextsm.likelihoods.histfactory._Core.check_physical`).

*Two passes.*  Most hypotheses converge in far fewer iterations than the slowest of a chunk: on
ATLAS-SUSY-2018-16 ``EWKinos`` (217 free parameters) 91 % of them reach the tolerance in 10 iterations, and
those agree with 40 iterations to 3·10⁻⁷ in q.  So every chunk is first solved with ``short_iterations``,
and only the rows left unconverged are solved again from the start with ``iterations``, in small padded
batches (``retry_batch``); this halves the cost of a label (16 s → 7 s per 100 hypotheses there).

The result never exceeds the starting point's NLL, and on the converged hypotheses it agrees with SLSQP to
≲10⁻⁵ in q or is *lower* (a better minimum); see docs/surrogates.md for the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from nextsm.errors import LikelihoodError

if TYPE_CHECKING:
    from nextsm.likelihoods.histfactory import _Core

__all__ = ["BatchResult", "BatchedProfile"]

_STEPS = (1.0, 0.5, 0.2, 0.05)


@dataclass(frozen=True)
class BatchResult:
    """``nll[h]`` (−ln L at μ = 1 with nuisances profiled) and whether hypothesis h converged."""

    nll: NDArray[np.float64]
    converged: NDArray[np.bool_]


class BatchedProfile:
    """Vectorised profile fits at fixed signal of one data set of a HistFactory model (module docstring).

    Parameters
    ----------
    core:
        The model's pyhf core; its backend must be ``"jax"``. Build it with
        :meth:`HistFactoryModel.batched_profile <nextsm.likelihoods.histfactory.HistFactoryModel.batched_profile>`.
    key:
        The data set: ``"observed"``, ``"apriori"``, ``"asimov:observed"`` or ``"asimov:apriori"``.
    iterations:
        Quasi-Newton iterations of the full pass.
    batch:
        Hypotheses per compiled call of the first pass; shorter batches are padded (one compilation per model).
    tolerance:
        Largest Newton decrement counted as converged.
    short_iterations:
        Iterations of the first pass (module docstring, *Two passes*); ``None`` or ``>= iterations``: one pass.
    retry_batch:
        Hypotheses per compiled call of the full pass over the rows the first pass left unconverged.
    """

    def __init__(self, core: _Core, key: str, *, iterations: int = 40, batch: int = 100,
                 tolerance: float = 1e-6, short_iterations: int | None = 10, retry_batch: int = 16) -> None:
        if core.backend != "jax":
            raise LikelihoodError(f"workspace '{core.name}': batched fits need backend='jax', "
                                  f"the model has {core.backend!r}")
        if iterations < 1 or batch < 1 or retry_batch < 1:
            raise LikelihoodError(f"parameters 'iterations', 'batch' and 'retry_batch' must be >= 1, got "
                                  f"{iterations}, {batch}, {retry_batch}")
        if short_iterations is not None and short_iterations < 1:
            raise LikelihoodError(f"parameter 'short_iterations' must be >= 1 or None, got {short_iterations}")
        self.core = core
        self.key = key
        self.batch = batch
        self.retry_batch = retry_batch
        self.tolerance = tolerance
        self.background_nll, pars = core.background_fit(key)
        fixed = np.array(core.fixed, dtype=bool)
        fixed[core.poi_index] = True
        self._free = np.flatnonzero(~fixed)
        base = np.array(pars, dtype=float)
        base[core.poi_index] = 1.0
        self._base = base
        self._solve = self._compile(iterations)
        two_pass = short_iterations is not None and short_iterations < iterations
        self._short = self._compile(short_iterations) if two_pass else None  # type: ignore[arg-type]

    def _compile(self, iterations: int) -> Any:
        """The solver for this data set: the model's shared program (:func:`_program`) with its arguments bound."""
        import jax
        import jax.numpy as jnp

        from nextsm.likelihoods.histfactory import _backend

        jax.config.update("jax_enable_x64", True)
        core = self.core
        free = jnp.asarray(self._free)
        with _backend("jax"):
            data = jnp.asarray(core.data(self.key))
        model = core.model

        def nll(x: Any, base: Any) -> Any:
            return -model.logpdf(base.at[free].set(x), data)[0]

        x0 = jnp.asarray(self._base[self._free])
        base0 = jnp.asarray(self._base).at[core.poi_index].set(0.0)
        with _backend("jax"):
            h0 = jax.jit(jax.hessian(nll))(x0, base0)
        b0 = jnp.linalg.inv(h0 + 1e-9 * jnp.eye(x0.size))
        program = _program(core, tuple(int(i) for i in self._free), iterations)
        base = jnp.asarray(self._base)
        return lambda signals: program(signals, data, base, x0, b0)

    def __call__(self, signals: NDArray[np.float64]) -> BatchResult:
        """Fit every row of ``signals`` (H, N) at μ = 1."""
        from nextsm.likelihoods.histfactory import _backend

        sig = np.atleast_2d(np.asarray(signals, dtype=float))
        with _backend("jax"):
            if self._short is None:
                nll, converged = self._run(self._solve, sig, self.batch)
            else:
                nll, converged = self._run(self._short, sig, self.batch)
                retry = np.flatnonzero(~converged)
                if retry.size:
                    nll[retry], converged[retry] = self._run(self._solve, sig[retry], self.retry_batch)
        zero = ~np.any(sig != 0.0, axis=1)
        nll[zero] = self.background_nll
        converged[zero] = True
        return BatchResult(nll, converged)

    def _run(self, solve: Any, sig: NDArray[np.float64], batch: int) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """``(nll, converged)`` of ``solve`` over ``sig`` in padded batches of ``batch`` rows."""
        n = sig.shape[0]
        nll = np.empty(n)
        decrement = np.empty(n)
        lowest = np.empty(n)
        for start in range(0, n, batch):
            chunk = sig[start:start + batch]
            padded = np.zeros((batch, sig.shape[1]))
            padded[:len(chunk)] = chunk
            values, dec, low = solve(padded)
            nll[start:start + len(chunk)] = np.asarray(values)[:len(chunk)]
            decrement[start:start + len(chunk)] = np.asarray(dec)[:len(chunk)]
            lowest[start:start + len(chunk)] = np.asarray(low)[:len(chunk)]
        physical = lowest >= 0.0
        nll[~physical] = np.nan
        converged = np.isfinite(nll) & np.isfinite(decrement) & (decrement <= self.tolerance) & physical
        return nll, converged


def _program(core: _Core, free_index: tuple[int, ...], iterations: int) -> Any:
    """``solve(signals, data, base, x0, b0) -> (nll, decrement, lowest expected count)``, vmapped over the rows of ``signals`` and
    compiled once per model, free-parameter set and iteration count (cached on ``core``, so the four data
    sets of a surrogate share one compilation)."""
    cache = core.batched_programs
    key = (free_index, iterations)
    if key in cache:
        return cache[key]
    import jax
    import jax.numpy as jnp

    free = jnp.asarray(free_index)
    lo = jnp.asarray([core.bounds[i][0] for i in free_index])
    hi = jnp.asarray([core.bounds[i][1] for i in free_index])
    steps = jnp.asarray(_STEPS)
    yields = jnp.asarray(core.yield_index)
    model = core.model
    eye = jnp.eye(len(free_index))

    def nll(x: Any, base: Any, data: Any) -> Any:
        return -model.logpdf(base.at[free].set(x), data)[0]

    grad = jax.grad(nll)

    def projected(x: Any, g: Any) -> Any:
        active = ((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0))
        return jnp.where(active, 0.0, g), active

    def solve_one(signal: Any, data: Any, template: Any, x0: Any, b0: Any) -> tuple[Any, Any]:
        base = template.at[yields].set(signal)

        def body(_: int, state: tuple[Any, Any, Any, Any]) -> tuple[Any, Any, Any, Any]:
            x, b, fx, gx = state
            g_free, active = projected(x, gx)
            p = jnp.where(active, 0.0, -(b @ g_free))
            trials = jnp.clip(x[None, :] + steps[:, None] * p[None, :], lo, hi)
            values = jax.vmap(nll, in_axes=(0, None, None))(trials, base, data)
            values = jnp.where(jnp.isfinite(values), values, jnp.inf)
            k = jnp.argmin(values)
            better = values[k] < fx
            xn = trials[k]
            gn = grad(xn, base, data)
            s, y = xn - x, gn - gx
            sy = s @ y
            update = better & (sy > 1e-12)
            rho = 1.0 / jnp.where(update, sy, 1.0)
            bn = (eye - rho * jnp.outer(s, y)) @ b @ (eye - rho * jnp.outer(y, s)) + rho * jnp.outer(s, s)
            return (jnp.where(better, xn, x), jnp.where(update, bn, b), jnp.where(better, values[k], fx),
                    jnp.where(better, gn, gx))

        state = (x0, b0, nll(x0, base, data), grad(x0, base, data))
        x, b, fx, gx = jax.lax.fori_loop(0, iterations, body, state)
        g_free, _ = projected(x, gx)
        lowest = jnp.min(model.expected_actualdata(base.at[free].set(x)))
        return fx, g_free @ (b @ g_free), lowest

    cache[key] = jax.jit(jax.vmap(solve_one, in_axes=(0, None, None, None, None)))
    return cache[key]
