"""The factory picks the right likelihood for real database results."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.errors import LikelihoodError
from nextsm.likelihoods.factory import efficiency_map_likelihood, upper_limit_likelihood

pytestmark = pytest.mark.database


@pytest.mark.parametrize(
    ("analysis", "kind"),
    [
        ("CMS-EXO-19-001-eff", "single-sr"),
        ("ATLAS-SUSY-2016-07-eff", "best-sr"),
        ("CMS-SUS-16-050-agg", "sl-v1"),
        ("CMS-SUS-20-004-eff", "sl-v2"),
    ],
)
def test_efficiency_map_kinds(database, analysis, kind):
    result = efficiency_map_likelihood(database.analysis(analysis))
    assert result.kind == kind
    assert result.model.n_regions == len(result.regions)
    assert set(result.regions) <= {str(ds.data_id) for ds in database.analysis(analysis).datasets}


def test_single_region_by_name(database):
    ana = database.analysis("ATLAS-SUSY-2016-07-eff")
    region = str(ana.datasets[3].data_id)
    result = efficiency_map_likelihood(ana, regions=[region])
    assert (result.kind, result.regions) == ("single-sr", (region,))


def test_best_region_picks_the_most_sensitive(database):
    ana = database.analysis("ATLAS-SUSY-2016-07-eff")
    result = efficiency_map_likelihood(ana)
    signal = np.zeros((2, result.model.n_regions))
    signal[0, 4] = 10.0
    signal[1, 7] = 10.0
    np.testing.assert_array_equal(result.model.best_region(signal), [4, 7])


def test_upper_limit_at_a_grid_point_reproduces_the_grid(database):
    ana = database.analysis("CMS-SUS-19-006")
    tx = next(t for t in ana.txnames() if t.name == "T2tt")
    grid = tx.grids["upperLimits"]
    point = grid.points[len(grid.points) // 2]
    result = upper_limit_likelihood(ana, "T2tt", point[None, :])
    assert result.kind == "ul-truncated-gaussian"
    xsec = 3.0
    r = 1.0 / result.model.upper_limit([[xsec]])[0]
    assert r == pytest.approx(xsec / grid.values[len(grid.points) // 2], rel=1e-9)


def test_nested_mass_point_and_outside_grid(database):
    ana = database.analysis("CMS-SUS-19-006")
    inside = upper_limit_likelihood(ana, "T2tt", [[[1000.0, 100.0], [1000.0, 100.0]]])
    assert inside.model.upper_limit([[1.0]]).shape == (1,)
    with pytest.raises(LikelihoodError, match="outside"):
        upper_limit_likelihood(ana, "T2tt", [[[9000.0, 100.0], [9000.0, 100.0]]])


def test_observed_only_ul_has_no_likelihood(database):
    result = upper_limit_likelihood(database.analysis("CMS-SUS-16-037"), "T1tttt",
                                    [[[1500.0, 100.0], [1500.0, 100.0]]])
    assert result.kind == "ul-observed-only"
    with pytest.raises(LikelihoodError, match="no likelihood"):
        result.model.nll(1.0, [[1.0]])


def test_missing_workspace_falls_back_with_a_note(database, database_source):
    ana = database.analysis("ATLAS-SUSY-2019-08-eff")
    result = efficiency_map_likelihood(ana, source=database_source)
    assert result.kind != "histfactory"
    assert "BkgOnly.json" in result.note


def test_unknown_method_is_rejected(database):
    with pytest.raises(LikelihoodError, match="'method'"):
        efficiency_map_likelihood(database.analysis("CMS-SUS-16-050-agg"), method="nn")


def test_covariance_covers_the_dataset_order_only(database):
    ana = database.analysis("ATLAS-SUSY-2019-02-eff")
    result = efficiency_map_likelihood(ana)
    assert result.kind == "sl-v1"
    assert result.regions == tuple(ana.info.dataset_order)
    assert len(result.regions) < len(ana.datasets)
