"""Checkpoints of record: pretrain on MOSES, record, list, use by name, cards track studies."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from molpt.cli import app
from molpt.published.records import RecordError, refresh_cards
from molpt.published.resolve import resolve_checkpoint
from molpt.train.checkpoint import load_checkpoint
from molpt.train.device import cpu_model
from molpt.utils import file_sha256

TINY = ["--num-layers", "2", "--hidden-dim", "16", "--device", "cpu"]
NAME = "attrmask_moses_tiny"


@pytest.fixture()
def recorded(tmp_path, tmp_cache, data_dir, monkeypatch):
    """A 2-epoch attrmask pretraining on 300 MOSES molecules, recorded as molpt/NAME."""
    monkeypatch.setenv("MOLPT_RECORDS", str(tmp_path / "records"))
    runner = CliRunner()
    run = tmp_path / "pretrain"
    r = runner.invoke(app, ["pretrain", "--objective", "attrmask", "--data", "moses",
                            "--limit", "300", "--epochs", "2", "--batch-size", "64",
                            "--out", str(run), "--no-progress", *TINY])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["record-checkpoint", str(run), "--name", NAME])
    assert r.exit_code == 0, r.output
    assert f"recorded molpt/{NAME}: attrmask, 2 epoch(s)" in r.output
    return runner, run, tmp_path / "records" / NAME


def test_record_holds_the_card_and_a_lean_checkpoint(recorded):
    runner, run, folder = recorded
    for f in ("checkpoint.pt", "card.json", "MODEL_CARD.md", "loss.png"):
        assert (folder / f).is_file(), f
    src, rec = load_checkpoint(run / "checkpoint.pt"), load_checkpoint(folder / "checkpoint.pt")
    assert "optimizer_state" in src and "optimizer_state" not in rec
    assert rec["record"]["name"] == f"molpt/{NAME}"
    for k, v in src["encoder_state"].items():
        assert torch.equal(rec["encoder_state"][k], v)
    card = json.loads((folder / "card.json").read_text())
    assert card["sha256"] == file_sha256(folder / "checkpoint.pt")
    assert card["objective"]["name"] == "attrmask" and card["epochs"] == 2
    assert card["corpus"]["name"] == "moses" and card["corpus"]["sha256"] == src["data"]["sha256"]
    assert len(card["corpus"]["sha256"]) == 64 and card["corpus"]["num_graphs"] == 300
    assert [c["epoch"] for c in card["loss_curve"]] == [1, 2]
    assert [c["loss"] for c in card["loss_curve"]] == [h["loss"] for h in src["history"]]
    assert card["wall_time_s"] > 0 and card["devices"] == [f"cpu on {cpu_model()}"]
    assert card["train"]["batch_size"] == 64 and card["used_by"] == []
    md = (folder / "MODEL_CARD.md").read_text()
    assert f"`molpt/{NAME}`" in md and card["sha256"] in md and "No study has" in md
    assert f"device cpu on {cpu_model()}, molpt " in md  # the session names the hardware
    # a second record under the same name needs --force; a fine-tuning output is refused
    r = runner.invoke(app, ["record-checkpoint", str(run), "--name", NAME])
    assert r.exit_code == 2 and "already recorded" in r.output and "--force" in r.output
    assert runner.invoke(app, ["record-checkpoint", str(run), "--name", NAME,
                               "--force"]).exit_code == 0  # fmt: skip
    r = runner.invoke(app, ["record-checkpoint", str(run), "--name", "../evil"])
    assert r.exit_code == 2 and "record name" in r.output


def test_listed_resolved_used_and_tracked_by_studies(recorded, tmp_path, data_dir):
    runner, _, folder = recorded
    r = runner.invoke(app, ["checkpoints", "--json"])
    assert r.exit_code == 0, r.output
    rows = {x["name"]: x for x in json.loads(r.stdout)}
    mine = rows[f"molpt/{NAME}"]
    assert mine["kind"] == "record" and mine["present"] and mine["objective"] == "attrmask"
    assert mine["size"] == "2x16" and mine["used_by_rows"] == 0
    assert {x["kind"] for x in rows.values()} == {"published", "record"}
    r = runner.invoke(app, ["checkpoints"])
    assert "1 checkpoint(s) of record" in r.output and f"molpt/{NAME}" in r.output
    assert resolve_checkpoint(f"molpt/{NAME}") == folder / "checkpoint.pt"

    # a study fine-tunes from it by its bare name; the card then lists those rows
    results = tmp_path / "results"
    r = runner.invoke(app, ["benchmark", "--datasets", "bbbp", "--splits", "scaffold",
                            "--seeds", "0,1", "--epochs", "1", "--limit", "150",
                            "--checkpoint", f"molpt/{NAME}", "--out", str(results / "study_x"),
                            "--workers", "1", "--no-progress", "--device", "cpu"])  # fmt: skip
    assert r.exit_code == 0, r.output
    frame = pd.read_csv(results / "study_x" / "results.csv", dtype={"checkpoint_sha256": str})
    used = frame[frame["method"] == f"molpt/{NAME}"]
    assert len(used) == 2
    assert refresh_cards(results_root=results) == [NAME]
    card = json.loads((folder / "card.json").read_text())
    (u,) = card["used_by"]
    assert (u["study"], u["dataset"], u["split"], u["rows"], u["seeds"]) == (
        "study_x", "bbbp", "scaffold", 2, 2)  # fmt: skip
    assert u["mean_test"] == pytest.approx(used["test_at_best_valid"].mean())
    assert "| study_x | bbbp | scaffold |" in (folder / "MODEL_CARD.md").read_text()
    assert refresh_cards(results_root=results) == []  # nothing changed: nothing rewritten

    # a changed file is refused by name; an unknown name lists the records
    with open(folder / "checkpoint.pt", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(RecordError, match="sha256 .* model card says"):
        resolve_checkpoint(f"molpt/{NAME}")
    with pytest.raises(RecordError, match=f"records: molpt/{NAME}"):
        resolve_checkpoint("molpt/nope")


def test_only_pretraining_checkpoints_are_recorded(tmp_path, tmp_cache, data_dir, monkeypatch):
    monkeypatch.setenv("MOLPT_RECORDS", str(tmp_path / "records"))
    from molpt.nn.encoder import Encoder
    from molpt.train.checkpoint import save_checkpoint

    enc = Encoder("basic", num_layers=1, hidden_dim=8)
    save_checkpoint(tmp_path / "bare.pt",
                    {"encoder_config": enc.config, "encoder_state": enc.state_dict()})  # fmt: skip
    r = CliRunner().invoke(app, ["record-checkpoint", str(tmp_path / "bare.pt"), "--name", "x"])
    assert r.exit_code == 2 and "not a molpt pretraining checkpoint" in r.output
    assert not (tmp_path / "records" / "x").exists()


def test_an_unfinished_epoch_is_not_recorded(recorded, tmp_path):
    """partial.pt (the state within an epoch) is refused: its weights belong to no epoch."""
    runner, run, _ = recorded
    c = load_checkpoint(run / "checkpoint.pt")
    c["partial"] = {"epoch": 3, "step": 1}
    torch.save(c, tmp_path / "partial.pt")
    r = runner.invoke(app, ["record-checkpoint", str(tmp_path / "partial.pt"), "--name", "p"])
    assert r.exit_code == 2 and "unfinished epoch" in r.output, r.output
