"""A published name works wherever a checkpoint is taken; grids with several architectures
get one random-init twin each; the quick profile brings Hu's GCN (or says why not)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import molpt
from molpt.benchmark.grid import CheckpointInfo, expand_grid, parse_checkpoints, resolve_grid
from molpt.benchmark.store import ResultsStore
from molpt.cli import app
from molpt.nn import Encoder
from molpt.published import CATALOGUE, resolve_checkpoint
from molpt.train.checkpoint import load_checkpoint, save_checkpoint

HU_GCN = "hu2020/gcn_supervised_contextpred"
CPU = ["--device", "cpu", "--no-progress"]


@pytest.fixture()
def runner():
    return CliRunner()


def test_molpt_load_and_embed_by_name(hu_root, runner, tmp_path, monkeypatch):
    model = molpt.load(HU_GCN, device="cpu", checkpoint_dir=hu_root)
    assert model.checkpoint["provenance"]["name"] == HU_GCN and model.dim == 300
    z = model.embed(["CCO", "c1ccccc1O"])
    assert z.shape == (2, 300) and torch.isfinite(z).all()
    same = molpt.load(resolve_checkpoint(HU_GCN, hu_root), device="cpu").embed(["CCO"])
    # same weights by name or by path (a batch of 2 vs 1 may round differently in the
    # matmul, so not bit-equal)
    assert torch.allclose(z[:1], same, atol=1e-5, rtol=1e-5)
    # `molpt embed --checkpoint NAME` with MOLPT_CHECKPOINTS, offline (no URL is touched)
    monkeypatch.setenv("MOLPT_CHECKPOINTS", str(hu_root))
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("network"))
    (tmp_path / "m.smi").write_text("CCO\nc1ccccc1O\nnot a smiles\n")
    r = runner.invoke(app, ["embed", str(tmp_path / "m.smi"), "--checkpoint", HU_GCN,
                            "--out", str(tmp_path / "z.npy"), "--device", "cpu"])  # fmt: skip
    assert r.exit_code == 0, r.output
    arr = np.load(tmp_path / "z.npy")
    assert arr.shape == (3, 300) and np.isnan(arr[2]).all()
    assert np.allclose(arr[:2], z.numpy(), atol=1e-6)


def test_finetune_and_pretrain_init_by_name(hu_root, runner, data_dir, tmp_path):
    r = runner.invoke(app, ["finetune", "--dataset", "bbbp", "--limit", "120", "--epochs", "1",
                            "--batch-size", "64", "--checkpoint", HU_GCN, "--checkpoint-dir",
                            str(hu_root), "--out", str(tmp_path / "ft"), "--json",
                            *CPU])  # fmt: skip
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["encoder_config"]["conv"] == "gcn" and res["encoder_config"]["hidden_dim"] == 300
    assert res["config"]["checkpoint"] == str(resolve_checkpoint(HU_GCN, hu_root))
    r = runner.invoke(app, ["pretrain", "--objective", "attrmask", "--data", "bbbp", "--limit",
                            "60", "--epochs", "1", "--encoder", "gcn", "--hidden-dim", "300",
                            "--init", HU_GCN, "--checkpoint-dir", str(hu_root),
                            "--out", str(tmp_path / "pt"), *CPU])  # fmt: skip
    assert r.exit_code == 0, r.output
    ck = load_checkpoint(tmp_path / "pt" / "checkpoint.pt")
    assert str(ck["train_config"]["init"]) == str(resolve_checkpoint(HU_GCN, hu_root))
    # --init of another size than asked: the loader's one-line error, exit 2
    r = runner.invoke(app, ["pretrain", "--objective", "attrmask", "--data", "bbbp", "--limit",
                            "60", "--epochs", "1", "--init", HU_GCN, "--checkpoint-dir",
                            str(hu_root), "--out", str(tmp_path / "pt2"), *CPU])  # fmt: skip
    assert r.exit_code == 2 and "does not match" in r.output


def test_parse_checkpoints_bare_names(hu_root, tmp_path):
    path = str(resolve_checkpoint(HU_GCN, hu_root))
    got = parse_checkpoints([HU_GCN, f"hu={HU_GCN}", "mine=/x.pt"], hu_root)
    assert got == {HU_GCN: path, "hu": path, "mine": "/x.pt"}
    for bad in (["hu2020/gcn_nope"], ["none-gcn5x300=/x.pt"], [HU_GCN, HU_GCN]):
        with pytest.raises(ValueError):
            parse_checkpoints(bad, hu_root)


def test_benchmark_with_two_architectures_runs_each_twin(hu_root, runner, data_dir,
                                                         tmp_cache, tmp_path):  # fmt: skip
    torch.manual_seed(0)
    enc = Encoder("basic", "gin", num_layers=2, hidden_dim=16)
    tiny = tmp_path / "tiny.pt"
    save_checkpoint(tiny, {"encoder_config": enc.config, "encoder_state": enc.state_dict()})
    out = tmp_path / "res"
    r = runner.invoke(app, ["benchmark", "--datasets", "bbbp", "--splits", "scaffold",
                            "--seeds", "0", "--epochs", "1", "--limit", "300", "--batch-size",
                            "64", "--workers", "1", "--checkpoint", HU_GCN, "--checkpoint",
                            f"tiny={tiny}", "--checkpoint-dir", str(hu_root),
                            "--out", str(out), *CPU])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "4 jobs: 4 run now" in r.output
    rows = ResultsStore(out).read().frame.set_index("method")
    assert set(rows.index) == {"none-gcn5x300", "none-gin2x16", HU_GCN, "tiny"}
    assert rows.loc[HU_GCN, "baseline"] == "none-gcn5x300"
    assert rows.loc["tiny", "baseline"] == "none-gin2x16"
    assert rows.loc["none-gcn5x300", "baseline"] == "none-gcn5x300"
    assert (rows.loc["none-gcn5x300", "encoder"], rows.loc["none-gcn5x300", "hidden_dim"]) == (
        "gcn", 300)  # fmt: skip
    hu_file = resolve_checkpoint(HU_GCN, hu_root)
    assert rows.loc[HU_GCN, "checkpoint"] == str(hu_file.resolve())
    assert np.isfinite(rows["test_at_best_valid"].astype(float)).all()


def test_quick_profile_brings_hu_gcn_with_its_twin(hu_root):
    spec = resolve_grid("quick", datasets=["bbbp"], splits=["scaffold"], seeds=[0],
                        published=True, checkpoint_dir=hu_root)  # fmt: skip
    assert list(spec.published) == [HU_GCN] and not spec.notes
    assert spec.pretrain is None  # attrmask pretraining is only the fallback (time budget)
    jobs, _ = expand_grid(spec, {})
    assert sorted((j.method, j.config["baseline"], j.config["encoder"]) for j in jobs) == [
        ("hu2020/gcn_supervised_contextpred", "none", "gcn"), ("none", "none", "gcn")]  # fmt: skip
    # beside a checkpoint of another architecture, each gets its own twin
    am = CheckpointInfo("attrmask", "/r/attrmask.pt", "basic",
                        {"conv": "gin", "num_layers": 5, "hidden_dim": 128}, "ab" * 32)
    jobs, _ = expand_grid(spec, {"attrmask": am})
    pairs = {(j.method, j.config["baseline"]) for j in jobs}
    assert pairs == {("none-gin5x128", "none-gin5x128"), ("none-gcn5x300", "none-gcn5x300"),
                     ("attrmask", "none-gin5x128"), (HU_GCN, "none-gcn5x300")}  # fmt: skip
    # without the Python API's opt-in, or with an explicit architecture: no published encoder
    assert resolve_grid("quick").published == {}
    small = resolve_grid("quick", hidden_dim=16, published=True, checkpoint_dir=hu_root)
    assert small.published == {} and "left out" in small.notes[0] and small.pretrain


def test_quick_profile_without_the_file_says_so_and_runs_the_rest(tmp_path, monkeypatch,
                                                                   dead_url):  # fmt: skip
    entry = CATALOGUE.get(HU_GCN)
    items = dict(CATALOGUE._items)
    items[HU_GCN] = type(entry)(**{**entry.to_dict(), "url": dead_url})
    monkeypatch.setattr(CATALOGUE, "_items", items)
    spec = resolve_grid("quick", datasets=["bbbp"], splits=["scaffold"], seeds=[0],
                        published=True, checkpoint_dir=tmp_path / "empty")  # fmt: skip
    assert spec.published == {} and spec.pretrain
    (note,) = spec.notes
    assert note.startswith(f"{HU_GCN} not run:") and dead_url in note and "\n" not in note
    am = CheckpointInfo("attrmask", "/r/attrmask.pt", "basic",
                        {"conv": "gin", "num_layers": 5, "hidden_dim": 128}, "ab" * 32)
    jobs, notes = expand_grid(spec, {"attrmask": am})
    assert {j.method for j in jobs} == {"none", "attrmask"} and note in notes
