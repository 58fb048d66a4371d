"""Fused multi-run fine-tuning gives every run exactly what it gets alone.

Proof for issue 9: on CPU in fp32, K runs trained as one group give the same per-epoch valid
and test metrics as the same runs trained one by one (|delta| <= 1e-4 after 3 epochs) for
full / linear / two-stage, classification / regression, GIN / GCN, from a checkpoint and
from random init, with runs whose training parts differ in size (idle steps).  With dropout
on, a run's metrics do not depend on which runs share its step.
"""

from __future__ import annotations

import json

import pytest
import torch

from molpt.nn.encoder import Encoder
from molpt.nn.model import GraphModel
from molpt.nn.stacked import StackedModel
from molpt.train.checkpoint import save_checkpoint
from molpt.train.finetune import FinetuneConfig, finetune, finetune_group
from molpt.train.group import StackedAdam


def _ckpt(tmp_path, conv: str):
    torch.manual_seed(123)
    enc = Encoder("basic", conv=conv, num_layers=2, hidden_dim=24)
    path = tmp_path / f"{conv}.pt"
    save_checkpoint(path, {"encoder_config": enc.config, "encoder_state": enc.state_dict()})
    return str(path)


def _runs(data_dir, tmp_path, dataset, strategy, conv, dropout=0.0, seeds=(0, 1, 2)):
    ckpt = _ckpt(tmp_path, conv)
    cfgs = []
    for i, s in enumerate(seeds):
        cfgs.append(FinetuneConfig(
            dataset=dataset, data_dir=str(data_dir), limit=240, epochs=3, strategy=strategy,
            encoder=conv, num_layers=2, hidden_dim=24, batch_size=32, dropout=dropout,
            split="random_scaffold", split_seed=s, seed=s, device="cpu",
            checkpoint=ckpt if i == 0 else None, out=str(tmp_path / f"run{s}"),
        ))  # fmt: skip
    return cfgs


def _metrics(result):
    return [(h["valid"], h["test"]) for h in result["history"]]


def _assert_same(a, b, tol=1e-4):
    assert len(a["history"]) == len(b["history"]) >= 3
    for (va, ta), (vb, tb) in zip(_metrics(a), _metrics(b), strict=True):
        for x, y in ((va, vb), (ta, tb)):
            assert (x is None and y is None) or abs(x - y) <= tol, (_metrics(a), _metrics(b))
    assert a["test_at_best_valid"] == pytest.approx(b["test_at_best_valid"], abs=tol)
    assert a["best_epoch"] == b["best_epoch"]


@pytest.mark.parametrize(
    "dataset,strategy,conv",
    [
        ("bbbp", "full", "gin"),
        ("bbbp", "full", "gcn"),
        ("bbbp", "linear", "gin"),
        ("bbbp", "two-stage", "gcn"),
        ("esol", "full", "gin"),
        ("esol", "two-stage", "gin"),
        ("esol", "linear", "gcn"),
    ],
)
def test_group_equals_runs_one_by_one(
    data_dir, tmp_cache, tmp_path, monkeypatch, dataset, strategy, conv
):
    from molpt.data import splits

    orig = splits.split

    def uneven(smiles, method, seed=0, frac=(0.8, 0.1, 0.1)):  # training parts differ in size
        tr, va, te = orig(smiles, method, seed=seed, frac=frac)
        return tr[: len(tr) - 40 * seed], va, te

    monkeypatch.setattr(splits, "split", uneven)
    cfgs = _runs(data_dir, tmp_path / "g", dataset, strategy, conv)
    group = finetune_group(cfgs, progress=False)
    sizes = [r["n_train"] for r in group]
    assert sizes[0] - sizes[2] == 80  # so the smaller runs sit out the last steps
    for cfg, g in zip(cfgs, group, strict=True):
        cfg_alone = FinetuneConfig(**{**cfg.to_dict(), "out": str(tmp_path / "alone"),
                                       "overwrite": True})
        _assert_same(g, finetune(cfg_alone, progress=False))
        # each run writes what a solo run writes
        saved = json.loads((tmp_path / "g" / f"run{cfg.seed}" / "metrics.json").read_text())
        assert saved["test_at_best_valid"] == g["test_at_best_valid"]
        assert (tmp_path / "g" / f"run{cfg.seed}" / "predictions.csv").is_file()
    assert group[0]["config"]["checkpoint"] and not group[1]["config"]["checkpoint"]


def test_dropout_result_does_not_depend_on_the_group(data_dir, tmp_cache, tmp_path):
    cfgs = _runs(data_dir, tmp_path, "bbbp", "full", "gin", dropout=0.5, seeds=(0, 1, 2, 3))
    for c in cfgs:
        c.overwrite = True
    alone = finetune(cfgs[2], progress=False)
    in_four = finetune_group(cfgs, progress=False)[2]
    in_two = finetune_group([cfgs[3], cfgs[2]], progress=False)[1]
    _assert_same(alone, in_four)
    _assert_same(alone, in_two)
    other_seed = finetune(FinetuneConfig(**{**cfgs[2].to_dict(), "seed": 9, "out": None}),
                          progress=False)
    assert _metrics(other_seed) != _metrics(alone)  # the seed does matter


def test_group_rejects_mixed_settings_and_shared_outputs(data_dir, tmp_cache, tmp_path):
    cfgs = _runs(data_dir, tmp_path, "bbbp", "full", "gin")
    cfgs[1].lr = 1e-4
    with pytest.raises(ValueError, match="must share lr"):
        finetune_group(cfgs, progress=False)
    cfgs = _runs(data_dir, tmp_path, "bbbp", "full", "gin")
    cfgs[1].out = cfgs[0].out
    with pytest.raises(ValueError, match="different output folders"):
        finetune_group(cfgs, progress=False)
    # earlier results are never overwritten silently
    (tmp_path / "run2").mkdir()
    (tmp_path / "run2" / "metrics.json").write_text("{}")
    cfgs = _runs(data_dir, tmp_path, "bbbp", "full", "gin")
    with pytest.raises(Exception, match="overwrite"):
        finetune_group(cfgs, progress=False)
    assert (tmp_path / "run2" / "metrics.json").read_text() == "{}"


def test_stacked_adam_idle_run_does_not_move():
    torch.manual_seed(0)
    models = [GraphModel(Encoder("basic", num_layers=1, hidden_dim=8), out_dim=1)
              for _ in range(2)]  # fmt: skip
    stacked = StackedModel.from_models(models)
    opt = StackedAdam(stacked.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in opt.params]
    for p in opt.params:
        p.grad = torch.randn_like(p)
    opt.step(torch.tensor([True, False]))
    for p, b, m, v in zip(opt.params, before, opt.exp_avg, opt.exp_avg_sq, strict=True):
        assert torch.equal(p[1], b[1]) and not torch.equal(p[0], b[0])
        assert not m[1].any() and not v[1].any()
    assert opt.steps.tolist() == [1, 0]
    # the same gradient for run 0 alone gives the same update as torch.optim.Adam
    ref = torch.nn.Parameter(before[0][0].clone())
    ref.grad = opt.params[0].grad[0].clone()
    torch.optim.Adam([ref], lr=1e-2).step()
    assert torch.allclose(ref, opt.params[0][0], atol=1e-7)


@pytest.mark.parametrize(
    "strategy,step_fn,fail_at",
    [("full", "train_epoch", 3), ("two-stage", "train_epoch", 2),
     ("linear", "train_head_epoch", 3)],
)  # fmt: skip
def test_interrupted_group_resumes_exactly(
    data_dir, tmp_cache, tmp_path, monkeypatch, strategy, step_fn, fail_at
):
    import molpt.train.finetune as ft

    def cfgs(tag):
        out = _runs(data_dir, tmp_path / tag, "bbbp", strategy, "gin", dropout=0.5, seeds=(0, 1))
        for c in out:
            c.epochs, c.stage1_epochs = 4, 1
        return out

    reference = finetune_group(cfgs("ref"), progress=False)
    state = tmp_path / "state"
    real = getattr(ft, step_fn)
    calls = {"n": 0}

    def crash(*a, **kw):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(ft, step_fn, crash)
    with pytest.raises(KeyboardInterrupt):
        finetune_group(cfgs("run"), progress=False, state_dir=state, state_every_s=0)
    assert (state / "group_state.pt").is_file()
    monkeypatch.setattr(ft, step_fn, real)
    # a different group never picks up this state
    import shutil

    (tmp_path / "state2").mkdir()
    shutil.copy(state / "group_state.pt", tmp_path / "state2" / "group_state.pt")
    other = cfgs("other")
    other[1].seed = 5
    fresh = finetune_group(other, progress=False)
    for c in other:
        c.overwrite = True
    ignored = finetune_group(other, progress=False, state_dir=tmp_path / "state2")
    assert [_metrics(r) for r in fresh] == [_metrics(r) for r in ignored]
    # a save cut short by kill -9 leaves a temporary copy under the dead writer's pid
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    torn = state / f".group_state.pt.{gone.pid}.tmp.pt"
    torn.write_bytes(b"half a state")
    resumed = finetune_group(cfgs("run"), progress=False, state_dir=state, state_every_s=0)
    assert not torn.exists()
    for a, b in zip(reference, resumed, strict=True):
        assert _metrics(a) == _metrics(b)
        assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
        assert a["test_at_best_valid"] == b["test_at_best_valid"]
    assert list(state.iterdir()) == []  # removed once the group is done


@pytest.mark.parametrize(
    "dataset,strategy,conv,dropout",
    [("bbbp", "full", "gin", 0.5), ("esol", "full", "gcn", 0.0), ("bbbp", "two-stage", "gin", 0.0)],
)
def test_batched_matmul_group_matches_per_run_group(
    data_dir, tmp_cache, tmp_path, dataset, strategy, conv, dropout
):
    """matmul="batched" (one bmm over runs padded to equal blocks: the CUDA / bf16 path) is
    equal up to float rounding.  Adam turns rounding noise in gradients that are zero by
    construction (a bias before BatchNorm) into full-size steps, so after 3 epochs on these
    tiny parts the runs are close, not equal: predictions within 0.02, metrics within 0.05
    (one or two swapped pairs in a 24-molecule test part).  The exact path is the default on
    a CPU in fp32 (the tests above)."""
    import pandas as pd

    preds = {}
    for mode in ("per-run", "batched"):
        cfgs = _runs(data_dir, tmp_path / mode, dataset, strategy, conv, dropout=dropout)
        for c in cfgs:
            c.matmul = mode
        group = finetune_group(cfgs, progress=False)
        assert {r["matmul"] for r in group} == {mode}
        preds[mode] = (group, [pd.read_csv(tmp_path / mode / f"run{c.seed}" / "predictions.csv")
                               for c in cfgs])  # fmt: skip
    for k in range(3):
        exact, fast = preds["per-run"][0][k], preds["batched"][0][k]
        _assert_same(exact, fast, tol=0.05)
        a, b = preds["per-run"][1][k], preds["batched"][1][k]
        cols = [c for c in a.columns if c.endswith("_pred")]
        assert cols and list(a.columns) == list(b.columns)
        diff = (a[cols] - b[cols]).abs().max().max()
        scale = a[cols].abs().max().max() if dataset == "esol" else 1.0
        assert diff <= 0.02 * max(1.0, scale), (k, diff)


def test_matmul_mode_is_checked_and_resolved():
    from molpt.train.finetune import batched_matmul

    with pytest.raises(ValueError, match="unknown matmul mode 'bmm'"):
        FinetuneConfig(dataset="bbbp", matmul="bmm").validate()
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not batched_matmul("auto", cpu, False)  # the exact path: CPU fp32
    assert batched_matmul("auto", cpu, True) and batched_matmul("auto", cuda, False)
    assert not batched_matmul("per-run", cuda, True) and batched_matmul("batched", cpu, False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (gpu_fused.sh)")
def test_cuda_group_is_close_to_the_exact_cpu_group(data_dir, tmp_cache, tmp_path):
    """On CUDA the group runs batched (auto); its runs stay close to the exact CPU runs."""
    cfgs = {dev: _runs(data_dir, tmp_path / dev, "bbbp", "full", "gin") for dev in ("cpu", "cuda")}
    for c in cfgs["cuda"]:
        c.device = "cuda"
    cpu = finetune_group(cfgs["cpu"], progress=False)
    gpu = finetune_group(cfgs["cuda"], progress=False)
    assert {r["matmul"] for r in gpu} == {"batched"} and {r["matmul"] for r in cpu} == {"per-run"}
    assert {r["device_name"] for r in gpu} == {torch.cuda.get_device_name(0)}
    for a, b in zip(cpu, gpu, strict=True):  # per-epoch metrics (best epochs may differ)
        for (va, ta), (vb, tb) in zip(_metrics(a), _metrics(b), strict=True):
            assert abs(va - vb) <= 0.05 and abs(ta - tb) <= 0.05, (_metrics(a), _metrics(b))
