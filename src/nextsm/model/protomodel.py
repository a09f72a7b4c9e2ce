"""The proto-model: masses, decays, signal strength multipliers (``protomodels.md`` §1).

JSON format (also the CLI input)::

    {"masses": {"1000006": 500.0, "1000022": 100.0},
     "decays": {"1000006": {"1000022,6": 1.0}},
     "ssmultipliers": {"-1000006,1000006": 1.0},
     "xsecs": {"13": {"-1000006,1000006": 610.0}}}

``decays`` keys list the signed daughter PDG codes of the decay of the particle (positive mother code),
BSM daughter first (see :mod:`nextsm.model.decays`).  ``ssmultipliers`` and ``xsecs`` keys are sorted
signed production pairs.  ``xsecs`` (optional) overrides the reference cross sections, in fb, per
centre-of-mass energy in TeV.

Construction does not validate physics (a walker may build intermediate models, e.g. after a mass
move, and clean them with :meth:`ProtoModel.renormalise_brs`); :meth:`ProtoModel.validate` does, and
:meth:`ProtoModel.from_json` always validates.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nextsm.model.decays import DECAY_TABLE, OFFSHELL_CHANNELS, Channel, open_channels
from nextsm.model.errors import ModelError
from nextsm.model.particles import LSP, MAX_MASS, PARTICLES

__all__ = [
    "BR_SUM_TOLERANCE",
    "ProtoModel",
]

Pair = tuple[int, int]

#: Tolerance on the sum of the BRs of one mother.
BR_SUM_TOLERANCE = 1e-6
#: n_BR: BRs below this are ignored; two BRs are "the same" if |b1 − b2| / (b1 + b2) < BR_SAME.
BR_IGNORE = 1e-5
BR_SAME = 0.025
#: n_SSM: κ at or below this are ignored; κ within 2|Δ|/Σ < KAPPA_SAME are "the same";
#: a pair whose σ (when cross sections are known) is below XSEC_MIN_FB is ignored.
KAPPA_IGNORE = 1e-4
KAPPA_SAME = 0.03
XSEC_MIN_FB = 0.001


def _fmt_pair(pair: Iterable[int]) -> str:
    return ",".join(str(p) for p in pair)


def _fmt_sqrts(sqrts: float) -> str:
    return str(int(sqrts)) if float(sqrts).is_integer() else repr(float(sqrts))


def _count_distinct(values: Iterable[float], same: float) -> tuple[int, int]:
    """(distinct, duplicates) of ``values``: sorted greedy clustering, 2|a − b|/(a + b) < ``same``
    relative to the first (smallest) member of the current cluster."""
    distinct = duplicates = 0
    reference: float | None = None
    for value in sorted(values):
        if reference is not None and 2.0 * abs(value - reference) / (value + reference) < same:
            duplicates += 1
        else:
            distinct += 1
            reference = value
    return distinct, duplicates


@dataclass(frozen=True)
class ProtoModel:
    """A proto-model (immutable by convention: the mappings are copies and must not be mutated).

    Attributes
    ----------
    masses:
        Positive PDG code -> mass in GeV of every present ("unfrozen") particle, LSP included.
    decays:
        Positive mother PDG code -> {channel (signed daughters, BSM first): BR}.
    ssmultipliers:
        Sorted signed production pair -> signal strength multiplier κ.
    xsecs:
        Optional override of the reference cross sections: √s in TeV -> {pair: σ in fb}.
    """

    masses: Mapping[int, float]
    decays: Mapping[int, Mapping[Channel, float]] = field(default_factory=dict)
    ssmultipliers: Mapping[Pair, float] = field(default_factory=dict)
    xsecs: Mapping[float, Mapping[Pair, float]] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "masses", {int(k): float(v) for k, v in self.masses.items()})
        object.__setattr__(
            self,
            "decays",
            {
                int(m): {tuple(int(d) for d in c): float(b) for c, b in ch.items()}
                for m, ch in self.decays.items()
            },
        )
        object.__setattr__(
            self, "ssmultipliers", {(int(k[0]), int(k[1])): float(v) for k, v in self.ssmultipliers.items()}
        )
        if self.xsecs is not None:
            object.__setattr__(
                self,
                "xsecs",
                {
                    float(s): {(int(k[0]), int(k[1])): float(v) for k, v in table.items()}
                    for s, table in self.xsecs.items()
                },
            )

    # ------------------------------------------------------------------ JSON
    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> ProtoModel:
        """Read and validate a model from JSON text or from a file path."""
        where = "JSON text"
        if isinstance(source, os.PathLike) or not str(source).lstrip().startswith(("{", "[")):
            path = Path(source)
            where = str(path)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ModelError(f"{path}: cannot read model file ({exc})") from exc
        else:
            text = str(source)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{where}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
        model = cls.from_dict(data)
        model.validate()
        return model

    @classmethod
    def from_dict(cls, data: object) -> ProtoModel:
        """Build a model from the decoded JSON object (structure checked, physics not validated)."""
        if not isinstance(data, dict):
            raise ModelError("model: must be a JSON object")
        unknown = set(data) - {"masses", "decays", "ssmultipliers", "xsecs"}
        if unknown:
            raise ModelError(f"{sorted(unknown)[0]}: unknown field")
        if "masses" not in data:
            raise ModelError("masses: missing")
        masses = {
            _parse_pdg(k, f'masses["{k}"]'): _parse_number(v, f'masses["{k}"]')
            for k, v in _obj(data["masses"], "masses").items()
        }
        decays: dict[int, dict[Channel, float]] = {}
        for mk, channels in _obj(data.get("decays", {}), "decays").items():
            where = f'decays["{mk}"]'
            decays[_parse_pdg(mk, where)] = {
                _parse_codes(ck, f'{where}["{ck}"]'): _parse_number(b, f'{where}["{ck}"]')
                for ck, b in _obj(channels, where).items()
            }
        ssms = {
            _parse_pair(k, f'ssmultipliers["{k}"]'): _parse_number(v, f'ssmultipliers["{k}"]')
            for k, v in _obj(data.get("ssmultipliers", {}), "ssmultipliers").items()
        }
        xsecs: dict[float, dict[Pair, float]] | None = None
        if data.get("xsecs") is not None:
            xsecs = {}
            for sk, table in _obj(data["xsecs"], "xsecs").items():
                where = f'xsecs["{sk}"]'
                sqrts = _parse_float_key(sk, where)
                if sqrts in xsecs:
                    raise ModelError(f"{where}: duplicate centre-of-mass energy")
                xsecs[sqrts] = {
                    _parse_pair(k, f'{where}["{k}"]'): _parse_number(v, f'{where}["{k}"]')
                    for k, v in _obj(table, where).items()
                }
        return cls(masses=masses, decays=decays, ssmultipliers=ssms, xsecs=xsecs)

    def to_dict(self) -> dict[str, object]:
        """The JSON object of the model (inverse of :meth:`from_dict`)."""
        out: dict[str, object] = {
            "masses": {str(k): v for k, v in self.masses.items()},
            "decays": {str(m): {_fmt_pair(c): b for c, b in ch.items()} for m, ch in self.decays.items()},
            "ssmultipliers": {_fmt_pair(k): v for k, v in self.ssmultipliers.items()},
        }
        if self.xsecs is not None:
            out["xsecs"] = {
                _fmt_sqrts(s): {_fmt_pair(k): v for k, v in table.items()} for s, table in self.xsecs.items()
            }
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text of the model; ``from_json(to_json())`` gives back an equal model."""
        return json.dumps(self.to_dict(), indent=indent)

    # ------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise :class:`ModelError` (naming the JSON field) if the model is not consistent."""
        for pdg, mass in self.masses.items():
            where = f'masses["{pdg}"]'
            if pdg not in PARTICLES:
                raise ModelError(f"{where}: PDG code {pdg} is not in the particle pool")
            if not math.isfinite(mass) or mass <= 0.0:
                raise ModelError(f"{where}: mass must be positive and finite, got {mass}")
            if mass > MAX_MASS:
                raise ModelError(f"{where}: mass {mass} GeV exceeds the maximum {MAX_MASS} GeV")
        if LSP not in self.masses:
            raise ModelError(f'masses["{LSP}"]: the LSP X_Z^1 must be present')
        m_lsp = self.masses[LSP]
        for pdg, mass in self.masses.items():
            if pdg != LSP and mass <= m_lsp:
                raise ModelError(f'masses["{pdg}"]: must be heavier than the LSP ({mass} <= {m_lsp} GeV)')
        for mother, channels in self.decays.items():
            where = f'decays["{mother}"]'
            if mother == LSP:
                raise ModelError(f"{where}: the LSP is stable and must have no decays")
            if mother not in PARTICLES:
                raise ModelError(f"{where}: PDG code {mother} is not in the particle pool")
            if mother not in self.masses:
                raise ModelError(f"{where}: mother particle is not present in masses")
            if not channels:
                raise ModelError(f"{where}: no decay channels")
            allowed = open_channels(mother, self.masses)
            for channel, br in channels.items():
                cw = f'{where}["{_fmt_pair(channel)}"]'
                if channel not in DECAY_TABLE[mother]:
                    raise ModelError(f"{cw}: channel is not in the decay table of {PARTICLES[mother].name}")
                if channel not in allowed:
                    raise ModelError(f"{cw}: channel is closed (kinematically or a daughter is absent)")
                if not math.isfinite(br) or not 0.0 <= br <= 1.0:
                    raise ModelError(f"{cw}: BR must be in [0, 1], got {br}")
            total = math.fsum(channels.values())
            if abs(total - 1.0) > BR_SUM_TOLERANCE:
                raise ModelError(f"{where}: BRs must sum to 1, got {total:.9g}")
        for pdg in self.masses:
            if pdg != LSP and pdg not in self.decays:
                raise ModelError(
                    f'decays["{pdg}"]: missing, {PARTICLES[pdg].name} is present and not the LSP'
                )
        for pair, kappa in self.ssmultipliers.items():
            where = f'ssmultipliers["{_fmt_pair(pair)}"]'
            self._check_pair(pair, where)
            if not math.isfinite(kappa) or kappa < 0.0:
                raise ModelError(f"{where}: signal strength multiplier must be finite and >= 0, got {kappa}")
        if self.xsecs is not None:
            for sqrts, table in self.xsecs.items():
                where = f'xsecs["{_fmt_sqrts(sqrts)}"]'
                if not math.isfinite(sqrts) or sqrts <= 0.0:
                    raise ModelError(f"{where}: centre-of-mass energy must be positive")
                for pair, sigma in table.items():
                    pw = f'{where}["{_fmt_pair(pair)}"]'
                    self._check_pair(pair, pw)
                    if not math.isfinite(sigma) or sigma < 0.0:
                        raise ModelError(f"{pw}: cross section must be finite and >= 0 fb, got {sigma}")

    def _check_pair(self, pair: Pair, where: str) -> None:
        if pair[0] > pair[1]:
            raise ModelError(f"{where}: production pair must be sorted ({pair[1]},{pair[0]})")
        for code in pair:
            if abs(code) not in PARTICLES:
                raise ModelError(f"{where}: PDG code {code} is not in the particle pool")
            if code < 0 and PARTICLES[-code].self_conjugate:
                raise ModelError(f"{where}: {PARTICLES[-code].name} is self-conjugate, use {-code}")
            if abs(code) not in self.masses:
                raise ModelError(f"{where}: particle {code} is not present in masses")

    # -------------------------------------------------------------- physics
    @property
    def present(self) -> tuple[int, ...]:
        """Present particles (positive PDG codes), in pool order."""
        return tuple(p for p in PARTICLES if p in self.masses)

    def open_channels(self, pdg: int) -> tuple[Channel, ...]:
        """Open channels of ``pdg`` for this model's masses (:func:`nextsm.model.decays.open_channels`)."""
        return open_channels(pdg, self.masses)

    def renormalise_brs(self) -> ProtoModel:
        """A new model with closed/illegal channels dropped and each mother's BRs renormalised to 1.

        Decays of absent particles and of the LSP are dropped.  Raises :class:`ModelError` if a present
        non-LSP particle has no remaining channel with a positive BR.  (The optional SSM rescaling of the
        original, keeping σ×BR of the other channels, is not done here.)
        """
        decays: dict[int, dict[Channel, float]] = {}
        for mother, channels in self.decays.items():
            if mother == LSP or mother not in self.masses:
                continue
            allowed = set(self.open_channels(mother))
            kept = {c: b for c, b in channels.items() if c in allowed and b > 0.0}
            total = math.fsum(kept.values())
            if total <= 0.0:
                raise ModelError(f'decays["{mother}"]: no open channel with a positive BR is left')
            decays[mother] = {c: b / total for c, b in kept.items()}
        return ProtoModel(
            masses=self.masses, decays=decays, ssmultipliers=self.ssmultipliers, xsecs=self.xsecs
        )

    def production_pairs(self) -> tuple[Pair, ...]:
        """All sorted signed production pairs of present particles.

        Following §1.3 (unfreezing), every pair of present particles (a particle with itself included)
        in every sign variant: particle–particle, particle–antiparticle and antiparticle–antiparticle are
        separate; self-conjugate states carry only the positive code.  No charge or colour selection is
        made (pairs without a reference cross section simply get none).
        """
        signed: list[int] = []
        for pdg in self.present:
            signed.append(pdg)
            if not PARTICLES[pdg].self_conjugate:
                signed.append(-pdg)
        pairs = {tuple(sorted((a, b))) for i, a in enumerate(signed) for b in signed[i:]}
        return tuple(sorted(pairs, key=lambda p: (abs(p[0]), abs(p[1]), p)))  # type: ignore[return-value,arg-type]

    # ---------------------------------------------------------------- prior
    def n_particles(self) -> int:
        """Number of present particles, the LSP included (§3.2)."""
        return len(self.masses)

    def n_br(self) -> int:
        """Σ over present non-LSP particles of (number of distinct BR values − 1) (§3.2).

        BRs below 1e-5 are ignored; b1, b2 are the same if |b1 − b2|/(b1 + b2) < 0.025.  The off-shell 3-body
        channels of X_W^1 / X_Z^2 share their total BR in the fixed SM proportions, so they count as *one*
        free BR (the original C24 code counted each of them; nextsm counts free parameters only).
        """
        total = 0
        for mother, channels in self.decays.items():
            if mother == LSP or mother not in self.masses:
                continue
            offshell = OFFSHELL_CHANNELS.get(mother, frozenset())
            values = [b for c, b in channels.items() if c not in offshell and b >= BR_IGNORE]
            offshell_total = sum(b for c, b in channels.items() if c in offshell)
            if offshell_total >= BR_IGNORE:
                values.append(offshell_total)
            # |b1 − b2|/(b1 + b2) < 0.025  <=>  2|b1 − b2|/(b1 + b2) < 0.05
            distinct, _ = _count_distinct(values, 2.0 * BR_SAME)
            total += max(0, distinct - 1)
        return total

    def n_ssm(self, xsecs: Mapping[Pair, float] | None = None) -> float:
        """Distinct κ values + 0.1 × duplicates (§3.2).

        Only κ > 1e-4 of pairs whose particles are present count; κ within 2|Δ|/Σ < 0.03 are the same.
        ``xsecs`` (pair -> σ in fb, e.g. the summed or 13-TeV cross sections) restricts the count to pairs
        with σ ≥ 0.001 fb; if omitted, the model's override table is used (a pair counts if it reaches the
        threshold at any √s), and without any cross sections all pairs count.
        """
        if xsecs is None and self.xsecs is not None:
            best: dict[Pair, float] = {}
            for table in self.xsecs.values():
                for pair, sigma in table.items():
                    best[pair] = max(best.get(pair, 0.0), sigma)
            xsecs = best
        values = [
            kappa
            for pair, kappa in self.ssmultipliers.items()
            if kappa > KAPPA_IGNORE
            and all(abs(p) in self.masses for p in pair)
            and (xsecs is None or xsecs.get(pair, 0.0) >= XSEC_MIN_FB)
        ]
        distinct, duplicates = _count_distinct(values, KAPPA_SAME)
        return distinct + 0.1 * duplicates

    def log_prior(self, xsecs: Mapping[Pair, float] | None = None) -> float:
        """ln π = −(n_particles/2 + n_BR/4 + n_SSM/8) ("expo1" prior of §3.2, without the C24 penalties)."""
        return -(self.n_particles() / 2.0 + self.n_br() / 4.0 + self.n_ssm(xsecs) / 8.0)


# ------------------------------------------------------------------ parsing helpers
def _obj(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise ModelError(f"{where}: must be a JSON object")
    return value


def _parse_int(text: str, where: str) -> int:
    try:
        return int(text.strip())
    except ValueError as exc:
        raise ModelError(f"{where}: '{text}' is not an integer PDG code") from exc


def _parse_pdg(key: str, where: str) -> int:
    pdg = _parse_int(key, where)
    if pdg not in PARTICLES:
        raise ModelError(f"{where}: PDG code {pdg} is not in the particle pool (positive codes only)")
    return pdg


def _parse_codes(key: str, where: str) -> Channel:
    return tuple(_parse_int(part, where) for part in key.split(","))


def _parse_pair(key: str, where: str) -> Pair:
    codes = _parse_codes(key, where)
    if len(codes) != 2:
        raise ModelError(f"{where}: a production pair has exactly two PDG codes")
    return codes[0], codes[1]


def _parse_float_key(key: str, where: str) -> float:
    try:
        return float(key)
    except ValueError as exc:
        raise ModelError(f"{where}: '{key}' is not a centre-of-mass energy in TeV") from exc


def _parse_number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelError(f"{where}: must be a number, got {value!r}")
    return float(value)
