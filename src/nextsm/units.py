"""A small, safe parser for values with units, as written in the SModelS database.

The database writes quantities as arithmetic on a number and a unit: ``13*TeV``, ``13.0*TeV``,
``139.0/fb``, ``1.2E+01*pb``, ``2.0E+02*GeV``.  SModelS evaluates these with Python's ``eval``;
nextsm parses them with a grammar that accepts exactly

    quantity := number [ ('*' | '/') unit ]   |   unit        (a bare unit means 1 unit)

and converts them to nextsm's canonical units:

==========================  =========  ==================================
dimension                   canonical  accepted units
==========================  =========  ==================================
energy / mass / width       GeV        eV, keV, MeV, GeV, TeV
cross section               fb         ab, fb, pb, nb
integrated luminosity       1/fb       /ab, /fb, /pb, /nb
length                      m          mm, cm, m
time                        s          fs, ps, ns, s
==========================  =========  ==================================

Nothing is ever executed.
"""

from __future__ import annotations

import re
from typing import Literal

from nextsm.errors import UnitError

__all__ = ["CANONICAL", "Dimension", "parse_number", "parse_quantity"]

Dimension = Literal["energy", "xsec", "luminosity", "length", "time"]

#: unit name -> (dimension of ``number*unit``, factor to the canonical unit)
_UNITS: dict[str, tuple[str, float]] = {
    "eV": ("energy", 1e-9),
    "keV": ("energy", 1e-6),
    "MeV": ("energy", 1e-3),
    "GeV": ("energy", 1.0),
    "TeV": ("energy", 1e3),
    "ab": ("xsec", 1e-3),
    "fb": ("xsec", 1.0),
    "pb": ("xsec", 1e3),
    "nb": ("xsec", 1e6),
    "mm": ("length", 1e-3),
    "cm": ("length", 1e-2),
    "m": ("length", 1.0),
    "fs": ("time", 1e-15),
    "ps": ("time", 1e-12),
    "ns": ("time", 1e-9),
    "s": ("time", 1.0),
}

#: canonical unit of each dimension, for messages and docs
CANONICAL: dict[str, str] = {
    "energy": "GeV",
    "xsec": "fb",
    "luminosity": "1/fb",
    "length": "m",
    "time": "s",
}

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY_RE = re.compile(rf"^\s*(?P<num>{_NUMBER})?\s*(?:(?P<op>[*/])?\s*(?P<unit>[A-Za-z]+))?\s*$")


def parse_number(text: str) -> float:
    """Parse a plain number (``'3905.0'``, ``'1.2E+01'``); raise :class:`UnitError` otherwise."""
    try:
        return float(text)
    except (TypeError, ValueError):
        raise UnitError(f"expected a number, got {text!r}") from None


def parse_quantity(text: str, expect: Dimension | None = None) -> float:
    """Parse ``number*unit``, ``number/unit`` or a bare number, returned in canonical units.

    Parameters
    ----------
    text:
        The expression, e.g. ``"13*TeV"`` or ``"139.0/fb"``.
    expect:
        If given, the dimension the quantity must have; a bare number is then taken to be in the
        canonical unit of that dimension.

    Examples
    --------
    >>> parse_quantity("13*TeV", "energy")
    13000.0
    >>> parse_quantity("139.0/fb", "luminosity")
    139.0
    >>> parse_quantity("1.2E+01*pb", "xsec")
    12000.0
    """
    match = _QUANTITY_RE.match(text)
    if match is None or (match.group("num") is None and match.group("unit") is None):
        raise UnitError(f"cannot parse quantity {text!r} (expected e.g. '13*TeV', '139.0/fb')")
    number = float(match.group("num")) if match.group("num") is not None else 1.0
    unit = match.group("unit")
    op = match.group("op")
    if unit is None:
        return number
    if match.group("num") is not None and op is None:
        raise UnitError(f"cannot parse quantity {text!r}: missing '*' or '/' between number and unit")
    if unit not in _UNITS:
        raise UnitError(f"unknown unit {unit!r} in {text!r} (known: {', '.join(_UNITS)})")
    dimension, factor = _UNITS[unit]
    if op == "/":
        if dimension != "xsec":
            raise UnitError(f"cannot parse quantity {text!r}: only inverse cross sections (luminosity) are supported")
        dimension, value = "luminosity", number / factor
    else:
        value = number * factor
    if expect is not None and dimension != expect:
        raise UnitError(f"quantity {text!r} has dimension {dimension}, expected {expect} ({CANONICAL[expect]})")
    return value
