"""The real SModelS database v3.0.0 (the shared copy; CI has it)."""

import time

import numpy as np
import pytest

from nextsm.database import load_database

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
def db(database_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    load_database(database_path, cache_root=root)
    t0 = time.perf_counter()
    db = load_database(database_path, cache_root=root)
    WARM["seconds"] = time.perf_counter() - t0
    return db


WARM: dict[str, float] = {}


def test_counts(db):
    assert db.version == "3.0.0"
    assert len(db) == 204
    assert sum(len(a.datasets) for a in db) == 1149
    assert sum(1 for a in db for _ in a.txnames()) == 4089
    assert {a.info.sqrts_tev for a in db} == {8.0, 13.0}
    assert {a.info.experiment for a in db} == {"ATLAS", "CMS"}
    assert sum(a.has_covariance for a in db) == 11
    assert sum(a.has_workspaces for a in db) == 9


def test_warm_load_is_fast(db):
    # the 2 s target is measured by benchmarks/bench_database_load.py; here 3× headroom for a loaded CI machine
    assert WARM["seconds"] < 6.0


def test_known_records(db):
    a = db.analysis("ATLAS-SUSY-2018-04-eff")
    assert a.info.include_crs is False
    assert a.info.lumi_ifb == 139.0
    assert [d.data_id for d in a.datasets] == ["SRhigh", "SRlow"]
    cms = db.analysis("CMS-SUS-16-050-agg")
    assert cms.info.covariance.shape == (39, 39)
    assert [d.data_id for d in cms.datasets][:3] == ["ar1", "ar2", "ar3"]
    ar1 = cms.dataset("ar1")
    assert (ar1.observed_n, ar1.expected_bg, ar1.bg_error) == (3905.0, 3658.3, 238.76767)
    assert ar1.upper_limit == pytest.approx(20.201545)
    ul = db.analysis("ATLAS-SUSY-2018-04").datasets[0].txname("TStauStau").grids["upperLimits"]
    np.testing.assert_allclose(ul.points[0], [80.0, 1.0, 80.0, 1.0])
    assert ul.values[0] == pytest.approx(24443.0)  # 2.4443E+01 pb in fb


def test_missing_workspaces_are_reported(db):
    missing = {a.name: a.missing_workspaces() for a in db if a.missing_workspaces()}
    assert missing == {"ATLAS-SUSY-2018-32-eff": ["bkgonly.json"], "ATLAS-SUSY-2019-08-eff": ["BkgOnly.json"]}
