"""Why a protomodel scores what it scores: K, μ̂, the best combination, the critics, and contributions.

* **particle contribution**: K(model) − K(model without the particle), the particle removed with its κ's and the
  decays into it (the other BRs renormalised); ``None`` if removing it leaves another particle without decays;
* **analysis contribution**: K − K computed without that result (the best combination searched again).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nextsm.machine.combinability import Combinability
from nextsm.machine.critics import CriticVerdict, fast_critic, slow_critic
from nextsm.machine.teststatistic import KStatistic, k_statistic, likelihood_results, uncapped
from nextsm.model.errors import ModelError
from nextsm.model.particles import LSP, PARTICLES
from nextsm.model.protomodel import ProtoModel
from nextsm.theory.predictions import Predictor

__all__ = ["Explanation", "explain", "without_particle"]


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


@dataclass(frozen=True)
class Explanation:
    """The evaluation of one model (see the module docstring)."""

    statistic: KStatistic
    fast: CriticVerdict
    slow: CriticVerdict
    combination: list[dict[str, Any]]
    particle_contributions: dict[int, float | None] = field(default_factory=dict)
    analysis_contributions: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        ts = self.statistic
        return {
            "K": ts.K, "Z": ts.Z, "llr": ts.llr, "log_prior": ts.log_prior, "mu_hat": ts.mu_hat,
            "combination": self.combination,
            "critics": [self.fast.to_dict(), self.slow.to_dict()],
            "particle_contributions": {str(k): v for k, v in self.particle_contributions.items()},
            "analysis_contributions": self.analysis_contributions,
        }


def _evaluate(model: ProtoModel, predictor: Predictor, combinability: Combinability, combine: bool,
              exclude: str | None = None) -> tuple[KStatistic, list, list]:
    xsecs = predictor.cross_sections(model)
    predictions = predictor.predict(model, xsecs=xsecs, combine=combine)
    results = likelihood_results(predictions, predictor)
    if exclude is not None:
        results = [r for r in results if r.prediction.analysis != exclude]
    ts = k_statistic(results, combinability, model.log_prior(xsecs.get(13.0)))
    return ts, predictions, results


def explain(model: ProtoModel, predictor: Predictor, combinability: Combinability, *,
            combine: bool = False, contributions: bool = True) -> Explanation:
    """Evaluate ``model`` and explain the result (module docstring)."""
    ts, predictions, results = _evaluate(model, predictor, combinability, combine)
    rows = []
    for p in ts.combination:
        found = predictor.statistical_model(p, cap_excess=True)
        z = None
        if found is not None:
            m, s = found
            q = 2.0 * float(m.nll(0.0, s[None, :])[0] - m.nll(ts.mu_hat, s[None, :])[0])
            z = math.copysign(math.sqrt(abs(q)), q)
        row: dict[str, Any] = {"analysis": p.analysis, "dataset": p.dataset, "type": p.type,
                               "txnames": list(p.txnames), "sqrts": p.sqrts, "r_obs": p.r_obs, "r_exp": p.r_exp,
                               "Z": z, "signal_fb": p.xsection_fb * ts.mu_hat}
        if p.type != "UL":
            ds = predictor.compiled.datasets[p.dataset_index].dataset
            row.update({"signal_events": sum(p.yields) * ts.mu_hat, "observed": ds.observed_n,
                        "expected": ds.expected_bg, "bg_error": ds.bg_error} if p.type == "EM" else
                       {"signal_events": sum(p.yields) * ts.mu_hat})
        rows.append(row)
    fast = fast_critic(predictions)
    slow = slow_critic(uncapped(results), combinability)
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
            particles[pdg] = ts.K - _evaluate(reduced, predictor, combinability, combine)[0].K
        for p in ts.combination:
            rest = [r for r in results if r.prediction.analysis != p.analysis]
            analyses[p.analysis] = ts.K - k_statistic(rest, combinability, ts.log_prior).K
    return Explanation(ts, fast, slow, rows, particles, analyses)
