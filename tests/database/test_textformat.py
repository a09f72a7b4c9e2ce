import numpy as np
import pytest

from nextsm.database.textformat import parse_entries, parse_grid
from nextsm.errors import DatabaseError

TXNAME = """txName: T2tt
constraint: [[['t']],[['t']]]
condition: None
figureUrl: https://example.org/fig1.png
https://example.org/fig2.png
axes: [[x, y], [x, y]]
upperLimits: [[[[1.0000E+02*GeV,5.0000E+01*GeV],[1.0000E+02*GeV,5.0000E+01*GeV]],6.5073E+01*pb],
[[[1.5000E+02*GeV,5.0000E+01*GeV],[1.5000E+02*GeV,5.0000E+01*GeV]],2.4206E+01*pb]]
expectedUpperLimits: [[[[1.0000E+02*GeV,5.0000E+01*GeV],[1.0000E+02*GeV,5.0000E+01*GeV]],70.*fb]]
"""


def test_entries_multiline_and_url_continuation():
    entries = parse_entries(TXNAME, "x/T2tt.txt")
    assert entries["txName"].value == "T2tt"
    assert entries["txName"].line == 1
    assert "fig2.png" in entries["figureUrl"].value
    assert "https" not in entries
    assert entries["upperLimits"].line == 7


def test_entries_strip_comment():
    entries = parse_entries("upperLimit: 1.5*fb\t# official number\n", "d/dataInfo.txt")
    assert entries["upperLimit"].value == "1.5*fb"


def test_entries_errors_name_file_and_line():
    with pytest.raises(DatabaseError, match=r"d/dataInfo.txt:3, field 'dataId': key 'dataId' appears twice"):
        parse_entries("dataId: a\ndataType: upperLimit\ndataId: b\n", "d/dataInfo.txt")
    with pytest.raises(DatabaseError, match=r"g.txt:1: text before"):
        parse_entries("garbage\nid: x\n", "g.txt")


def test_grid_units_and_layout():
    entries = parse_entries(TXNAME, "x/T2tt.txt")
    grid = parse_grid(entries["upperLimits"], path="x/T2tt.txt", field="upperLimits")
    assert grid.points.shape == (2, 4)
    np.testing.assert_allclose(grid.values, [65073.0, 24206.0])
    np.testing.assert_allclose(grid.points[1], [150, 50, 150, 50])
    assert grid.layout == [[0, 0], [0, 0]]
    exp = parse_grid(entries["expectedUpperLimits"], path="x/T2tt.txt", field="expectedUpperLimits")
    np.testing.assert_allclose(exp.values, [70.0])


def test_grid_widths_wildcards_and_plain_numbers():
    text = "efficiencyMap: [[['*',[1.0E+02*GeV,(5.0E+01*GeV,1e-15*GeV)]],0.25],\n[['*',[2.0E+02*GeV,(5.0E+01*GeV,1e-15*GeV)]],0.5]]\n"
    e = parse_entries(text, "t.txt")
    grid = parse_grid(e["efficiencyMap"], path="t.txt", field="efficiencyMap")
    assert grid.layout == ["*", [0, [0, 0]]]
    np.testing.assert_allclose(grid.points[1], [200, 50, 1e-15])
    flat = parse_grid(parse_entries("upperLimits: [[[1800.0,2e-13],2.1E-01*pb]]\n", "g.txt")["upperLimits"],
                      path="g.txt", field="upperLimits")
    np.testing.assert_allclose(flat.values, [210.0])
    assert flat.layout == [0, 0]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ("[[[[1.0*TeV,2.0*GeV]],1.0*pb]]", "unsupported unit 'TeV'"),
        ("[[[[1.0*GeV,2.0*GeV]],1.0*pb],[[[1.0*GeV,2.0*GeV]],1.0*fb]]", "mixes value units"),
        ("[[[[1.0*GeV,2.0*GeV]],1.0*pb],[[[1.0*GeV]],1.0*pb]]", "differ in shape"),
        ("[[[[1.0*GeV,2.0*GeV]],1.0*pb]", "malformed data grid"),
        ("[[[[1.0*GeV,2.0*GeV]],1.0*pb],[[[1.0*GeV,2.0*GeV]],1.0]]", "needs the unit pb"),
    ],
)
def test_grid_errors(grid, message):
    e = parse_entries(f"txName: T\nupperLimits: {grid}\n", "a/b/T.txt")
    with pytest.raises(DatabaseError, match=message) as info:
        parse_grid(e["upperLimits"], path="a/b/T.txt", field="upperLimits")
    assert info.value.path == "a/b/T.txt"
    assert info.value.field == "upperLimits"
    assert info.value.line == 2
