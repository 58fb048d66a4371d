"""The pretraining loop: history/checkpoint contents, exact resume, init, data selection."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from molpt.train.checkpoint import CheckpointError, load_checkpoint, load_encoder
from molpt.train.pretrain import PretrainConfig, inchikey_block, prepare_data, pretrain

REPO = Path(__file__).resolve().parents[2]
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


# ---- mid-epoch state: partial.pt ------------------------------------------------------------

MID_ARGS = ["pretrain", "--objective", "attrmask", "--data", "moses", "--limit", "3000",
            "--epochs", "2", "--num-layers", "2", "--hidden-dim", "32", "--batch-size", "32",
            "--dropout", "0.1", "--device", "cpu", "--num-threads", "1",
            "--no-progress"]  # fmt: skip


def _start_and_wait_for_partial(out, env) -> tuple[list[str], subprocess.Popen]:
    """Start the MID_ARGS run into ``out`` with a save every ~0.1 s; return its command and
    process once the first mid-epoch state is written (still running)."""
    cmd = [sys.executable, "-m", "molpt", *MID_ARGS, "--out", str(out),
           "--save-every-minutes", "0.002"]  # fmt: skip
    return cmd, _run_until_partial(cmd, out / "partial.pt", env)


def _run_until_partial(cmd: list[str], partial, env) -> subprocess.Popen:
    """Start ``cmd`` and return once it has written ``partial`` (still running)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and not partial.is_file():
        time.sleep(0.01)
    assert proc.poll() is None, f"finished before any mid-epoch save: {proc.stderr.read()}"
    return proc


def _same_run(a_path, b_path) -> None:
    a, b = load_checkpoint(a_path), load_checkpoint(b_path)
    assert a["epoch"] == b["epoch"]
    for k, v in a["encoder_state"].items():
        assert torch.equal(b["encoder_state"][k], v), k
    for k, v in a["objective"]["state"].items():
        assert torch.equal(b["objective"]["state"][k], v), k
    assert [(h["loss"], h["acc"], h["graphs"]) for h in a["history"]] == [
        (h["loss"], h["acc"], h["graphs"]) for h in b["history"]
    ]


@pytest.fixture(scope="module")
def mid_env(tmp_path_factory, data_dir):
    """Environment for molpt subprocesses, with one featurization cache for the module,
    and the reference: the same run, uninterrupted."""
    from typer.testing import CliRunner

    from molpt.cli import app

    root = tmp_path_factory.mktemp("mid")
    env = {**os.environ, "PYTHONPATH": str(REPO), "MOLPT_CACHE": str(root / "cache"),
           "MOLPT_DATA": str(data_dir)}  # fmt: skip
    mp = pytest.MonkeyPatch()
    mp.setenv("MOLPT_CACHE", env["MOLPT_CACHE"])
    r = CliRunner().invoke(app, [*MID_ARGS, "--out", str(root / "whole")])
    mp.undo()
    assert r.exit_code == 0, r.output
    assert not (root / "whole" / "partial.pt").exists()  # no save ran (default: 10 min)
    return env, root / "whole" / "checkpoint.pt"


def test_kill_9_mid_epoch_then_resume_is_bit_identical(mid_env, tmp_path):
    """A run killed without warning resumes from its last mid-epoch save, from the next
    batch, and ends exactly as the uninterrupted run."""
    env, whole = mid_env
    out = tmp_path / "killed"
    cmd, proc = _start_and_wait_for_partial(out, env)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    part = load_checkpoint(out / "partial.pt")
    mid = part["partial"]
    assert part["epoch"] == mid["epoch"] - 1 and 0 < mid["step"] < mid["steps"]
    assert part["kind"] == "pretrain" and "optimizer_state" in part
    r = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert not (out / "partial.pt").exists()  # the finished epochs supersede it
    _same_run(whole, out / "checkpoint.pt")
    c = load_checkpoint(out / "checkpoint.pt")
    assert c["sessions"][-1]["from_step"]["epoch"] == mid["epoch"]
    assert len(c["sessions"]) == 2


def test_sigterm_saves_the_step_reached_and_resume_finishes(mid_env, tmp_path):
    """SIGTERM (and Ctrl-C) stop after the step in flight, save it, say how to continue
    and exit 143; nothing of the epoch is lost."""
    env, whole = mid_env
    out = tmp_path / "termed"
    cmd, proc = _start_and_wait_for_partial(out, env)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM at step" in err and "--resume" in err
    part = load_checkpoint(out / "partial.pt")
    assert part["sessions"][-1]["stopped_at"]["by"] == "SIGTERM"
    assert part["sessions"][-1]["stopped_at"]["step"] == part["partial"]["step"]
    r = subprocess.run([*cmd[:-2], "--resume"], env=env, capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    _same_run(whole, out / "checkpoint.pt")


def test_stale_partial_is_ignored_and_fresh_run_refuses_it(tmp_path, data_dir, tmp_cache):
    """A partial.pt older than the last finished epoch (killed between the epoch's write
    and its removal) is not resumed; a run without --resume never overwrites one."""
    from molpt.train.pretrain import _resume_state

    cfg = _cfg(tmp_path, epochs=1)
    ckpt = pretrain(cfg, progress=False)
    c = load_checkpoint(ckpt)
    stale = dict(c, epoch=0, partial={"epoch": 1, "step": 1})
    torch.save(stale, ckpt.parent / "partial.pt")
    assert "partial" not in _resume_state(ckpt, ckpt.parent / "partial.pt")
    ckpt.unlink()
    assert _resume_state(ckpt, ckpt.parent / "partial.pt")["partial"]["step"] == 1
    with pytest.raises(ValueError, match="partial.pt already exists; pass --resume"):
        pretrain(_cfg(tmp_path, epochs=1), progress=False)
