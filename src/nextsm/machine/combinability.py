"""Which results may be combined as approximately uncorrelated (``protomodels.md`` §4.1, decisions note).

Rules, for two results *a* and *b* (analysis id or folder name, optionally a signal region ``ANA:SR``):

1. a result is never combinable with itself (same analysis);
2. different √s, or different experiments (ATLAS vs CMS): combinable;
3. same experiment and √s: combinable only if the combinability files say so, at analysis level (``A: [B, ...]``)
   or at signal-region level (``A:SR: [B:SR2, ...]``, which applies to those two regions only).

The files (``../shared/data/combinability/{ATLAS,CMS}{8,13}.yaml``) are lists, not necessarily symmetric; an
entry in either direction makes the pair combinable, and one-sided entries are reported by
:meth:`Combinability.asymmetries`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nextsm.errors import NextsmError

__all__ = ["Combinability", "CombinabilityError", "ResultId", "analysis_base", "locate_combinability"]


class CombinabilityError(NextsmError, ValueError):
    """A combinability file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class ResultId:
    """A result as the combiner sees it: analysis (id or folder name), √s, experiment, optional signal region."""

    analysis: str
    sqrts: float
    experiment: str
    region: str | None = None


def locate_combinability(folder: str | os.PathLike[str] | None = None) -> Path:
    """The combinability folder: the argument, then ``$NEXTSM_COMBINABILITY``, then ``../shared/data/combinability``."""
    candidates: list[Path] = []
    if folder is not None:
        candidates.append(Path(folder))
    elif os.environ.get("NEXTSM_COMBINABILITY"):
        candidates.append(Path(os.environ["NEXTSM_COMBINABILITY"]))
    else:
        here = Path(__file__).resolve()
        candidates += [p / "shared" / "data" / "combinability" for p in here.parents]
        candidates.append(Path.cwd().parent / "shared" / "data" / "combinability")
    for c in candidates:
        if c.is_dir() and any(c.glob("*.yaml")):
            return c
    raise CombinabilityError(
        f"no combinability folder found (tried {', '.join(map(str, candidates))}); pass it explicitly or set "
        "NEXTSM_COMBINABILITY to a folder with the {ATLAS,CMS}{8,13}.yaml lists")


#: folder suffixes of SModelS results that belong to one analysis (UL and EM versions, aggregations)
ANALYSIS_SUFFIXES = ("-eff", "-agg", "-ma5", "-adl", "-multibin", "-incl")


def analysis_base(name: str) -> str:
    """The analysis a result belongs to: ``CMS-SUS-19-006-agg`` -> ``CMS-SUS-19-006``."""
    for suffix in ANALYSIS_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _split(label: str) -> tuple[str, str | None]:
    if ":" in label:
        ana, sr = label.split(":", 1)
        return ana.strip(), sr.strip()
    return label.strip(), None


#: bound on the remembered answers of :meth:`Combinability.combinable`
_MAX_ANSWERS = 500_000


@dataclass
class Combinability:
    """The combinability lists, queried by :meth:`combinable`."""

    analysis_pairs: set[frozenset[str]] = field(default_factory=set)
    region_pairs: set[frozenset[tuple[str, str]]] = field(default_factory=set)
    _directed: set[tuple[str, str]] = field(default_factory=set, repr=False)
    #: answers of :meth:`combinable` already given (the walker asks the same pairs at every step)
    _answers: dict[tuple[ResultId, ResultId], bool] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, folder: str | os.PathLike[str] | None = None) -> Combinability:
        """Read every ``*.yaml`` of the combinability folder (see :func:`locate_combinability`)."""
        out = cls()
        for path in sorted(locate_combinability(folder).glob("*.yaml")):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise CombinabilityError(f"{path}: malformed YAML: {exc}") from None
            if data is None:
                continue
            if not isinstance(data, dict):
                raise CombinabilityError(f"{path}: expected a mapping 'ANALYSIS: [combinable, ...]'")
            for key, values in data.items():
                if values is None:
                    continue
                if not isinstance(values, list):
                    raise CombinabilityError(f"{path}: entry '{key}' must be a list of analyses")
                out.add(str(key), (str(v) for v in values))
        return out

    def add(self, key: str, others: Iterable[str]) -> None:
        """Declare ``key`` combinable with each of ``others`` (labels ``ANA`` or ``ANA:SR``)."""
        a, sr_a = _split(key)
        self._answers.clear()
        for other in others:
            b, sr_b = _split(other)
            if sr_a is None and sr_b is None:
                self.analysis_pairs.add(frozenset((a, b)))
            else:
                self.region_pairs.add(frozenset(((a, sr_a or "*"), (b, sr_b or "*"))))
            self._directed.add((key.strip(), other.strip()))

    def asymmetries(self) -> list[tuple[str, str]]:
        """Entries ``(a, b)`` listed in one direction only."""
        return sorted((a, b) for a, b in self._directed if (b, a) not in self._directed)

    @staticmethod
    def _names(result: ResultId) -> set[str]:
        return {result.analysis, analysis_base(result.analysis)}

    def combinable(self, a: ResultId, b: ResultId) -> bool:
        """True if results ``a`` and ``b`` may enter one combination (module docstring)."""
        known = self._answers.get((a, b))
        if known is None:
            if len(self._answers) > _MAX_ANSWERS:
                self._answers.clear()
            known = self._answers[(a, b)] = self._answers[(b, a)] = self._decide(a, b)
        return known

    def _decide(self, a: ResultId, b: ResultId) -> bool:
        names_a, names_b = self._names(a), self._names(b)
        if names_a & names_b:
            return False
        if abs(a.sqrts - b.sqrts) > 1e-6 or a.experiment != b.experiment:
            return True
        for x in (a.analysis, *names_a):
            for y in (b.analysis, *names_b):
                if frozenset((x, y)) in self.analysis_pairs:
                    return True
                if self.region_pairs and (a.region is not None or b.region is not None):
                    ra, rb = a.region or "*", b.region or "*"
                    if frozenset(((x, ra), (y, rb))) in self.region_pairs:
                        return True
        return False
