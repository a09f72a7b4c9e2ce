import tarfile
import warnings

import numpy as np
import pytest

from nextsm.database import DatabaseSource, load_database, locate_database
from nextsm.database.reader import SkippedAnalysesWarning, read_database
from nextsm.errors import DatabaseError, DatabaseNotFoundError


def test_reads_tiny_database(tiny_database, tmp_path):
    db = load_database(tiny_database, cache_root=tmp_path / "cache")
    assert db.version == "test-1"
    assert [a.name for a in db] == ["TEST-UL-01", "TEST-EM-01-eff"] or [a.name for a in db] == [
        "TEST-EM-01-eff", "TEST-UL-01"]
    ul = db.analysis("TEST-UL-01")
    assert ul.info.sqrts_tev == 13.0
    assert ul.info.lumi_ifb == 139.0
    assert ul.info.experiment == "ATLAS"
    assert ul.is_superseded
    tx = ul.datasets[0].txname("T2tt")
    np.testing.assert_allclose(tx.grids["upperLimits"].values, [1000.0, 500.0, 800.0])
    np.testing.assert_allclose(tx.grids["expectedUpperLimits"].values, [900.0, 400.0, 700.0])
    em = db.analysis("TEST-EM-01")
    assert em.info.sqrts_tev == 8.0
    # datasets follow datasetOrder, aligned with the covariance matrix
    assert [d.data_id for d in em.datasets] == ["SR2", "SR1"]
    np.testing.assert_allclose(em.info.covariance, [[4.0, 1.0], [1.0, 9.0]])
    assert em.dataset("SR1").observed_n == 10
    assert em.dataset("SR1").upper_limit == pytest.approx(1.5)


def test_binary_files_beside_the_text_files_are_not_read(tiny_database, tmp_path):
    """SModelS writes its pickles (``.db3.pcl``, ``db3.pcl``) into the folders of a database it has loaded."""
    clean = load_database(tiny_database, use_cache=False)
    for folder in [tiny_database, *(p for p in tiny_database.glob("*TeV/*/*") if p.is_dir())]:
        (folder / ".db3.pcl").write_bytes(b"\x80\x04\x95binary\xff")
    polluted = load_database(tiny_database, use_cache=False)
    assert polluted.content_hash == clean.content_hash
    assert [a.name for a in polluted] == [a.name for a in clean]


def test_same_result_from_tarball(tiny_database, tmp_path):
    archive = tmp_path / "tiny.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tiny_database, arcname="smodels-database")
    a = load_database(tiny_database, use_cache=False)
    b = load_database(archive, use_cache=False)
    assert a.content_hash == b.content_hash
    assert [x.name for x in a] == [x.name for x in b]


def test_cache_round_trip_is_identical(tiny_database, tmp_path):
    info = []
    cold = load_database(tiny_database, cache_root=tmp_path / "c", info=info)
    warm = load_database(tiny_database, cache_root=tmp_path / "c", info=info)
    assert [i.from_cache for i in info] == [False, True]
    assert cold.content_hash == warm.content_hash
    for a, b in zip(cold, warm, strict=True):
        assert a.info.id == b.info.id
        for ta, tb in zip(a.txnames(), b.txnames(), strict=True):
            assert ta.constraint == tb.constraint
            for key in ta.grids:
                np.testing.assert_array_equal(ta.grids[key].points, tb.grids[key].points)
                np.testing.assert_array_equal(ta.grids[key].values, tb.grids[key].values)
                assert ta.grids[key].layout == tb.grids[key].layout


def test_cache_hit_reports_the_path_it_was_asked_for(tiny_database, tmp_path):
    """An identical copy at another path shares the cache entry but keeps its own path."""
    import shutil
    copy = tmp_path / "elsewhere" / "db"
    shutil.copytree(tiny_database, copy)
    info = []
    first = load_database(tiny_database, cache_root=tmp_path / "c", info=info)
    second = load_database(copy, cache_root=tmp_path / "c", info=info)
    third = load_database(copy, cache_root=tmp_path / "c", info=info)
    assert first.content_hash == second.content_hash
    assert [i.from_cache for i in info][2]
    assert first.path == str(tiny_database)
    assert second.path == third.path == str(copy)


def test_cache_invalidated_when_a_file_changes(tiny_database, tmp_path):
    load_database(tiny_database, cache_root=tmp_path / "c")
    path = tiny_database / "8TeV/CMS/TEST-EM-01-eff/SR1/dataInfo.txt"
    path.write_text(path.read_text().replace("observedN: 10", "observedN: 11"))
    info = []
    db = load_database(tiny_database, cache_root=tmp_path / "c", info=info)
    assert not info[0].from_cache
    assert db.analysis("TEST-EM-01-eff").dataset("SR1").observed_n == 11


def test_malformed_file_names_file_line_field(tiny_database):
    path = tiny_database / "8TeV/CMS/TEST-EM-01-eff/SR2/dataInfo.txt"
    path.write_text(path.read_text().replace("expectedBG: 4.0", "expectedBG: four"))
    with DatabaseSource(tiny_database) as source, pytest.raises(DatabaseError) as info:
        read_database(source)
    err = info.value
    assert err.path == "8TeV/CMS/TEST-EM-01-eff/SR2/dataInfo.txt"
    assert err.line == 4
    assert err.field == "expectedBG"
    assert "SR2/dataInfo.txt:4" in str(err)


def test_skip_bad_keeps_the_rest_and_warns(tiny_database):
    path = tiny_database / "13TeV/ATLAS/TEST-UL-01/globalInfo.txt"
    path.write_text(path.read_text().replace("lumi: 139.0/fb", "lumi: 139.0*GeV"))
    with DatabaseSource(tiny_database) as source, pytest.warns(SkippedAnalysesWarning, match="TEST-UL-01"):
        db = read_database(source, skip_bad=True)
    assert [a.name for a in db] == ["TEST-EM-01-eff"]
    assert "lumi" in db.skipped[0]


def test_covariance_must_match_dataset_order(tiny_database):
    path = tiny_database / "8TeV/CMS/TEST-EM-01-eff/globalInfo.txt"
    path.write_text(path.read_text().replace("[[4.0, 1.0], [1.0, 9.0]]", "[[4.0]]"))
    with DatabaseSource(tiny_database) as source, pytest.raises(DatabaseError, match="covariance has shape"):
        read_database(source)


def test_locate_lookup_order(tiny_database, monkeypatch, tmp_path):
    assert locate_database(tiny_database) == tiny_database
    monkeypatch.setenv("NEXTSM_DATABASE", str(tiny_database))
    assert locate_database() == tiny_database
    monkeypatch.setenv("NEXTSM_DATABASE", str(tmp_path / "nope"))
    with pytest.raises(DatabaseNotFoundError, match="NEXTSM_DATABASE"):
        locate_database()
    with pytest.raises(DatabaseNotFoundError, match="smodels-database-release"):
        locate_database(tmp_path / "missing.tar.gz")


def test_not_a_database(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatabaseError, match="not an SModelS database folder"):
        DatabaseSource(tmp_path / "empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (tmp_path / "f.txt").write_text("x")
        with pytest.raises(DatabaseError, match="neither a folder nor"):
            DatabaseSource(tmp_path / "f.txt")
