"""nextsm surrogate labels / train / list, and the shipped surrogate in the list."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli

FIXTURE = Path(__file__).parents[1] / "fixtures" / "surrogates" / "atlas-susy-2018-04-labels"


def training_set(folder: Path) -> Path:
    """The stored 600-point pyhf fixture as a training-set folder (what `surrogate labels` writes)."""
    data = np.load(f"{FIXTURE}.npz", allow_pickle=False)
    meta = json.loads(Path(f"{FIXTURE}.json").read_text())
    meta["chunk_size"] = 600
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(meta))
    np.save(folder / "signals.npy", data["signals"], allow_pickle=False)
    np.save(folder / "labels-0000.npy", data["labels"], allow_pickle=False)
    return folder


def test_train_writes_a_surrogate_with_its_card_and_list_finds_it(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    runner = CliRunner()
    out = tmp_path / "mine" / "ATLAS-SUSY-2018-04-eff__SRcombined"
    out.parent.mkdir()
    result = runner.invoke(cli, ["surrogate", "train", str(training_set(tmp_path / "set")), "--out", str(out),
                                 "--hidden", "16,16", "--epochs", "30", "--patience", "10"])
    assert result.exit_code == 0, result.output
    card = json.loads(out.with_suffix(".json").read_text())["card"]
    assert card["analysis"] == "ATLAS-SUSY-2018-04-eff"
    assert card["workspace"] == "SRcombined.json"
    assert len(card["workspace_sha256"]) == 64
    assert len(card["reference_points"]["signal"]) == 40  # kept out of training
    assert card["training"]["size"] == 560
    monkeypatch.setenv("NEXTSM_SURROGATES", str(out.parent))
    listed = runner.invoke(cli, ["surrogate", "list"])
    assert listed.exit_code == 0, listed.output
    assert str(out) in listed.output
    assert "src/nextsm/surrogates/data/ATLAS-SUSY-2018-04-eff__SRcombined" in listed.output


def test_train_pools_several_training_sets_of_one_workspace(tmp_path):
    pytest.importorskip("torch")
    whole = training_set(tmp_path / "whole")
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, rows in ((first, slice(0, 300)), (second, slice(300, 600))):
        folder.mkdir()
        meta = json.loads((whole / "manifest.json").read_text())
        meta["seed"] = 1 if folder is first else 7
        (folder / "manifest.json").write_text(json.dumps({**meta, "n": 300, "chunk_size": 300}))
        np.save(folder / "signals.npy", np.load(whole / "signals.npy")[rows], allow_pickle=False)
        np.save(folder / "labels-0000.npy", np.load(whole / "labels-0000.npy")[rows], allow_pickle=False)
    out = tmp_path / "net"
    result = CliRunner().invoke(cli, ["surrogate", "train", str(first), str(second), "--out", str(out),
                                      "--hidden", "8", "--epochs", "3", "--patience", "2"])
    assert result.exit_code == 0, result.output
    # torch trains in single precision, so the weights are stored as float32 without loss
    assert json.loads(out.with_suffix(".json").read_text())["weights_dtype"] == "float32"
    card = json.loads(out.with_suffix(".json").read_text())["card"]
    assert card["training_set"]["n"] == 600
    assert card["training_set"]["folders"] == [str(first), str(second)]
    assert card["training_set"]["seed"] == [1, 7]
    assert card["training"]["size"] == 560
    # the reference points are the last set's last hypotheses
    np.testing.assert_allclose(card["reference_points"]["q"][-1], np.load(whole / "labels-0000.npy")[-1])
    wrong = json.loads((second / "manifest.json").read_text())
    (second / "manifest.json").write_text(json.dumps({**wrong, "workspace_sha256": "0" * 64}))
    refused = CliRunner().invoke(cli, ["surrogate", "train", str(first), str(second), "--out", str(out)])
    assert refused.exit_code != 0  # nextsm.cli.main.main prints the error as one line
    assert "second: manifest field 'workspace_sha256'" in str(refused.exception)


@pytest.mark.database
def test_labels_command_refuses_unknown_analyses_and_workspaces(tmp_path, database_path):
    runner = CliRunner()
    bad = runner.invoke(cli, ["surrogate", "labels", "NO-SUCH-ANALYSIS", "--database", str(database_path),
                              "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0
    assert "NO-SUCH-ANALYSIS" in bad.output
    several = runner.invoke(cli, ["surrogate", "labels", "ATLAS-SUSY-2018-14-eff", "--database", str(database_path),
                                  "--out", str(tmp_path / "y")])
    assert several.exit_code != 0
    assert "--workspace" in several.output
    none = runner.invoke(cli, ["surrogate", "labels", "CMS-SUS-19-006", "--database", str(database_path),
                               "--out", str(tmp_path / "z")])
    assert none.exit_code != 0
    assert "no pyhf workspaces" in none.output


def test_pack_and_unpack_round_trip_a_training_set(tmp_path, database_path):
    runner = CliRunner()
    folder = training_set(tmp_path / "set")
    packed = runner.invoke(cli, ["surrogate", "pack", str(folder), str(tmp_path / "set.npz")])
    assert packed.exit_code == 0, packed.output
    assert "600 labels" in packed.output
    # into an empty folder: the hypotheses are re-drawn from the manifest's seed (the fixture is such a draw)
    new = tmp_path / "new"
    done = runner.invoke(cli, ["surrogate", "unpack", str(tmp_path / "set.npz"), str(new), "--database", database_path])
    assert done.exit_code == 0, done.output
    assert "600 of 600" in done.output
    for name in ("signals.npy", "labels-0000.npy"):
        np.testing.assert_array_equal(np.load(new / name), np.load(folder / name))
