"""GridStack: grids sharing their points, evaluated together, equal the grids evaluated one by one."""

from __future__ import annotations

import numpy as np
import pytest

from nextsm.database.grid_stack import GridStack
from nextsm.database.grids import GridInterpolator

pytestmark = pytest.mark.database


@pytest.mark.parametrize(("folder", "txname"), [("CMS-SUS-19-006-agg", "T1"), ("ATLAS-SUSY-2018-22-multibin-eff", "TChiQ"),
                                                 ("ATLAS-SUSY-2018-12-eff", "T2tt")])
def test_stack_equals_single_grids(database, folder, txname):
    analysis = database.analysis(folder)
    grids = [tx.grids["efficiencyMap"] for ds in analysis.datasets for tx in ds.txnames if tx.name == txname]
    groups: dict[bytes, list] = {}
    for g in grids:
        groups.setdefault(g.points.tobytes(), []).append(g)
    grids = max(groups.values(), key=len)  # the largest set of regions sharing their points
    assert len(grids) > 1
    grids = grids[:8]
    singles = [GridInterpolator.from_grid(g) for g in grids]
    stack = GridStack([GridInterpolator.from_grid(g) for g in grids])
    rng = np.random.default_rng(7)
    pts = grids[0].points
    # points on the plane of the grid (convex combinations, extrapolated a little), a few off it; round
    # masses (ties, faces) and the grid points themselves are the hard cases
    a, b = pts[rng.choice(len(pts), 300)], pts[rng.choice(len(pts), 300)]
    t = rng.uniform(-0.1, 1.1, size=(300, 1))
    on_plane = a + t * (b - a)
    off_plane = on_plane[:20] + rng.normal(0.0, 5.0, size=(20, pts.shape[1]))
    points = np.concatenate([on_plane, np.round(on_plane, -1), off_plane, pts[rng.choice(len(pts), 50)]])
    got = stack(points)
    want = np.stack([g(points) for g in singles], axis=1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)])
    assert np.isfinite(got).sum() > 100
    sub = stack(points[:20], columns=[2, 0])
    np.testing.assert_array_equal(np.nan_to_num(sub, nan=-1), np.nan_to_num(want[:20][:, [2, 0]], nan=-1))


def test_stack_refuses_grids_on_different_points(database):
    a = database.analysis("CMS-SUS-19-006-agg").datasets[0].txname("T1").grids["efficiencyMap"]
    b = database.analysis("CMS-SUS-16-050-agg").datasets[0].txname("T2tt").grids["efficiencyMap"]
    with pytest.raises(ValueError, match="share their points"):
        GridStack([GridInterpolator.from_grid(a), GridInterpolator.from_grid(b)])
