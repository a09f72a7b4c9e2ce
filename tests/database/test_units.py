import pytest

from nextsm.errors import NextsmError, UnitError
from nextsm.units import parse_number, parse_quantity


@pytest.mark.parametrize(
    ("text", "expect", "value"),
    [
        ("13*TeV", "energy", 13000.0),
        ("13.0*TeV", "energy", 13000.0),
        ("8*TeV", "energy", 8000.0),
        ("139.0/fb", "luminosity", 139.0),
        ("139/fb", "luminosity", 139.0),
        ("20.3/fb", "luminosity", 20.3),
        ("1.2E+01*pb", "xsec", 12000.0),
        ("0.5387*fb", "xsec", 0.5387),
        ("5.0E+02*GeV", "energy", 500.0),
        ("500*MeV", "energy", 0.5),
        ("*GeV", None, 1.0),
        ("GeV", "energy", 1.0),
        ("3905.0", None, 3905.0),
        ("3.0/ab", "luminosity", 3000.0),
    ],
)
def test_parse_quantity(text, expect, value):
    assert parse_quantity(text, expect) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("13*furlong", "unknown unit 'furlong'"),
        ("13 TeV", "missing '*' or '/'"),
        ("13*TeV", "has dimension energy, expected xsec"),
        ("__import__('os')", "cannot parse quantity"),
        ("1+2", "cannot parse quantity"),
        ("139/GeV", "only inverse cross sections"),
    ],
)
def test_parse_quantity_errors(text, message):
    with pytest.raises(UnitError) as info:
        parse_quantity(text, "xsec" if text == "13*TeV" else None)
    assert message in str(info.value)
    assert isinstance(info.value, NextsmError)


def test_parse_number():
    assert parse_number("1.5E+02") == 150.0
    with pytest.raises(UnitError, match="expected a number"):
        parse_number("abc")
