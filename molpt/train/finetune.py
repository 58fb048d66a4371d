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

Many runs, one step: ``finetune_group`` trains K runs that share dataset, split method,
featurizer, strategy, architecture and optimisation settings (``group_key``) as one stacked
model (``molpt.nn.stacked``): each run keeps its own weights, split, batch order, dropout
stream, BatchNorm statistics, Adam state and best-valid tracking, and writes exactly what it
writes alone.  ``finetune(cfg)`` is a group of one: there is one loop (``molpt.train.group``).

Precision: fp32 by default, as the papers; ``bf16=True`` runs the forward pass under bf16
autocast on CUDA and on CPUs with native bf16.

Speed: the whole dataset lives on the device as one ``GraphSet``; batches are cut from it by
index arithmetic and the valid and test parts are scored in a few large batches.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molpt._version import __version__
from molpt.allocator import loaded_allocator
from molpt.featurize.graphs import GraphSet
from molpt.nn.encoder import Encoder
from molpt.nn.model import GraphModel
from molpt.nn.stacked import StackedModel
from molpt.train.checkpoint import check_featurizer, load_checkpoint
from molpt.train.device import device_name, resolve_device
from molpt.train.group import (
    GroupTargets,
    RunData,
    StackedAdam,
    dropout_seed,
    embed_all,
    predict_parts,
    train_epoch,
    train_head_epoch,
)
from molpt.train.metrics import HIGHER_IS_BETTER, TaskScores, evaluate, is_better
from molpt.utils import (
    atomic_write_json,
    atomic_write_text,
    check_finetune_out,
    seed_everything,
)

log = logging.getLogger(__name__)

STRATEGIES = ("full", "linear", "two-stage")


MATMUL_MODES = ("auto", "per-run", "batched")


def batched_matmul(mode: str, device: torch.device, bf16: bool) -> bool:
    """Resolve ``FinetuneConfig.matmul``: "auto" = batched on CUDA and under bf16."""
    if mode == "auto":
        return device.type == "cuda" or bool(bf16)
    return mode == "batched"


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
    #: train / valid / test shares of the split; a test share of 0 leaves no test part
    #: (the scikit-learn estimators select the best epoch on valid and need no test part)
    split_frac: tuple[float, float, float] = (0.8, 0.1, 0.1)
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
    bf16: bool = False
    eval_batch_size: int = 2048
    #: how a fused group runs its linear layers: "per-run" (K matmuls over each run's own
    #: rows: bit-identical alone or in any group), "batched" (one bmm over runs padded to
    #: equal blocks: faster, equal up to rounding) or "auto" (batched on CUDA and with
    #: bf16, per-run on a CPU in fp32)
    matmul: str = "auto"
    #: replace metrics.json / predictions.csv already in ``out`` (default: refuse)
    overwrite: bool = False
    #: write the best-valid model into ``out`` as a model folder (``model.json``,
    #: ``weights.pt``, ``domain.pt``: see ``molpt.train.model_folder``) for ``molpt predict``
    save_model: bool = True

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
        if self.matmul not in MATMUL_MODES:
            raise ValueError(
                f"unknown matmul mode {self.matmul!r}; choose one of: {', '.join(MATMUL_MODES)}"
            )
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.beta < 1:
            raise ValueError(f"beta must be in (0, 1), got {self.beta}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be positive, got {self.limit}")
        frac = tuple(float(f) for f in self.split_frac)
        if len(frac) != 3 or min(frac) < 0 or not np.isclose(sum(frac), 1.0) or \
                frac[0] <= 0 or frac[1] <= 0:  # fmt: skip
            raise ValueError("split_frac must be three shares (train, valid, test) summing "
                             f"to 1 with train and valid above 0, got {self.split_frac}")

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
def build_model(
    cfg: FinetuneConfig, num_tasks: int, ckpt: dict[str, Any] | None = None
) -> tuple[GraphModel, dict[str, Any] | None]:
    """GraphModel with a linear head; encoder from the checkpoint or freshly initialised.

    ``ckpt``: the already-loaded checkpoint of ``cfg.checkpoint`` (loaded here if None).
    """
    if cfg.checkpoint:
        ckpt = ckpt if ckpt is not None else load_checkpoint(cfg.checkpoint)
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
# grouping
# ------------------------------------------------------------------------------------------
#: FinetuneConfig fields that every run of a fused group must share (they differ only in
#: seed, split_seed, checkpoint and out)
GROUP_FIELDS = (
    "dataset", "csv", "smiles_col", "tasks", "task_type", "featurizer", "split", "split_frac",
    "strategy",
    "epochs", "batch_size", "lr", "weight_decay", "dropout", "encoder", "num_layers",
    "hidden_dim", "jk", "pooling", "device", "data_dir", "limit", "beta", "stage1_epochs",
    "bf16", "eval_batch_size", "matmul",
)  # fmt: skip


def group_key(cfg: FinetuneConfig) -> tuple:
    """Runs with equal keys can train together in one ``finetune_group`` call.

    (The architecture of a run that starts from a checkpoint comes from the checkpoint; the
    caller puts the checkpoint's architecture into ``encoder``/``num_layers``/... first, and
    ``finetune_group`` refuses runs whose models do not stack.)
    """
    return tuple(
        tuple(v) if isinstance(v, list) else v for v in (getattr(cfg, f) for f in GROUP_FIELDS)
    )


def _nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)


# ------------------------------------------------------------------------------------------
# one run's bookkeeping: split, targets, history, best-valid tracking, result
# ------------------------------------------------------------------------------------------
class _Run:
    """Everything one run of a group owns apart from its (stacked) weights."""

    def __init__(self, cfg: FinetuneConfig, ds, task_type: str, split_cache: dict, device):
        from molpt.data.splits import split as split_fn

        self.cfg = cfg
        self.ds = ds
        self.split_cache = split_cache
        frac = tuple(float(f) for f in cfg.split_frac)
        self.split_key = (cfg.split, cfg.split_seed, frac)
        #: the best-valid weights (an ordinary GraphModel state dict on the CPU), kept
        #: when the run saves its model
        self.best_state: dict[str, torch.Tensor] | None = None
        name = ds.spec.name
        graphs: GraphSet = ds.graphs
        y_all = graphs.y
        key = self.split_key
        if key not in split_cache:
            split_cache[key] = split_fn(graphs.smiles, cfg.split, seed=cfg.split_seed, frac=frac)
        tr, va, te = split_cache[key]
        for part, idx in (("train", tr), ("valid", va), ("test", te)):
            if len(idx) == 0 and not (part == "test" and frac[2] == 0):
                raise ValueError(
                    f"{name}: the {part} part of the {cfg.split} split is empty "
                    f"({len(graphs)} molecules is too few)"
                )
        self.tr, self.va, self.te = tr, va, te
        self.warnings: list[str] = []
        task_names = list(ds.task_names)
        ytr = y_all[torch.as_tensor(tr)]
        if task_type == "classification":
            one_class = [
                t for i, t in enumerate(task_names)
                if not ((ytr[:, i] == 0).any() and (ytr[:, i] == 1).any())
            ]  # fmt: skip
            if one_class:
                msg = (
                    f"{len(one_class)} task(s) have a single class (or no label) in the "
                    f"training part: {', '.join(one_class[:10])}"
                    f"{' ...' if len(one_class) > 10 else ''}; they are trained on but "
                    "scored only where both classes are present"
                )
                log.warning("%s: %s", name, msg)
                self.warnings.append(msg)
        mean = std = None
        if task_type == "regression":
            mean = torch.nanmean(ytr, dim=0)
            centred = torch.where(torch.isnan(ytr), torch.zeros_like(ytr), ytr - mean)
            n = (~torch.isnan(ytr)).sum(0).clamp_min(2)
            std = (centred.pow(2).sum(0) / (n - 1)).sqrt()
            mean = torch.nan_to_num(mean)
            std = torch.where(std > 0, std, torch.ones_like(std))
        weights = None
        if cfg.strategy == "two-stage" and task_type == "classification":
            weights = class_balanced_weights(ytr, cfg.beta)
        order_gen = seed_everything(cfg.seed)
        drop_gen = torch.Generator(device=device)
        drop_gen.manual_seed(dropout_seed(cfg.seed))
        self.data = RunData(
            seed=cfg.seed,
            train=torch.as_tensor(tr, dtype=torch.long, device=device),
            valid=torch.as_tensor(va, dtype=torch.long, device=device),
            test=torch.as_tensor(te, dtype=torch.long, device=device),
            order_gen=order_gen,
            dropout_gen=drop_gen,
            mean=None if mean is None else mean.to(device),
            std=None if std is None else std.to(device),
            class_weights=None if weights is None else weights.to(device),
        )
        self.task_type = task_type
        self.y_true_valid = y_all[torch.as_tensor(va)].numpy()
        self.y_true_test = y_all[torch.as_tensor(te)].numpy()
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"valid": float("nan"), "epoch": 0, "test": float("nan"),
                                     "pred": None, "scores": None}  # fmt: skip
        self.metric = ds.spec.metric if ds.spec.metric in HIGHER_IS_BETTER else None
        self.metric = self.metric or ("roc_auc" if task_type == "classification" else "rmse")
        self.second = "pr_auc" if task_type == "classification" else "mae"

    def to_output(self, raw: torch.Tensor) -> np.ndarray:
        raw = raw.float()
        if self.task_type == "classification":
            return torch.sigmoid(raw).cpu().numpy()
        d = self.data
        return (raw * d.std.to(raw.device) + d.mean.to(raw.device)).cpu().numpy()

    def record(self, epoch: int, stage: str, train_loss: float, raw: torch.Tensor,
               secs: float) -> dict[str, Any]:  # fmt: skip
        out = self.to_output(raw)
        nv = len(self.va)
        metric, second = self.metric, self.second
        sv = evaluate(self.task_type, self.y_true_valid, out[:nv])
        st = evaluate(self.task_type, self.y_true_test, out[nv:])
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
        self.history.append(row)
        best = self.best
        if best["pred"] is None or is_better(metric, sv[metric].mean, best["valid"]):
            best.update(valid=sv[metric].mean, epoch=epoch, test=st[metric].mean,
                        pred=out[nv:].copy(), valid_pred=out[:nv].copy(), scores=st,
                        valid_scores=sv)  # fmt: skip
        best["last_scores"] = st
        self.last_pred = out[nv:].copy()
        return row

    # ---- resumable state --------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        b = self.best
        st = {
            "order_gen": self.data.order_gen.get_state(),
            "dropout_gen": self.data.dropout_gen.get_state(),
            "history": self.history,
            "best": {"valid": float(b["valid"]), "epoch": int(b["epoch"]),
                     "test": float(b["test"]), "pred": torch.from_numpy(b["pred"]),
                     "last_pred": torch.from_numpy(self.last_pred)},
        }  # fmt: skip
        if b.get("valid_pred") is not None:
            st["best"]["valid_pred"] = torch.from_numpy(b["valid_pred"])
        if self.best_state is not None:
            st["best"]["model_state"] = self.best_state
        return st

    def keep_best(self, epoch: int, model: StackedModel, k: int) -> None:
        """After ``record``: keep run k's weights if ``epoch`` is its new best-valid epoch."""
        if self.cfg.save_model and self.cfg.out and self.best["epoch"] == epoch:
            self.best_state = {n: v.detach().cpu() for n, v in model.unstack(k).items()}

    def restore(self, st: dict[str, Any]) -> None:
        self.data.order_gen.set_state(st["order_gen"])
        self.data.dropout_gen.set_state(st["dropout_gen"])
        self.history = list(st["history"])
        b = st["best"]
        pred, last = b["pred"].numpy(), b["last_pred"].numpy()
        self.best.update(valid=b["valid"], epoch=b["epoch"], test=b["test"], pred=pred,
                         scores=evaluate(self.task_type, self.y_true_test, pred),
                         last_scores=evaluate(self.task_type, self.y_true_test, last))
        if "valid_pred" in b:
            self.best["valid_pred"] = b["valid_pred"].numpy()
        self.best_state = b.get("model_state")
        self.last_pred = last

    def write_model(self, out: Path, model_config: dict, result: dict[str, Any]) -> list[Path]:
        """Write this run's best-valid model folder into ``out`` (see model_folder)."""
        from molpt.train.model_folder import domain_arrays, write_model_folder

        if self.best_state is None:
            raise RuntimeError("no best-valid weights were kept for this run")
        ds, cfg = self.ds, self.cfg
        train_smiles = [ds.graphs.smiles[i] for i in self.tr.tolist()]
        key = ("domain", self.split_key)
        if key not in self.split_cache:  # runs of one split share the fingerprints
            self.split_cache[key] = domain_arrays(train_smiles)
        d = self.data
        training = {
            "dataset": ds.spec.name,
            "source": str(ds.source),
            "source_sha256": ds.source_sha256,
            "smiles_col": ds.spec.smiles_col,
            "limit": cfg.limit,
            "split": cfg.split,
            "split_seed": cfg.split_seed,
            "seed": cfg.seed,
            "strategy": cfg.strategy,
            "epochs": cfg.epochs,
            "best_epoch": int(self.best["epoch"]),
            "checkpoint": cfg.checkpoint,
            "n_train": len(self.tr),
            "n_valid": len(self.va),
            "n_test": len(self.te),
            "valid_rows": ds.graphs.rows[torch.as_tensor(self.va)].tolist(),
            "test_rows": ds.graphs.rows[torch.as_tensor(self.te)].tolist(),
            "config": cfg.to_dict(),
        }
        keys = ("metric", "higher_is_better", "test_at_best_valid", "best_valid",
                "best_epoch", "last_test", "per_task_test", f"test_{self.second}",
                "device", "device_name")  # fmt: skip
        return write_model_folder(
            out,
            state=self.best_state,
            model_config=model_config,
            featurizer=cfg.featurizer,
            task_names=list(ds.task_names),
            task_type=self.task_type,
            target_mean=None if d.mean is None else d.mean.cpu().numpy(),
            target_std=None if d.std is None else d.std.cpu().numpy(),
            precision="bf16" if cfg.bf16 else "fp32",
            training=training,
            metrics={k: result.get(k) for k in keys},
            valid_true=self.y_true_valid,
            valid_pred=self.best["valid_pred"],
            train_smiles=train_smiles,
            train_rows=ds.graphs.rows[torch.as_tensor(self.tr)].numpy(),
            domain=self.split_cache[key],
        )

    def result(self, encoder_config: dict, num_parameters: int, device, seconds: float,
               ckpt: dict | None, model_config: dict | None = None) -> dict[str, Any]:  # fmt: skip
        cfg, ds, metric, second = self.cfg, self.ds, self.metric, self.second
        name = ds.spec.name
        task_names = list(ds.task_names)
        last = self.history[-1]
        st_best: dict[str, TaskScores] = self.best["scores"]
        st_last: dict[str, TaskScores] = self.best["last_scores"]
        warnings = list(self.warnings)
        if np.isnan(self.best["valid"]):
            msg = "the valid metric was never defined (no task with both classes in the "
            msg += "valid part); test_at_best_valid uses the last epoch"
            warnings.append(msg)
            log.warning("%s: %s", name, msg)
        skipped = [t for t, v in zip(task_names, st_best[metric].per_task, strict=True)
                   if np.isnan(v)]  # fmt: skip
        if skipped and self.task_type == "classification":
            log.info("%s: %d of %d task(s) not scored on the test part (a single class "
                     "present)", name, len(skipped), len(task_names))  # fmt: skip
        cfg_dict = cfg.to_dict()
        if ckpt is not None:
            cfg_dict["checkpoint_encoder_config"] = ckpt["encoder_config"]
        result: dict[str, Any] = {
            "dataset": name,
            "task_type": self.task_type,
            "metric": metric,
            "higher_is_better": HIGHER_IS_BETTER[metric],
            "test_at_best_valid": _nan_to_none(self.best["test"]),
            "last_test": last["test"],
            "best_valid": _nan_to_none(self.best["valid"]),
            "last_valid": last["valid"],
            "best_epoch": self.best["epoch"],
            "epochs": cfg.epochs,
            "tasks_scored": st_best[metric].scored,
            "tasks_skipped": st_best[metric].skipped,
            "skipped_tasks": skipped,
            f"test_{second}": _nan_to_none(st_best[second].mean),
            f"last_test_{second}": _nan_to_none(st_last[second].mean),
            "per_task_test": {
                t: _nan_to_none(v)
                for t, v in zip(task_names, st_best[metric].per_task, strict=True)
            },
            "task_names": task_names,
            "n_train": len(self.tr),
            "n_valid": len(self.va),
            "n_test": len(self.te),
            "n_invalid_smiles": ds.report.num_invalid,
            "source": str(ds.source),
            "source_sha256": ds.source_sha256,
            "encoder_config": dict(encoder_config),
            "num_parameters": num_parameters,
            "device": str(device),
            "device_name": device_name(device),
            "host_allocator": loaded_allocator(),
            "seconds": round(seconds, 3),
            "molpt_version": __version__,
            "warnings": warnings,
            "config": cfg_dict,
            "history": self.history,
        }
        if cfg.out:
            out = Path(cfg.out)
            atomic_write_json(out / "metrics.json", result)
            atomic_write_text(
                out / "predictions.csv",
                predictions_csv([ds.graphs.smiles[i] for i in self.te.tolist()], task_names,
                                self.y_true_test, self.best["pred"]),
            )  # fmt: skip
            result["files"] = [str(out / "metrics.json"), str(out / "predictions.csv")]
            if cfg.save_model and model_config is not None:
                written = self.write_model(out, model_config, result)
                result["files"] += [str(p) for p in written]
                result["model_dir"] = str(out)
        return result


# ------------------------------------------------------------------------------------------
# finetune: a group of K runs (a solo run is a group of one)
# ------------------------------------------------------------------------------------------
def finetune(
    cfg: FinetuneConfig,
    dataset=None,
    progress: bool = True,
    progress_position: int = 0,
) -> dict[str, Any]:
    """Fine-tune and evaluate one run; returns the metrics dict (also written to ``cfg.out``).

    A solo run is a group of one: see :func:`finetune_group` for arguments and files.

    Returns:
        dict with ``metric``, ``test_at_best_valid``, ``last_test``, ``best_valid``,
        ``best_epoch`` (1-based), ``tasks_scored`` / ``tasks_skipped`` (test part),
        ``test_pr_auc`` (classification), ``history`` (per epoch), ``config``, ...

    Raises:
        ValueError / FileNotFoundError / CheckpointError: user mistakes, one-line messages.
    """
    return finetune_group([cfg], dataset, progress, progress_position)[0]


def finetune_group(
    cfgs: list[FinetuneConfig],
    dataset=None,
    progress: bool = True,
    progress_position: int = 0,
    keep_state: bool = False,
    state_dir: str | Path | None = None,
    state_every_s: float = 60.0,
) -> list[dict[str, Any]]:
    """Fine-tune K runs that share ``group_key`` as one fused model; one result per run.

    Each run keeps its own weights (stacked along a leading run dimension), split, batch
    order, dropout stream, BatchNorm statistics, Adam state and best-valid tracking; its
    result (and its ``cfg.out``: ``metrics.json``, ``predictions.csv`` with the test part
    predicted at the best-valid epoch and, with ``cfg.save_model``, that epoch's model as
    ``model.json`` + ``weights.pt`` + ``domain.pt``, see ``molpt.train.model_folder``) is
    what it gives when trained alone.

    Args:
        cfgs: the runs' configurations (equal ``group_key``).
        dataset: an already-loaded ``MolDataset`` (the benchmark featurizes once and passes
            it); its featurizer must be the configs'.  None = load from ``cfgs[0]``.
        progress: show the group's epoch progress bar on stderr.
        progress_position: tqdm position (the benchmark nests it under its grid bar).
        keep_state: add each run's final ``GraphModel`` state dict as ``final_state``.
        state_dir: where the group saves its state (weights, Adam moments, random streams,
            histories) at most every ``state_every_s`` seconds, as ``group_state.pt``; a
            rerun of the same group resumes from it exactly (bit-identical on CPU), and it
            is removed when the group finishes.  None = no saving.
    """
    if not cfgs:
        return []
    t_start = time.perf_counter()
    for c in cfgs:
        c.validate()
    keys = {group_key(c) for c in cfgs}
    if len(keys) > 1:
        diff = [f for f, a, b in zip(GROUP_FIELDS, group_key(cfgs[0]),
                                     next(k for k in keys if k != group_key(cfgs[0])),
                                     strict=True) if a != b]  # fmt: skip
        raise ValueError(f"runs of one group must share {', '.join(diff)}")
    cfg0 = cfgs[0]
    device = resolve_device(cfg0.device)
    outs = [c.out for c in cfgs if c.out]
    if len(set(map(str, outs))) != len(outs):
        raise ValueError("runs of one group need different output folders")
    for c in cfgs:  # writable, and no earlier results unless overwrite: before any work
        if c.out:
            check_finetune_out(c.out, c.overwrite)
    ckpts = {}
    for c in cfgs:  # fail fast, before featurizing
        if c.checkpoint and c.checkpoint not in ckpts:
            ckpts[c.checkpoint] = load_checkpoint(c.checkpoint)
            check_featurizer(ckpts[c.checkpoint], c.featurizer, c.checkpoint)
    if dataset is None:
        dataset = load_finetune_data(cfg0, progress=progress)
    elif dataset.graphs.featurizer != cfg0.featurizer:
        raise ValueError(
            f"dataset was featurized with {dataset.graphs.featurizer!r}, config asks for "
            f"{cfg0.featurizer!r}"
        )
    name = dataset.spec.name
    task_type = cfg0.task_type or dataset.task_type
    if task_type is None:
        raise ValueError(f"{name}: cannot tell the task type; pass --task-type")
    task_names = list(dataset.task_names)
    _check_labels(dataset.graphs.y, task_names, task_type, name)

    split_cache: dict = {}
    runs = [_Run(c, dataset, task_type, split_cache, device) for c in cfgs]
    graphs = dataset.graphs.to(device)
    targets = GroupTargets(graphs.y, [r.data for r in runs], task_type)

    # ---- models: each built from its own seed (or checkpoint), then stacked --------------
    models = []
    for c in cfgs:
        seed_everything(c.seed)
        models.append(build_model(c, len(task_names), ckpts.get(c.checkpoint))[0])
    batched = batched_matmul(cfg0.matmul, device, cfg0.bf16)
    model = StackedModel.from_models(models).to(device).set_matmul(batched)
    n_params = sum(p.numel() for p in models[0].parameters())
    enc_config = dict(models[0].encoder.config)
    model_config = dict(models[0].config)
    del models
    K = len(runs)
    data = [r.data for r in runs]

    bar = None
    if progress:
        from tqdm.auto import tqdm

        desc = (f"{name} {cfg0.strategy} seed {cfg0.seed}" if K == 1
                else f"{name} {cfg0.strategy} {K} runs")  # fmt: skip
        bar = tqdm(total=cfg0.epochs, desc=desc, unit="ep", leave=progress_position == 0,
                   position=progress_position, dynamic_ncols=True)  # fmt: skip

    def finish_epoch(epoch: int, stage: str, losses: list[float], raws, t0: float, seen: int):
        secs = time.perf_counter() - t0
        rows = [r.record(epoch, stage, loss, raw, secs)
                for r, loss, raw in zip(runs, losses, raws, strict=True)]  # fmt: skip
        for k, r in enumerate(runs):
            r.keep_best(epoch, model, k)
        if bar is not None:
            bar.update(1)
            post = {"graphs/s": f"{seen / max(secs, 1e-9):.0f}"}
            if K == 1:
                row = rows[0]
                post.update(loss=f"{row['train_loss']:.3f}",
                            valid="nan" if row["valid"] is None else f"{row['valid']:.3f}",
                            test="nan" if row["test"] is None else f"{row['test']:.3f}")
            bar.set_postfix(post, refresh=False)  # fmt: skip

    eval_parts = [d.eval_idx for d in data]
    head_epochs = {"linear": cfg0.epochs, "two-stage": cfg0.stage1, "full": 0}[cfg0.strategy]
    saver = _GroupState(state_dir, cfgs, state_every_s)
    done, opt_state = saver.load(model, runs, device)
    if done and bar is not None:
        bar.update(done)
    try:
        # ---- head-only phases (linear, two-stage stage 1) on frozen embeddings ----------
        if head_epochs > done:
            for p in model.encoder.parameters():
                p.requires_grad_(False)
            emb = embed_all(model, graphs, cfg0.eval_batch_size, cfg0.bf16)
            opt = StackedAdam(model.head.parameters(), lr=cfg0.lr,
                              weight_decay=cfg0.weight_decay)  # fmt: skip
            if opt_state is not None:
                opt.load_state(opt_state)
            weights = None
            if cfg0.strategy == "two-stage" and task_type == "classification":
                weights = torch.stack([d.class_weights for d in data])
            stage = "linear" if cfg0.strategy == "linear" else "stage1"
            for epoch in range(done + 1, head_epochs + 1):
                t0 = time.perf_counter()
                losses, seen = train_head_epoch(model, opt, emb, data, targets, task_type,
                                                cfg0.batch_size, weights)  # fmt: skip
                raws = predict_parts(model, graphs, eval_parts, cfg0.eval_batch_size,
                                     cfg0.bf16, emb=emb)  # fmt: skip
                finish_epoch(epoch, stage, losses, raws, t0, seen)
                saver.maybe_save(epoch, model, opt, runs, last=epoch == head_epochs)
            for p in model.encoder.parameters():
                p.requires_grad_(True)
            del emb
            opt_state = None

        # ---- full fine-tuning (full, two-stage stage 2) ---------------------------------
        if cfg0.epochs > max(head_epochs, done):
            lr = cfg0.lr / 10 if cfg0.strategy == "two-stage" else cfg0.lr
            opt = StackedAdam(model.parameters(), lr=lr, weight_decay=cfg0.weight_decay)
            if opt_state is not None and done > head_epochs:
                opt.load_state(opt_state)
            stage = "stage2" if cfg0.strategy == "two-stage" else "full"
            for epoch in range(max(head_epochs, done) + 1, cfg0.epochs + 1):
                t0 = time.perf_counter()
                losses, seen = train_epoch(model, opt, graphs, data, targets, task_type,
                                           cfg0.batch_size, cfg0.bf16)  # fmt: skip
                raws = predict_parts(model, graphs, eval_parts, cfg0.eval_batch_size,
                                     cfg0.bf16)  # fmt: skip
                finish_epoch(epoch, stage, losses, raws, t0, seen)
                saver.maybe_save(epoch, model, opt, runs)
    finally:
        if bar is not None:
            bar.close()

    seconds = time.perf_counter() - t_start
    results = []
    for k, r in enumerate(runs):
        res = r.result(enc_config, n_params, device, seconds, ckpts.get(r.cfg.checkpoint),
                       model_config)
        if K > 1:
            res["group_size"] = K
            res["matmul"] = "batched" if batched else "per-run"
        if keep_state:
            res["final_state"] = {n: v.cpu() for n, v in model.unstack(k).items()}
        results.append(res)
    saver.remove()
    return results


class _GroupState:
    """A fused group's resumable state in ``STATE_DIR/group_state.pt`` (atomic writes)."""

    FORMAT = "molpt-group-state"

    def __init__(self, state_dir, cfgs: list[FinetuneConfig], every_s: float) -> None:
        self.path = Path(state_dir) / "group_state.pt" if state_dir else None
        self.every_s = every_s
        self.last = time.monotonic()
        # what the group is: every run's configuration minus where it writes
        import json

        # (save_model only when on: a state saved without best weights cannot write a model)
        self.ident = json.dumps(
            [{k: v for k, v in c.to_dict().items()
              if k not in ("out", "overwrite") and not (k == "save_model" and not v)}
             for c in cfgs], sort_keys=True, default=str,
        )  # fmt: skip

    def load(self, model: StackedModel, runs: list[_Run], device) -> tuple[int, dict | None]:
        """Restore a saved state of this very group; returns (epochs done, optimizer state)."""
        if self.path is None:
            return 0, None
        from molpt.utils import remove_stale_temps

        for tmp in remove_stale_temps(self.path):  # a save cut short by kill -9
            log.info("removed %s, a group state half-written by a killed process", tmp)
        if not self.path.is_file():
            return 0, None
        try:
            st = torch.load(self.path, map_location=device, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a torn or foreign file: start afresh
            log.warning("ignoring unreadable group state %s (%s)", self.path, exc)
            return 0, None
        if not isinstance(st, dict) or st.get("format") != self.FORMAT:
            log.warning("ignoring %s: not a molpt group state", self.path)
            return 0, None
        if st.get("ident") != self.ident:
            log.warning("ignoring %s: saved by a different group of runs", self.path)
            return 0, None
        model.load_state_dict(st["model"])
        for r, rs in zip(runs, st["runs"], strict=True):
            r.restore(rs)
        log.info("resuming fused group from epoch %d (%s)", st["epoch"], self.path)
        return int(st["epoch"]), st["opt"]

    def maybe_save(self, epoch: int, model, opt, runs: list[_Run], last: bool = False) -> None:
        if self.path is None or (not last and time.monotonic() - self.last < self.every_s):
            return
        import io

        from molpt.utils import atomic_write_bytes

        buf = io.BytesIO()
        torch.save({"format": self.FORMAT, "ident": self.ident, "epoch": epoch,
                    "model": model.state_dict(), "opt": opt.state(),
                    "runs": [r.state() for r in runs]}, buf)  # fmt: skip
        try:
            atomic_write_bytes(self.path, buf.getvalue())
        except OSError as exc:  # saving is a convenience: training goes on
            log.warning("could not save the group state to %s (%s)", self.path, exc)
        self.last = time.monotonic()

    def remove(self) -> None:
        """Delete the state, and any half-written copy a killed process left beside it."""
        if self.path is not None:
            from molpt.utils import remove_stale_temps

            self.path.unlink(missing_ok=True)
            remove_stale_temps(self.path)


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
    "MATMUL_MODES",
    "batched_matmul",
    "build_model",
    "class_balanced_weights",
    "GROUP_FIELDS",
    "finetune",
    "finetune_group",
    "group_key",
    "load_finetune_data",
    "predictions_csv",
]
