r"""Simplified likelihoods of efficiency-map results, vectorised over hypotheses and regions.

Three models of N signal regions with observed counts :math:`n_i`, a background prediction and its
uncertainty, written exactly as spey 0.2.7 writes them (``default.uncorrelated_background``,
``default.correlated_background``, ``default.third_moment_expansion``), so that absolute NLLs agree
with spey's ``likelihood(poi_test=μ, return_nll=True)``:

.. math::

    -\ln L(\mu, \theta) = \sum_i \big[\lambda_i - n_i \ln\lambda_i + \ln\Gamma(n_i + 1)\big]
        + \tfrac12\,\theta^T \rho^{-1} \theta + \tfrac12\big(N\ln 2\pi + \ln\det\rho\big),
    \qquad \lambda_i = \mu s_i + \lambda^{bkg}_i(\theta_i).

* :class:`PoissonGaussian` (uncorrelated, spey ``uncorrelated_background``):
  :math:`\lambda^{bkg}_i = b_i + \sigma_i\theta_i`, :math:`\theta_i \sim N(0, 1)` independent;
* :class:`CorrelatedBackground` (CMS "SL v1", ``correlated_background``): the same with
  :math:`\sigma_i = \sqrt{\Sigma_{ii}}` and θ ~ MVN(0, ρ), :math:`\rho_{ij} = \Sigma_{ij}/(\sigma_i\sigma_j)`;
* :class:`ThirdMomentExpansion` (CMS "SL v2", ``third_moment_expansion``):
  :math:`\lambda^{bkg}_i = A_i + B_i\theta_i + C_i\theta_i^2` and θ ~ MVN(0, ρ̃)
  (:func:`third_moment_coefficients`).

Every model keeps the background part non-negative, :math:`\lambda^{bkg}_i(\theta_i) \ge 0` (spey's
constraint; the signal part may be negative for μ < 0 or negative signals).  For a bin with
:math:`n_i = 0` the Poisson term is :math:`\max(\lambda_i, 0)` (spey clips λ at 10⁻²⁰).

**Profiling.**  *Uncorrelated* (:class:`PoissonGaussian`): per bin, with :math:`a = \mu s + b`, the
minimiser of :math:`\lambda - n\ln\lambda + \theta^2/2` solves
:math:`\sigma\theta^2 + (a + \sigma^2)\theta + \sigma(a - n) = 0`,

.. math::

    \hat\theta = \frac{-(a + \sigma^2) + \sqrt{(a - \sigma^2)^2 + 4\sigma^2 n}}{2\sigma}
               = \frac{2\sigma(n - a)}{a + \sigma^2 + \sqrt{(a - \sigma^2)^2 + 4\sigma^2 n}},

(the second, cancellation-free form is used), clipped at :math:`-b/\sigma`.  *Correlated* and
*third moments*: a batched projected Newton method on θ (Hessian
:math:`\rho^{-1} + \mathrm{diag}(n\lambda'^2/\lambda^2 + (1 - n/\lambda)\lambda'')`), started from
the uncorrelated closed form, with backtracking (step halving) that keeps :math:`\lambda_i > 0`
wherever :math:`n_i > 0`, and an active set for the bounds of θ implied by :math:`\lambda^{bkg} \ge 0`
(for SL v2 the branch of the parabola on which :math:`\lambda^{bkg}` rises with θ); run until the
projected gradient is below 10⁻¹⁰ (or the Newton decrement below 10⁻²⁰).  Where
:math:`n_i = 0` and :math:`\mu s_i < 0`, the kink of :math:`\max(\lambda_i, 0)` splits the range of
:math:`\theta_i` into two pieces that the iteration treats like bounds.

**Fits of μ** (:meth:`fit`) use the exact derivatives of the profiled NLL F(μ): by the envelope
theorem :math:`F' = \sum_i s_i (1 - n_i/\lambda_i)` at θ̂ (for :math:`n_i = 0` the subgradient of
the kink that makes θ̂ stationary), and
:math:`F'' = F_{\mu\mu} - F_{\mu\theta} H_{\theta\theta}^{-1} F_{\theta\mu}` (free θ only).  A
bracketed Newton iteration on F' starts at the lower bound (F'(lo) ≥ 0 puts μ̂ there: the profile
of the linear models is convex), steps towards an open upper bound (``None``, up to 10¹²) until F'
changes sign, bisects when a Newton step leaves the bracket, and stops when the step is below
:math:`10^{-10}(1 + |\mu|)` or the NLL left to gain (½F'²/F'') is below 10⁻²⁰.  θ̂ of the previous
step is the start of the next profile.  An open lower bound (−inf) is found by expanding
downwards from −10.

**Data.** ``"observed"``: :math:`n`; ``"apriori"``: :math:`n := b` (for SL v2 the first moment
:math:`m_1 = b`, as spey).  :meth:`asimov` returns the same model whose data (for both kinds) are
:math:`\lambda^{bkg}(\hat\theta_0)`, the background-only (μ = 0) fit to the chosen data; the
constraint is *not* re-centred (spey's convention).

**Marginalised variant** (``PoissonGaussian(..., marginalised=True)``, in the spirit of SModelS'
``marginalize`` option, which averages over sampled backgrounds): per bin :math:`L_i(\mu) = \int_{\theta \ge -b/\sigma}\mathrm{Pois}(n \mid \mu s + b +
\sigma\theta)\,\varphi(\theta)\,d\theta \,/\, \Phi(b/\sigma)` — the Gaussian truncated to a
non-negative background.  For :math:`n = 0` the integral is closed-form,
:math:`e^{-a + \sigma^2/2}\,\Phi(-\theta_0 - \sigma)` (plus the mass where :math:`\lambda \le 0`);
for :math:`n > 0` it is computed by tanh–sinh quadrature on two panels split at the mode θ̂ (the
profiled closed form), each reaching to where the integrand has fallen by :math:`e^{-50}`
(located by bisection; :math:`\partial^2_\theta(-\ln) \ge 1` bounds this within 10 of the mode).
The NLL is accurate to ~10⁻¹⁰ (checked against adaptive quadrature).  Its fit uses the generic
golden-section search :func:`~nextsm.likelihoods.limits.minimize_mu`; its Asimov data are those of
the profiled model.
"""

from nextsm.likelihoods.simplified_correlated import (
    CorrelatedBackground,
    ThirdMomentExpansion,
    third_moment_coefficients,
)
from nextsm.likelihoods.simplified_uncorrelated import PoissonGaussian

__all__ = ["CorrelatedBackground", "PoissonGaussian", "ThirdMomentExpansion", "third_moment_coefficients"]
