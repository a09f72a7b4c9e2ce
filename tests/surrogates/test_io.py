"""The .json + .npz surrogate format: bit-identical round trips and errors that name the file and field."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from nextsm.surrogates import FORMAT_NAME, FORMAT_VERSION, SurrogateFormatError, load, save
from nextsm.surrogates.io import surrogate_paths


@pytest.fixture
def saved(tmp_path, make_network):
    net = make_network(
        members=2, hidden=(8, 8), card={"workspace": "toy.json", "workspace_sha256": "ab" * 32}
    )
    json_path, npz_path = save(net, tmp_path / "toy.v1")
    return net, json_path, npz_path


def assert_identical(a, b):
    assert (a.name, a.activation, a.region_names, a.widths, a.n_members) == (
        b.name,
        b.activation,
        b.region_names,
        b.widths,
        b.n_members,
    )
    assert a.card == b.card
    for name in ("s_scale", "x_mean", "x_std", "y_mean", "y_std"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.domain.s_max, b.domain.s_max)
    np.testing.assert_array_equal(a.domain.q_max, b.domain.q_max)
    for ma, mb in zip(a.members, b.members, strict=True):
        for x, y in zip(ma.weights + ma.biases, mb.weights + mb.biases, strict=True):
            assert x.dtype == y.dtype == np.float64
            np.testing.assert_array_equal(x, y)


def test_round_trip_is_bit_identical(saved):
    net, json_path, npz_path = saved
    assert (json_path.name, npz_path.name) == ("toy.v1.json", "toy.v1.npz")
    for path in (json_path.with_name("toy.v1"), json_path, npz_path):
        back = load(path)
        assert_identical(net, back)
        s = np.random.default_rng(0).uniform(0, 50, (100, 3))
        q, std = net.evaluate(s, return_std=True)
        q_back, std_back = back.evaluate(s, return_std=True)
        np.testing.assert_array_equal(q, q_back)
        np.testing.assert_array_equal(std, std_back)


def test_files_hold_what_the_docstring_says(saved):
    net, json_path, npz_path = saved
    meta = json.loads(json_path.read_text())
    assert (meta["format"], meta["version"]) == (FORMAT_NAME, FORMAT_VERSION) == ("nextsm-surrogate", 2)
    assert meta["architecture"] == {"kind": "mlp", "widths": [3, 8, 8, 4], "members": 2}
    assert meta["variants"] == ["observed", "apriori", "asimov_observed", "asimov_apriori"]
    assert meta["region_names"] == ["SR1", "SR2", "SR3"]
    assert set(meta["transforms"]) == {"input", "output"}
    assert meta["domain"]["s_max"] == net.domain.s_max.tolist()
    assert meta["card"]["workspace_sha256"] == "ab" * 32
    with np.load(npz_path, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(meta["arrays"])
        assert "member1.weight2" in npz.files
        assert all(npz[name].dtype == np.float64 for name in npz.files)
    assert not list(json_path.parent.glob("*.tmp"))


def test_single_precision_weights_halve_the_file_and_keep_the_outputs(tmp_path, make_network):
    net = make_network(members=2, hidden=(64, 64), card={"workspace": "toy.json"})
    _, wide = save(net, tmp_path / "wide")
    json_path, narrow = save(net, tmp_path / "narrow", weights_dtype="float32")
    assert narrow.stat().st_size < 0.6 * wide.stat().st_size
    assert json.loads(json_path.read_text())["weights_dtype"] == "float32"
    with np.load(narrow, allow_pickle=False) as npz:
        assert npz["member1.weight2"].dtype == np.float32
        assert npz["x_mean"].dtype == np.float64  # transforms stay double
    back = load(narrow)
    assert back.members[0].weights[0].dtype == np.float64  # widened: inference is float64
    s = np.random.default_rng(1).uniform(0, 50, (500, 3))
    q, q_back = net.evaluate(s), back.evaluate(s)
    assert not np.array_equal(q, q_back)  # the rounding is real ...
    np.testing.assert_allclose(q_back, q, rtol=1e-5, atol=1e-5 * np.abs(q).max())  # ... and harmless
    # a float32 file re-saved as float32 is bit-identical (the rounding happens once)
    _, again = save(back, tmp_path / "again", weights_dtype="float32")
    assert_identical(back, load(again))
    with pytest.raises(ValueError, match="weights_dtype"):
        save(net, tmp_path / "bad", weights_dtype="float16")
    # by default float32 is chosen exactly when it is lossless: for `back`, not for `net`
    assert json.loads(save(net, tmp_path / "auto64")[0].read_text())["weights_dtype"] == "float64"
    json_auto, npz_auto = save(back, tmp_path / "auto32")
    assert json.loads(json_auto.read_text())["weights_dtype"] == "float32"
    assert npz_auto.stat().st_size == narrow.stat().st_size
    assert_identical(back, load(npz_auto))


def test_paths():
    assert [p.name for p in surrogate_paths("a/b.c")] == ["b.c.json", "b.c.npz"]
    assert [p.name for p in surrogate_paths("a/b.json")] == ["b.json", "b.npz"]


def test_card_must_be_json(tmp_path, make_network):
    net = make_network(card={"bad": {1, 2}})
    with pytest.raises(SurrogateFormatError) as info:
        save(net, tmp_path / "x")
    assert info.value.field == "card"
    assert not (tmp_path / "x.npz").exists()


def _edit_json(path, edit):
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


def test_missing_files(saved):
    _, json_path, npz_path = saved
    npz_path.unlink()
    with pytest.raises(SurrogateFormatError, match="file not found") as info:
        load(json_path)
    assert info.value.path == str(npz_path)
    json_path.unlink()
    with pytest.raises(SurrogateFormatError, match="file not found") as info:
        load(json_path)
    assert info.value.path == str(json_path)


def test_corrupted_json(saved):
    _, json_path, _ = saved
    json_path.write_text(json_path.read_text()[:200])
    with pytest.raises(SurrogateFormatError, match="not valid JSON") as info:
        load(json_path)
    assert info.value.path == str(json_path)
    assert str(json_path) in str(info.value)
    json_path.write_text("[1, 2]")
    with pytest.raises(SurrogateFormatError, match="expected an object"):
        load(json_path)


@pytest.mark.parametrize(
    ("edit", "field", "match"),
    [
        (lambda m: m.update(format="pyhf-workspace"), "format", "not a nextsm surrogate"),
        (lambda m: m.update(version=3), "version", "reads versions 1, 2 only"),
        (lambda m: m.update(version="1"), "version", "has type str"),
        (lambda m: m.update(variants=["observed", "apriori"]), "variants", "expected"),
        (lambda m: m.pop("activation"), "activation", "is missing"),
        (lambda m: m.update(activation="relu"), "activation", "unknown activation"),
        (lambda m: m.pop("card"), "card", "is missing"),
        (lambda m: m["architecture"].update(members=3), "arrays", "expected 23 for 3 member"),
        (lambda m: m["architecture"].pop("widths"), "architecture.widths", "is missing"),
        (
            lambda m: m["architecture"].update(widths=[3, 8, 9, 4]),
            "architecture.widths",
            "the arrays have widths",
        ),
        (lambda m: m["domain"].update(q_max=[1.0, 2.0]), "domain.q_max", r"expected \(4,\)"),
        (lambda m: m.update(region_names=["a", "b"]), "region_names", "expected 3 distinct strings"),
    ],
)
def test_metadata_errors_name_the_field(saved, edit, field, match):
    _, json_path, _ = saved
    _edit_json(json_path, edit)
    with pytest.raises(SurrogateFormatError, match=match) as info:
        load(json_path)
    assert info.value.field == field
    assert info.value.path == str(json_path)
    assert f"field '{field}'" in str(info.value)


def _rewrite_npz(npz_path, edit):
    with np.load(npz_path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    edit(arrays)
    with npz_path.open("wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize(
    ("edit", "field", "match"),
    [
        (
            lambda a: a.update({"member0.weight1": np.ones((5, 8))}),
            "member0.weight1",
            r"expected \(8, \.\.\.\)",
        ),
        (lambda a: a.update({"member1.bias0": np.ones(7)}), "member1.bias0", r"expected \(8,\)"),
        (lambda a: a.update({"x_std": np.ones(4)}), "x_std", r"expected \(3,\)"),
        (lambda a: a.update({"y_std": -np.ones(4)}), "y_std", "must be positive"),
        (lambda a: a.update({"x_mean": np.array([0.0, np.inf, 0.0])}), "x_mean", "non-finite"),
        (lambda a: a.update({"s_scale": np.ones(3, dtype=np.int64)}), "s_scale", "dtype int64"),
        (lambda a: a.pop("member0.bias2"), "member0.bias2", "missing"),
        (lambda a: a.update(extra=np.ones(1)), "extra", "unexpected"),
    ],
)
def test_array_errors_name_the_npz_and_array(saved, edit, field, match):
    _, json_path, npz_path = saved
    _rewrite_npz(npz_path, edit)
    with pytest.raises(SurrogateFormatError, match=match) as info:
        load(json_path)
    assert info.value.path == str(npz_path)
    assert info.value.field == field


def test_corrupted_npz(saved):
    _, json_path, npz_path = saved
    npz_path.write_bytes(npz_path.read_bytes()[:100])
    with pytest.raises(SurrogateFormatError, match="not a readable array archive") as info:
        load(json_path)
    assert info.value.path == str(npz_path)
    npz_path.write_bytes(b"not a zip file at all")
    with pytest.raises(SurrogateFormatError, match="not a readable array archive"):
        load(json_path)


def test_pickled_arrays_are_refused(saved):
    _, json_path, npz_path = saved

    def to_object(arrays):
        arrays["x_mean"] = np.array([{"evil": 1}, 2, 3], dtype=object)

    _rewrite_npz(npz_path, to_object)
    with pytest.raises(SurrogateFormatError, match="not a readable array archive") as info:
        load(json_path)
    assert info.value.path == str(npz_path)
    with zipfile.ZipFile(npz_path) as archive:  # the archive itself is intact: only pickle is refused
        assert "x_mean.npy" in archive.namelist()
