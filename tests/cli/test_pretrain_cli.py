"""``molpt pretrain`` end to end, and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from molpt.cli import app

runner = CliRunner()
BASE = ["pretrain", "--objective", "attrmask", "--data", "bbbp", "--limit", "200",
        "--hidden-dim", "32", "--num-layers", "2", "--device", "cpu", "--no-progress"]  # fmt: skip


def _run(args):
    return runner.invoke(app, args)


def _one_line_error(res) -> str:
    assert res.exit_code != 0
    err = res.stderr.strip()
    assert err.startswith("error: "), err
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_pretrain_cli_end_to_end(tmp_path, data_dir, tmp_cache):
    out = tmp_path / "tmp"
    res = _run([*BASE, "--epochs", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "checkpoint.pt").is_file()
    hist = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2]
    assert all({"epoch", "loss", "graphs_per_s", "seconds", "acc"} <= set(h) for h in hist)
    assert f"checkpoint: {out / 'checkpoint.pt'}" in res.stdout
    assert f"history: {out / 'history.json'}" in res.stdout
    # resume to epoch 3
    res = _run([*BASE, "--epochs", "3", "--out", str(out), "--resume"])
    assert res.exit_code == 0, res.output
    assert len(json.loads((out / "history.json").read_text())) == 3
    # a different featurizer against this checkpoint: one-line error
    err = _one_line_error(_run([*BASE, "--epochs", "4", "--out", str(out), "--resume",
                                "--featurizer", "ogb"]))  # fmt: skip
    assert "featurizer 'basic'" in err
    ckpt = str(out / "checkpoint.pt")
    args = [*BASE, "--featurizer", "rich", "--init", ckpt, "--out", str(tmp_path / "b")]
    err = _one_line_error(_run(args))
    assert "--featurizer basic" in err


def test_pretrain_cli_objective_options(tmp_path, data_dir, tmp_cache):
    out = tmp_path / "edges"
    res = _run([*BASE, "--epochs", "1", "--out", str(out), "-o", "mask_edges=true"])
    assert res.exit_code == 0, res.output
    hist = json.loads((out / "history.json").read_text())
    assert "edge_acc" in hist[0]


@pytest.mark.parametrize("kind", ["random", "foreign"])
def test_pretrain_cli_bad_init_file(kind, tmp_path, data_dir, tmp_cache):
    bad = tmp_path / "bad.pt"
    if kind == "random":
        bad.write_bytes(np.random.default_rng(1).bytes(4096))
    else:
        torch.save({"state_dict": {"w": torch.ones(2)}}, bad)
    err = _one_line_error(_run([*BASE, "--init", str(bad), "--out", str(tmp_path / "o")]))
    assert "not a molpt checkpoint" in err


def test_pretrain_cli_unknown_names(tmp_path):
    err = _one_line_error(_run(["pretrain", "--objective", "nope", "--data", "bbbp",
                                "--out", str(tmp_path)]))  # fmt: skip
    assert "attrmask" in err and "contextpred" in err
    res = _run(["pretrain", "--help"])
    assert "graphmae" in res.stdout
