"""Reference cross-section tables: parsing of every header layout, interpolation, pair mapping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nextsm.errors import NextsmError
from nextsm.model.particles import PARTICLES
from nextsm.model.xsec import (
    ENV_VAR,
    CrossSectionError,
    ReferenceCrossSections,
    XsecTable,
    locate_xsec_folder,
    pair_key,
    processes_with_table,
    processes_without_table,
    read_xsec_table,
    table_for_pair,
)

# file -> (cross-section unit in fb, uncertainty layout) as read by eye from each header
FILES = {
    "xsecC1C113.txt": (1.0, "abs"),
    "xsecC1C18.txt": (1.0, "abs"),
    "xsecN2C1m13.txt": (1.0, "abs"),
    "xsecN2C1m8.txt": (1000.0, "abs"),
    "xsecN2C1p13.txt": (1.0, "abs"),
    "xsecN2C1p8.txt": (1000.0, "abs"),
    "xsecgluino13.txt": (1000.0, "pct"),
    "xsecgluino8.txt": (1000.0, "pct"),
    "xsecslepslep13.txt": (1000.0, "downup"),
    "xsecslepslep8.txt": (1.0, "none"),
    "xsecsquark13.txt": (1000.0, "pct"),
    "xsecsquark8.txt": (1000.0, "pct"),
    "xsecstop13.txt": (1000.0, "pct"),
    "xsecstop8.txt": (1000.0, "pct"),
}


@pytest.fixture(scope="module")
def folder():
    try:
        return locate_xsec_folder()
    except CrossSectionError as exc:  # pragma: no cover - the shared data is present in CI
        pytest.skip(f"reference cross sections absent: {exc}")


@pytest.fixture(scope="module")
def refs(folder):
    return ReferenceCrossSections.load(folder)


def _raw_rows(path):
    """Independent minimal reading of the data rows: list of number lists (GeV, ±, % dropped)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        toks = line.replace("±", " ").replace("+-", " ").replace("%", " ").replace("GeV", " ").split()
        rows.append([float(t) for t in toks])
    return rows


def test_the_fourteen_files_exist(folder):
    assert sorted(p.name for p in folder.glob("xsec*.txt")) == sorted(FILES)


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_file_parses_and_reproduces_tabulated_values(folder, name):
    factor, kind = FILES[name]
    table = read_xsec_table(folder / name)
    rows = _raw_rows(folder / name)
    assert table.masses.size == len(rows)
    assert table.sqrts_tev == (13.0 if name.endswith("13.txt") else 8.0)
    assert np.all(np.diff(table.masses) > 0)
    for i in (0, 1, len(rows) // 2, len(rows) - 1):
        mass, sigma = rows[i][0], rows[i][1]
        assert table.masses[i] == mass
        assert table.xsec_fb[i] == pytest.approx(sigma * factor, rel=1e-12)
        assert table(mass) == pytest.approx(sigma * factor, rel=1e-12)
        down, up = table.rel_uncertainty[i]
        if kind == "none" or len(rows[i]) == 2:
            assert math.isnan(down)
            assert math.isnan(up)
        elif kind == "abs":
            assert down == up == pytest.approx(rows[i][2] / sigma, rel=1e-12)
        elif kind == "pct":
            assert down == up == pytest.approx(rows[i][2] / 100, rel=1e-12)
        else:
            assert (down, up) == pytest.approx((abs(rows[i][2]) / 100, rows[i][3] / 100), rel=1e-12)
    assert table.symmetric == (kind != "downup")


def test_known_values(refs):
    # 13 TeV stop pair at 500 GeV: 0.609 pb; 8 TeV slepton at 100 GeV: 181.16 fb; 13 TeV C1C1 at 100 GeV
    assert refs.table("stop", 13)(500.0) == pytest.approx(609.0, rel=1e-12)
    assert refs.table("slepslep", 8)(100.0) == pytest.approx(181.16, rel=1e-12)
    assert refs.table("C1C1", 13)(100.0) == pytest.approx(11611.9, rel=1e-12)
    assert refs.table("slepslep", 13).rel_uncertainty[0] == pytest.approx((0.039, 0.022))


def test_log_linear_interpolation_is_exact_for_exponential_data():
    masses = np.array([100.0, 250.0, 400.0, 1000.0])
    table = XsecTable("toy", 13.0, masses, 7.0 * np.exp(-masses / 90.0), np.full((4, 2), 0.1))
    m = np.linspace(100.0, 1000.0, 37)
    np.testing.assert_allclose(table(m), 7.0 * np.exp(-m / 90.0), rtol=1e-12)
    # between two real points: geometric interpolation
    stop = read_xsec_table(locate_xsec_folder() / "xsecstop13.txt")
    i = 40
    mid = 0.5 * (stop.masses[i] + stop.masses[i + 1])
    assert stop(mid) == pytest.approx(math.sqrt(stop.xsec_fb[i] * stop.xsec_fb[i + 1]), rel=1e-12)


def test_out_of_range_is_nan_and_vectorised(refs):
    table = refs.table("gluino", 13)
    lo, hi = table.mass_range
    out = table([lo - 1.0, lo, hi, hi + 1.0, np.nan])
    assert out.shape == (5,)
    assert np.isnan(out[[0, 3, 4]]).all()
    assert np.isfinite(out[1:3]).all()
    assert isinstance(table(1000.0), float)
    assert table.uncertainty([lo, hi + 1]).shape == (2, 2)


def test_mapping_of_each_process_class(refs):
    m = 800.0
    for q in (1000001, 1000002, 1000003, 1000004):
        assert refs.pair_xsec(q, -q, m, m, 13) == pytest.approx(refs.table("squark", 13)(m) / 10)
    for s in (1000005, 2000005, 1000006, 2000006):
        assert refs.pair_xsec(-s, s, m, m, 8) == pytest.approx(refs.table("stop", 8)(m))
    assert refs.pair_xsec(1000021, 1000021, m, m, 13) == pytest.approx(refs.table("gluino", 13)(m))
    for sl in (1000011, 1000013, 1000015):
        assert refs.pair_xsec(sl, -sl, 300, 300, 13) == pytest.approx(refs.table("slepslep", 13)(300))
    assert refs.pair_xsec(1000024, -1000024, m, m, 13) == pytest.approx(refs.table("C1C1", 13)(m))
    # N2C1: mean mass, sign picks the table, argument order irrelevant
    assert refs.pair_xsec(1000024, 1000023, 300, 500, 13) == pytest.approx(refs.table("N2C1p", 13)(400))
    assert refs.pair_xsec(1000023, -1000024, 300, 500, 13) == pytest.approx(refs.table("N2C1m", 13)(400))
    # vectorised over masses
    got = refs.pair_xsec(1000006, -1000006, [300.0, 600.0, 7000.0], 600.0, 13)  # mean 3800 > 3000: NaN
    assert got.shape == (3,)
    assert math.isnan(got[2])
    assert got[1] == pytest.approx(refs.table("stop", 13)(600.0))


def test_processes_without_table_return_none(refs):
    for pair in [
        (1000021, 1000001),  # gluino-squark
        (1000001, 1000001),  # same-sign squarks
        (1000001, -1000002),  # cross flavour
        (1000006, -2000006),  # t1 t2bar
        (1000012, 1000012),  # sneutrinos
        (-1000011, 1000012),  # slepton-sneutrino
        (1000022, 1000022),  # N1N1
        (1000023, 1000025),  # N2N3
        (1000037, -1000037),  # C2C2
        (1000022, 1000024),  # N1C1
        (1000024, 1000024),  # same-sign charginos
    ]:
        assert refs.pair_xsec(*pair, 500, 500, 13) is None
        assert pair_key(*pair) in processes_without_table()


def test_full_lists_partition_the_pool():
    n_codes = sum(1 if p.self_conjugate else 2 for p in PARTICLES.values())
    with_table = processes_with_table()
    without = processes_without_table()
    assert len(with_table) + len(without) == n_codes * (n_codes + 1) // 2
    assert set(with_table).isdisjoint(without)
    assert len(with_table) == 15
    assert all(a <= b for a, b in without)
    assert table_for_pair(-1000006, 1000006).process == "stop"


def test_invalid_requests(refs):
    with pytest.raises(CrossSectionError, match="pdg1"):
        refs.pair_xsec(6, -6, 500, 500, 13)
    with pytest.raises(CrossSectionError, match="self-conjugate"):
        refs.pair_xsec(-1000021, 1000021, 500, 500, 13)
    with pytest.raises(CrossSectionError, match="sqrts=7"):
        refs.pair_xsec(1000021, 1000021, 500, 500, 7)


def test_table_is_immutable(refs):
    table = refs.table("stop", 13)
    with pytest.raises(ValueError, match="read-only"):
        table.xsec_fb[0] = 1.0


def test_folder_lookup(tmp_path, monkeypatch, folder):
    monkeypatch.setenv(ENV_VAR, str(folder))
    assert locate_xsec_folder() == folder
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(CrossSectionError, match=ENV_VAR):
        locate_xsec_folder()
    with pytest.raises(CrossSectionError, match="folder="):
        locate_xsec_folder(tmp_path / "nowhere")
    with pytest.raises(CrossSectionError, match="missing cross-section tables"):
        ReferenceCrossSections.load(tmp_path)


GOOD_HEADER = "# toy 13 TeV\n# mass [GeV] xsec [pb] uncertainty [pb]\n"


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("100 1.0 0.1\n200 abc 0.1\n", 4, "cannot read 'abc'"),
        ("100 1.0 0.1\n100 0.5 0.1\n", 4, "not above the previous"),
        ("100 1.0 0.1\n200 -0.5 0.1\n", 4, "must be > 0"),
        ("100 1.0 0.1 0.2\n200 0.5 0.1\n", 3, "2 uncertainty values"),
        ("100 1.0 0.1\n200 0.5 5%\n", 4, "row in %"),
    ],
)
def test_malformed_file_errors_name_file_and_line(tmp_path, body, line, message):
    path = tmp_path / "xsectoy13.txt"
    path.write_text(GOOD_HEADER + body, encoding="utf-8")
    with pytest.raises(CrossSectionError, match=message) as info:
        read_xsec_table(path)
    assert f"{path}:{line}:" in str(info.value)
    assert isinstance(info.value, NextsmError)


def test_header_problems(tmp_path):
    path = tmp_path / "xsectoy8.txt"
    path.write_text("# mass and xsec\n100 1.0\n200 0.5\n", encoding="utf-8")
    with pytest.raises(CrossSectionError, match="column header"):
        read_xsec_table(path)
    path.write_text("# at 13 TeV\n# m [GeV] xsec [fb]\n100 1.0\n200 0.5\n", encoding="utf-8")
    with pytest.raises(CrossSectionError, match="file name says 8 TeV"):
        read_xsec_table(path)
    path.write_text("# m [GeV] xsec [fb] uncertainty\n100 1.0 3\n200 0.5 3\n", encoding="utf-8")
    with pytest.raises(CrossSectionError, match=r"xsectoy8.txt:2: uncertainty '3' has no unit"):
        read_xsec_table(path)
    path.write_text(
        "# m [GeV] xsec [fb] unc. (down) unc. (up)\n100 1.0 -3% 4%\n200 0.5 -3 % 4 %\n", encoding="utf-8"
    )
    table = read_xsec_table(path)
    assert (table.sqrts_tev, table.process, table.symmetric) == (8.0, "toy", False)
    np.testing.assert_allclose(table.rel_uncertainty, [[0.03, 0.04], [0.03, 0.04]])
