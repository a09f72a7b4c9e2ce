"""The correlated simplified likelihoods :class:`CorrelatedBackground` (SL v1) and
:class:`ThirdMomentExpansion` (SL v2), with the batched projected Newton profile of θ they share.

The formulas and references are in :mod:`nextsm.likelihoods.simplified`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.simplified_base import (
    _LOG_2PI,
    _covariance,
    _poisson_constant,
    _poisson_terms,
    _Profile,
    _SimplifiedModel,
    _uncorrelated_theta,
    _vector,
)

__all__ = ["CorrelatedBackground", "ThirdMomentExpansion", "third_moment_coefficients"]

#: projected-gradient tolerance of the θ profile
_GTOL = 1e-10
#: below this projected gradient a full Newton step failing the line search means rounding noise
_NEAR_GTOL = 1e-8
_FIXED_CURVATURE = 1e30
_MAX_NEWTON = 200
_MAX_HALVINGS = 60
#: Hessian elements per chunk of hypotheses in the Newton profile (bounds memory)
_CHUNK_ELEMENTS = 1 << 21
#: spey's regularisation of C_i in the denominator of ρ̃
_SPEY_C_EPS = 1e-5

# gradient, Hessian diagonal, t1, t2·λ', lower and upper bounds (float), kink-fixed mask (bool)
_State = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
               NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]


# ------------------------------------------------------------------------------------------------
# SL v2 coefficients (spey's third_moment_expansion, written out)
# ------------------------------------------------------------------------------------------------
def third_moment_coefficients(background: ArrayLike, covariance: ArrayLike, third_moments: ArrayLike
                              ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                                         NDArray[np.float64], NDArray[np.bool_]]:
    r"""The SL v2 coefficients ``(A, B, C, ρ̃, invalid)`` of arXiv:1809.05548 eqs. 2.9–2.12, as spey 0.2.7.

    .. math::

        C_i = -\mathrm{sign}(m_{3,i})\sqrt{2\Sigma_{ii}}\cos\Big(\frac{4\pi}{3} + \frac13
              \arctan\sqrt{8\Sigma_{ii}^3/m_{3,i}^2 - 1}\Big),\quad B_i = \sqrt{\Sigma_{ii} - 2C_i^2},
        \quad A_i = b_i - C_i,

        \tilde\rho_{ij} = \frac{\sqrt{(B_iB_j)^2 + 8 c_i c_j\Sigma_{ij}} - B_iB_j}{4 c_i c_j},
        \qquad c_i = C_i \pm 10^{-5}\ (\text{sign of } C_i,\ + \text{ for } C_i = 0).

    ``C_i = 0`` where :math:`8\Sigma_{ii}^3 < m_{3,i}^2` (``invalid``) or :math:`m_{3,i} = 0`.  ρ̃ is used
    as the *covariance* of θ (as spey's code; its docstring says ρ⁻¹).
    """
    b = np.asarray(background, dtype=float)
    cov = np.asarray(covariance, dtype=float)
    m3 = np.asarray(third_moments, dtype=float)
    diag = np.diag(cov)
    invalid = ~(8.0 * diag**3 >= m3**2)
    usable = ~invalid & (m3 != 0)
    m3_safe = np.where(usable, m3, 1.0)
    with np.errstate(invalid="ignore"):
        angle = (4.0 * np.pi / 3.0) + (1.0 / 3.0) * np.arctan(np.sqrt(((8.0 * diag**3) / m3_safe**2) - 1.0))
        c = -np.sign(m3_safe) * np.sqrt(2.0 * diag) * np.cos(angle)
    c = np.where(usable & np.isfinite(c), c, 0.0)
    b_coef = np.sqrt(diag - 2 * c**2)
    a_coef = b - c
    ci = np.where(c >= 0, c + _SPEY_C_EPS, c - _SPEY_C_EPS)
    cicj = ci[:, None] * ci[None, :]
    bibj = b_coef[:, None] * b_coef[None, :]
    discr = bibj**2 + 8 * cicj * cov
    rho = (np.sqrt(np.abs(discr)) - bibj) / 4 / cicj
    return a_coef, b_coef, c, rho, invalid


# ------------------------------------------------------------------------------------------------
# 2./3. correlated backgrounds: the batched projected Newton profile
# ------------------------------------------------------------------------------------------------
class _QuadraticBackground(_SimplifiedModel):
    """λ_bkg = A + Bθ + Cθ², θ ~ MVN(0, R): the common engine of SL v1 and SL v2."""

    _A: NDArray[np.float64]
    _B: NDArray[np.float64]
    _C: NDArray[np.float64]
    _precision: NDArray[np.float64]
    _log_norm: float
    _theta_lo: NDArray[np.float64]
    _theta_hi: NDArray[np.float64]
    _sigma_start: NDArray[np.float64]

    def _setup(self, A: NDArray[np.float64], B: NDArray[np.float64], C: NDArray[np.float64],
               corr: NDArray[np.float64], sigma_start: NDArray[np.float64], name: str) -> None:
        try:
            np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:
            raise LikelihoodError(f"parameter '{name}' gives a constraint matrix of θ that is not "
                                  "positive definite") from None
        precision = np.linalg.inv(corr)
        self._precision = 0.5 * (precision + precision.T)
        self._log_norm = 0.5 * (len(A) * _LOG_2PI + float(np.linalg.slogdet(corr)[1]))
        self._A, self._B, self._C = A, B, C
        self._sigma_start = sigma_start
        # the branch of A + Bθ + Cθ² ≥ 0 on which λ_bkg increases with θ
        disc = B**2 - 4.0 * A * C
        with np.errstate(divide="ignore", invalid="ignore"):
            root = -2.0 * A / (B + np.sqrt(np.maximum(disc, 0.0)))
            vertex = np.where(C != 0, -B / (2.0 * np.where(C != 0, C, 1.0)), np.inf)
        lo = np.where(disc >= 0, root, vertex)
        lo = np.where((C == 0) & (B == 0), -np.inf, lo)
        hi = np.where(C < 0, vertex, np.inf)
        if np.any(~(lo < hi)) or np.any(np.isnan(lo)):
            raise LikelihoodError(f"parameter '{name}': no θ gives a non-negative background in some region")
        self._theta_lo, self._theta_hi = lo, hi

    def _background_rate(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        # ≥ 0 on the allowed θ range; the clip removes rounding at the bound
        return np.maximum(self._A + (self._B + self._C * theta) * theta, 0.0)

    def _profile(self, mu: NDArray[np.float64], sig: NDArray[np.float64], n: NDArray[np.float64],
                 theta0: NDArray[np.float64] | None = None, *, derivatives: bool = False) -> _Profile:
        n_hyp, n_reg = sig.shape
        chunk = max(1, _CHUNK_ELEMENTS // (n_reg * n_reg))
        if n_hyp <= chunk:
            return self._profile_chunk(mu, sig, n, theta0, derivatives)
        parts = [self._profile_chunk(mu[i:i + chunk], sig[i:i + chunk], n,
                                     None if theta0 is None else theta0[i:i + chunk], derivatives)
                 for i in range(0, n_hyp, chunk)]
        return _Profile(*(np.concatenate([getattr(p, f) for p in parts]) for f in _Profile._fields))

    def _start(self, rate: NDArray[np.float64], n: NDArray[np.float64],
               theta0: NDArray[np.float64] | None) -> NDArray[np.float64]:
        if theta0 is None:
            sigma = self._sigma_start
            theta = _uncorrelated_theta(rate + self._background, n, sigma, -np.inf)
        else:
            theta = np.array(theta0, dtype=float, copy=True)
        theta = np.clip(theta, self._theta_lo, self._theta_hi)
        # repair: λ > 0 where n > 0 (a bin aims at λ = max(n, 1) on its increasing branch)
        lam = rate + self._background_rate(theta)
        bad = (n > 0) & ~(lam > 0)
        if np.any(bad):
            A, B, C = (np.broadcast_to(v, theta.shape) for v in (self._A, self._B, self._C))
            c0 = A + rate - np.maximum(n, 1.0)
            disc = B**2 - 4.0 * C * c0
            with np.errstate(divide="ignore", invalid="ignore"):
                target = -2.0 * c0 / (B + np.sqrt(np.maximum(disc, 0.0)))
            target = np.where(disc >= 0, target, np.broadcast_to(self._theta_hi, theta.shape))
            target = np.clip(np.nan_to_num(target, nan=0.0), self._theta_lo, self._theta_hi)
            theta = np.where(bad, target, theta)
        return theta

    def _objective(self, theta: NDArray[np.float64], rate: NDArray[np.float64], n: NDArray[np.float64]
                   ) -> NDArray[np.float64]:
        dev, _, _ = _poisson_terms(rate + self._background_rate(theta), n)
        return np.sum(dev, axis=1) + 0.5 * np.sum((theta @ self._precision) * theta, axis=1)

    def _kinks(self, rate: NDArray[np.float64], n: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """θ where λ = 0 for bins with n = 0 and a negative signal part (NaN elsewhere), or None.

        There ``max(λ, 0)`` has a kink inside the allowed θ range: the range splits into a linear
        piece (λ ≥ 0) and a flat one (λ ≤ 0), which the Newton iteration treats like bounds.
        """
        applicable = (n == 0) & (rate < 0)
        if not np.any(applicable):
            return None
        A, B, C = (np.broadcast_to(v, rate.shape) for v in (self._A, self._B, self._C))
        c0 = A + rate
        disc = B**2 - 4.0 * C * c0
        with np.errstate(divide="ignore", invalid="ignore"):
            kink = -2.0 * c0 / (B + np.sqrt(np.maximum(disc, 0.0)))
        # no root: λ < 0 on the whole range (C < 0), which is then the flat piece, or λ > 0 (C > 0)
        kink = np.where(disc >= 0, np.nan_to_num(kink, nan=0.0), np.where(C < 0, self._theta_hi, np.nan))
        kink = np.clip(kink, self._theta_lo, self._theta_hi)
        return np.where(applicable, kink, np.nan)

    def _state(self, theta: NDArray[np.float64], rate: NDArray[np.float64], n: NDArray[np.float64],
               kink: NDArray[np.float64] | None) -> _State:
        """Gradient, Hessian diagonal (Poisson part), t1, t2·λ', bounds (L, U) of the current piece, kink-fixed mask."""
        lam = rate + self._background_rate(theta)
        _, t1, t2 = _poisson_terms(lam, n)
        dlam = self._B + 2.0 * self._C * theta
        q = theta @ self._precision
        lower = np.broadcast_to(self._theta_lo, theta.shape)
        upper = np.broadcast_to(self._theta_hi, theta.shape)
        fixed = np.zeros(theta.shape, dtype=bool)
        if kink is not None:
            has = ~np.isnan(kink)
            above, below, at = has & (theta > kink), has & (theta < kink), has & (theta == kink)
            go_up = at & (dlam + q < 0)
            go_down = at & ~go_up & (q > 0)
            fixed = at & ~go_up & ~go_down
            t1 = np.where(has, (above | go_up).astype(float), t1)
            with np.errstate(divide="ignore", invalid="ignore"):
                # the subgradient of max(λ, 0) that makes θ stationary
                t1 = np.where(fixed, np.clip(np.nan_to_num(-q / dlam, nan=0.0), 0.0, 1.0), t1)
            lower = np.where(above | go_up, kink, lower)
            upper = np.where(below | go_down, kink, upper)
        grad = t1 * dlam + q
        hdiag = t2 * dlam**2 + 2.0 * self._C * t1
        return grad, hdiag, t1, t2 * dlam, lower, upper, fixed

    def _newton_step(self, grad: NDArray[np.float64], hdiag: NDArray[np.float64],
                     free: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Solve the Newton system on the free variables (fixed ones get a zero step)."""
        n_rows, n_reg = grad.shape
        hess = np.repeat(self._precision[None, :, :], n_rows, axis=0)
        idx = np.arange(n_reg)
        # a fixed variable gets a huge diagonal and no gradient: its step vanishes and the free ones
        # solve H_FF d_F = −g_F up to relative corrections of 1e-30 (no masking of the matrices needed)
        hess[:, idx, idx] += np.where(free, hdiag, _FIXED_CURVATURE)
        rhs = -np.where(free, grad, 0.0)
        step = np.linalg.solve(hess, rhs[..., None])[..., 0]
        return np.where(free, step, 0.0)

    def _profile_chunk(self, mu: NDArray[np.float64], sig: NDArray[np.float64], n: NDArray[np.float64],
                       theta0: NDArray[np.float64] | None, derivatives: bool) -> _Profile:
        rate_all = mu[:, None] * sig
        kink_all = self._kinks(rate_all, n)
        theta = self._start(rate_all, n, theta0)
        f_all = self._objective(theta, rate_all, n)
        todo = np.flatnonzero(np.isfinite(f_all))
        for _ in range(_MAX_NEWTON):
            if todo.size == 0:
                break
            th, rate, f = theta[todo], rate_all[todo], f_all[todo]
            kink = None if kink_all is None else kink_all[todo]
            grad, hdiag, _, _, lower, upper, fixed = self._state(th, rate, n, kink)
            active = fixed | ((th <= lower) & (grad > 0)) | ((th >= upper) & (grad < 0))
            pgrad = np.where(active, 0.0, grad)
            converged = np.max(np.abs(pgrad), axis=1) <= _GTOL
            free = ~active
            step = self._newton_step(grad, hdiag, free)
            slope = np.sum(pgrad * step, axis=1)
            not_descent = ~(slope < 0) & ~converged
            if np.any(not_descent):  # indefinite Hessian (SL v2): drop the negative curvature of the Poisson part
                k = np.flatnonzero(not_descent)
                step[k] = self._newton_step(grad[k], np.maximum(hdiag[k], 0.0), free[k])
            # ½ gᵀH⁻¹g: the NLL still to gain; below 1e-20 the gradient is rounding noise
            decrement = -0.5 * np.sum(pgrad * step, axis=1)
            tiny = (np.max(np.abs(step) / (1.0 + np.abs(th)), axis=1) <= 1e-15) | (decrement <= 1e-20)
            finished = converged | tiny
            near = np.max(np.abs(pgrad), axis=1) <= _NEAR_GTOL
            # backtracking line search along the projected path
            alpha = np.ones(todo.size)
            pending = ~finished
            new_th = th.copy()
            new_f = f.copy()
            slack = 1e-14 * (1.0 + np.abs(f))
            for _ in range(_MAX_HALVINGS):
                if not np.any(pending):
                    break
                k = np.flatnonzero(pending)
                trial = np.clip(th[k] + alpha[k, None] * step[k], lower[k], upper[k])
                f_trial = self._objective(trial, rate[k], n)
                armijo = f_trial <= f[k] + 1e-4 * np.sum(grad[k] * (trial - th[k]), axis=1) + slack[k]
                ok = np.isfinite(f_trial) & armijo
                acc = k[ok]
                new_th[acc], new_f[acc] = trial[ok], f_trial[ok]
                pending[acc] = False
                # close to the solution a failing full Newton step means rounding noise: stop there
                give_up = k[~ok & near[k]]
                pending[give_up] = False
                alpha[give_up] = 0.0
                alpha[k[~ok & ~near[k]]] *= 0.5
            # no acceptable step (or only a negligible one): as good as floating point allows
            stalled = pending | (alpha < 1e-12)
            theta[todo], f_all[todo] = new_th, new_f
            todo = todo[~(finished | stalled)]
        nll = f_all + _poisson_constant(n) + self._log_norm
        grad_mu = np.full(mu.shape, np.nan)
        curv_mu = np.full(mu.shape, np.nan)
        if derivatives:
            grad_th, hdiag, t1, cross, lower, upper, fixed = self._state(theta, rate_all, n, kink_all)
            grad_mu = np.sum(sig * t1, axis=1)
            free = ~(fixed | ((theta <= lower) & (grad_th > 0)) | ((theta >= upper) & (grad_th < 0)))
            u = np.where(free, sig * cross, 0.0)
            t2 = _poisson_terms(rate_all + self._background_rate(theta), n)[2]
            # H_FF⁻¹ u on the free variables (fixed ones contribute no cross term)
            solved = -self._newton_step(u, hdiag, free)
            curv_mu = np.sum(sig**2 * t2, axis=1) - np.sum(u * solved, axis=1)
            infeasible = ~np.isfinite(f_all)
            if np.any(infeasible):
                # only a region with μ s_i < 0 can make λ ≤ 0 unavoidable: move μ towards μ s_i ≥ 0
                direction = np.sign(np.sum(np.where(n > 0, sig, 0.0), axis=1))
                grad_mu = np.where(infeasible, -np.inf * np.where(direction == 0, 1.0, direction), grad_mu)
                curv_mu = np.where(infeasible, np.nan, curv_mu)
        return _Profile(nll, theta, grad_mu, curv_mu)


class CorrelatedBackground(_QuadraticBackground):
    """SL v1: λ = μs + b + σθ, θ ~ MVN(0, ρ) (spey ``correlated_background``, CMS arXiv:1809.05548).

    Parameters
    ----------
    observed, background:
        Observed counts and expected background per region, shape ``(N,)``.
    covariance:
        Background covariance Σ, ``(N, N)``, symmetric positive definite; σ_i = √Σ_ii,
        ρ_ij = Σ_ij / (σ_iσ_j).
    """

    description = "SL v1: Poisson ⊗ multivariate Gaussian (covariance)"

    def __init__(self, observed: ArrayLike, background: ArrayLike, covariance: ArrayLike) -> None:
        super().__init__(observed, background)
        self._covariance = _covariance(covariance, "covariance", self.n_regions)
        sigma = np.sqrt(np.diag(self._covariance))
        sigma_inv = np.diag(1.0 / sigma)
        corr = sigma_inv @ self._covariance @ sigma_inv
        self._setup(self._background, sigma, np.zeros_like(sigma), corr, sigma, "covariance")

    @property
    def covariance(self) -> NDArray[np.float64]:
        return self._covariance


class ThirdMomentExpansion(_QuadraticBackground):
    """SL v2: λ = μs + A + Bθ + Cθ², θ ~ MVN(0, ρ̃) (spey ``third_moment_expansion``).

    Coefficients from :func:`third_moment_coefficients`; regions violating 8Σ_ii³ ≥ m3_i² get
    C_i = 0 (listed in :attr:`invalid_third_moments`).

    Parameters
    ----------
    observed, background:
        Observed counts and expected background (the first moment m1) per region, ``(N,)``.
    covariance:
        Background covariance (second moments), ``(N, N)``.
    third_moments:
        Diagonal third central moments m3_i, ``(N,)``.
    """

    description = "SL v2: covariance + third moments (A + Bθ + Cθ², ρ̃)"

    def __init__(self, observed: ArrayLike, background: ArrayLike, covariance: ArrayLike,
                 third_moments: ArrayLike) -> None:
        super().__init__(observed, background)
        self._covariance = _covariance(covariance, "covariance", self.n_regions)
        self._third = _vector(third_moments, "third_moments", self.n_regions)
        A, B, C, rho, invalid = third_moment_coefficients(self._background, self._covariance, self._third)
        self._invalid = invalid
        self._setup(A, B, C, rho, np.sqrt(np.diag(self._covariance)), "third_moments")

    @property
    def covariance(self) -> NDArray[np.float64]:
        return self._covariance

    @property
    def third_moments(self) -> NDArray[np.float64]:
        return self._third

    @property
    def invalid_third_moments(self) -> NDArray[np.bool_]:
        """Regions whose third moment violates 8Σ_ii³ ≥ m3_i² (treated with C_i = 0, as spey)."""
        return self._invalid

    @property
    def coefficients(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """``(A, B, C)`` per region."""
        return self._A, self._B, self._C
