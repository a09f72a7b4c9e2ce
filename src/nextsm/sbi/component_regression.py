r"""Training rows of the morphing-aware *component regression* (method ``component_regression``).

For a quadratic morphing the event weight is :math:`w(z|\theta) = \sum_c \alpha_c(\theta)\,g_c(z)` (six
components for two parameters), so the marginal likelihood ratio is

.. math::

    r(x|\theta) = \frac{\sum_c \alpha_c(\theta)\,R_c(x)}{\sum_c \alpha_c(\theta_{\rm ref})\,R_c(x)}
        \cdot\frac{\sigma(\theta_{\rm ref})}{\sigma(\theta)},\qquad
    R_c(x) = E_{\rm ref}\Big[\frac{g_c(z)}{w(z|\theta_{\rm ref})}\,\Big|\,x\Big] .

The per-event joint component ratios :math:`g_c(z)/w(z|\theta_{\rm ref})` are known from the benchmark
weights, and their conditional expectation is the minimiser of the squared error, so a single regression on
the events of the reference (each event once, with its weight; no θ sampling, no unweighting) learns every θ
at once.  The network is :class:`~nextsm.sbi.estimators.MorphingAwareRatio` (:math:`\sum_c\alpha_c R_c =
a^\top Q(x) a` with :math:`Q = LL^\top`, positive for every θ, as the true :math:`E[Q_z|x]` is), and the loss
weights the components by the θ prior (:func:`~nextsm.sbi.estimators.losses.component_loss`).  This is the
regression (ROLR-type, Brehmer, Cranmer, Louppe, Pavez, arXiv:1805.00020) form of the morphing-aware
estimator, which needs only the per-event component ratios of an exactly quadratic :math:`|\mathcal M|^2`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.sbi.errors import SBIError
from nextsm.sbi.events import WeightedEvents
from nextsm.sbi.morphing import _as_theta
from nextsm.sbi.sampling import TrainingSet

__all__ = ["ComponentTrainingSet", "component_training_set"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ComponentTrainingSet(TrainingSet):
    """A :class:`~nextsm.sbi.sampling.TrainingSet` with the regression targets.

    Attributes
    ----------
    component_ratios:
        The joint component ratios :math:`g_c(z)/w(z|\\theta_{\\rm ref})`, ``(n, n_c)`` (monomial order of
        :func:`~nextsm.sbi.morphing.monomial_exponents`).
    """

    component_ratios: FloatArray

    def resample(self, rng: np.random.Generator) -> ComponentTrainingSet:
        """A bootstrap replica (rows drawn with replacement), for ensemble members."""
        idx = rng.integers(0, len(self), len(self))
        return ComponentTrainingSet(self.x[idx], self.theta[idx], self.y[idx], self.log_r_xz[idx], self.t_xz[idx],
                                    self.sample_weight[idx], self.theta_ref, self.component_ratios[idx],
                                    event=None if self.event is None else self.event[idx])


def component_training_set(events: WeightedEvents, *, theta_ref: ArrayLike | None = None) -> ComponentTrainingSet:
    """One row per event with a positive reference weight: targets :math:`g_c(z)/w(z|\\theta_{\\rm ref})`, row
    weights :math:`n\\,w_i(\\theta_{\\rm ref})/\\sum_j w_j(\\theta_{\\rm ref})` (module docstring)."""
    m = events.morphing
    if m.max_power != 2:
        raise SBIError("parameter 'events': the component regression needs a quadratic morphing (max_power=2)")
    ref = np.zeros(m.n_parameters) if theta_ref is None else _as_theta(theta_ref, m.n_parameters)[0]
    g = events.benchmark_weights @ m.inverse.T  # g_c(z_i) = sum_b (M^-1)_cb w_ib
    w_ref = g @ m.components(ref[None, :])[0]
    keep = w_ref > 0
    if not keep.any():
        raise SBIError("parameter 'events': no event has a positive weight at the reference")
    n = int(keep.sum())
    return ComponentTrainingSet(events.x[keep], np.repeat(ref[None, :], n, axis=0), np.zeros(n), np.zeros(n),
                                np.zeros((n, m.n_parameters)), n * w_ref[keep] / w_ref[keep].sum(), ref,
                                g[keep] / w_ref[keep, None], event=np.flatnonzero(keep).astype(np.int64))
