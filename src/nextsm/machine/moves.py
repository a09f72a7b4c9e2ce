r"""Walker moves with computable proposal densities, for a reversible-jump Metropolis–Hastings chain.

State: a protomodel.  Parameters and the reference measure of the target :math:`\propto e^{K/2}`: masses in GeV
(Lebesgue), the BRs of each particle on the simplex of its free *channel groups* (every open channel is a group,
except that the off-shell 3-body channels of X_W^1 / X_Z^2 form one group split in SM proportions), and
:math:`\ln\kappa` of every production pair (Lebesgue).

Every move returns a :class:`Proposal` with :math:`\ln q(\text{new}\mid\text{old})` and
:math:`\ln q(\text{old}\mid\text{new})`, so that the acceptance is

.. math:: \alpha = \min\left(1, \exp\left[\tfrac{K' - K}{2}\right]\frac{p(\theta')\,q(\text{old}\mid\text{new})}
          {p(\theta)\,q(\text{new}\mid\text{old})}\right),

with :math:`p(\theta)` the parameter prior of :func:`log_parameter_prior` (the reference measure of the target).

Moves (chosen with the fixed probabilities of :data:`MOVE_PROBABILITIES`, renormalised over the moves possible
in the current state, the choice probability being part of q):

* ``mass``: one present particle, :math:`m' = m + \mathcal N(0, \sigma_m)`; refused (no proposal) if it would
  open or close a channel, break the mass orderings or walls — so the move is symmetric;
* ``br``: one particle with ≥ 2 channel groups, :math:`b' \sim \mathrm{Dirichlet}(c\, b + 1)`;
* ``kappa``: one production pair with a reference cross section, :math:`\ln\kappa' = \ln\kappa + \mathcal N(0, \sigma_\kappa)`;
* ``add``: a particle not present (uniformly among those whose ordering partner allows it), mass
  :math:`\sim U(m_{\rm LSP}, m_{\max})`, BRs :math:`\sim` Dirichlet(1) over its open groups,
  :math:`\ln\kappa \sim \mathcal N(0, 1)` for each of its new production pairs with a reference cross section;
  decays of the other particles into it start with BR 0 (a later ``br`` move can open them);
* ``remove``: a present non-LSP particle that no other particle decays into (BR 0; uniformly), the exact
  inverse of ``add``.

* ``merge``: a pair of present partners of one merger group (:data:`MERGER_GROUPS`) within
  :data:`MERGE_DELTA` GeV whose heavier member nothing decays into: the heavier is removed (with its decays and
  κ's) and the lighter moves to the pair's average mass;
* ``split``: the inverse: a present particle and an absent partner of its group, δ ~ U(0, MERGE_DELTA), masses
  m̄ ∓ δ/2 (Jacobian 1), the new partner's BRs and κ's drawn as in ``add``.

Moves that would open or close a channel of a particle that stays are refused, on both sides of every pair of
moves, so that each move is exactly undone by its reverse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln
from scipy.stats import dirichlet

from nextsm.model.decays import OFFSHELL_CHANNELS, offshell_brs
from nextsm.model.errors import ModelError
from nextsm.model.particles import LSP, MASS_ORDERINGS, MAX_MASS, PARTICLES, mass_constraint_violations
from nextsm.model.protomodel import Pair, ProtoModel
from nextsm.model.xsec import table_for_pair

__all__ = ["MOVE_PROBABILITIES", "MoveSettings", "Proposal", "log_parameter_prior", "propose", "trim_unused"]

#: relative probabilities of the moves (renormalised over the moves possible in a state)
MOVE_PROBABILITIES: Mapping[str, float] = {"mass": 0.4, "br": 0.15, "kappa": 0.15, "add": 0.12, "remove": 0.12,
                                           "merge": 0.03, "split": 0.03}
#: merger groups of near-degenerate partners (``protomodels.md`` §2.3)
MERGER_GROUPS: tuple[frozenset[int], ...] = (
    frozenset({1000001, 1000002, 1000003, 1000004}), frozenset({1000005, 2000005}), frozenset({1000006, 2000006}),
    frozenset({1000024, 1000037}), frozenset({1000023, 1000025}),
)
#: largest mass difference (GeV) of a merged pair, and the range of the split's mass difference
MERGE_DELTA = 200.0


@dataclass(frozen=True)
class MoveSettings:
    """Step sizes and limits of the moves."""

    mass_sigma: float = 40.0
    kappa_sigma: float = 0.2
    br_concentration: float = 30.0
    add_kappa_sigma: float = 1.0
    max_particles: int = 8


@dataclass(frozen=True)
class Proposal:
    """A proposed model, the move that made it and the log proposal densities forward and backward."""

    model: ProtoModel
    move: str
    detail: str
    log_q_forward: float
    log_q_reverse: float


def _groups(model: ProtoModel, pdg: int) -> list[tuple[tuple[int, ...], ...]]:
    """Free channel groups of ``pdg`` (each a tuple of channels) for the model's masses."""
    opened = model.open_channels(pdg)
    off = OFFSHELL_CHANNELS.get(pdg, frozenset())
    groups: list[tuple[tuple[int, ...], ...]] = [(c,) for c in opened if c not in off]
    shell = tuple(c for c in opened if c in off)
    if shell:
        groups.append(shell)
    return groups


def _group_brs(model: ProtoModel, pdg: int, groups: list[tuple[tuple[int, ...], ...]]) -> np.ndarray:
    ch = model.decays.get(pdg, {})
    return np.array([sum(ch.get(c, 0.0) for c in g) for g in groups])


def _decays_from(model: ProtoModel, pdg: int, groups: list[tuple[tuple[int, ...], ...]],
                 brs: np.ndarray) -> dict[tuple[int, ...], float]:
    out: dict[tuple[int, ...], float] = {}
    for g, b in zip(groups, brs, strict=True):
        if len(g) == 1:
            out[g[0]] = float(b)
        else:
            split = offshell_brs(pdg, model.masses)
            for c in g:
                out[c] = float(b) * split[c]
    return {c: b for c, b in out.items() if b > 0.0}


def _pairs_with_table(model: ProtoModel) -> list[Pair]:
    return [p for p in model.production_pairs() if table_for_pair(*p) is not None]


def _addable(model: ProtoModel) -> list[int]:
    out: list[int] = []
    if len(model.masses) >= 1 + MoveSettings().max_particles:
        return out
    for pdg in PARTICLES:
        if pdg in model.masses or pdg == LSP:
            continue
        if any(heavy == pdg and light not in model.masses for light, heavy in MASS_ORDERINGS):
            continue
        out.append(pdg)
    return out


def _removable(model: ProtoModel) -> list[int]:
    out = []
    for pdg in model.masses:
        if pdg == LSP:
            continue
        if any(light == pdg and heavy in model.masses for light, heavy in MASS_ORDERINGS):
            continue
        if any(any(abs(d) == pdg for d in c) and b > 0 for m, ch in model.decays.items() if m != pdg
               for c, b in ch.items()):
            continue
        out.append(pdg)
    return out


def _merge_pairs(model: ProtoModel) -> list[tuple[int, int]]:
    """(lighter, heavier) present partners within MERGE_DELTA whose heavier member can be removed."""
    removable = set(_removable(model))
    out = []
    for group in MERGER_GROUPS:
        present = sorted((p for p in group if p in model.masses), key=lambda p: (model.masses[p], p))
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                if b in removable and model.masses[b] - model.masses[a] < MERGE_DELTA:
                    out.append((a, b))
    return out


def _split_pairs(model: ProtoModel) -> list[tuple[int, int]]:
    """(present, absent) partners of one merger group that a split can create."""
    addable = set(_addable(model))
    return [(a, b) for group in MERGER_GROUPS for a in sorted(group) if a in model.masses
            for b in sorted(group) if b not in model.masses and b in addable]


def _stable_groups(before: ProtoModel, after: ProtoModel, gone: int | None) -> bool:
    """True if every particle of ``after`` (but ``gone``'s partner being created) keeps its channel groups."""
    for p in after.masses:
        if p == LSP or p not in before.masses:
            continue
        old = {tuple(c for c in g if all(abs(d) != gone for d in c)) for g in _groups(before, p)} - {()}
        new = {tuple(c for c in g if all(abs(d) != gone for d in c)) for g in _groups(after, p)} - {()}
        if old != new:
            return False
    return True


def _possible(model: ProtoModel, settings: MoveSettings) -> dict[str, float]:
    possible = {"mass": 1.0}
    if any(len(_groups(model, p)) >= 2 for p in model.masses if p != LSP):
        possible["br"] = 1.0
    if _pairs_with_table(model):
        possible["kappa"] = 1.0
    if _addable(model) and len(model.masses) < 1 + settings.max_particles:
        possible["add"] = 1.0
    if _removable(model):
        possible["remove"] = 1.0
    if _merge_pairs(model):
        possible["merge"] = 1.0
    if _split_pairs(model) and len(model.masses) < 1 + settings.max_particles:
        possible["split"] = 1.0
    total = sum(MOVE_PROBABILITIES[m] for m in possible)
    return {m: MOVE_PROBABILITIES[m] / total for m in possible}


def _rebuild(model: ProtoModel, **changes: object) -> ProtoModel | None:
    data = {"masses": model.masses, "decays": model.decays, "ssmultipliers": model.ssmultipliers,
            "xsecs": model.xsecs, **changes}
    candidate = ProtoModel(**data)  # type: ignore[arg-type]
    try:
        candidate.validate()
    except ModelError:
        return None
    if mass_constraint_violations(candidate.masses):
        return None
    return candidate


def _dirichlet_logpdf(x: np.ndarray, alpha: np.ndarray) -> float:
    x = np.clip(x, 1e-300, None)
    x = x / x.sum()
    return float(dirichlet.logpdf(x, alpha))


def _add_density(model: ProtoModel, pdg: int, new_pairs: list[Pair], settings: MoveSettings) -> float:
    """ln density of the parameters ``add`` drew for ``pdg`` in ``model`` (after the addition)."""
    width = MAX_MASS - model.masses[LSP]
    log_q = -math.log(width)
    groups = _groups(model, pdg)
    log_q += float(gammaln(len(groups)))  # Dirichlet(1) on the simplex: density Γ(n)
    s = settings.add_kappa_sigma
    for pair in new_pairs:
        lk = math.log(model.ssmultipliers[pair])
        log_q += -0.5 * (lk / s) ** 2 - math.log(s * math.sqrt(2 * math.pi))
    return log_q


def log_parameter_prior(model: ProtoModel, settings: MoveSettings | None = None) -> float:
    r"""ln of the prior density of the continuous parameters, the reference measure of the target.

    Each non-LSP mass uniform on :math:`[m_{\rm LSP}, m_{\max}]`, each particle's BRs flat on its simplex of
    channel groups (Dirichlet(1), density Γ(n)), each :math:`\ln\kappa` of a pair with a reference cross
    section standard normal (width ``add_kappa_sigma``) — exactly the densities ``add`` draws from, so that an
    addition is accepted on :math:`e^{\Delta K/2}` times the ratio of the move choices only.  The complexity
    penalty itself is the prior π inside K.
    """
    settings = settings or MoveSettings()
    width = MAX_MASS - model.masses[LSP]
    total = 0.0
    s = settings.add_kappa_sigma
    for pdg in model.masses:
        if pdg == LSP:
            continue
        total += -math.log(width) + float(gammaln(max(len(_groups(model, pdg)), 1)))
    for pair in _pairs_with_table(model):
        kappa = model.ssmultipliers.get(pair)
        if kappa is None or kappa <= 0:
            continue
        lk = math.log(kappa)
        total += -0.5 * (lk / s) ** 2 - math.log(s * math.sqrt(2 * math.pi))
    return total


def _new_pairs(before: ProtoModel, after: ProtoModel) -> list[Pair]:
    old = set(_pairs_with_table(before))
    return [p for p in _pairs_with_table(after) if p not in old]


def _with_particle(model: ProtoModel, pdg: int, masses: Mapping[int, float], rng: np.random.Generator,
                   settings: MoveSettings) -> tuple[ProtoModel | None, list[Pair]]:
    """``model`` with ``pdg`` created at ``masses``: BRs ~ Dirichlet(1) over its groups, ln κ ~ N(0, σ) for its
    new pairs (the densities of :func:`_add_density`); ``(None, [])`` if the result is not a valid model."""
    trial = ProtoModel(masses=masses, decays=model.decays, ssmultipliers=model.ssmultipliers, xsecs=model.xsecs)
    groups = _groups(trial, pdg)
    if not groups:
        return None, []
    brs = rng.dirichlet(np.ones(len(groups)))
    decays = {**model.decays, pdg: _decays_from(trial, pdg, groups, brs)}
    trial = ProtoModel(masses=masses, decays=decays, ssmultipliers=model.ssmultipliers, xsecs=model.xsecs)
    new_pairs = _new_pairs(model, trial)
    kappas = dict(model.ssmultipliers)
    for pair in new_pairs:
        kappas[pair] = math.exp(float(rng.normal(0.0, settings.add_kappa_sigma)))
    return _rebuild(model, masses=masses, decays=decays, ssmultipliers=kappas), new_pairs


def _without_particle(model: ProtoModel, pdg: int, masses: Mapping[int, float]) -> ProtoModel | None:
    """``model`` with ``pdg`` removed (its decays and κ's dropped) and the given ``masses`` of the rest."""
    decays = {k: v for k, v in model.decays.items() if k != pdg}
    kappas = {p: k for p, k in model.ssmultipliers.items() if all(abs(x) != pdg for x in p)}
    return _rebuild(model, masses={k: v for k, v in masses.items() if k != pdg}, decays=decays,
                    ssmultipliers=kappas)


def trim_unused(model: ProtoModel, keep: set[int]) -> ProtoModel:
    """``model`` without the particles outside ``keep`` that can be removed (the original's redundant-particle
    removal, P21 §3: particles that appear in no prediction of the best combination).

    A particle stays if another one decays into it or if it is the lighter partner of a present ordered pair; the
    LSP always stays.  Removal repeats until nothing more can go.
    """
    current = model
    while True:
        gone = [p for p in _removable(current) if p not in keep]
        if not gone:
            return current
        smaller = _without_particle(current, gone[0], current.masses)
        if smaller is None:
            keep = keep | {gone[0]}
            continue
        current = smaller


def propose(model: ProtoModel, rng: np.random.Generator, settings: MoveSettings | None = None) -> Proposal | None:
    """One proposal from ``model`` (``None`` if the drawn move is impossible, e.g. leaves the allowed space)."""
    settings = settings or MoveSettings()
    probs = _possible(model, settings)
    names = list(probs)
    move = names[int(rng.choice(len(names), p=[probs[n] for n in names]))]
    log_choice = math.log(probs[move])

    def reverse_choice(new: ProtoModel, reverse_move: str) -> float:
        back = _possible(new, settings)
        return math.log(back[reverse_move]) if reverse_move in back else -math.inf

    if move == "mass":
        particles = sorted(model.masses)
        pdg = particles[int(rng.integers(len(particles)))]
        mass = model.masses[pdg] + float(rng.normal(0.0, settings.mass_sigma))
        if mass <= 0.0:
            return None
        masses = {**model.masses, pdg: mass}
        before = {p: set(_groups(model, p)) for p in model.masses if p != LSP}
        new = _rebuild(model, masses=masses)
        if new is None or any(set(_groups(new, p)) != g for p, g in before.items()):
            return None
        lq = log_choice - math.log(len(particles))
        return Proposal(new, "mass", f"m({PARTICLES[pdg].name}) {model.masses[pdg]:.1f} -> {mass:.1f}",
                        lq, reverse_choice(new, "mass") - math.log(len(particles)))
    if move == "br":
        candidates = sorted(p for p in model.masses if p != LSP and len(_groups(model, p)) >= 2)
        pdg = candidates[int(rng.integers(len(candidates)))]
        groups = _groups(model, pdg)
        old = _group_brs(model, pdg, groups)
        alpha = settings.br_concentration * old + 1.0
        new_brs = rng.dirichlet(alpha)
        decays = {**model.decays, pdg: _decays_from(model, pdg, groups, new_brs)}
        new = _rebuild(model, decays=decays)
        if new is None:
            return None
        back_alpha = settings.br_concentration * new_brs + 1.0
        lq = log_choice - math.log(len(candidates)) + _dirichlet_logpdf(new_brs, alpha)
        lr = reverse_choice(new, "br") - math.log(len(candidates)) + _dirichlet_logpdf(old, back_alpha)
        return Proposal(new, "br", f"BRs of {PARTICLES[pdg].name}", lq, lr)
    if move == "kappa":
        pairs = _pairs_with_table(model)
        pair = pairs[int(rng.integers(len(pairs)))]
        old_kappa = model.ssmultipliers.get(pair, 1.0)
        new_kappa = old_kappa * math.exp(float(rng.normal(0.0, settings.kappa_sigma)))
        new = _rebuild(model, ssmultipliers={**model.ssmultipliers, pair: new_kappa})
        if new is None:
            return None
        n = len(pairs)
        return Proposal(new, "kappa", f"κ{pair} {old_kappa:.3g} -> {new_kappa:.3g}", log_choice - math.log(n),
                        reverse_choice(new, "kappa") - math.log(n))
    if move == "merge":
        pairs = _merge_pairs(model)
        a, b = pairs[int(rng.integers(len(pairs)))]
        mean = 0.5 * (model.masses[a] + model.masses[b])
        new = _without_particle(model, b, {**model.masses, a: mean})
        if new is None or not _stable_groups(model, new, b):
            return None
        back = _possible(new, settings)
        splits = _split_pairs(new)
        if "split" not in back or (a, b) not in splits:
            return None
        gone = _new_pairs(new, model)
        lq = log_choice - math.log(len(pairs))
        lr = (math.log(back["split"]) - math.log(len(splits)) - math.log(MERGE_DELTA)
              + _add_density(model, b, gone, settings) + math.log(MAX_MASS - model.masses[LSP]))
        return Proposal(new, "merge", f"merge {PARTICLES[b].name} into {PARTICLES[a].name} at {mean:.1f} GeV", lq, lr)
    if move == "split":
        pairs = _split_pairs(model)
        a, b = pairs[int(rng.integers(len(pairs)))]
        delta = float(rng.uniform(0.0, MERGE_DELTA))
        mean = model.masses[a]
        masses = {**model.masses, a: mean - 0.5 * delta, b: mean + 0.5 * delta}
        new, new_pairs = _with_particle(model, b, masses, rng, settings)
        if new is None or not _stable_groups(new, model, b):
            return None
        back = _possible(new, settings)
        merges = _merge_pairs(new)
        if "merge" not in back or (a, b) not in merges:
            return None
        lq = (log_choice - math.log(len(pairs)) - math.log(MERGE_DELTA)
              + _add_density(new, b, new_pairs, settings) + math.log(MAX_MASS - new.masses[LSP]))
        lr = math.log(back["merge"]) - math.log(len(merges))
        return Proposal(new, "split", f"split {PARTICLES[b].name} off {PARTICLES[a].name} (Δm {delta:.1f} GeV)",
                        lq, lr)
    if move == "add":
        addable = _addable(model)
        pdg = addable[int(rng.integers(len(addable)))]
        mass = float(rng.uniform(model.masses[LSP], MAX_MASS))
        new, new_pairs = _with_particle(model, pdg, {**model.masses, pdg: mass}, rng, settings)
        if new is None:
            return None
        lq = log_choice - math.log(len(addable)) + _add_density(new, pdg, new_pairs, settings)
        lr = reverse_choice(new, "remove") - math.log(len(_removable(new)))
        return Proposal(new, "add", f"add {PARTICLES[pdg].name} at {mass:.1f} GeV", lq, lr)
    # remove
    removable = _removable(model)
    pdg = removable[int(rng.integers(len(removable)))]
    new = _without_particle(model, pdg, model.masses)
    if new is None:
        return None
    gone = _new_pairs(new, model)
    lq = log_choice - math.log(len(removable))
    back = _possible(new, settings)
    addable_back = _addable(new)
    if "add" not in back or pdg not in addable_back:
        return None
    lr = math.log(back["add"]) - math.log(len(addable_back)) + _add_density(model, pdg, gone, settings)
    return Proposal(new, "remove", f"remove {PARTICLES[pdg].name}", lq, lr)
