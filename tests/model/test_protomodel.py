"""Tests of the proto-model layer: particle pool, decay table, open channels, JSON, validation, prior."""

from __future__ import annotations

import copy
import json
import math

import pytest

from nextsm.errors import NextsmError
from nextsm.model import (
    DECAY_TABLE,
    LSP,
    OFFSHELL_SM_BRS,
    PARTICLES,
    PDG_BY_NAME,
    ModelError,
    ProtoModel,
    is_offshell,
    offshell_brs,
    open_channels,
)
from nextsm.model.particles import mass_constraint_violations

XT1, XT2, XB1, XB2, XG = 1000006, 2000006, 1000005, 2000005, 1000021
XZ1, XZ2, XZ3, XW1, XW2 = 1000022, 1000023, 1000025, 1000024, 1000037
XD, XU = 1000001, 1000002

BRIEF_JSON = (
    '{"masses": {"1000006": 500.0, "1000022": 100.0}, "decays": {"1000006": {"1000022,6": 1.0}}, '
    '"ssmultipliers": {"-1000006,1000006": 1.0}, "xsecs": {"13": {"-1000006,1000006": 610.0}}}'
)


def _rich_model() -> dict:
    return {
        "masses": {"1000022": 100.0, "1000006": 700.0, "1000024": 300.0, "1000021": 1500.0},
        "decays": {
            "1000006": {"1000022,6": 0.5, "1000024,5": 0.5},
            "1000024": {"1000022,24": 1.0},
            "1000021": {"1000006,-6": 0.6, "1000022,1,-1": 0.25, "1000024,1,-2": 0.15},
        },
        "ssmultipliers": {"-1000006,1000006": 1.5, "1000021,1000021": 0.75, "-1000024,1000024": 1.0},
        "xsecs": {"8": {"1000021,1000021": 3.0}, "13.6": {"1000021,1000021": 12.5}},
    }


# ------------------------------------------------------------------ pool and decay table
def test_pool_has_twenty_states():
    assert len(PARTICLES) == 20
    assert PDG_BY_NAME["Xt1"] == XT1
    assert PARTICLES[LSP].self_conjugate
    assert PARTICLES[XG].self_conjugate
    assert not PARTICLES[XW1].self_conjugate
    assert PARTICLES[1000012].self_conjugate  # sneutrino
    assert set(DECAY_TABLE) == set(PARTICLES) - {LSP}


@pytest.mark.parametrize(
    ("mother", "channel"),
    [
        (XT1, (XZ3, 6)),  # template omission fixed
        (XT1, (XB1, 24)),
        (XT2, (XT1, 23)),
        (XB1, (-XW1, 6)),
        (XB1, (XT1, -24)),
        (XB2, (XB1, 23)),  # template omission fixed
        (XU, (XW1, 1)),
        (XD, (-XW2, 2)),
        (XG, (XZ2, 6, -6)),
        (XG, (XW1, 5, -6)),
        (XG, (XT2, -6)),
        (XW1, (XZ1, 2, -1)),
        (XW1, (XZ1, -15, 16)),
        (XW2, (XW1, 25)),
        (XZ2, (XZ1, 5, -5)),
        (XZ3, (XZ2, 25)),
        (1000011, (-XW1, 12)),
        (1000014, (XW2, 13)),
    ],
)
def test_decay_table_contains(mother, channel):
    assert channel in DECAY_TABLE[mother]


def test_decay_table_omissions_and_uniqueness():
    assert (XZ1, 21) not in DECAY_TABLE[XG]  # not in the 2025 table
    assert (XT1, 23) not in DECAY_TABLE[XT1]
    assert (XB1, 23) not in DECAY_TABLE[XB1]
    for mother, channels in DECAY_TABLE.items():
        assert len(set(channels)) == len(channels), mother  # no duplicated lines
        assert all(abs(c[0]) in PARTICLES for c in channels)
        assert all(abs(d) not in PARTICLES for c in channels for d in c[1:])


def test_offshell_sm_brs_sum_to_one():
    for table in OFFSHELL_SM_BRS.values():
        assert sum(table.values()) == 1
    assert OFFSHELL_SM_BRS[XW1][(XZ1, 2, -1)] * 9 == 6
    assert OFFSHELL_SM_BRS[XZ2][(XZ1, 2, -2)] * 18 == 12
    assert OFFSHELL_SM_BRS[XZ2][(XZ1, 5, -5)] * 18 == 3


# ------------------------------------------------------------------ open-channel rule
def test_open_channels_stop_kinematics():
    masses = {LSP: 100.0, XT1: 250.0, XW1: 200.0}
    assert open_channels(XT1, masses) == ((XW1, 5),)  # t X_Z^1 needs 173 + 100
    masses[XT1] = 274.0
    assert open_channels(XT1, masses) == ((XZ1, 6), (XW1, 5))
    masses[XT1] = 273.0  # exactly m_t + m_LSP: closed (strict inequality)
    assert (XZ1, 6) not in open_channels(XT1, masses)
    assert open_channels(XT1, {LSP: 100.0}) == ()  # absent mother


def test_open_channels_needs_present_daughters():
    masses = {LSP: 100.0, XT1: 900.0, XG: 600.0}
    assert (XG, 6) in open_channels(XT1, masses)
    assert (XW1, 5) not in open_channels(XT1, masses)
    assert set(open_channels(XG, masses)) == {(XZ1, 1, -1), (XZ1, 5, -5), (XZ1, 6, -6)}


def test_offshell_chargino():
    on = {LSP: 100.0, XW1: 200.0}
    assert not is_offshell(XW1, on)
    assert open_channels(XW1, on) == ((XZ1, 24),)
    off = {LSP: 100.0, XW1: 150.0}
    assert is_offshell(XW1, off)
    assert open_channels(XW1, off) == ((XZ1, 2, -1), (XZ1, -11, 12), (XZ1, -13, 14), (XZ1, -15, 16))
    brs = offshell_brs(XW1, off)
    assert brs[(XZ1, 2, -1)] == pytest.approx(6 / 9)
    assert brs[(XZ1, -11, 12)] == pytest.approx(1 / 9)
    # between the off-shell threshold (80.389) and m_W = 81 of the open-channel rule nothing is open
    assert open_channels(XW1, {LSP: 100.0, XW1: 180.5}) == ()
    # below the tau threshold (m_tau = 1.77) only two lepton channels
    tiny = {LSP: 100.0, XW1: 101.5}
    assert open_channels(XW1, tiny) == ((XZ1, 2, -1), (XZ1, -11, 12), (XZ1, -13, 14))
    assert sum(offshell_brs(XW1, tiny).values()) == pytest.approx(1.0)
    assert offshell_brs(XW1, tiny)[(XZ1, 2, -1)] == pytest.approx(6 / 8)


def test_offshell_neutralino():
    off = {LSP: 100.0, XZ2: 150.0}
    assert open_channels(XZ2, off) == DECAY_TABLE[XZ2][3:]
    assert offshell_brs(XZ2, off)[(XZ1, 5, -5)] == pytest.approx(3 / 18)
    below_bb = {LSP: 100.0, XZ2: 108.0}
    assert (XZ1, 5, -5) not in open_channels(XZ2, below_bb)
    assert offshell_brs(XZ2, below_bb)[(XZ1, 2, -2)] == pytest.approx(12 / 15)
    on = {LSP: 100.0, XZ2: 300.0}
    assert open_channels(XZ2, on) == ((XZ1, 23), (XZ1, 25))
    assert offshell_brs(XZ2, on) == {}
    # off-shell test only for X_W^1 and X_Z^2: X_Z^3 never has 3-body decays
    assert all(len(c) == 2 for c in open_channels(XZ3, {LSP: 100.0, XZ3: 150.0, XZ2: 120.0}))


def test_mass_constraint_violations():
    assert mass_constraint_violations({LSP: 100.0, XT1: 500.0}) == []
    problems = mass_constraint_violations({LSP: 100.0, XT2: 500.0, XG: 200.0})
    assert any("2000006" in p for p in problems)
    assert any("1000021" in p and "wall" in p for p in problems)


# ------------------------------------------------------------------ JSON
def test_brief_example_round_trip():
    model = ProtoModel.from_json(BRIEF_JSON)
    assert model.masses == {XT1: 500.0, LSP: 100.0}
    assert model.decays == {XT1: {(XZ1, 6): 1.0}}
    assert model.ssmultipliers == {(-XT1, XT1): 1.0}
    assert model.xsecs == {13.0: {(-XT1, XT1): 610.0}}
    assert json.loads(model.to_json()) == json.loads(BRIEF_JSON)
    assert ProtoModel.from_json(model.to_json()) == model


def test_round_trip_exact_rich(tmp_path):
    data = _rich_model()
    data["masses"]["1000006"] = 700.1234567890123
    text = json.dumps(data)
    model = ProtoModel.from_json(text)
    again = ProtoModel.from_json(model.to_json())
    assert again == model
    assert again.to_json() == model.to_json()
    assert json.loads(model.to_json()) == data
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    assert ProtoModel.from_json(path) == model
    assert ProtoModel.from_json(str(path)) == model


def test_model_copies_its_inputs():
    masses = {LSP: 100.0}
    model = ProtoModel(masses=masses)
    masses[XT1] = 400.0
    assert model.masses == {LSP: 100.0}


def _mutate(path, value):
    def apply(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return data

    return apply


_DELETE = object()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_mutate(("masses", "1000007"), 400.0), 'masses["1000007"]'),
        (_mutate(("masses", "-1000006"), 400.0), 'masses["-1000006"]'),
        (_mutate(("masses", "1000006"), -5.0), 'masses["1000006"]'),
        (_mutate(("masses", "1000006"), 1e9), 'masses["1000006"]'),
        (_mutate(("masses", "1000006"), "heavy"), 'masses["1000006"]'),
        (_mutate(("masses", "1000022"), _DELETE), 'masses["1000022"]'),
        (_mutate(("masses", "1000024"), 90.0), 'masses["1000024"]'),
        (_mutate(("decays", "1000006", "1000022,6"), 1.5), 'decays["1000006"]["1000022,6"]'),
        (_mutate(("decays", "1000006", "1000022,6"), -0.5), 'decays["1000006"]["1000022,6"]'),
        (_mutate(("decays", "1000006", "1000022,6"), 0.4), 'decays["1000006"]'),
        (_mutate(("decays", "1000006", "1000023,6"), 0.0), 'decays["1000006"]["1000023,6"]'),
        (_mutate(("decays", "1000006", "1000022,5"), 0.0), 'decays["1000006"]["1000022,5"]'),
        (_mutate(("decays", "1000006", "1000021,6"), 0.0), 'decays["1000006"]["1000021,6"]'),
        (_mutate(("decays", "1000006", "1000022,x"), 0.0), 'decays["1000006"]["1000022,x"]'),
        (_mutate(("decays", "1000024"), _DELETE), 'decays["1000024"]'),
        (_mutate(("decays", "1000022"), {"1000022,6": 1.0}), 'decays["1000022"]'),
        (_mutate(("decays", "1000023"), {"1000022,23": 1.0}), 'decays["1000023"]'),
        (_mutate(("decays", "1000024"), {}), 'decays["1000024"]'),
        (_mutate(("ssmultipliers", "-1000006,1000006"), -1.0), 'ssmultipliers["-1000006,1000006"]'),
        (_mutate(("ssmultipliers", "1000006,-1000006"), 1.0), 'ssmultipliers["1000006,-1000006"]'),
        (_mutate(("ssmultipliers", "1000001,1000001"), 1.0), 'ssmultipliers["1000001,1000001"]'),
        (_mutate(("ssmultipliers", "-1000022,1000022"), 1.0), 'ssmultipliers["-1000022,1000022"]'),
        (_mutate(("ssmultipliers", "1000022"), 1.0), 'ssmultipliers["1000022"]'),
        (_mutate(("xsecs", "8", "1000023,1000023"), 1.0), 'xsecs["8"]["1000023,1000023"]'),
        (_mutate(("xsecs", "8", "1000021,1000021"), -1.0), 'xsecs["8"]["1000021,1000021"]'),
        (_mutate(("xsecs", "TeV"), {}), 'xsecs["TeV"]'),
        (_mutate(("xsecs", "-13"), {}), 'xsecs["-13"]'),
        (_mutate(("extra",), 1), "extra"),
        (_mutate(("masses",), _DELETE), "masses"),
        (_mutate(("decays",), []), "decays"),
    ],
)
def test_validation_errors_name_the_field(mutate, field):
    data = mutate(copy.deepcopy(_rich_model()))
    with pytest.raises(ModelError) as info:
        ProtoModel.from_json(json.dumps(data))
    assert str(info.value).startswith(field + ":"), str(info.value)
    assert isinstance(info.value, NextsmError)


def test_brief_error_message():
    data = json.loads(BRIEF_JSON)
    data["decays"]["1000006"]["1000022,6"] = 1.5
    with pytest.raises(ModelError, match=r'^decays\["1000006"\]\["1000022,6"\]: BR must be in \[0, 1\]'):
        ProtoModel.from_json(json.dumps(data))


def test_invalid_json_and_missing_file(tmp_path):
    with pytest.raises(ModelError, match="invalid JSON"):
        ProtoModel.from_json("{not json")
    with pytest.raises(ModelError, match="cannot read"):
        ProtoModel.from_json(tmp_path / "absent.json")


# ------------------------------------------------------------------ renormalisation
def test_renormalise_drops_closed_channels():
    model = ProtoModel.from_json(json.dumps(_rich_model()))
    moved = ProtoModel(
        masses={**model.masses, XT1: 400.0, XW1: 398.0},  # mass move: b X_W^1 needs 403 GeV, closed
        decays=model.decays,
        ssmultipliers=model.ssmultipliers,
        xsecs=model.xsecs,
    )
    with pytest.raises(ModelError, match=r'^decays\["1000006"\]\["1000024,5"\]: channel is closed'):
        moved.validate()
    fixed = moved.renormalise_brs()
    assert fixed.decays[XT1] == {(XZ1, 6): 1.0}
    assert fixed.decays[XG] == pytest.approx({(XT1, -6): 0.6, (XZ1, 1, -1): 0.25, (XW1, 1, -2): 0.15})
    fixed.validate()
    assert moved.decays[XT1] == {(XZ1, 6): 0.5, (XW1, 5): 0.5}  # original untouched


def test_renormalise_drops_absent_daughters_and_fails_when_nothing_left():
    model = ProtoModel(
        masses={LSP: 100.0, XT1: 700.0},
        decays={XT1: {(XZ1, 6): 0.25, (XW1, 5): 0.75}, XW1: {(XZ1, 24): 1.0}},
    )
    fixed = model.renormalise_brs()
    assert fixed.decays == {XT1: {(XZ1, 6): 1.0}}
    dead = ProtoModel(masses={LSP: 100.0, XT1: 700.0}, decays={XT1: {(XW1, 5): 1.0}})
    with pytest.raises(ModelError, match=r'^decays\["1000006"\]'):
        dead.renormalise_brs()


# ------------------------------------------------------------------ production pairs and prior
def test_production_pairs():
    model = ProtoModel.from_json(BRIEF_JSON)
    assert set(model.production_pairs()) == {
        (XZ1, XZ1),
        (-XT1, XT1),
        (XT1, XT1),
        (-XT1, -XT1),
        (XT1, XZ1),
        (-XT1, XZ1),
    }
    assert all(p[0] <= p[1] for p in model.production_pairs())


def test_prior_counting_brief_example():
    model = ProtoModel.from_json(BRIEF_JSON)
    assert model.n_particles() == 2
    assert model.n_br() == 0
    assert model.n_ssm() == 1.0
    assert model.log_prior() == pytest.approx(-(1.0 + 1.0 / 8))


def test_prior_c21_run9_winner():
    """§3.2: X_Z^1, X_d, X_t^1 with trivial BRs, 2 distinct κ + 3 near-duplicates: n_SSM = 2.3,
    exponent 3/2 + 2.3/8 ≈ 1.789 (2 ln π = −3.577)."""
    model = ProtoModel(
        masses={LSP: 300.0, XD: 900.0, XT1: 600.0},
        decays={XD: {(XZ1, 1): 1.0}, XT1: {(XZ1, 6): 1.0}},
        ssmultipliers={
            (-XD, XD): 2.0,
            (XD, XD): 2.02,  # within 3 %: duplicate
            (-XT1, XT1): 0.5,
            (XT1, XT1): 0.505,  # duplicate
            (XZ1, XZ1): 0.51,  # duplicate (2|Δ|/Σ < 0.03 w.r.t. 0.5)
            (-XD, XZ1): 1e-5,  # ignored (κ ≤ 1e-4)
        },
    )
    model.validate()
    assert model.n_particles() == 3
    assert model.n_br() == 0
    assert model.n_ssm() == pytest.approx(2.3)
    assert 2 * model.log_prior() == pytest.approx(-3.577, abs=0.005)
    # with cross sections known, pairs below 0.001 fb do not count
    sigma = {(-XD, XD): 10.0, (XD, XD): 1.0, (-XT1, XT1): 5.0, (XT1, XT1): 1e-4, (XZ1, XZ1): 0.0}
    assert model.n_ssm(sigma) == pytest.approx(2.1)


def test_n_br_five_percent_rule():
    model = ProtoModel(
        masses={LSP: 100.0, XT1: 700.0, XW1: 300.0, XZ2: 400.0},
        decays={
            XT1: {(XZ1, 6): 0.5, (XW1, 5): 0.49, (XZ2, 6): 0.01},  # 0.5≈0.49, 0.01 distinct → 1
            XW1: {(XZ1, 24): 1.0},  # single 100 % → 0
            XZ2: {(XW1, -24): 0.3, (XZ1, 23): 0.3, (XZ1, 25): 0.4},  # 2 distinct → 1
        },
    )
    model.validate()
    assert model.n_br() == 2
    model2 = ProtoModel(
        masses=model.masses,
        decays={**model.decays, XT1: {(XZ1, 6): 1.0 - 5e-6, (XW1, 5): 5e-6}},  # tiny BR ignored
    )
    assert model2.n_br() == 1
    assert model2.log_prior() == pytest.approx(-(4 / 2 + 1 / 4))


def test_offshell_model_validates():
    brs = offshell_brs(XW1, {LSP: 100.0, XW1: 150.0})
    model = ProtoModel(masses={LSP: 100.0, XW1: 150.0}, decays={XW1: brs}, ssmultipliers={(-XW1, XW1): 1.0})
    model.validate()
    assert math.isclose(sum(model.decays[XW1].values()), 1.0)
    assert model.n_br() == 0  # the SM-fixed off-shell BRs are one free parameter group, not two values
    # counting the channels one by one would give 1 (values 6/9 and 1/9)
    assert len({round(b, 9) for b in brs.values()}) == 2
