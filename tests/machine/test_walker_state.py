"""The walker's state is self-consistent: its current K is the K of the model it holds (μ̂ absorbed or not)."""

from __future__ import annotations

import math

import pytest

from nextsm.machine.combinability import Combinability
from nextsm.machine.store import RunStore
from nextsm.machine.walker import Walker, evaluate
from nextsm.model import ProtoModel

pytestmark = pytest.mark.database


def test_current_K_is_the_K_of_the_current_model(tmp_path, database):
    from nextsm.theory import Predictor

    predictor, lists = Predictor(database), Combinability.load()
    store = RunStore(tmp_path / "run")
    try:
        Walker(0, 11, predictor, lists, store).run(60)
        records = [r for r in store.steps(0) if r.accepted]
    finally:
        store.close()
    absorbed = [r for r in records if "absorbed mu_hat" in r.detail]
    assert absorbed, "the walk should absorb a signal strength at least once"
    for r in records:
        again = evaluate(ProtoModel.from_dict(r.current_model), predictor, lists).K
        want = -math.inf if r.current_K is None else r.current_K
        assert again == pytest.approx(want, abs=1e-9), f"step {r.step}: {r.detail}"
