"""The pretraining loop: history/checkpoint contents, exact resume, init, data selection."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from molpt.train.checkpoint import CheckpointError, load_checkpoint, load_encoder
from molpt.train.pretrain import PretrainConfig, inchikey_block, prepare_data, pretrain

SMALL = dict(hidden_dim=32, num_layers=2, batch_size=64, device="cpu")


def _cfg(tmp_path, name="run", **kw) -> PretrainConfig:
    base = dict(objective="attrmask", data="bbbp", limit=200, epochs=2, out=tmp_path / name)
    base.update(SMALL)
    base.update(kw)
    return PretrainConfig(**base)


def test_pretrain_writes_checkpoint_and_history(tmp_path, data_dir, tmp_cache):
    ckpt = pretrain(_cfg(tmp_path), progress=False)
    assert ckpt == tmp_path / "run" / "checkpoint.pt"
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2]
    for h in hist:
        assert {"epoch", "loss", "graphs_per_s", "seconds", "acc"} <= set(h)
        assert h["graphs"] == 200
    c = load_checkpoint(ckpt)
    assert c["kind"] == "pretrain" and c["epoch"] == 2
    assert c["objective"]["name"] == "attrmask"
    assert c["objective"]["config"] == {"mask_rate": 0.15, "mask_edges": False}
    assert "atom_head.weight" in c["objective"]["state"]
    assert c["train_config"]["objective"] == "attrmask"
    assert c["data"]["name"] == "bbbp" and c["data"]["num_graphs"] == 200
    assert len(c["data"]["sha256"]) == 64 and c["data"]["excluded"] == 0
    assert c["featurizer"]["name"] == "basic"
    assert c["history"] == hist
    enc, _ = load_encoder(ckpt, featurizer="basic")
    assert enc.hidden_dim == 32


def test_resume_is_bit_identical(tmp_path, data_dir, tmp_cache):
    straight = pretrain(_cfg(tmp_path, "straight", epochs=2, dropout=0.1), progress=False)
    pretrain(_cfg(tmp_path, "resumed", epochs=1, dropout=0.1), progress=False)
    resumed = pretrain(_cfg(tmp_path, "resumed", epochs=2, dropout=0.1, resume=True), False)
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    assert a["encoder_state"].keys() == b["encoder_state"].keys()
    for k in a["encoder_state"]:
        assert torch.equal(a["encoder_state"][k], b["encoder_state"][k]), k
    for k in a["objective"]["state"]:
        assert torch.equal(a["objective"]["state"][k], b["objective"]["state"][k]), k
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]


def test_rerun_without_resume_refuses_to_overwrite(tmp_path, data_dir, tmp_cache):
    pretrain(_cfg(tmp_path, epochs=1), progress=False)
    with pytest.raises(ValueError, match="--resume"):
        pretrain(_cfg(tmp_path, epochs=1), progress=False)


def test_resume_with_other_featurizer_or_objective_fails(tmp_path, data_dir, tmp_cache):
    pretrain(_cfg(tmp_path, epochs=1), progress=False)
    with pytest.raises(CheckpointError, match="featurizer 'basic'"):
        pretrain(_cfg(tmp_path, epochs=2, featurizer="ogb", resume=True), progress=False)
    with pytest.raises(CheckpointError, match="objective"):
        pretrain(_cfg(tmp_path, epochs=2, objective="infomax", resume=True), progress=False)


def test_init_loads_encoder_and_checks_featurizer(tmp_path, data_dir, tmp_cache):
    first = pretrain(_cfg(tmp_path, "first", epochs=1), progress=False)
    second = pretrain(
        _cfg(tmp_path, "second", epochs=1, lr=0.0, objective="infomax", init=first), False
    )
    a, b = load_checkpoint(first), load_checkpoint(second)
    for k in a["encoder_state"]:  # weights start from --init (lr 0: BatchNorm stats move)
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(a["encoder_state"][k], b["encoder_state"][k]), k
    with pytest.raises(CheckpointError, match="featurizer"):
        pretrain(_cfg(tmp_path, "third", featurizer="rich", init=first), progress=False)
    with pytest.raises(CheckpointError, match="does not match"):
        pretrain(_cfg(tmp_path, "fourth", hidden_dim=16, init=first), progress=False)


def test_bad_checkpoints_are_checkpoint_errors(tmp_path, data_dir, tmp_cache):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(2048))
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    for bad in (junk, other, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError):
            pretrain(_cfg(tmp_path, "x", init=bad), progress=False)


def test_graph_file_as_data(tmp_path, data_dir, tmp_cache):
    from molpt.data import load_dataset

    ds = load_dataset("bbbp", limit=100)
    f = tmp_path / "bbbp100.pt"
    ds.graphs.save(f, meta={"name": "bbbp100"})
    ckpt = pretrain(_cfg(tmp_path, data=str(f), limit=None, epochs=1), progress=False)
    c = load_checkpoint(ckpt)
    assert c["data"]["name"] == "bbbp100" and c["data"]["num_graphs"] == 100
    with pytest.raises(ValueError, match="featurizer"):
        pretrain(_cfg(tmp_path, "o", data=str(f), featurizer="ogb", epochs=1), progress=False)


def test_self_pretraining_on_a_split_part(tmp_path, data_dir, tmp_cache):
    cfg = _cfg(tmp_path, limit=None, split="scaffold", part="train")
    data = prepare_data(cfg)
    from molpt.data import load_dataset, make_split

    ds = load_dataset("bbbp")
    train, _, _ = make_split(ds, "scaffold", 0)
    assert data.graphs.smiles == [ds.graphs.smiles[i] for i in train]
    assert data.provenance["part"] == "train"
    with pytest.raises(ValueError, match="--part"):
        prepare_data(_cfg(tmp_path, split="scaffold"))


def test_exclude_downstream_removes_valid_and_test_molecules(tmp_path, data_dir, tmp_cache):
    from molpt.data import load_dataset, make_split

    ds = load_dataset("bbbp")
    _, valid, test = make_split(ds, "scaffold", 0)
    held = {inchikey_block(ds.graphs.smiles[i]) for i in np.concatenate([valid, test])}
    cfg = _cfg(tmp_path, limit=None, exclude_downstream=["bbbp"], epochs=1)
    data = prepare_data(cfg)
    expected = sum(inchikey_block(s) in held for s in ds.graphs.smiles)
    assert data.provenance["excluded"] == expected >= len(valid) + len(test) - 5
    assert not any(inchikey_block(s) in held for s in data.graphs.smiles[:300])


def test_inchikey_block_ignores_stereo():
    assert inchikey_block("C[C@H](N)C(=O)O") == inchikey_block("CC(N)C(=O)O")
    assert inchikey_block("F/C=C/F") == inchikey_block("FC=CF")
    assert inchikey_block("not a smiles") is None


def test_supervised_needs_labels(tmp_path, data_dir, tmp_cache):
    with pytest.raises(ValueError, match="labelled"):
        pretrain(_cfg(tmp_path, objective="supervised", data="moses", limit=50), False)
    ckpt = pretrain(_cfg(tmp_path, "sup", objective="supervised", epochs=1), progress=False)
    c = load_checkpoint(ckpt)
    assert c["objective"]["config"]["num_tasks"] == 1
    assert c["objective"]["config"]["task_type"] == "classification"


def test_max_minutes_bounds_a_session_and_resume_finishes_it(tmp_path, data_dir, tmp_cache):
    """--max-minutes: a session stops at an epoch boundary (at least one epoch), keeps its
    checkpoint, and --resume sessions finish the run exactly as one uninterrupted run."""
    from typer.testing import CliRunner

    from molpt.cli import app

    args = ["pretrain", "--objective", "attrmask", "--data", "moses", "--limit", "200",
            "--epochs", "3", "--num-layers", "2", "--hidden-dim", "32", "--batch-size", "64",
            "--device", "cpu", "--no-progress"]  # fmt: skip
    runner = CliRunner()
    out = tmp_path / "bounded"
    r = runner.invoke(app, [*args, "--out", str(out), "--max-minutes", "0"])
    assert r.exit_code == 0, r.output
    assert "stopped after --max-minutes 0: 1 of 3 epochs done" in r.output
    c = load_checkpoint(out / "checkpoint.pt")
    assert c["epoch"] == 1 and c["sessions"][0]["stopped_at_epoch"] == 1
    r = runner.invoke(app, [*args, "--out", str(out), "--max-minutes", "0", "--resume"])
    assert r.exit_code == 0 and "2 of 3 epochs done" in r.output, r.output
    r = runner.invoke(app, [*args, "--out", str(out), "--resume"])
    assert r.exit_code == 0 and "stopped after" not in r.output, r.output
    bounded = load_checkpoint(out / "checkpoint.pt")
    assert bounded["epoch"] == 3 and len(bounded["sessions"]) == 3
    assert [h["epoch"] for h in bounded["history"]] == [1, 2, 3]
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "whole")])
    assert r.exit_code == 0, r.output
    whole = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    for k, v in whole["encoder_state"].items():
        assert torch.equal(bounded["encoder_state"][k], v), k
    assert [h["loss"] for h in bounded["history"]] == [h["loss"] for h in whole["history"]]
