"""RJMCMC bookkeeping of the walker moves: every add is undone by a remove with the mirrored densities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nextsm.machine.moves import log_parameter_prior, propose
from nextsm.model.protomodel import ProtoModel

START = ProtoModel(masses={1000022: 300.0, 1000006: 900.0}, decays={1000006: {(1000022, 6): 1.0}},
                   ssmultipliers={(-1000006, 1000006): 1.0})


def same(a: ProtoModel, b: ProtoModel) -> bool:
    return a.to_dict() == b.to_dict()


def find(model: ProtoModel, move: str, target: ProtoModel | None = None, tries: int = 4000):
    rng = np.random.default_rng(123)
    for _ in range(tries):
        p = propose(model, rng)
        if p is not None and p.move == move and (target is None or same(p.model, target)):
            return p
    return None


def test_add_and_remove_have_mirrored_proposal_densities():
    checked = 0
    model = START
    rng = np.random.default_rng(7)
    for _ in range(300):
        p = propose(model, rng)
        if p is None:
            continue
        if p.move == "add":
            back = find(p.model, "remove", model)
            assert back is not None, f"no remove undoes: {p.detail}"
            assert back.log_q_forward == pytest.approx(p.log_q_reverse, abs=1e-9)
            assert back.log_q_reverse == pytest.approx(p.log_q_forward, abs=1e-9)
            # with the parameter prior as reference measure, an add is judged on the move choices only
            ratio = log_parameter_prior(p.model) - log_parameter_prior(model) + p.log_q_reverse - p.log_q_forward
            assert math.isfinite(ratio)
            checked += 1
        if len(p.model.masses) <= 5:
            model = p.model
        if checked >= 5:
            break
    assert checked >= 3


def test_fixed_dimension_moves_are_valid_and_symmetric_where_documented():
    rng = np.random.default_rng(3)
    seen = set()
    model = START
    for _ in range(400):
        p = propose(model, rng)
        if p is None:
            continue
        p.model.validate()
        seen.add(p.move)
        if p.move in ("mass", "kappa"):
            assert p.log_q_forward == pytest.approx(p.log_q_reverse, abs=1e-12) or len(p.model.masses) != len(model.masses)
        model = p.model if len(p.model.masses) <= 4 else model
    assert {"mass", "kappa", "add"} <= seen


def close(a: ProtoModel, b: ProtoModel) -> bool:
    if set(a.masses) != set(b.masses) or set(a.ssmultipliers) != set(b.ssmultipliers):
        return False
    return (all(abs(a.masses[k] - b.masses[k]) < 1e-6 for k in a.masses)
            and all(abs(a.ssmultipliers[k] - b.ssmultipliers[k]) < 1e-9 for k in a.ssmultipliers)
            and a.decays.keys() == b.decays.keys())


def test_split_and_merge_have_mirrored_proposal_densities():
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(3000):
        p = propose(START, rng)
        if p is None or p.move != "split":
            continue
        back_rng = np.random.default_rng(5)
        back = None
        for _ in range(3000):
            q = propose(p.model, back_rng)
            if q is not None and q.move == "merge" and close(q.model, START):
                back = q
                break
        assert back is not None, f"no merge undoes: {p.detail}"
        assert back.log_q_forward == pytest.approx(p.log_q_reverse, abs=1e-9)
        assert back.log_q_reverse == pytest.approx(p.log_q_forward, abs=1e-9)
        checked += 1
        if checked >= 3:
            break
    assert checked >= 1


def test_trim_removes_only_unused_removable_particles():
    from nextsm.machine.moves import trim_unused

    model = ProtoModel(
        masses={1000022: 200.0, 1000006: 1000.0, 1000023: 600.0, 1000015: 800.0, 1000001: 1500.0},
        decays={1000006: {(1000023, 6): 0.5, (1000022, 6): 0.5}, 1000023: {(1000022, 23): 1.0},
                1000015: {(1000022, 15): 1.0}, 1000001: {(1000022, 1): 1.0}},
        ssmultipliers={(-1000006, 1000006): 1.0, (-1000015, 1000015): 1.0, (-1000001, 1000001): 1.0})
    # the stop is used; XZ2 is not in `keep` but the stop decays into it, so it stays; Xtau and Xd go
    trimmed = trim_unused(model, {1000022, 1000006})
    assert set(trimmed.masses) == {1000022, 1000006, 1000023}
    assert trimmed.decays[1000006] == model.decays[1000006]
    assert set(trimmed.ssmultipliers) == {(-1000006, 1000006)}
    # nothing to trim: the same model back; the LSP is never removed
    assert trim_unused(trimmed, {1000022, 1000006, 1000023}) == trimmed
    assert set(trim_unused(ProtoModel(masses={1000022: 300.0}), set()).masses) == {1000022}
