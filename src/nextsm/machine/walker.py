r"""The walker: a reversible-jump Metropolis–Hastings chain in protomodel space, target :math:`\propto e^{K/2}`.

One step: propose (:func:`~nextsm.machine.moves.propose`), predict, take the likelihood of every result, find
the best legal combination and K (:func:`~nextsm.machine.teststatistic.k_statistic`, μ̂ fitted), cap μ̂ so that
the model passes the slow critic and exceeds no limit by more than 30 % (:func:`evaluate`), run the fast critic
(a model it rejects gets K = −∞); accept with

.. math:: \alpha = \min\left(1, e^{(K' - K)/2}\, \frac{p(\theta') q(\text{old}\mid\text{new})}{p(\theta) q(\text{new}\mid\text{old})}\right)

(``rule="rjmcmc"``, default) or with :math:`\min(1, e^{(K'-K)/2})`, ignoring the proposal asymmetry
(``rule="2021"``, the original's rule).
With ``absorb_mu`` (default, as the original) μ̂ is absorbed into every κ of an accepted model, and the model is
evaluated again at its new κ: K, profiled over μ, would be unchanged by this if the combination weights and the
slow critic's choice of results did not depend on κ, but they do (docs/machine.md), so the walker's current K is
always that of the model it holds (if the rescaled model fails a critic, the model keeps its κ).  With ``trim`` (default, the original's redundant-particle removal) the particles of an
accepted model that appear in no prediction of its best combination are removed
(:func:`~nextsm.machine.moves.trim_unused`) if that does not lower K: without it a walk collects particles
that only cost prior.  With either, the chain is a stochastic search rather than an exact sampler of
:math:`e^{K/2}` (use ``absorb_mu=False, trim=False`` for that).

Every step is committed to the :class:`~nextsm.machine.store.RunStore` with the generator's state, so
:meth:`Walker.run` resumes exactly where a killed run stopped; walker ``i`` of a run seeded ``S`` uses
``numpy.random.default_rng([S, i])``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from nextsm.errors import NextsmError
from nextsm.machine.combinability import Combinability
from nextsm.machine.critics import fast_critic, slow_critic
from nextsm.machine.moves import MoveSettings, log_parameter_prior, propose, trim_unused
from nextsm.machine.store import RunStore, StepRecord
from nextsm.machine.teststatistic import KStatistic, k_statistic, likelihood_results, uncapped
from nextsm.model.particles import LSP
from nextsm.model.protomodel import ProtoModel
from nextsm.theory.predictions import Predictor, best_results

__all__ = ["Evaluation", "Walker", "evaluate", "initial_model"]

Rule = Literal["rjmcmc", "2021"]
#: largest r_obs a model may reach after μ̂ is absorbed (P21's r threshold)
R_CAP = 1.3


@dataclass(frozen=True)
class Evaluation:
    """K of a model with the critics' verdicts."""

    K: float
    statistic: KStatistic | None
    critics: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return all(c["passed"] for c in self.critics)


def evaluate(model: ProtoModel, predictor: Predictor, combinability: Combinability, *,
             r_cap: float = R_CAP) -> Evaluation:
    """K with μ̂ ∈ [0, μ_max] and both critics, judged at μ̂.

    μ_max = 0.999 min(r_cap / r_max, 1 / r_comb): r_max is the largest r_obs of the model's results at its current
    κ (P21's cap, r_cap = 1.3) and r_comb the observed r of its most sensitive combination (the slow critic), so
    that the model with μ̂ absorbed exceeds no single limit by more than 30 % and passes the slow critic; the fast
    critic decides on the rest (a model it rejects at μ̂ gets K = −∞).

    With ``predictor.surrogates`` on, the analyses whose pyhf workspaces all have neural surrogates enter with
    their combined (full) likelihoods, the others with their best signal region as before.
    """
    xsecs = predictor.cross_sections(model)
    predictions = predictor.predict(model, xsecs=xsecs, likelihoods="none",
                                    combine="surrogates" if predictor.surrogates else False)
    results = likelihood_results(predictions, predictor)
    r_max = max((p.r_obs for p in best_results(predictions) if p.r_obs is not None), default=0.0)
    slow = slow_critic(uncapped(results), combinability)
    caps = [r_cap / r_max if r_max > 0 else math.inf,
            1.0 / slow.r_combined if slow.r_combined else math.inf]
    mu_max = 0.999 * min(caps)
    ts = k_statistic(results, combinability, model.log_prior(xsecs.get(13.0)), mu_max=mu_max)
    mu = ts.mu_hat
    fast = fast_critic(predictions, mu)
    r_comb = (slow.r_combined or 0.0) * mu
    slow_at_mu = replace(slow, passed=r_comb < 1.0, r_combined=r_comb,
                         reason=f"{slow.reason.split(': r_obs')[0]}: r_obs = {r_comb:.3g} at μ̂ = {mu:.3g}")
    critics = [fast.to_dict(), slow_at_mu.to_dict()]
    if not fast.passed or not slow_at_mu.passed:
        return Evaluation(-math.inf, ts, critics)
    return Evaluation(ts.K, ts, critics)


def initial_model(rng: np.random.Generator) -> ProtoModel:
    """The LSP alone with a mass U(200, 500) GeV (the original's start)."""
    return ProtoModel(masses={LSP: float(rng.uniform(200.0, 500.0))})


def _rescaled(model: ProtoModel, mu: float) -> ProtoModel:
    return ProtoModel(masses=model.masses, decays=model.decays,
                      ssmultipliers={p: k * mu for p, k in model.ssmultipliers.items()}, xsecs=model.xsecs)


def _combination_rows(ts: KStatistic | None) -> list[dict[str, Any]]:
    if ts is None:
        return []
    return [{"analysis": p.analysis, "dataset": p.dataset, "type": p.type, "r_obs": p.r_obs, "r_exp": p.r_exp}
            for p in ts.combination]


class Walker:
    """One chain (see the module docstring)."""

    def __init__(self, walker_id: int, seed: int, predictor: Predictor, combinability: Combinability,
                 store: RunStore, *, rule: Rule = "rjmcmc", absorb_mu: bool = True, trim: bool = True,
                 settings: MoveSettings | None = None) -> None:
        if rule not in ("rjmcmc", "2021"):
            raise ValueError(f"parameter 'rule' must be 'rjmcmc' or '2021', got {rule!r}")
        self.walker_id = walker_id
        self.predictor = predictor
        self.combinability = combinability
        self.store = store
        self.rule = rule
        self.absorb_mu = absorb_mu
        self.trim = trim
        self.settings = settings or MoveSettings()
        last = store.last(walker_id)
        self.rng = np.random.default_rng([seed, walker_id])
        if last is None:
            self.step = 0
            self.model = initial_model(self.rng)
            self.K = evaluate(self.model, predictor, combinability).K
        else:
            self.step = last.step
            self.model = ProtoModel.from_dict(last.current_model)
            self.K = last.current_K if last.current_K is not None else -math.inf
            self.rng.bit_generator.state = last.rng

    def one_step(self) -> StepRecord:
        """Propose, evaluate, decide, record."""
        t0 = time.perf_counter()
        self.step += 1
        proposal = propose(self.model, self.rng, self.settings)
        if proposal is None:
            record = StepRecord(self.walker_id, self.step, self.model.to_dict(), None, None, [], [], "none",
                                "proposal outside the allowed space", False, self.model.to_dict(),
                                self.K if math.isfinite(self.K) else None, dict(self.rng.bit_generator.state),
                                time.perf_counter() - t0)
            self.store.append(record)
            return record
        try:
            ev = evaluate(proposal.model, self.predictor, self.combinability)
        except NextsmError as exc:  # a model the machinery cannot evaluate: rejected, recorded, walk goes on
            record = StepRecord(self.walker_id, self.step, proposal.model.to_dict(), None, None, [], [],
                                proposal.move, f"{proposal.detail}; not evaluated: {exc}", False,
                                self.model.to_dict(), self.K if math.isfinite(self.K) else None,
                                dict(self.rng.bit_generator.state), time.perf_counter() - t0)
            self.store.append(record)
            return record
        log_ratio = 0.5 * (ev.K - self.K) if math.isfinite(ev.K) else -math.inf
        if -math.inf == self.K and math.isfinite(ev.K):
            log_ratio = math.inf
        if self.rule == "rjmcmc" and math.isfinite(log_ratio):
            log_ratio += (log_parameter_prior(proposal.model, self.settings) - log_parameter_prior(self.model, self.settings)
                          + proposal.log_q_reverse - proposal.log_q_forward)
        accepted = bool(log_ratio >= 0.0 or math.log(self.rng.uniform()) < log_ratio)
        critics = ev.critics
        detail = proposal.detail
        if accepted:
            model, kept = proposal.model, ev
            if self.trim and ev.statistic is not None:
                keep = {LSP}.union(*(p.particles for p in ev.statistic.combination))
                trimmed = trim_unused(model, keep)
                if trimmed != model:
                    ev_trim = evaluate(trimmed, self.predictor, self.combinability)
                    if ev_trim.K >= ev.K:
                        gone = sorted(set(model.masses) - set(trimmed.masses))
                        detail += f"; trimmed {', '.join(map(str, gone))} (K {ev.K:.3f} -> {ev_trim.K:.3f})"
                        model, kept = trimmed, ev_trim
            if (self.absorb_mu and kept.statistic is not None and kept.statistic.mu_hat > 1e-6
                    and abs(kept.statistic.mu_hat - 1.0) > 1e-9):
                # K is not invariant under κ → μ̂κ (the combination weights and the slow critic's choice of
                # results are taken at the model's κ), so the model kept is re-evaluated at its absorbed κ;
                # if that fails a critic, the model keeps its κ
                mu = kept.statistic.mu_hat
                rescaled = _rescaled(model, mu)
                absorbed = evaluate(rescaled, self.predictor, self.combinability)
                if math.isfinite(absorbed.K):
                    detail += f"; absorbed mu_hat {mu:.3g} (K {kept.K:.3f} -> {absorbed.K:.3f})"
                    model, kept = rescaled, absorbed
            self.model, self.K = model, kept.K
        record = StepRecord(
            self.walker_id, self.step, proposal.model.to_dict(), ev.K if math.isfinite(ev.K) else None,
            ev.statistic.mu_hat if ev.statistic else None, _combination_rows(ev.statistic), critics,
            proposal.move, detail, accepted, self.model.to_dict(),
            self.K if math.isfinite(self.K) else None, dict(self.rng.bit_generator.state), time.perf_counter() - t0)
        self.store.append(record)
        return record

    def run(self, steps: int, progress: Callable[[StepRecord], None] | None = None) -> None:
        """Walk until ``steps`` steps are recorded (resuming counts the recorded ones)."""
        while self.step < steps:
            record = self.one_step()
            if progress is not None:
                progress(record)
