"""What a report shows, as typed, JSON-able records (``ReportData.to_dict()`` is written as ``report.json``).

Units: masses in GeV, cross sections in fb, √s in TeV.  r-values, signals and cross sections of the best model are
given at its fitted signal strength μ̂ (the walker absorbs μ̂ into the κ's), as the critics judge it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from nextsm.errors import NextsmError

__all__ = [
    "BestModel",
    "CombinabilityData",
    "CombinationRow",
    "DecayRow",
    "HiscoreRow",
    "PValueData",
    "ParticleRow",
    "ProductionRow",
    "ReportData",
    "ReportError",
    "ResultRow",
    "RunInfo",
    "WalkerHistory",
]


class ReportError(NextsmError):
    """A report or plot cannot be made (not a run folder, no model passed the critics, matplotlib missing)."""


@dataclass(frozen=True)
class RunInfo:
    """Provenance of a run: where it is, how it was started, which database and code the report evaluated with.

    ``settings`` is the run's stored ``settings`` (walkers, steps, seed, rule, database); ``database_*`` and
    ``code_version`` describe the database and nextsm version used to make the report; ``recorded`` is the
    provenance the run recorded when it was created (:data:`nextsm.machine.store.PROVENANCE`: nextsm version,
    database path, version and hash, seed, walkers, steps, options, start time, Python and numpy versions), empty
    for runs made before it was recorded.
    """

    folder: str
    walkers: int
    steps: int
    seed: int | None
    rule: str | None
    database: str
    database_version: str
    database_hash: str
    code_version: str
    step_seconds: float
    median_step_ms: float
    settings: dict[str, Any] = field(default_factory=dict)
    recorded: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WalkerHistory:
    """One walker's chain: per step the proposed K (``None``: rejected by a critic), the walker's K after the step
    and whether the proposal was accepted."""

    walker: int
    step: list[int]
    K: list[float | None]
    current_K: list[float | None]  # noqa: N815 - K is the test statistic's name
    accepted: list[bool]

    @property
    def acceptance(self) -> float:
        """Fraction of accepted proposals."""
        return sum(self.accepted) / len(self.accepted) if self.accepted else 0.0

    @property
    def best_K(self) -> float | None:
        """Highest finite proposed or current K (``None`` if there is none)."""
        values = [k for k in (*self.K, *self.current_K) if k is not None and math.isfinite(k)]
        return max(values, default=None)


@dataclass(frozen=True)
class HiscoreRow:
    """One of the best distinct models that passed both critics (``masses``: name and GeV, lightest first)."""

    rank: int
    K: float
    mu_hat: float | None
    walker: int
    step: int
    masses: list[tuple[str, float]]
    combination: list[str]
    model: dict[str, Any]


@dataclass(frozen=True)
class ParticleRow:
    """A particle of the best model: its mass, ΔK when it is removed (``None``: cannot be removed, e.g. the LSP or a
    particle others decay into only), the results of the best combination it enters (``prefer``) and the other
    results most sensitive to it (``constrain``: highest r_exp at μ̂)."""

    pdg: int
    name: str
    tex: str
    mass: float
    contribution: float | None
    prefer: list[str]
    constrain: list[str]


@dataclass(frozen=True)
class DecayRow:
    """One decay channel of the best model (daughters: signed PDG codes, BSM first)."""

    mother: int
    mother_name: str
    daughters: list[int]
    channel: str
    br: float


@dataclass(frozen=True)
class ProductionRow:
    """A production pair: κ as stored, μ̂κ, and σ = μ̂κ σ_ref per √s (``"8"``, ``"13"`` TeV) in fb."""

    pair: list[int]
    label: str
    kappa: float
    kappa_mu: float
    sigma_fb: dict[str, float]


@dataclass(frozen=True)
class CombinationRow:
    """A result of the best combination: observed and expected counts (EM), Z and the predicted signal at μ̂
    (events for EM and combined results, σ×BR in fb for UL maps)."""

    analysis: str
    dataset: str | None
    type: str
    sqrts: float
    txnames: list[str]
    observed: float | None
    expected: float | None
    bg_error: float | None
    Z: float | None
    signal: float
    signal_unit: str
    r_obs: float | None
    r_exp: float | None


@dataclass(frozen=True)
class ResultRow:
    """A prediction of the best model with its r-values at μ̂ (the critics' view)."""

    analysis: str
    dataset: str | None
    type: str
    sqrts: float
    txnames: list[str]
    r_obs: float | None
    r_exp: float | None
    particles: list[str]
    in_combination: bool


@dataclass(frozen=True)
class CombinabilityData:
    """Pairwise combinability (``matrix[i][j]``) of the results involved (``labels``: ``ANALYSIS[:SR]``)."""

    labels: list[str]
    matrix: list[list[bool]]
    in_combination: list[bool]


@dataclass(frozen=True)
class BestModel:
    """The best model of the run, re-evaluated and explained by :func:`nextsm.machine.explain.explain`, which
    evaluates as the walker does (K with μ̂ ≤ ``mu_max``, both critics at μ̂): K, the combination table and the
    contributions come from that one evaluation."""

    rank: int
    walker: int
    step: int
    stored_K: float  # noqa: N815
    K: float
    llr: float
    log_prior: float
    mu_hat: float
    mu_max: float
    Z: float
    critics: list[dict[str, Any]]
    particles: list[ParticleRow]
    decays: list[DecayRow]
    productions: list[ProductionRow]
    combination: list[CombinationRow]
    analysis_contributions: dict[str, float]
    constraining: list[ResultRow]
    combinability: CombinabilityData
    model: dict[str, Any]
    model_absorbed: dict[str, Any]


@dataclass(frozen=True)
class PValueData:
    """K_max of every run of a study and the global p-value (``result``: :meth:`PValueResult.to_dict`)."""

    study: str
    k_real: dict[str, float]
    k_fakes: dict[str, float]
    result: dict[str, Any] | None
    note: str = ""


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows."""

    title: str
    created: str
    run: RunInfo
    walkers: list[WalkerHistory]
    hiscores: list[HiscoreRow]
    best: BestModel | None
    pvalue: PValueData | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; non-finite numbers become ``None``."""
        return _finite(asdict(self))

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
