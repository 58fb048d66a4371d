"""Fine-tuning on slices of real MoleculeNet sets with a tiny GIN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from molpt.nn.encoder import Encoder
from molpt.train.checkpoint import CheckpointError, save_checkpoint
from molpt.train.finetune import FinetuneConfig, class_balanced_weights, finetune

TINY = dict(num_layers=2, hidden_dim=32, batch_size=64, device="cpu", eval_batch_size=1024)


def _cfg(data_dir: Path, tmp: Path, **kw) -> FinetuneConfig:
    base = dict(TINY, data_dir=str(data_dir), out=str(tmp / "run"), epochs=2, limit=300)
    base.update(kw)
    return FinetuneConfig(**base)


@pytest.mark.parametrize("strategy", ["full", "linear", "two-stage"])
def test_strategies_bbbp(data_dir, tmp_cache, tmp_path, strategy):
    cfg = _cfg(data_dir, tmp_path, dataset="bbbp", strategy=strategy, epochs=4)
    r = finetune(cfg, progress=False)
    assert r["metric"] == "roc_auc" and r["tasks_scored"] == 1 and r["tasks_skipped"] == 0
    assert 0 <= r["test_at_best_valid"] <= 1 and 0 <= r["last_test"] <= 1
    assert 1 <= r["best_epoch"] <= 4 and len(r["history"]) == 4
    if strategy == "two-stage":
        assert [h["stage"] for h in r["history"]] == ["stage1", "stage2", "stage2", "stage2"]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("test_at_best_valid", "last_test", "best_epoch", "best_valid", "metric",
                "tasks_scored", "tasks_skipped", "history", "config", "test_pr_auc"):
        assert key in saved
    assert saved["config"]["strategy"] == strategy
    pred = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert list(pred.columns) == ["smiles", "p_np_true", "p_np_pred"]
    assert len(pred) == r["n_test"] and pred["p_np_pred"].between(0, 1).all()


def test_linear_keeps_encoder_frozen(data_dir, tmp_cache, tmp_path):
    """Linear probing must not change the encoder (weights nor BatchNorm statistics)."""
    enc = Encoder("basic", num_layers=2, hidden_dim=32)
    ckpt = tmp_path / "enc.pt"
    save_checkpoint(ckpt, {"encoder_config": enc.config, "encoder_state": enc.state_dict()})
    from molpt.train.finetune import finetune_group

    cfg = _cfg(data_dir, tmp_path, dataset="bbbp", strategy="linear", checkpoint=str(ckpt))
    (r,) = finetune_group([cfg], progress=False, keep_state=True)
    after = r["final_state"]
    for k, v in enc.state_dict().items():
        assert torch.equal(v, after["encoder." + k]), k
    before_head = r["final_state"]["head.weight"].clone()
    (r2,) = finetune_group([_cfg(data_dir, tmp_path / "2", dataset="bbbp", strategy="full",
                                 checkpoint=str(ckpt))], progress=False, keep_state=True)
    # full fine-tuning does move the encoder (so the check above can fail)
    assert not torch.equal(enc.state_dict()["convs.0.mlp.0.weight"],
                           r2["final_state"]["encoder.convs.0.mlp.0.weight"])
    assert before_head.shape == r2["final_state"]["head.weight"].shape


def test_multitask_tox21_with_nan_and_regression_esol(data_dir, tmp_cache, tmp_path):
    r = finetune(_cfg(data_dir, tmp_path, dataset="tox21", limit=400), progress=False)
    assert r["tasks_scored"] + r["tasks_skipped"] == 12 and r["tasks_scored"] >= 6
    pred = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert pred.shape[1] == 1 + 2 * 12 and pred["NR-AR_true"].isna().any()
    assert pred.filter(like="_pred").notna().all().all()

    r = finetune(_cfg(data_dir, tmp_path / "e", dataset="esol", epochs=3), progress=False)
    assert r["metric"] == "rmse" and r["higher_is_better"] is False
    assert r["test_mae"] is not None and r["test_at_best_valid"] > 0
    best = min(h["valid"] for h in r["history"])
    assert r["best_valid"] == pytest.approx(best)
    pred = pd.read_csv(tmp_path / "e" / "run" / "predictions.csv")
    col = [c for c in pred.columns if c.endswith("_true")][0]
    # predictions are in original units (log solubility, roughly -12..2)
    assert pred[col].mean() < 0 and abs(pred[col.replace("_true", "_pred")].mean()) < 20


def test_same_seed_same_numbers_other_seed_differs(data_dir, tmp_cache, tmp_path):
    a = finetune(_cfg(data_dir, tmp_path / "a", dataset="clintox", seed=3), progress=False)
    b = finetune(_cfg(data_dir, tmp_path / "b", dataset="clintox", seed=3), progress=False)
    c = finetune(_cfg(data_dir, tmp_path / "c", dataset="clintox", seed=4), progress=False)
    def strip(h):
        return [{k: v for k, v in e.items() if k not in ("seconds", "train_loss")} for e in h]

    # metrics identical; the float32 loss may differ in the 7th digit (oneDNN/MKL kernels
    # can depend on buffer alignment), so it is compared to 1e-5
    assert strip(a["history"]) == strip(b["history"])
    assert [e["train_loss"] for e in a["history"]] == pytest.approx(
        [e["train_loss"] for e in b["history"]], rel=1e-5
    )
    assert strip(a["history"]) != strip(c["history"])
    pa = pd.read_csv(tmp_path / "a/run/predictions.csv")
    pb = pd.read_csv(tmp_path / "b/run/predictions.csv")
    assert pa["smiles"].tolist() == pb["smiles"].tolist()
    np.testing.assert_allclose(pa.filter(like="_pred"), pb.filter(like="_pred"), atol=1e-5)


def test_class_balanced_weights():
    y = torch.tensor([[0, 1], [0, float("nan")], [0, 1], [1, 1]], dtype=torch.float32)
    w = class_balanced_weights(y, beta=0.9999)
    assert torch.allclose(w.sum(0), torch.tensor([2.0, 2.0]))
    assert w[1, 0] > w[0, 0]  # the rare class weighs more
    assert w[0, 1] == 0 and w[1, 1] == 2  # class 0 absent from task 1
    beta = 0.9999
    e0, e1 = (1 - beta) / (1 - beta**3), (1 - beta) / (1 - beta**1)
    assert w[1, 0].item() == pytest.approx(2 * e1 / (e0 + e1), rel=1e-5)


# ---- custom CSV: the errors a first-time user meets ----------------------------------------
def _csv(tmp_path: Path, frame: pd.DataFrame) -> str:
    p = tmp_path / "mine.csv"
    frame.to_csv(p, index=False)
    return str(p)


@pytest.fixture()
def bbbp_frame(data_dir) -> pd.DataFrame:
    f = pd.read_csv(data_dir / "BBBP.csv").head(200)
    return f.rename(columns={"smiles": "SMILES", "p_np": "active"})


def test_custom_csv_ok_and_single_class_task(bbbp_frame, tmp_cache, tmp_path, caplog):
    frame = bbbp_frame.assign(constant=0)
    path = _csv(tmp_path, frame)
    cfg = FinetuneConfig(csv=path, smiles_col="SMILES", tasks=["active", "constant"],
                         task_type="classification", out=str(tmp_path / "o"), epochs=2, **TINY)
    r = finetune(cfg, progress=False)
    assert r["tasks_scored"] == 1 and r["tasks_skipped"] == 1
    assert r["skipped_tasks"] == ["constant"] and r["warnings"]
    cols = list(pd.read_csv(tmp_path / "o" / "predictions.csv").columns)
    assert cols == ["smiles", "active_true", "active_pred", "constant_true", "constant_pred"]


def test_custom_csv_errors(bbbp_frame, tmp_cache, tmp_path):
    kw = dict(smiles_col="SMILES", task_type="classification", epochs=1, **TINY)
    path = _csv(tmp_path, bbbp_frame)
    with pytest.raises(ValueError, match="missing task column.*'nope'"):
        finetune(FinetuneConfig(csv=path, tasks=["nope"], **kw), progress=False)
    with pytest.raises(ValueError, match="SMILES column 'smi'"):
        finetune(FinetuneConfig(csv=path, tasks=["active"], **{**kw, "smiles_col": "smi"}),
                 progress=False)
    bad = bbbp_frame.astype({"active": object})
    bad.loc[5, "active"] = "yes"
    with pytest.raises(ValueError, match="non-numeric"):
        finetune(FinetuneConfig(csv=_csv(tmp_path, bad), tasks=["active"], **kw), progress=False)
    cont = bbbp_frame.assign(active=np.linspace(0, 3, len(bbbp_frame)))
    with pytest.raises(ValueError, match="must be 0 or 1"):
        finetune(FinetuneConfig(csv=_csv(tmp_path, cont), tasks=["active"], **kw), progress=False)
    const = bbbp_frame.assign(active=1)
    with pytest.raises(ValueError, match="no task has both classes"):
        finetune(FinetuneConfig(csv=_csv(tmp_path, const), tasks=["active"], **kw),
                 progress=False)
    junk = bbbp_frame.assign(SMILES="not a smiles")
    with pytest.raises(ValueError, match="no valid molecule"):
        finetune(FinetuneConfig(csv=_csv(tmp_path, junk), tasks=["active"], **kw), progress=False)
    with pytest.raises(ValueError, match="strategy"):
        finetune(FinetuneConfig(csv=path, tasks=["active"], **{**kw, "strategy": "lora"}),
                 progress=False)


def test_checkpoint_featurizer_mismatch(data_dir, tmp_cache, tmp_path):
    enc = Encoder("rich", num_layers=2, hidden_dim=16)
    ckpt = tmp_path / "rich.pt"
    save_checkpoint(ckpt, {"encoder_config": enc.config, "encoder_state": enc.state_dict()})
    with pytest.raises(CheckpointError, match="featurizer 'rich'"):
        finetune(_cfg(data_dir, tmp_path, dataset="bbbp", checkpoint=str(ckpt)), progress=False)
    # with the matching featurizer it loads the checkpoint's architecture
    r = finetune(_cfg(data_dir, tmp_path, dataset="bbbp", checkpoint=str(ckpt),
                      featurizer="rich", hidden_dim=300), progress=False)
    assert r["encoder_config"]["hidden_dim"] == 16 and r["encoder_config"]["dropout"] == 0.5
