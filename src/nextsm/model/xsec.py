"""Reference SUSY pair-production cross sections (LHC SUSY cross-section working group tables).

The tables live in ``../shared/data/xsec`` (never copied into the project).  Each file has its own
header layout; :func:`read_xsec_table` reads the header to learn the cross-section unit (pb or fb), the
uncertainty layout (none, one symmetric column, or separate down/up columns) and its unit (percent,
pb or fb), and converts everything to fb and *relative* uncertainties.

Interpolation
-------------
:class:`XsecTable` interpolates ln σ linearly in the mass (exact for σ ∝ exp(-a m)).  Outside the
tabulated mass range the result is **NaN** (no extrapolation, no error): callers test with
``numpy.isnan``.  A process that has no reference table at all gives ``None`` from
:meth:`ReferenceCrossSections.pair_xsec` (so "no table" and "mass out of range" stay distinguishable).

Mapping of the signed production pairs of the 20-state pool onto the tables
-------------------------------------------------------------------------
``m`` is the mass at which a table is read: always the mean ``(m1 + m2) / 2`` of the two produced
states (for a particle-antiparticle pair this is simply its mass).

=============================================  ==================  =======  ====================================
signed pair (sorted)                           table               factor   remark
=============================================  ==================  =======  ====================================
X_q X̄_q, same flavour, q = d,u,s,c            ``squark``          1/10     squark-antisquark summed over 10
  (−100000k, 100000k), k = 1..4                                           degenerate states (q̃_L,R of d,u,s,
                                                                           c,b), gluino decoupled; one state
                                                                           X_q = table / 10
X_b^i X̄_b^i, i = 1, 2                         ``stop``            1        stop/sbottom table (same QCD process)
X_t^i X̄_t^i, i = 1, 2                         ``stop``            1        stop/sbottom table
X_g X_g                                        ``gluino``          1
X_ℓ X̄_ℓ, ℓ = e, μ, τ (same flavour)           ``slepslep``        1        "one generation, sum of L and R"
                                                                           sleptons: the *whole* L+R sum is
                                                                           given to the single state X_ℓ
                                                                           (as C24; the L/R difference is
                                                                           absorbed in κ)
X_W^1+ X_W^1− = (−1000024, 1000024)            ``C1C1``            1        wino-like C1+C1−
X_Z^2 X_W^1+  = (1000023, 1000024)             ``N2C1p``           1        wino-like N2 C1+
X_W^1− X_Z^2  = (−1000024, 1000023)            ``N2C1m``           1        wino-like N2 C1−
everything else                                none                –        ``pair_xsec`` returns ``None``
=============================================  ==================  =======  ====================================

"Everything else" (see :func:`processes_without_table` for the full list over the pool) includes:
X_q X_g and X_b/X_t X_g (the original C24 used the squark table for X_q X_g: wrong process, not done
here), same-sign or cross-flavour squark pairs, X_t^1 X̄_t^2 and X_b^1 X̄_b^2, every sneutrino process
(X_ℓ X_ν, X_ν X_ν), every neutralino pair (N1N1, N1N2, N2N2, N2N3, ...), chargino pairs other than
C1+C1− (C2+C2−, C1±C2∓, same-sign), and neutralino–chargino pairs other than N2C1± (N1C1, N3C1, N2C2, ...).
No number is ever invented for them.

The 8 TeV and 13 TeV tables cover the same processes; other √s raise :class:`CrossSectionError`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nextsm.errors import NextsmError
from nextsm.model.particles import PARTICLES

__all__ = [
    "ENV_VAR",
    "PROCESS_FILES",
    "CrossSectionError",
    "ReferenceCrossSections",
    "TableMapping",
    "XsecTable",
    "locate_xsec_folder",
    "pair_key",
    "processes_with_table",
    "processes_without_table",
    "read_xsec_table",
    "table_for_pair",
]

#: Environment variable naming the folder of the reference tables.
ENV_VAR = "NEXTSM_XSEC"
#: The folder looked for upwards from the current directory and from the package location.
SHARED_PARTS = ("shared", "data", "xsec")

#: process name -> file name template (``{sqrts}`` is 8 or 13).
PROCESS_FILES: Mapping[str, str] = MappingProxyType(
    {
        "squark": "xsecsquark{sqrts}.txt",
        "stop": "xsecstop{sqrts}.txt",
        "gluino": "xsecgluino{sqrts}.txt",
        "slepslep": "xsecslepslep{sqrts}.txt",
        "C1C1": "xsecC1C1{sqrts}.txt",
        "N2C1p": "xsecN2C1p{sqrts}.txt",
        "N2C1m": "xsecN2C1m{sqrts}.txt",
    }
)
#: √s (TeV) at which tables exist.
SQRTS_TEV = (8.0, 13.0)

_PB_TO_FB = 1000.0
_UNIT_FACTOR = MappingProxyType({"pb": _PB_TO_FB, "fb": 1.0})
_LIGHT_SQUARKS = (1000001, 1000002, 1000003, 1000004)
_HEAVY_SQUARKS = (1000005, 2000005, 1000006, 2000006)
_CHARGED_SLEPTONS = (1000011, 1000013, 1000015)
_GLUINO = 1000021
_N2 = 1000023
_C1 = 1000024

Pair = tuple[int, int]


class CrossSectionError(NextsmError, ValueError):
    """A cross-section table is malformed or missing, or a request is invalid.

    The message names the file and line, or the parameter at fault.
    """


# ---------------------------------------------------------------------------------------------
# one table
# ---------------------------------------------------------------------------------------------
def _readonly(a: NDArray[np.float64]) -> NDArray[np.float64]:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class XsecTable:
    """One reference table σ(m) of a pair-production process at one √s.

    Attributes
    ----------
    process:
        Process name (``"stop"``, ``"squark"``, ``"gluino"``, ``"slepslep"``, ``"C1C1"``, ``"N2C1p"``,
        ``"N2C1m"``, or the file stem for other files).
    sqrts_tev:
        Centre-of-mass energy in TeV.
    masses:
        Tabulated masses in GeV, strictly increasing (read-only array).
    xsec_fb:
        Cross sections in fb (read-only array, > 0).
    rel_uncertainty:
        Relative uncertainties, shape ``(n, 2)``: columns (down, up), both >= 0.  For a file with one
        symmetric uncertainty both columns are equal (``symmetric`` is then True).  NaN where the file
        gives none (the first row of the chargino tables, or all rows of a file without uncertainty).
    source:
        The file the table was read from.
    symmetric:
        True unless the file gives separate down/up uncertainties.
    """

    process: str
    sqrts_tev: float
    masses: NDArray[np.float64]
    xsec_fb: NDArray[np.float64]
    rel_uncertainty: NDArray[np.float64]
    source: str = ""
    symmetric: bool = True
    _log_xsec: NDArray[np.float64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        masses = _readonly(self.masses)
        xsec = _readonly(self.xsec_fb)
        unc = _readonly(self.rel_uncertainty)
        if masses.ndim != 1 or masses.size < 2 or xsec.shape != masses.shape:
            raise CrossSectionError(
                f"{self.source or self.process}: need >= 2 masses and as many cross sections"
            )
        if unc.shape != (masses.size, 2):
            raise CrossSectionError(f"{self.source or self.process}: rel_uncertainty must have shape (n, 2)")
        if not np.all(np.isfinite(masses)) or np.any(np.diff(masses) <= 0):
            raise CrossSectionError(
                f"{self.source or self.process}: masses must be finite and strictly increasing"
            )
        if not np.all(np.isfinite(xsec)) or np.any(xsec <= 0):
            raise CrossSectionError(f"{self.source or self.process}: cross sections must be finite and > 0")
        object.__setattr__(self, "masses", masses)
        object.__setattr__(self, "xsec_fb", xsec)
        object.__setattr__(self, "rel_uncertainty", unc)
        object.__setattr__(self, "_log_xsec", _readonly(np.log(xsec)))

    @property
    def mass_range(self) -> tuple[float, float]:
        """(lowest, highest) tabulated mass in GeV."""
        return float(self.masses[0]), float(self.masses[-1])

    def __call__(self, mass: ArrayLike) -> float | NDArray[np.float64]:
        """σ in fb at ``mass`` (GeV), ln σ interpolated linearly; NaN outside the tabulated range.

        Vectorised: an array of masses gives an array; a scalar gives a float.
        """
        m = np.asarray(mass, dtype=float)
        log_sigma = np.interp(m, self.masses, self._log_xsec, left=np.nan, right=np.nan)
        out = np.exp(log_sigma)
        return float(out) if out.ndim == 0 else out

    def uncertainty(self, mass: ArrayLike) -> NDArray[np.float64]:
        """Relative (down, up) uncertainty at ``mass``, interpolated linearly; shape ``(..., 2)``.

        NaN outside the range and next to rows without an uncertainty.
        """
        m = np.asarray(mass, dtype=float)
        cols = [
            np.interp(m, self.masses, self.rel_uncertainty[:, k], left=np.nan, right=np.nan) for k in (0, 1)
        ]
        return np.stack(cols, axis=-1)


# ---------------------------------------------------------------------------------------------
# reading a file
# ---------------------------------------------------------------------------------------------
_UNIT_RE = re.compile(r"[\[(]\s*(pb|fb|%)\s*[\])]", re.IGNORECASE)
_XSEC_UNIT_RE = re.compile(r"[\[(]\s*(pb|fb)\s*[\])]", re.IGNORECASE)
_SQRTS_RE = re.compile(r"(\d+(?:\.\d+)?)\s*tev", re.IGNORECASE)
_NAME_RE = re.compile(r"^xsec(?P<proc>[A-Za-z0-9]+?)(?P<sqrts>8|13)\.txt$")
_SEPARATORS = frozenset({"±", "+-", "+/-"})


@dataclass(frozen=True)
class _Layout:
    xsec_factor: float  # to fb
    n_unc: int  # 0, 1 (symmetric) or 2 (down, up)
    unc_unit: str | None  # "pb", "fb", "%" or None (then every value must carry '%')


def _header_layout(path: Path, comments: list[tuple[int, str]]) -> _Layout:
    candidates = [
        (ln, text)
        for ln, text in comments
        if "http" not in text.lower() and _XSEC_UNIT_RE.search(text) is not None
    ]
    if len(candidates) != 1:
        lines = ", ".join(str(ln) for ln, _ in candidates) or "none"
        raise CrossSectionError(
            f"{path}: cannot identify the column header: need exactly one comment line naming the "
            f"cross-section unit as '(pb)', '[pb]', '(fb)' or '[fb]' (found on lines: {lines})"
        )
    ln, text = candidates[0]
    low = text.lower()
    first = _XSEC_UNIT_RE.search(text)
    assert first is not None
    cut = low.find("unc")
    if cut >= 0 and first.start() > cut:
        raise CrossSectionError(f"{path}:{ln}: cross-section unit must precede the uncertainty column")
    xsec_factor = _UNIT_FACTOR[first.group(1).lower()]
    if cut < 0:
        return _Layout(xsec_factor, 0, None)
    tail = low[cut:]
    n_unc = 2 if ("down" in tail and "up" in tail) else 1
    unit = _UNIT_RE.search(tail)
    unc_unit = unit.group(1).lower() if unit is not None else None
    return _Layout(xsec_factor, n_unc, unc_unit)


def _header_sqrts(path: Path, comments: list[tuple[int, str]]) -> float | None:
    found = {(float(m.group(1)), ln) for ln, text in comments for m in _SQRTS_RE.finditer(text)}
    values = {v for v, _ in found}
    if len(values) > 1:
        raise CrossSectionError(f"{path}: header names several energies {sorted(values)} TeV")
    return values.pop() if values else None


def _row_numbers(path: Path, ln: int, text: str) -> list[tuple[float, bool]]:
    """Numbers of a data row with a flag 'followed by %'; skips 'GeV' and '±'/'+-' separators."""
    out: list[tuple[float, bool]] = []
    for tok in text.split():
        low = tok.lower()
        if low == "gev" or tok in _SEPARATORS:
            continue
        if tok == "%":
            if not out or out[-1][1]:
                raise CrossSectionError(f"{path}:{ln}: stray '%'")
            out[-1] = (out[-1][0], True)
            continue
        percent = tok.endswith("%")
        num = tok[:-1] if percent else tok
        try:
            value = float(num)
        except ValueError:
            raise CrossSectionError(f"{path}:{ln}: cannot read '{tok}' as a number") from None
        if not math.isfinite(value):
            raise CrossSectionError(f"{path}:{ln}: non-finite value '{tok}'")
        out.append((value, percent))
    return out


def read_xsec_table(
    path: str | os.PathLike[str], *, process: str | None = None, sqrts_tev: float | None = None
) -> XsecTable:
    """Read one reference table, learning its layout from the header comment lines.

    Header rules: the *column header* is the one comment line (not a URL) that names the cross-section
    unit as ``(pb)``, ``[pb]``, ``(fb)`` or ``[fb]``.  If it mentions an uncertainty (``unc...``) there is
    one symmetric uncertainty column, or two if it says ``down`` and ``up``; the uncertainty unit is the
    bracketed unit after that word (pb or fb: absolute), else every value must carry ``%``.  A row may
    omit its uncertainty (NaN).  √s comes from the header (``13 TeV``, ``8TeV`` in a URL); failing that,
    from the file name ``xsec<process><8|13>.txt``; ``process`` likewise from the file name (or its stem).

    Raises
    ------
    CrossSectionError
        Naming the file and line at fault.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CrossSectionError(f"{path}: cross-section table not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CrossSectionError(f"{path}: cannot read ({exc})") from None

    comments: list[tuple[int, str]] = []
    rows: list[tuple[int, str]] = []
    for ln, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if rows:
                raise CrossSectionError(f"{path}:{ln}: comment line after the data rows")
            comments.append((ln, line[1:]))
        else:
            rows.append((ln, line))
    if not rows:
        raise CrossSectionError(f"{path}: no data rows")

    layout = _header_layout(path, comments)
    name_match = _NAME_RE.match(path.name)
    if sqrts_tev is None:
        sqrts_tev = _header_sqrts(path, comments)
        from_name = float(name_match.group("sqrts")) if name_match else None
        if sqrts_tev is None:
            sqrts_tev = from_name
        elif from_name is not None and from_name != sqrts_tev:
            raise CrossSectionError(
                f"{path}: header says {sqrts_tev:g} TeV but the file name says {from_name:g} TeV"
            )
        if sqrts_tev is None:
            raise CrossSectionError(f"{path}: √s found neither in the header nor in the file name")
    if process is None:
        process = name_match.group("proc") if name_match else path.stem

    masses: list[float] = []
    xsecs: list[float] = []
    uncs: list[tuple[float, float]] = []
    for ln, line in rows:
        nums = _row_numbers(path, ln, line)
        if len(nums) < 2:
            raise CrossSectionError(f"{path}:{ln}: expected at least a mass and a cross section")
        (mass, pm), (sigma, ps) = nums[0], nums[1]
        if pm or ps:
            raise CrossSectionError(f"{path}:{ln}: mass and cross section may not be percentages")
        if masses and mass <= masses[-1]:
            raise CrossSectionError(
                f"{path}:{ln}: mass {mass:g} GeV not above the previous {masses[-1]:g} GeV"
            )
        if sigma <= 0:
            raise CrossSectionError(f"{path}:{ln}: cross section {sigma:g} must be > 0")
        sigma_fb = sigma * layout.xsec_factor
        rest = nums[2:]
        if len(rest) not in (0, layout.n_unc):
            raise CrossSectionError(
                f"{path}:{ln}: {len(rest)} uncertainty values, the header announces {layout.n_unc}"
            )
        rel: list[float] = []
        for value, percent in rest:
            if layout.unc_unit in ("pb", "fb"):
                if percent:
                    raise CrossSectionError(
                        f"{path}:{ln}: header gives the uncertainty in {layout.unc_unit}, row in %"
                    )
                rel.append(abs(value) * _UNIT_FACTOR[layout.unc_unit] / sigma_fb)
            else:
                if layout.unc_unit is None and not percent:
                    raise CrossSectionError(
                        f"{path}:{ln}: uncertainty '{value:g}' has no unit (header gives none and no '%')"
                    )
                rel.append(abs(value) / 100.0)
        if not rel:
            pair = (math.nan, math.nan)
        elif len(rel) == 1:
            pair = (rel[0], rel[0])
        else:
            pair = (rel[0], rel[1])
        masses.append(mass)
        xsecs.append(sigma_fb)
        uncs.append(pair)
    if len(masses) < 2:
        raise CrossSectionError(f"{path}: need at least two data rows")
    return XsecTable(
        process=process,
        sqrts_tev=float(sqrts_tev),
        masses=np.array(masses),
        xsec_fb=np.array(xsecs),
        rel_uncertainty=np.array(uncs, dtype=float).reshape(len(masses), 2),
        source=str(path),
        symmetric=layout.n_unc != 2,
    )


# ---------------------------------------------------------------------------------------------
# mapping production pairs onto tables
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableMapping:
    """Which table gives σ of a signed pair, and the factor applied to it."""

    process: str
    factor: float = 1.0


def _check_code(pdg: int, pname: str) -> int:
    try:
        code = int(pdg)
    except (TypeError, ValueError):
        raise CrossSectionError(f"{pname}={pdg!r}: not a PDG code") from None
    if code != pdg or abs(code) not in PARTICLES:
        raise CrossSectionError(f"{pname}={pdg!r}: not a state of the 20-particle pool")
    if code < 0 and PARTICLES[-code].self_conjugate:
        raise CrossSectionError(
            f"{pname}={pdg!r}: {PARTICLES[-code].name} is self-conjugate (no antiparticle code)"
        )
    return code


def pair_key(pdg1: int, pdg2: int) -> Pair:
    """The sorted signed pair ``(min, max)`` used as key (as for the signal-strength multipliers)."""
    a, b = _check_code(pdg1, "pdg1"), _check_code(pdg2, "pdg2")
    return (a, b) if a <= b else (b, a)


def table_for_pair(pdg1: int, pdg2: int) -> TableMapping | None:
    """The table (and factor) for the signed pair, or None if no reference table exists (see module doc)."""
    a, b = pair_key(pdg1, pdg2)
    if a == -b and b in _LIGHT_SQUARKS:
        return TableMapping("squark", 0.1)
    if a == -b and b in _HEAVY_SQUARKS:
        return TableMapping("stop")
    if a == b == _GLUINO:
        return TableMapping("gluino")
    if a == -b and b in _CHARGED_SLEPTONS:
        return TableMapping("slepslep")
    if (a, b) == (-_C1, _C1):
        return TableMapping("C1C1")
    if (a, b) == (_N2, _C1):
        return TableMapping("N2C1p")
    if (a, b) == (-_C1, _N2):
        return TableMapping("N2C1m")
    return None


def _all_pairs() -> Iterator[Pair]:
    codes: list[int] = []
    for pdg, particle in PARTICLES.items():
        codes.append(pdg)
        if not particle.self_conjugate:
            codes.append(-pdg)
    codes.sort()
    for i, a in enumerate(codes):
        for b in codes[i:]:
            yield (a, b)


def processes_with_table() -> dict[Pair, TableMapping]:
    """Every signed pair of the pool that has a reference table, with its mapping."""
    out: dict[Pair, TableMapping] = {}
    for pair in _all_pairs():
        mapping = table_for_pair(*pair)
        if mapping is not None:
            out[pair] = mapping
    return out


def processes_without_table() -> tuple[Pair, ...]:
    """Every signed pair of the pool (sorted keys, charge conjugates included) without a reference table."""
    return tuple(pair for pair in _all_pairs() if table_for_pair(*pair) is None)


# ---------------------------------------------------------------------------------------------
# the set of reference tables
# ---------------------------------------------------------------------------------------------
def _shared_candidates() -> Iterator[Path]:
    seen: set[Path] = set()
    for start in (Path.cwd().resolve(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            candidate = folder.joinpath(*SHARED_PARTS)
            if candidate not in seen:
                seen.add(candidate)
                yield candidate


def locate_xsec_folder(folder: str | os.PathLike[str] | None = None) -> Path:
    """Folder of the reference tables: ``folder``, else ``$NEXTSM_XSEC``, else ``shared/data/xsec``
    searched upwards from the current directory and from this package's location."""
    if folder is not None:
        p = Path(folder).expanduser()
        if not p.is_dir():
            raise CrossSectionError(f"folder='{p}': cross-section folder does not exist")
        return p
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise CrossSectionError(f"{ENV_VAR}='{env}': cross-section folder does not exist")
        return p
    for candidate in _shared_candidates():
        if candidate.is_dir():
            return candidate
    raise CrossSectionError(
        f"no cross-section tables found (no folder given, {ENV_VAR} unset, no ../shared/data/xsec "
        f"above the current directory or the package); pass folder=... or set {ENV_VAR}=PATH"
    )


@dataclass(frozen=True, eq=False)
class ReferenceCrossSections:
    """All reference tables, keyed by ``(process, sqrts_tev)``; see the module doc for the pair mapping."""

    tables: Mapping[tuple[str, float], XsecTable]
    folder: Path | None = None

    @classmethod
    def load(cls, folder: str | os.PathLike[str] | None = None) -> ReferenceCrossSections:
        """Read the 14 tables (7 processes x 8, 13 TeV) from the located folder (:func:`locate_xsec_folder`)."""
        root = locate_xsec_folder(folder)
        tables: dict[tuple[str, float], XsecTable] = {}
        missing = []
        for process, template in PROCESS_FILES.items():
            for sqrts in SQRTS_TEV:
                path = root / template.format(sqrts=int(sqrts))
                if not path.is_file():
                    missing.append(path.name)
                    continue
                table = read_xsec_table(path, process=process)
                if table.sqrts_tev != sqrts:
                    raise CrossSectionError(
                        f"{path}: table is at {table.sqrts_tev:g} TeV, expected {sqrts:g} TeV"
                    )
                tables[(process, sqrts)] = table
        if missing:
            raise CrossSectionError(f"{root}: missing cross-section tables {', '.join(missing)}")
        return cls(tables=MappingProxyType(tables), folder=root)

    def table(self, process: str, sqrts: float) -> XsecTable:
        """The table of ``process`` at ``sqrts`` TeV."""
        key = (process, float(sqrts))
        if key not in self.tables:
            energies = sorted({s for _, s in self.tables})
            raise CrossSectionError(
                f"sqrts={sqrts!r}, process={process!r}: no reference table (tables exist at {energies} TeV "
                f"for {sorted({p for p, _ in self.tables})})"
            )
        return self.tables[key]

    def pair_xsec(
        self, pdg1: int, pdg2: int, m1: ArrayLike, m2: ArrayLike, sqrts: float
    ) -> float | NDArray[np.float64] | None:
        """Reference σ in fb of the signed pair (``pdg1``, ``pdg2``) with masses ``m1``, ``m2`` (GeV).

        Returns None if the process has no reference table; NaN where the mean mass is outside the
        table.  Vectorised: array masses (broadcast together) give an array.
        """
        mapping = table_for_pair(pdg1, pdg2)
        sqrts_f = float(sqrts)
        if sqrts_f not in SQRTS_TEV:
            raise CrossSectionError(f"sqrts={sqrts!r}: reference tables exist only at 8 and 13 TeV")
        if mapping is None:
            return None
        mean = 0.5 * (np.asarray(m1, dtype=float) + np.asarray(m2, dtype=float))
        sigma = self.table(mapping.process, sqrts_f)(mean)
        return sigma * mapping.factor
