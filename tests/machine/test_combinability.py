"""Combinability rules and the real combinability lists; the combiner on real predictions."""

from __future__ import annotations

import time

import numpy as np
import pytest

from nextsm.machine import Combinability, ResultId, best_combination, combinability_matrix


@pytest.fixture(scope="module")
def lists():
    return Combinability.load()


def test_rules(lists):
    a = ResultId("ATLAS-SUSY-2018-04", 13.0, "ATLAS")
    assert not lists.combinable(a, a)
    assert lists.combinable(a, ResultId("CMS-SUS-19-006", 13.0, "CMS"))  # other experiment
    assert lists.combinable(a, ResultId("ATLAS-SUSY-2013-11", 8.0, "ATLAS"))  # other √s
    # same experiment and √s: only when listed (2015-06 lists 2018-04, nothing lists 2015-06 with itself)
    assert lists.combinable(ResultId("ATLAS-SUSY-2015-06", 13.0, "ATLAS"), a)
    assert lists.combinable(a, ResultId("ATLAS-SUSY-2015-06", 13.0, "ATLAS"))  # symmetric
    # UL and EM folders of one analysis are the same result
    assert not lists.combinable(ResultId("CMS-SUS-19-006", 13.0, "CMS"), ResultId("CMS-SUS-19-006-agg", 13.0, "CMS"))


def test_lists_are_read_and_asymmetries_reported(lists):
    assert len(lists.analysis_pairs) > 1000
    assert len(lists.region_pairs) > 1000
    assert isinstance(lists.asymmetries(), list)


def test_unlisted_same_experiment_pair_is_not_combinable():
    empty = Combinability()
    assert not empty.combinable(ResultId("CMS-SUS-16-050", 13.0, "CMS"), ResultId("CMS-SUS-19-006", 13.0, "CMS"))
    empty.add("CMS-SUS-16-050", ["CMS-SUS-19-006"])
    assert empty.combinable(ResultId("CMS-SUS-19-006", 13.0, "CMS"), ResultId("CMS-SUS-16-050", 13.0, "CMS"))
    assert empty.asymmetries() == [("CMS-SUS-16-050", "CMS-SUS-19-006")]


@pytest.mark.database
def test_combiner_on_real_predictions_is_fast(database, lists):
    from nextsm.model.protomodel import ProtoModel
    from nextsm.theory import Predictor, best_results

    model = ProtoModel(masses={1000006: 1150.0, 1000022: 300.0}, decays={1000006: {(1000022, 6): 1.0}},
                       ssmultipliers={(-1000006, 1000006): 1.0})
    predictor = Predictor(database)
    results = [p for p in best_results(predictor.predict(model)) if p.nll_bsm is not None]
    assert len(results) >= 10
    ids = [ResultId(p.analysis, p.sqrts, database.analysis(p.folder).info.experiment, p.dataset) for p in results]
    weights = np.array([2.0 * (p.nll_sm - p.nll_bsm) for p in results])
    t0 = time.perf_counter()
    adjacency = combinability_matrix(ids, lists.combinable)
    combination = best_combination(weights, adjacency)
    elapsed = time.perf_counter() - t0
    assert combination.members
    chosen = [ids[i] for i in combination.members]
    assert all(lists.combinable(a, b) for a in chosen for b in chosen if a is not b)
    assert elapsed < 1.0  # typically a few ms (docs/benchmarks.md); generous for loaded CI machines
