"""Fine-tuning on a labelled dataset: ``FinetuneConfig`` + ``finetune(cfg) -> metrics``.

One loop serves three strategies:

* ``full``: encoder and head trained together (Hu et al. 2020: Adam lr 1e-3, no weight decay,
  batch 32, dropout 0.5 in the GNN layers, 100 epochs).
* ``linear``: the encoder is frozen (BatchNorm statistics in eval mode, no dropout), so the
  pooled embeddings are computed once and only the linear head is trained on them.
* ``two-stage``: stage 1 trains the head on frozen embeddings with a class-balanced loss
  (weights w_c ∝ (1 - β) / (1 - β^n_c) per task, normalised to sum to the number of
  classes); stage 2 continues with ordinary full fine-tuning at lr / 10.

Classification uses a masked BCE over present labels (NaN = missing); regression an MSE on
targets standardised with the training part's mean and std, reported in original units.
After every epoch the valid and test parts are scored; the reported number is the test
metric at the epoch with the best valid metric (``test_at_best_valid``) and at the last
epoch (``last_test``).

Speed: the whole dataset lives on the device as one ``GraphSet``; batches are cut from it by
index arithmetic, the loss is accumulated on the device (one host sync per epoch) and the
valid and test parts are scored in a few large batches.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import molpt
from molpt.featurize.graphs import GraphSet
from molpt.nn.encoder import Encoder
from molpt.nn.model import GraphModel
from molpt.train.checkpoint import check_featurizer, load_checkpoint
from molpt.train.device import autocast, resolve_device
from molpt.train.metrics import HIGHER_IS_BETTER, TaskScores, evaluate, is_better
from molpt.utils import atomic_write_json, atomic_write_text, seed_everything

log = logging.getLogger(__name__)

STRATEGIES = ("full", "linear", "two-stage")


@dataclass
class FinetuneConfig:
    """Everything that defines one fine-tuning run.

    Data: ``dataset`` (catalogue name) or ``csv`` (custom file, with ``smiles_col``,
    ``tasks`` and ``task_type``).  Model: from ``checkpoint`` (its encoder config wins; the
    featurizer must match) or random weights with ``encoder``/``num_layers``/``hidden_dim``/
    ``jk``.  ``split_seed`` seeds seeded split methods only; ``seed`` seeds initialisation and
    batch order.
    """

    dataset: str | None = None
    csv: str | None = None
    smiles_col: str | None = None
    tasks: list[str] | None = None
    task_type: str | None = None
    checkpoint: str | None = None
    featurizer: str = "basic"
    split: str = "scaffold"
    split_seed: int = 0
    seed: int = 0
    strategy: str = "full"
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    dropout: float = 0.5
    encoder: str = "gin"
    num_layers: int = 5
    hidden_dim: int = 300
    jk: str = "last"
    pooling: str = "mean"
    device: str = "auto"
    out: str | None = None
    data_dir: str | None = None
    limit: int | None = None
    beta: float = 0.9999
    stage1_epochs: int | None = None
    bf16: bool = True
    eval_batch_size: int = 2048

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown strategy {self.strategy!r}; choose one of: {', '.join(STRATEGIES)}"
            )
        if self.task_type not in (None, "classification", "regression"):
            raise ValueError(
                f"task type must be classification or regression, got {self.task_type!r}"
            )
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.beta < 1:
            raise ValueError(f"beta must be in (0, 1), got {self.beta}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be positive, got {self.limit}")

    @property
    def stage1(self) -> int:
        """Epochs of stage 1 of two-stage fine-tuning (default a quarter, at least 1)."""
        if self.stage1_epochs is not None:
            return max(0, min(self.stage1_epochs, self.epochs))
        return max(1, self.epochs // 4) if self.epochs > 1 else self.epochs


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
def load_finetune_data(cfg: FinetuneConfig, progress: bool = False):
    """Load the config's catalogue dataset or custom file as a labelled ``MolDataset``."""
    from molpt.data import load_dataset

    if (cfg.dataset is None) == (cfg.csv is None):
        raise ValueError("give either a dataset name (--dataset) or a file (--csv), not both")
    if cfg.csv is not None:
        return load_dataset(
            cfg.csv,
            featurizer=cfg.featurizer,
            data_dir=cfg.data_dir,
            smiles_col=cfg.smiles_col,
            task_cols=cfg.tasks,
            task_type=cfg.task_type,
            limit=cfg.limit,
            progress=progress,
        )
    return load_dataset(
        cfg.dataset,
        featurizer=cfg.featurizer,
        data_dir=cfg.data_dir,
        task_type=cfg.task_type,
        limit=cfg.limit,
        progress=progress,
    )


def _check_labels(y: torch.Tensor, task_names: list[str], task_type: str, name: str) -> None:
    if y is None or y.shape[1] == 0:
        raise ValueError(f"{name} has no label columns to fine-tune on (pass --tasks)")
    present = ~torch.isnan(y)
    empty = [t for t, n in zip(task_names, present.sum(0).tolist(), strict=True) if n == 0]
    if len(empty) == len(task_names):
        raise ValueError(f"{name}: every label is missing")
    if task_type == "classification":
        bad = present & (y != 0) & (y != 1)
        if bad.any():
            t = int(bad.any(0).nonzero()[0])
            v = float(y[bad[:, t], t][0])
            raise ValueError(
                f"{name}: classification task {task_names[t]!r} has the value {v:g}; labels "
                "must be 0 or 1 (use --task-type regression for continuous values)"
            )
        both = [
            bool((y[:, t] == 1).any() & (y[:, t] == 0).any()) for t in range(y.shape[1])
        ]
        if not any(both):
            raise ValueError(
                f"{name}: no task has both classes (0 and 1); ROC-AUC cannot be computed"
            )


# ------------------------------------------------------------------------------------------
# model
# ------------------------------------------------------------------------------------------
def build_model(cfg: FinetuneConfig, num_tasks: int) -> tuple[GraphModel, dict[str, Any] | None]:
    """GraphModel with a linear head; encoder from the checkpoint or freshly initialised."""
    ckpt = None
    if cfg.checkpoint:
        ckpt = load_checkpoint(cfg.checkpoint)
        check_featurizer(ckpt, cfg.featurizer, cfg.checkpoint)
        enc_cfg = {**ckpt["encoder_config"], "dropout": cfg.dropout}
        encoder = Encoder(**enc_cfg)
        encoder.load_state_dict(ckpt["encoder_state"])
    else:
        encoder = Encoder(
            featurizer=cfg.featurizer,
            conv=cfg.encoder,
            num_layers=cfg.num_layers,
            hidden_dim=cfg.hidden_dim,
            dropout=cfg.dropout,
            jk=cfg.jk,
        )
    model = GraphModel(encoder, pooling=cfg.pooling, out_dim=num_tasks, head_dropout=0.0)
    return model, ckpt


def class_balanced_weights(y: torch.Tensor, beta: float = 0.9999) -> torch.Tensor:
    """Per-task class weights (2, T): w_c ∝ (1 - β) / (1 - β^n_c), summing to 2 per task.

    ``y`` (N, T) has 0/1 labels and NaN for missing; a class absent from a task gets 0 and
    the other class 2.
    """
    n1 = (y == 1).sum(0).double()
    n0 = (y == 0).sum(0).double()
    counts = torch.stack([n0, n1])  # (2, T)
    eff = torch.where(counts > 0, (1 - beta) / (1 - beta**counts), torch.zeros_like(counts))
    total = eff.sum(0, keepdim=True)
    w = torch.where(total > 0, eff / total.clamp_min(1e-300) * 2, torch.ones_like(eff))
    return w.float()


# ------------------------------------------------------------------------------------------
# loop helpers
# ------------------------------------------------------------------------------------------
def _batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Cut ``order`` into batches; a trailing batch of one graph joins the previous one
    (BatchNorm cannot normalise a single-atom molecule alone)."""
    parts = list(torch.split(order, batch_size))
    if len(parts) > 1 and parts[-1].numel() == 1:
        parts[-2] = torch.cat([parts[-2], parts[-1]])
        parts.pop()
    return parts


class _Loss:
    """Masked loss over present labels; ``weights`` (2, T) for class-balanced BCE."""

    def __init__(self, task_type: str, weights: torch.Tensor | None = None) -> None:
        self.task_type = task_type
        self.weights = weights

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mask = ~torch.isnan(y)
        target = torch.nan_to_num(y)
        if self.task_type == "classification":
            elem = F.binary_cross_entropy_with_logits(out, target, reduction="none")
            if self.weights is not None:
                w = torch.where(target > 0.5, self.weights[1], self.weights[0])
                elem = elem * w
        else:
            elem = (out - target) ** 2
        elem = torch.where(mask, elem, torch.zeros_like(elem))
        return elem.sum() / mask.sum().clamp_min(1)


@dataclass
class _Parts:
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    eval_idx: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.eval_idx = torch.cat([self.valid, self.test])


@torch.no_grad()
def _predict_graphs(
    model: GraphModel, graphs: GraphSet, idx: torch.Tensor, bs: int, device, bf16: bool
) -> torch.Tensor:
    model.eval()
    outs = []
    for s in range(0, idx.numel(), bs):
        b = graphs.batch(idx[s : s + bs])
        with autocast(device, bf16):
            outs.append(model(b).float())
    return torch.cat(outs) if outs else torch.zeros(0, model.head.out_features, device=device)


@torch.no_grad()
def _embed_all(model: GraphModel, graphs: GraphSet, bs: int, device, bf16: bool) -> torch.Tensor:
    model.eval()
    idx = torch.arange(len(graphs), device=graphs.device)
    outs = []
    for s in range(0, idx.numel(), bs):
        b = graphs.batch(idx[s : s + bs])
        with autocast(device, bf16):
            outs.append(model.embed(b).float())
    return torch.cat(outs)


def _jsonable(scores: dict[str, TaskScores]) -> dict[str, Any]:
    return {k: v.as_dict() for k, v in scores.items()}


def _nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)


# ------------------------------------------------------------------------------------------
# finetune
# ------------------------------------------------------------------------------------------
def finetune(
    cfg: FinetuneConfig,
    dataset=None,
    progress: bool = True,
    progress_position: int = 0,
) -> dict[str, Any]:
    """Fine-tune and evaluate; returns the metrics dict (also written to ``cfg.out``).

    Args:
        cfg: the run's configuration.
        dataset: an already-loaded ``MolDataset`` (the benchmark featurizes once and passes
            it); its featurizer must be ``cfg.featurizer``.  None = load from ``cfg``.
        progress: show an epoch progress bar on stderr.
        progress_position: tqdm position (the benchmark nests it under its grid bar).

    Returns:
        dict with ``metric``, ``test_at_best_valid``, ``last_test``, ``best_valid``,
        ``best_epoch`` (1-based), ``tasks_scored`` / ``tasks_skipped`` (test part),
        ``test_pr_auc`` (classification), ``history`` (per epoch), ``config``, ...

    Files (when ``cfg.out`` is set): ``metrics.json`` and ``predictions.csv`` (the test part
    predicted by the best-valid model: ``smiles``, then ``<task>_true`` / ``<task>_pred``).

    Raises:
        ValueError / FileNotFoundError / CheckpointError: user mistakes, one-line messages.
    """
    from molpt.data.splits import split as split_fn

    t_start = time.perf_counter()
    cfg.validate()
    device = resolve_device(cfg.device)
    if cfg.checkpoint:  # fail fast, before featurizing
        check_featurizer(load_checkpoint(cfg.checkpoint), cfg.featurizer, cfg.checkpoint)
    if dataset is None:
        dataset = load_finetune_data(cfg, progress=progress)
    elif dataset.graphs.featurizer != cfg.featurizer:
        raise ValueError(
            f"dataset was featurized with {dataset.graphs.featurizer!r}, config asks for "
            f"{cfg.featurizer!r}"
        )
    name = dataset.spec.name
    task_type = cfg.task_type or dataset.task_type
    if task_type is None:
        raise ValueError(f"{name}: cannot tell the task type; pass --task-type")
    task_names = list(dataset.task_names)
    graphs: GraphSet = dataset.graphs
    y_all = graphs.y
    _check_labels(y_all, task_names, task_type, name)
    metric = dataset.spec.metric if dataset.spec.metric in HIGHER_IS_BETTER else None
    metric = metric or ("roc_auc" if task_type == "classification" else "rmse")
    second = "pr_auc" if task_type == "classification" else "mae"

    # ---- split ------------------------------------------------------------------------
    tr, va, te = split_fn(graphs.smiles, cfg.split, seed=cfg.split_seed)
    for part, idx in (("train", tr), ("valid", va), ("test", te)):
        if len(idx) == 0:
            raise ValueError(
                f"{name}: the {part} part of the {cfg.split} split is empty "
                f"({len(graphs)} molecules is too few)"
            )
    warnings: list[str] = []
    if task_type == "classification":
        ytr = y_all[torch.as_tensor(tr)]
        one_class = [
            t
            for i, t in enumerate(task_names)
            if not ((ytr[:, i] == 0).any() and (ytr[:, i] == 1).any())
        ]
        if one_class:
            msg = (
                f"{len(one_class)} task(s) have a single class (or no label) in the training "
                f"part: {', '.join(one_class[:10])}{' ...' if len(one_class) > 10 else ''}; "
                "they are trained on but scored only where both classes are present"
            )
            log.warning("%s: %s", name, msg)
            warnings.append(msg)

    # ---- targets ----------------------------------------------------------------------
    y_dev = y_all.clone()
    mean = std = None
    if task_type == "regression":
        ytr = y_all[torch.as_tensor(tr)]
        mean = torch.nanmean(ytr, dim=0)
        centred = torch.where(torch.isnan(ytr), torch.zeros_like(ytr), ytr - mean)
        n = (~torch.isnan(ytr)).sum(0).clamp_min(2)
        std = (centred.pow(2).sum(0) / (n - 1)).sqrt()
        mean = torch.nan_to_num(mean)
        std = torch.where(std > 0, std, torch.ones_like(std))
        y_dev = (y_all - mean) / std
    graphs = graphs.with_labels(y_dev, task_names).to(device)
    parts = _Parts(*(torch.as_tensor(p, dtype=torch.long, device=device) for p in (tr, va, te)))
    n_valid = parts.valid.numel()
    y_true_valid = y_all[torch.as_tensor(va)].numpy()
    y_true_test = y_all[torch.as_tensor(te)].numpy()

    # ---- model ------------------------------------------------------------------------
    gen = seed_everything(cfg.seed)
    model, ckpt = build_model(cfg, len(task_names))
    model.to(device)
    loss_fn = _Loss(task_type)

    def to_output(raw: torch.Tensor) -> np.ndarray:
        raw = raw.float()
        if task_type == "classification":
            return torch.sigmoid(raw).cpu().numpy()
        return (raw * std.to(raw.device) + mean.to(raw.device)).cpu().numpy()

    history: list[dict[str, Any]] = []
    best = {"valid": float("nan"), "epoch": 0, "test": float("nan"), "pred": None, "scores": None}

    def record(epoch: int, stage: str, train_loss: float, raw: torch.Tensor, secs: float):
        out = to_output(raw)
        sv = evaluate(task_type, y_true_valid, out[:n_valid])
        st = evaluate(task_type, y_true_test, out[n_valid:])
        row = {
            "epoch": epoch,
            "stage": stage,
            "train_loss": train_loss,
            "valid": _nan_to_none(sv[metric].mean),
            "test": _nan_to_none(st[metric].mean),
            f"valid_{second}": _nan_to_none(sv[second].mean),
            f"test_{second}": _nan_to_none(st[second].mean),
            "seconds": round(secs, 4),
        }
        history.append(row)
        if best["pred"] is None or is_better(metric, sv[metric].mean, best["valid"]):
            best.update(
                valid=sv[metric].mean, epoch=epoch, test=st[metric].mean,
                pred=out[n_valid:].copy(), scores=st, valid_scores=sv,
            )  # fmt: skip
        best["last_scores"] = st
        return row

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=cfg.epochs,
            desc=f"{name} {cfg.strategy} seed {cfg.seed}",
            unit="ep",
            leave=progress_position == 0,
            position=progress_position,
            dynamic_ncols=True,
        )

    def tick(row: dict[str, Any]) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix(
                loss=f"{row['train_loss']:.3f}",
                valid="nan" if row["valid"] is None else f"{row['valid']:.3f}",
                test="nan" if row["test"] is None else f"{row['test']:.3f}",
                refresh=False,
            )

    epoch = 0
    try:
        # ---- head-only phases (linear, two-stage stage 1) on frozen embeddings ----------
        head_epochs = {"linear": cfg.epochs, "two-stage": cfg.stage1, "full": 0}[cfg.strategy]
        if head_epochs:
            for p in model.encoder.parameters():
                p.requires_grad_(False)
            emb = _embed_all(model, graphs, cfg.eval_batch_size, device, cfg.bf16)
            head = model.head
            opt = torch.optim.Adam(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            if cfg.strategy == "two-stage" and task_type == "classification":
                w = class_balanced_weights(y_all[torch.as_tensor(tr)], cfg.beta).to(device)
                head_loss = _Loss(task_type, w)
            else:
                head_loss = loss_fn
            stage = "linear" if cfg.strategy == "linear" else "stage1"
            y_emb = graphs.y
            for _ in range(head_epochs):
                t0 = time.perf_counter()
                epoch += 1
                head.train()
                order = parts.train[torch.randperm(parts.train.numel(), generator=gen).to(device)]
                total = torch.zeros((), device=device)
                nb = 0
                for bidx in _batches(order, cfg.batch_size):
                    loss = head_loss(head(emb[bidx]).float(), y_emb[bidx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += loss.detach()
                    nb += 1
                head.eval()
                with torch.no_grad():
                    raw = head(emb[parts.eval_idx])
                tick(record(epoch, stage, float(total) / max(nb, 1), raw,
                            time.perf_counter() - t0))  # fmt: skip
            for p in model.encoder.parameters():
                p.requires_grad_(True)
            del emb

        # ---- full fine-tuning (full, two-stage stage 2) ---------------------------------
        full_epochs = cfg.epochs - head_epochs
        if full_epochs > 0:
            lr = cfg.lr / 10 if cfg.strategy == "two-stage" else cfg.lr
            opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
            stage = "stage2" if cfg.strategy == "two-stage" else "full"
            for _ in range(full_epochs):
                t0 = time.perf_counter()
                epoch += 1
                model.train()
                order = parts.train[torch.randperm(parts.train.numel(), generator=gen).to(device)]
                total = torch.zeros((), device=device)
                nb = 0
                for bidx in _batches(order, cfg.batch_size):
                    b = graphs.batch(bidx)
                    with autocast(device, cfg.bf16):
                        out = model(b)
                    loss = loss_fn(out.float(), b.y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += loss.detach()
                    nb += 1
                raw = _predict_graphs(
                    model, graphs, parts.eval_idx, cfg.eval_batch_size, device, cfg.bf16
                )
                tick(record(epoch, stage, float(total) / max(nb, 1), raw,
                            time.perf_counter() - t0))  # fmt: skip
    finally:
        if bar is not None:
            bar.close()

    # ---- result -----------------------------------------------------------------------
    last = history[-1]
    st_best: dict[str, TaskScores] = best["scores"]
    st_last: dict[str, TaskScores] = best["last_scores"]
    if np.isnan(best["valid"]):
        msg = "the valid metric was never defined (no task with both classes in the valid "
        msg += "part); test_at_best_valid uses the last epoch"
        warnings.append(msg)
        log.warning("%s: %s", name, msg)
    skipped_names = [
        t for t, v in zip(task_names, st_best[metric].per_task, strict=True) if np.isnan(v)
    ]
    if skipped_names and task_type == "classification":
        log.info(
            "%s: %d of %d task(s) not scored on the test part (a single class present)",
            name, len(skipped_names), len(task_names),
        )  # fmt: skip
    cfg_dict = cfg.to_dict()
    if ckpt is not None:
        cfg_dict["checkpoint_encoder_config"] = ckpt["encoder_config"]
    result: dict[str, Any] = {
        "dataset": name,
        "task_type": task_type,
        "metric": metric,
        "higher_is_better": HIGHER_IS_BETTER[metric],
        "test_at_best_valid": _nan_to_none(best["test"]),
        "last_test": last["test"],
        "best_valid": _nan_to_none(best["valid"]),
        "last_valid": last["valid"],
        "best_epoch": best["epoch"],
        "epochs": cfg.epochs,
        "tasks_scored": st_best[metric].scored,
        "tasks_skipped": st_best[metric].skipped,
        "skipped_tasks": skipped_names,
        f"test_{second}": _nan_to_none(st_best[second].mean),
        f"last_test_{second}": _nan_to_none(st_last[second].mean),
        "per_task_test": {
            t: _nan_to_none(v) for t, v in zip(task_names, st_best[metric].per_task, strict=True)
        },
        "task_names": task_names,
        "n_train": len(tr),
        "n_valid": len(va),
        "n_test": len(te),
        "n_invalid_smiles": dataset.report.num_invalid,
        "source": str(dataset.source),
        "source_sha256": dataset.source_sha256,
        "encoder_config": dict(model.encoder.config),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "seconds": round(time.perf_counter() - t_start, 3),
        "molpt_version": molpt.__version__,
        "warnings": warnings,
        "config": cfg_dict,
        "history": history,
    }
    if cfg.out:
        out = Path(cfg.out)
        atomic_write_json(out / "metrics.json", result)
        atomic_write_text(
            out / "predictions.csv",
            predictions_csv(
                [dataset.graphs.smiles[i] for i in te.tolist()],
                task_names,
                y_true_test,
                best["pred"],
            ),
        )
        result["files"] = [str(out / "metrics.json"), str(out / "predictions.csv")]
    return result


#: FinetuneConfig fields that every run of a fused group must share (they differ only in
#: seed, split_seed, checkpoint and out)
GROUP_FIELDS = (
    "dataset", "csv", "smiles_col", "tasks", "task_type", "featurizer", "split", "strategy",
    "epochs", "batch_size", "lr", "weight_decay", "dropout", "encoder", "num_layers",
    "hidden_dim", "jk", "pooling", "device", "data_dir", "limit", "beta", "stage1_epochs",
    "bf16", "eval_batch_size",
)  # fmt: skip


def group_key(cfg: FinetuneConfig) -> tuple:
    """Runs with equal keys can train together in one ``finetune_group`` call.

    (The architecture of a run that starts from a checkpoint comes from the checkpoint; the
    caller puts the checkpoint's architecture into ``encoder``/``num_layers``/... first.)
    """
    return tuple(
        tuple(v) if isinstance(v, list) else v for v in (getattr(cfg, f) for f in GROUP_FIELDS)
    )


def finetune_group(
    cfgs: list[FinetuneConfig],
    dataset=None,
    progress: bool = True,
    progress_position: int = 0,
) -> list[dict[str, Any]]:
    """Fine-tune K runs that share ``group_key`` as one fused model; one result per run.

    Each result (and each ``cfg.out``) is exactly what a solo ``finetune`` gives.
    (Interim: runs one by one; the fused trainer replaces this body.)
    """
    return [finetune(c, dataset=dataset, progress=progress,
                     progress_position=progress_position) for c in cfgs]  # fmt: skip


def predictions_csv(
    smiles: list[str], task_names: list[str], y_true: np.ndarray, y_pred: np.ndarray
) -> str:
    """CSV text: ``smiles``, then ``<task>_true`` (empty = missing) and ``<task>_pred``."""
    import pandas as pd

    cols: dict[str, Any] = {"smiles": smiles}
    for i, t in enumerate(task_names):
        cols[f"{t}_true"] = y_true[:, i]
        cols[f"{t}_pred"] = y_pred[:, i]
    return pd.DataFrame(cols).to_csv(index=False, float_format="%.6g")


__all__ = [
    "STRATEGIES",
    "FinetuneConfig",
    "build_model",
    "class_balanced_weights",
    "GROUP_FIELDS",
    "finetune",
    "finetune_group",
    "group_key",
    "load_finetune_data",
    "predictions_csv",
]
