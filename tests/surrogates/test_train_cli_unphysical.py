"""`nextsm surrogate train` drops hypotheses without a physical fit (NaN labels) and says how many."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nextsm.cli.main import cli
from nextsm.surrogates.labels import FORMAT

FIXTURE = Path(__file__).parents[1] / "fixtures" / "surrogates" / "atlas-susy-2018-04-labels"


def _label_folder(tmp_path: Path, n_nan: int) -> Path:
    data = np.load(f"{FIXTURE}.npz", allow_pickle=False)
    meta = json.loads(Path(f"{FIXTURE}.json").read_text())
    s, q = data["signals"][:200], data["labels"][:200].copy()
    q[10:10 + n_nan, 0] = np.nan
    folder = tmp_path / f"set{n_nan}"
    folder.mkdir()
    np.save(folder / "signals.npy", s)
    np.save(folder / "labels-0000.npy", q)
    manifest = {"format": FORMAT, "analysis": "ATLAS-SUSY-2018-04-eff", "file": "SRcombined.json",
                "workspace_sha256": "0" * 64, "n": len(s), "seed": 0, "chunk_size": len(s),
                "regions": meta["regions"], "sampling": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_nan_labels_are_dropped_and_counted_in_the_card(tmp_path):
    pytest.importorskip("torch")
    folder = _label_folder(tmp_path, 3)
    out = tmp_path / "net"
    result = CliRunner().invoke(cli, ["surrogate", "train", str(folder), "--out", str(out), "--hidden", "8",
                                      "--epochs", "2", "--reference-points", "5", "--no-baseline"])
    assert result.exit_code == 0, result.output
    card = json.loads(out.with_suffix(".json").read_text())["card"]
    assert card["training_set"]["unphysical_dropped"] == 3
    assert card["training_set"]["n"] == 197


def test_more_than_five_percent_nan_labels_is_refused(tmp_path):
    pytest.importorskip("torch")
    folder = _label_folder(tmp_path, 11)
    result = CliRunner().invoke(cli, ["surrogate", "train", str(folder), "--out", str(tmp_path / "net"),
                                      "--epochs", "2", "--no-baseline"])
    assert result.exit_code != 0
    assert "11 of 200 hypotheses have no physical fit" in result.output


def test_optimiser_and_loss_options_reach_the_card(tmp_path):
    pytest.importorskip("torch")
    folder = _label_folder(tmp_path, 0)
    out = tmp_path / "net"
    result = CliRunner().invoke(cli, ["surrogate", "train", str(folder), "--out", str(out), "--hidden", "8",
                                      "--epochs", "2", "--reference-points", "5", "--no-baseline", "--lr", "5e-4",
                                      "--weight-decay", "1e-3", "--q-scale", "20"])
    assert result.exit_code == 0, result.output
    settings = json.loads(out.with_suffix(".json").read_text())["card"]["training"]["settings"]
    assert (settings["lr"], settings["weight_decay"], settings["q_scale"]) == (5e-4, 1e-3, 20.0)
