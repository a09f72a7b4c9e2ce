"""Decomposition of a proto-model into simplified-model elements, following SModelS 3.2.1.

An *element* is a pair of decay chains (branches) started by one production pair.  Each branch is a list of
vertices ``(BSM mother, SM daughters)`` ending in a stable, invisible final state: the LSP, or (after
invisible compression) an invisibly decaying mother.  Its weight is σ × Π BR per √s.

Behaviour reproduced from SModelS 3.2.1 (``smodels.decomposition``), with every unstable state prompt:

* production pairs whose largest σ over √s is below ``sigma_cut_fb`` (or not above zero) are dropped;
* every combination of decay chains of the two mothers is one uncompressed element, kept iff
  max_√s(σ) × Π BR ≥ ``sigma_cut_fb`` (SModelS prunes the expansion with min BR = σ_cut / σ_max per pair,
  which is equivalent); there is no further cut after compression or merging;
* a self-conjugate mother's channel that differs from its charge conjugate is split into both conjugates
  with BR/2 each (as written to SLHA); the antiparticle decays into the conjugate channels;
* compression *adds* elements, the uncompressed ones are kept: the set of compressed variants of an element
  is its closure under (a) mass compression, which removes at once every vertex whose mother–daughter mass
  gap is below ``min_mass_gap`` (with its SM daughters), and is redone with 0.999 × the largest removed gap
  if it would leave both mothers as bare invisible final states (SModelS ``minmassgapISR = 0``), and
  (b) invisible compression, which repeatedly absorbs a final vertex whose SM daughters are all neutrinos
  (its mother becomes the invisible final state);  each variant carries the weight of its parent;
* identical elements are merged (weights summed per √s).  As in SModelS (BSM quantum numbers of prompt states
  ignored, masses rounded to 0.1 GeV), two elements are identical if they have the same branches up to
  order with the same SM labels at each vertex and the same BSM masses; BSM PDG codes are not compared.
  The codes kept in a merged element's branches are those of its first contribution, all contributing codes
  are in :attr:`Element.pids`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from nextsm.model.errors import ModelError
from nextsm.model.particles import PARTICLES

if TYPE_CHECKING:
    from nextsm.model.protomodel import ProtoModel

__all__ = [
    "DEFAULT_MIN_MASS_GAP",
    "DEFAULT_SIGMA_CUT_FB",
    "SM_LABELS",
    "Branch",
    "Decomposer",
    "Element",
    "Vertex",
    "decompose",
    "sm_label",
    "total_weight",
]

Pair = tuple[int, int]
XSecs = Mapping[float, Mapping[Pair, float]]

#: Default minimal weight (fb) of an element (proto-model machine).
DEFAULT_SIGMA_CUT_FB = 0.02
#: Default mass gap (GeV) below which a decay is mass-compressed.
DEFAULT_MIN_MASS_GAP = 10.0
#: SModelS rounds BSM masses to this many decimals (``roundMasses``) before comparing them.
_MASS_DIGITS = 1
#: SModelS redoes a mass compression leading to a pure-MET element with the largest gap times this factor.
_ISR_GAP_FACTOR = 0.999

#: Signed SM PDG code -> SModelS label (``smodels/share/models/SMparticles.py``).
SM_LABELS: Mapping[int, str] = MappingProxyType(
    {
        **{s * q: "q" for q in (1, 2, 3) for s in (1, -1)},
        4: "c", -4: "c", 5: "b", -5: "b", 6: "t+", -6: "t-",
        21: "g", 22: "photon", 23: "Z", 24: "W+", -24: "W-", 25: "higgs",
        11: "e-", -11: "e+", 13: "mu-", -13: "mu+", 15: "ta-", -15: "ta+",
        **{s * n: "nu" for n in (12, 14, 16) for s in (1, -1)},
    }
)
#: SM particles counted as missing energy by invisible compression.
_INVISIBLE_SM = frozenset({"nu"})
#: SM states that are their own antiparticle.
_SM_SELF_CONJUGATE = frozenset({21, 22, 23, 25})


def sm_label(pdg: int) -> str:
    """SModelS label of a signed SM PDG code (``6`` -> ``"t+"``, ``-5`` -> ``"b"``)."""
    try:
        return SM_LABELS[pdg]
    except KeyError:
        raise ModelError(f"{pdg}: no SModelS label for this SM particle") from None


def _conjugate_code(pdg: int) -> int:
    if abs(pdg) in PARTICLES:
        return pdg if PARTICLES[abs(pdg)].self_conjugate else -pdg
    return pdg if abs(pdg) in _SM_SELF_CONJUGATE else -pdg


def _round(mass: float) -> float:
    return round(mass, _MASS_DIGITS)


@dataclass(frozen=True)
class Vertex:
    """A decay vertex: a BSM ``mother`` (signed code) emitting the SM ``daughters`` (signed codes)."""

    mother: int
    daughters: tuple[int, ...]

    def labels(self) -> tuple[str, ...]:
        """SModelS labels of the SM daughters, sorted."""
        return tuple(sorted(sm_label(d) for d in self.daughters))


@dataclass(frozen=True)
class Branch:
    """One decay chain: its vertices (primary mother first) and the stable final state.

    ``final`` is the signed code of the final BSM state; ``invisible`` is True if it is an invisibly decaying
    state absorbed by invisible compression (SModelS' ``inv``) rather than a stable particle.
    """

    vertices: tuple[Vertex, ...]
    final: int
    invisible: bool = False

    def labels(self) -> list[list[str]]:
        """Bracket-notation list of the branch: one list of SM labels per vertex."""
        return [list(v.labels()) for v in self.vertices]

    def codes(self) -> tuple[int, ...]:
        """Signed BSM codes along the branch, the final state included."""
        return (*(v.mother for v in self.vertices), self.final)


@dataclass(frozen=True)
class Element:
    """A simplified-model element.

    Attributes
    ----------
    branches:
        The two branches, in a canonical order (shorter first, then by masses, then by labels).
    weights:
        √s in TeV -> weight σ × Π BR in fb (read-only).
    masses:
        Per branch, the masses in GeV of the vertex mothers and of the final state.
    pids:
        Signed codes of every BSM state in the (uncompressed) decay chains that contributed.
    production:
        The sorted signed production pairs that contributed.
    ancestors:
        Indices (into the returned list) of the elements this one was obtained from by compression, directly
        or through other compressed elements; empty for an element made of uncompressed decay trees only.
        Two elements with a common ancestor are *related* (SModelS ``TheorySMS.isRelatedTo`` applied, as
        SModelS does, to copies of the decomposition's elements): only the heavier of them counts in one
        signal region or one UL cluster.
    """

    branches: tuple[Branch, Branch]
    weights: Mapping[float, float]
    masses: tuple[tuple[float, ...], tuple[float, ...]]
    pids: frozenset[int]
    production: frozenset[Pair]
    ancestors: frozenset[int] = frozenset()

    @property
    def max_weight(self) -> float:
        """Largest weight over √s (fb)."""
        return max(self.weights.values(), default=0.0)

    def bracket_list(self) -> list[list[list[str]]]:
        """The SModelS bracket notation as nested lists, e.g. ``[[['t+']], [['t-']]]``."""
        return [b.labels() for b in self.branches]

    def bracket(self) -> str:
        """The SModelS bracket notation as a string without spaces, e.g. ``"[[['t+']],[['t-']]]"``."""
        return "[" + ",".join(
            "[" + ",".join("[" + ",".join(f"'{lab}'" for lab in vertex) + "]" for vertex in branch) + "]"
            for branch in self.bracket_list()
        ) + "]"

    def __str__(self) -> str:
        return f"{self.bracket()} {[list(m) for m in self.masses]} {dict(self.weights)}"


# ---------------------------------------------------------------------------------------------- internals
# A chain is (vertices, final, invisible); vertices are Vertex objects.
_Chain = tuple[tuple[Vertex, ...], int, bool]
_Tree = tuple[_Chain, _Chain]


def _decay_table(model: ProtoModel) -> dict[int, list[tuple[int, tuple[int, ...], float]]]:
    """Signed mother -> [(BSM daughter, SM daughters, BR)], both charge states, self-conjugates split."""
    table: dict[int, list[tuple[int, tuple[int, ...], float]]] = {}
    for mother, channels in model.decays.items():
        if mother not in model.masses:
            continue
        self_conjugate = PARTICLES[mother].self_conjugate if mother in PARTICLES else False
        own: list[tuple[int, tuple[int, ...], float]] = []
        for channel, br in channels.items():
            bsm = [c for c in channel if abs(c) in PARTICLES]
            sm = tuple(c for c in channel if abs(c) not in PARTICLES)
            if len(bsm) != 1:
                raise ModelError(f'decays["{mother}"]: channel {channel} must have exactly one BSM daughter')
            conj_bsm = _conjugate_code(bsm[0])
            conj_sm = tuple(_conjugate_code(c) for c in sm)
            if self_conjugate and (conj_bsm, sorted(conj_sm)) != (bsm[0], sorted(sm)):
                own.append((bsm[0], sm, br / 2.0))
                own.append((conj_bsm, conj_sm, br / 2.0))
            else:
                own.append((bsm[0], sm, br))
        table[mother] = own
        if not self_conjugate:
            table[-mother] = [
                (_conjugate_code(d), tuple(_conjugate_code(c) for c in sm), br) for d, sm, br in own
            ]
    return table


def _chains(
    pdg: int,
    table: Mapping[int, list[tuple[int, tuple[int, ...], float]]],
    min_br: float,
    memo: dict[int, list[tuple[_Chain, float]]],
    visiting: set[int],
) -> list[tuple[_Chain, float]]:
    """All decay chains of ``pdg`` with their BR product, chains below ``min_br`` pruned."""
    if pdg in memo:
        return memo[pdg]
    if pdg in visiting:
        raise ModelError(f"{pdg}: decay loop in the decay table")
    decays = table.get(pdg)
    if not decays:
        memo[pdg] = [(((), pdg, False), 1.0)]
        return memo[pdg]
    visiting.add(pdg)
    out: list[tuple[_Chain, float]] = []
    for daughter, sm, br in decays:
        if br < min_br:
            continue
        vertex = Vertex(pdg, sm)
        for (vertices, final, inv), sub_br in _chains(daughter, table, min_br, memo, visiting):
            total = br * sub_br
            if total < min_br:
                continue
            out.append((((vertex, *vertices), final, inv), total))
    visiting.discard(pdg)
    memo[pdg] = out
    return out


class _Masses:
    """Rounded mass lookup of signed codes (SModelS rounds to 0.1 GeV)."""

    def __init__(self, masses: Mapping[int, float]) -> None:
        self._masses = masses

    def actual(self, pdg: int) -> float:
        return float(self._masses[abs(pdg)])

    def __call__(self, pdg: int) -> float:
        return _round(self.actual(pdg))


def _chain_masses(chain: _Chain, mass: _Masses) -> list[float]:
    vertices, final, _ = chain
    return [*(mass(v.mother) for v in vertices), mass(final)]


def _mass_compress(tree: _Tree, gap: float, mass: _Masses) -> _Tree | None:
    removed: list[float] = []
    new: list[_Chain] = []
    for chain in tree:
        vertices, final, inv = chain
        ms = _chain_masses(chain, mass)
        kept = []
        for i, vertex in enumerate(vertices):
            diff = ms[i] - ms[i + 1]
            if diff < gap:
                removed.append(diff)
            else:
                kept.append(vertex)
        new.append((tuple(kept), final, inv))
    if not removed:
        return None
    if all(not vertices for vertices, _, _ in new):
        # pure MET left: keep (at least) the largest gap uncompressed, as SModelS with minmassgapISR = 0
        largest = max(removed)
        if largest <= 0.0:  # degenerate (or kinematically closed) chains: nothing sensible to keep
            return None
        return _mass_compress(tree, _ISR_GAP_FACTOR * largest, mass)
    return new[0], new[1]


def _invisible_compress(tree: _Tree) -> _Tree | None:
    changed = False
    new: list[_Chain] = []
    for vertices, final, inv in tree:
        while vertices and all(sm_label(d) in _INVISIBLE_SM for d in vertices[-1].daughters):
            final, inv = vertices[-1].mother, True
            vertices = vertices[:-1]
            changed = True
        new.append((vertices, final, inv))
    return (new[0], new[1]) if changed else None


def _chain_key(chain: _Chain, mass: _Masses) -> tuple[object, ...]:
    vertices, final, _ = chain
    return (tuple((mass(v.mother), v.labels()) for v in vertices), mass(final))


def _tree_key(tree: _Tree, mass: _Masses) -> tuple[object, ...]:
    a, b = (_chain_key(c, mass) for c in tree)
    return (a, b) if a <= b else (b, a)


def _compressed_variants(
    tree: _Tree, mass: _Masses, mass_compression: bool, invisible_compression: bool, gap: float
) -> list[tuple[tuple[object, ...], _Tree, set[tuple[object, ...]]]]:
    """``tree`` and its distinct compressed variants (closure under mass and invisible compression), each
    as ``(key, tree, keys of the trees it was compressed from)``."""
    root = _tree_key(tree, mass)
    found: dict[tuple[object, ...], tuple[_Tree, set[tuple[object, ...]]]] = {root: (tree, set())}
    todo = [(root, tree)]
    while todo:
        current_key, current = todo.pop(0)
        candidates = []
        if mass_compression:
            candidates.append(_mass_compress(current, gap, mass))
        if invisible_compression:
            candidates.append(_invisible_compress(current))
        for cand in candidates:
            if cand is None:
                continue
            key = _tree_key(cand, mass)
            if key not in found:
                found[key] = (cand, set())
                todo.append((key, cand))
            if key != current_key:
                found[key][1].add(current_key)
    return [(key, t, parents) for key, (t, parents) in found.items()]


def _check_xsecs(xsecs: XSecs) -> dict[Pair, dict[float, float]]:
    """{pair: {√s: σ > 0}} from {√s: {pair: σ}}."""
    by_pair: dict[Pair, dict[float, float]] = {}
    for sqrts, table in xsecs.items():
        for pair, sigma in table.items():
            if not math.isfinite(sigma) or sigma < 0.0:
                raise ModelError(f"xsecs[{sqrts}][{pair}]: cross section must be finite and >= 0 fb")
            if sigma > 0.0:
                key = (int(min(pair)), int(max(pair)))
                by_pair.setdefault(key, {})[float(sqrts)] = float(sigma)
    return by_pair


def decompose(
    model: ProtoModel,
    xsecs: XSecs | None = None,
    *,
    sigma_cut_fb: float = DEFAULT_SIGMA_CUT_FB,
    min_mass_gap: float = DEFAULT_MIN_MASS_GAP,
    mass_compression: bool = True,
    invisible_compression: bool = True,
) -> list[Element]:
    """Decompose ``model`` into simplified-model elements (see the module docstring).

    Parameters
    ----------
    model:
        The proto-model (masses and decays are used).
    xsecs:
        √s in TeV -> {sorted signed production pair: σ in fb}; ``None`` uses ``model.xsecs``.
        Pairs with a particle absent from ``model.masses`` are ignored.
    sigma_cut_fb:
        Minimal weight (largest over √s, fb) of an uncompressed element.
    min_mass_gap:
        Mass compression of decays with a mother–daughter mass gap below this (GeV).
    mass_compression, invisible_compression:
        Switch the two compressions.

    Returns
    -------
    list[Element]
        Merged elements, sorted by decreasing largest weight (ties by bracket string and masses).
    """
    return Decomposer(sigma_cut_fb=sigma_cut_fb, min_mass_gap=min_mass_gap, mass_compression=mass_compression,
                      invisible_compression=invisible_compression, cache_size=0)(model, xsecs)


@dataclass(frozen=True)
class _TreeRecord:
    """One uncompressed decay tree of a production pair and its compressed variants (σ-independent)."""

    pair: Pair
    br: float
    pids: frozenset[int]
    variants: tuple[tuple[tuple[object, ...], _Tree, frozenset[tuple[object, ...]]], ...]


@dataclass(frozen=True)
class _Template:
    """The σ-independent part of a decomposition: all trees with BR product ≥ ``min_br``."""

    min_br: float
    trees: tuple[_TreeRecord, ...]


class Decomposer:
    """:func:`decompose` with a cache of the σ-independent work, keyed by masses, decays and production pairs.

    The decay trees of a model and their compressed variants do not depend on the cross sections; only which
    trees pass the σ cut and their weights do.  A change of κ (or of σ) therefore reuses the trees and only
    re-weights them, as long as the cut does not reach trees that were pruned (a tree is kept in the cache down
    to BR products ``cache_margin`` times below the current cut).  The result is identical to :func:`decompose`.
    """

    def __init__(self, *, sigma_cut_fb: float = DEFAULT_SIGMA_CUT_FB, min_mass_gap: float = DEFAULT_MIN_MASS_GAP,
                 mass_compression: bool = True, invisible_compression: bool = True, cache_size: int = 4096,
                 cache_margin: float = 3.0) -> None:
        self.sigma_cut_fb = float(sigma_cut_fb)
        self.min_mass_gap = float(min_mass_gap)
        self.mass_compression = bool(mass_compression)
        self.invisible_compression = bool(invisible_compression)
        self.cache_size = int(cache_size)
        self.cache_margin = float(cache_margin)
        self._cache: dict[tuple[object, ...], _Template] = {}
        #: number of decompositions that reused cached trees
        self.hits = 0

    def _template(self, model: ProtoModel, pairs: Sequence[Pair], min_br: float, mass: _Masses) -> _Template:
        table = _decay_table(model)
        memo: dict[int, list[tuple[_Chain, float]]] = {}
        trees = []
        for pair in pairs:
            chains = [_chains(p, table, min_br, memo, set()) for p in pair]
            for chain1, br1 in chains[0]:
                for chain2, br2 in chains[1]:
                    br = br1 * br2
                    if br < min_br:
                        continue
                    tree: _Tree = (chain1, chain2)
                    pids = frozenset(c for chain in tree for c in (*(v.mother for v in chain[0]), chain[1]))
                    variants = tuple(
                        (key, variant, frozenset(parents)) for key, variant, parents in _compressed_variants(
                            tree, mass, self.mass_compression, self.invisible_compression, self.min_mass_gap))
                    trees.append(_TreeRecord(pair, br, pids, variants))
        return _Template(min_br, tuple(trees))

    def __call__(self, model: ProtoModel, xsecs: XSecs | None = None) -> list[Element]:
        """The elements of ``model`` for the cross sections ``xsecs`` (default: ``model.xsecs``)."""
        if xsecs is None:
            xsecs = model.xsecs or {}
        cut = self.sigma_cut_fb
        by_pair = _check_xsecs(xsecs)
        pairs: dict[Pair, tuple[dict[float, float], float]] = {}
        for pair, sig in by_pair.items():
            if any(abs(p) not in model.masses for p in pair):
                continue
            sigma_max = max(sig.values())
            if sigma_max >= cut:
                pairs[pair] = (sig, sigma_max)
        if not pairs:
            return []
        largest = max(s for _, s in pairs.values())
        min_br = cut / largest if cut > 0.0 else 0.0
        mass = _Masses(model.masses)
        key = (tuple(sorted(model.masses.items())),
               tuple(sorted((m, tuple(sorted(ch.items()))) for m, ch in model.decays.items())),
               tuple(pairs))
        template = self._cache.get(key) if self.cache_size > 0 else None
        if template is not None and template.min_br <= min_br:
            self.hits += 1
        else:
            floor = min_br / self.cache_margin if self.cache_size > 0 else min_br
            template = self._template(model, tuple(pairs), floor, mass)
            if self.cache_size > 0:
                if len(self._cache) >= self.cache_size:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = template
        return _assemble(template, pairs, cut, mass)


def _assemble(template: _Template, pairs: Mapping[Pair, tuple[dict[float, float], float]], cut: float,
              mass: _Masses) -> list[Element]:
    """Weight the trees that pass the σ cut, merge identical elements, attach the compression ancestry."""
    merged: dict[tuple[object, ...], _Accumulator] = {}
    for record in template.trees:
        sig, sigma_max = pairs[record.pair]
        if sigma_max * record.br < cut:
            continue
        weights = {sq: sigma * record.br for sq, sigma in sig.items()}
        for key, variant, parents in record.variants:
            entry = merged.get(key)
            if entry is None:
                entry = merged[key] = _Accumulator(variant)
            for sq, w in weights.items():
                entry.weights[sq] = entry.weights.get(sq, 0.0) + w
            entry.pids.update(record.pids)
            entry.production.add(record.pair)
            entry.parents.update(parents)
    made = [(key, _make_element(entry, mass)) for key, entry in merged.items()]
    made.sort(key=lambda ke: (-ke[1].max_weight, ke[1].bracket(), ke[1].masses))
    index = {key: i for i, (key, _) in enumerate(made)}
    closure: dict[tuple[object, ...], frozenset[int]] = {}

    def ancestors(key: tuple[object, ...]) -> frozenset[int]:
        if key not in closure:
            closure[key] = frozenset()  # guards against (impossible) cycles
            found: set[int] = set()
            for parent in merged[key].parents:
                if parent in index:
                    found.add(index[parent])
                    found |= ancestors(parent)
            closure[key] = frozenset(found)
        return closure[key]

    return [replace(e, ancestors=ancestors(key)) for key, e in made]


class _Accumulator:
    """Merged contributions to one element."""

    def __init__(self, tree: _Tree) -> None:
        self.tree = tree
        self.weights: dict[float, float] = {}
        self.pids: set[int] = set()
        self.production: set[Pair] = set()
        self.parents: set[tuple[object, ...]] = set()


def _make_element(entry: _Accumulator, mass: _Masses) -> Element:
    ordered = sorted(
        entry.tree, key=lambda c: (len(c[0]), _chain_masses(c, mass), [v.labels() for v in c[0]], c[2])
    )
    branches = tuple(Branch(vertices, final, inv) for vertices, final, inv in ordered)
    masses = tuple(tuple(mass.actual(c) for c in b.codes()) for b in branches)
    return Element(
        branches=(branches[0], branches[1]),
        weights=MappingProxyType(dict(sorted(entry.weights.items()))),
        masses=(masses[0], masses[1]),
        pids=frozenset(entry.pids),
        production=frozenset(entry.production),
    )


def total_weight(elements: Iterable[Element], sqrts: float) -> float:
    """Sum of the weights at ``sqrts`` (TeV) of ``elements`` (fb)."""
    return math.fsum(e.weights.get(sqrts, 0.0) for e in elements)
