"""Why a protomodel scores what it scores: K, μ̂, the best combination, the critics, and contributions.

The model is evaluated exactly as the walker evaluates it (:func:`nextsm.machine.walker.evaluate`): μ̂ fitted on
[0, μ_max] with the walker's cap μ_max = 0.999 min(r_cap/r_max, 1/r_comb), both critics judged at μ̂, K = −∞
if one of them rejects the model there.  So the K of a model stored by a walk is the K ``explain`` gives for it
on the same database.  The critics are also given at the model's own κ (μ = 1, ``fast_at_kappa``,
``slow_at_kappa``): that is the model as written, before any rescaling.

* **particle contribution**: K − K of the model without the particle (its κ's and the decays into it dropped, the
  other BRs renormalised), the reduced model evaluated as the walker would (its own μ_max); ``None`` if removing it
  leaves another particle without decays;
* **analysis contribution**: K − K with that analysis' results left out of the combination (the best combination
  searched again, μ̂ refitted on the same [0, μ_max]: the analysis still constrains the model through the cap and
  the critics, only what it adds to the fit is removed).

Contributions compare the fitted K's (:attr:`Explanation.statistic`), whatever the critics say of the reduced
models.  They are built on the very predictions the walker's evaluation made (with a predictor that has
``surrogates`` on, the analyses with surrogates enter with their full likelihoods, as in the walker).  With
``combine=True`` (every analysis' full likelihood, which the walker does not use) both the evaluation and the
contributions use the combined predictions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, cast

from nextsm.machine.combinability import Combinability
from nextsm.machine.critics import CriticVerdict, fast_critic, slow_critic
from nextsm.machine.teststatistic import (
    KStatistic,
    LikelihoodResult,
    k_statistic,
    likelihood_results,
    uncapped,
)
from nextsm.machine.walker import R_CAP, evaluate
from nextsm.model.errors import ModelError
from nextsm.model.particles import LSP, PARTICLES
from nextsm.model.protomodel import ProtoModel
from nextsm.theory.predictions import Predictor, TheoryPrediction, best_results

__all__ = ["Explanation", "explain", "walker_mu_max", "without_particle"]


def without_particle(model: ProtoModel, pdg: int) -> ProtoModel:
    """``model`` with particle ``pdg`` removed (κ's and decays into it dropped, BRs renormalised)."""
    if pdg == LSP:
        raise ModelError("the LSP cannot be removed")
    masses = {k: v for k, v in model.masses.items() if k != pdg}
    decays = {m: {c: b for c, b in ch.items() if all(abs(d) != pdg for d in c)}
              for m, ch in model.decays.items() if m != pdg}
    kappas = {p: k for p, k in model.ssmultipliers.items() if all(abs(x) != pdg for x in p)}
    xsecs = None if model.xsecs is None else {
        s: {p: v for p, v in t.items() if all(abs(x) != pdg for x in p)} for s, t in model.xsecs.items()}
    return ProtoModel(masses=masses, decays=decays, ssmultipliers=kappas, xsecs=xsecs).renormalise_brs()


def walker_mu_max(predictions: list[TheoryPrediction], slow_at_kappa: CriticVerdict, *,
                  r_cap: float = R_CAP) -> float:
    """The walker's cap on μ̂ (:func:`nextsm.machine.walker.evaluate`): 0.999 min(r_cap/r_max, 1/r_comb).

    ``r_max`` is the largest r_obs of the results (:func:`~nextsm.theory.predictions.best_results`) and
    ``r_comb`` the combined r_obs of the slow critic, both at the model's own κ.
    """
    r_max = max((p.r_obs for p in best_results(predictions) if p.r_obs is not None), default=0.0)
    caps = [r_cap / r_max if r_max > 0 else math.inf,
            1.0 / slow_at_kappa.r_combined if slow_at_kappa.r_combined else math.inf]
    return 0.999 * min(caps)


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


@dataclass(frozen=True)
class Explanation:
    """The evaluation of one model (see the module docstring).

    ``K`` is the walker's K (−∞ if a critic rejects the model at μ̂); ``statistic`` the fit behind it (μ̂ on
    [0, ``mu_max``]); ``fast`` and ``slow`` the critics at μ̂ as the walker judges them, ``fast_at_kappa`` and
    ``slow_at_kappa`` at the model's own κ.  ``combination`` lists the best combination at μ̂ (r-values, signal
    and per-result Z = ±√|2 ln L(μ̂)/L(0)|).  ``predictions`` and ``results`` are the model's predictions and the
    likelihoods of its results (for reports; not part of :meth:`to_dict`).
    """

    K: float
    statistic: KStatistic
    mu_max: float
    fast: CriticVerdict
    slow: CriticVerdict
    fast_at_kappa: CriticVerdict
    slow_at_kappa: CriticVerdict
    combination: list[dict[str, Any]]
    particle_contributions: dict[int, float | None] = field(default_factory=dict)
    analysis_contributions: dict[str, float] = field(default_factory=dict)
    predictions: tuple[TheoryPrediction, ...] = field(default=(), repr=False, compare=False)
    results: tuple[LikelihoodResult, ...] = field(default=(), repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """Both critics let the model pass at μ̂ (then ``K`` is the fitted K)."""
        return self.fast.passed and self.slow.passed

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (``K`` and ``mu_max`` are ``None`` when infinite)."""
        ts = self.statistic
        return {
            "K": _finite(self.K), "passed": self.passed, "Z": ts.Z, "llr": ts.llr, "log_prior": ts.log_prior,
            "mu_hat": ts.mu_hat, "mu_max": _finite(self.mu_max),
            "combination": self.combination,
            "critics": [self.fast.to_dict(), self.slow.to_dict()],
            "critics_at_kappa": [self.fast_at_kappa.to_dict(), self.slow_at_kappa.to_dict()],
            "particle_contributions": {str(k): v for k, v in self.particle_contributions.items()},
            "analysis_contributions": self.analysis_contributions,
        }


class _WalkerView:
    """The predictor as :func:`~nextsm.machine.walker.evaluate` uses it, remembering the predictions it made (so
    that the explanation is built on exactly those); with ``combine`` every analysis' combined prediction is
    added."""

    def __init__(self, predictor: Predictor, combine: bool) -> None:
        self._predictor = predictor
        self._combine = combine
        self.predictions: list[TheoryPrediction] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._predictor, name)

    def predict(self, model: ProtoModel, **kwargs: Any) -> list[TheoryPrediction]:
        if self._combine:
            kwargs["combine"] = True
        self.predictions = self._predictor.predict(model, **kwargs)
        return self.predictions


def _verdict(d: dict[str, Any]) -> CriticVerdict:
    """A :class:`CriticVerdict` back from its :meth:`~CriticVerdict.to_dict` (the walker records dicts)."""
    rows = tuple((r["analysis"], r["dataset"], r["type"], r["r_obs"], r["r_exp"]) for r in d.get("results", []))
    return CriticVerdict(d["critic"], d["passed"], d["reason"], d["n_sensitive"], d["n_excluding"], d["k_allowed"],
                         d["r_combined"], rows)


def _combination_rows(ts: KStatistic, results: list[LikelihoodResult], predictor: Predictor) -> list[dict[str, Any]]:
    by_key = {r.prediction.key: r for r in results}
    mu = ts.mu_hat
    rows = []
    for p in ts.combination:
        r = by_key[p.key]
        q = 2.0 * float(r.model.nll(0.0, r.signal[None, :])[0] - r.model.nll(mu, r.signal[None, :])[0])  # type: ignore[attr-defined]
        row: dict[str, Any] = {"analysis": p.analysis, "dataset": p.dataset, "type": p.type,
                               "txnames": list(p.txnames), "sqrts": p.sqrts,
                               "r_obs": None if p.r_obs is None else p.r_obs * mu,
                               "r_exp": None if p.r_exp is None else p.r_exp * mu,
                               "Z": math.copysign(math.sqrt(abs(q)), q), "signal_fb": p.xsection_fb * mu}
        if p.type != "UL":
            row["signal_events"] = sum(p.yields) * mu
        if p.type == "EM":
            ds = predictor.compiled.datasets[p.dataset_index].dataset
            row.update({"observed": ds.observed_n, "expected": ds.expected_bg, "bg_error": ds.bg_error})
        rows.append(row)
    return rows


def explain(model: ProtoModel, predictor: Predictor, combinability: Combinability, *,
            combine: bool = False, contributions: bool = True, r_cap: float = R_CAP) -> Explanation:
    """Evaluate ``model`` as the walker does and explain the result (module docstring).

    Parameters
    ----------
    combine:
        Use the analyses' combined likelihoods (covariance, pyhf) where given; the walker does not.
    contributions:
        Compute the particle and analysis contributions (one evaluation per particle and per combined analysis).
    r_cap:
        The walker's largest r_obs after μ̂ is absorbed (:data:`nextsm.machine.walker.R_CAP`).
    """
    view = _WalkerView(predictor, combine)
    walker_predictor = cast(Predictor, view)
    evaluation = evaluate(model, walker_predictor, combinability, r_cap=r_cap)
    ts = evaluation.statistic
    if ts is None:  # pragma: no cover - evaluate always fits K
        raise ModelError("the model could not be evaluated")
    predictions = view.predictions
    results = likelihood_results(predictions, predictor)
    slow_at_kappa = slow_critic(uncapped(results), combinability)
    mu_max = walker_mu_max(predictions, slow_at_kappa, r_cap=r_cap)
    particles: dict[int, float | None] = {}
    analyses: dict[str, float] = {}
    if contributions:
        for pdg in model.masses:
            if pdg == LSP or pdg not in PARTICLES:
                continue
            try:
                reduced = without_particle(model, pdg)
            except ModelError:
                particles[pdg] = None
                continue
            rest = evaluate(reduced, walker_predictor, combinability, r_cap=r_cap).statistic
            particles[pdg] = ts.K - rest.K if rest is not None else None
        for p in ts.combination:
            others = [r for r in results if r.prediction.analysis != p.analysis]
            analyses[p.analysis] = ts.K - k_statistic(others, combinability, ts.log_prior, mu_max=mu_max).K
    fast, slow = (_verdict(c) for c in evaluation.critics)
    return Explanation(evaluation.K, ts, mu_max, fast, slow, fast_critic(predictions), slow_at_kappa,
                       _combination_rows(ts, results, predictor), particles, analyses, tuple(predictions),
                       tuple(results))
