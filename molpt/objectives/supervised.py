"""Supervised (multi-task) pretraining on any labelled dataset (Hu et al.'s ChEMBL stage)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import scatter

from molpt.featurize.graphs import GraphBatch, GraphSet
from molpt.objectives.base import OBJECTIVES, Objective


@OBJECTIVES.register("supervised")
class Supervised(Objective):
    """Linear head on mean-pooled embeddings; loss over present labels only (NaN = missing).

    classification: masked BCE-with-logits; regression: masked MSE on targets standardised
    with the training data's per-task mean / std.  Options ``num_tasks``, ``task_type``,
    ``y_mean`` / ``y_std`` are filled from the data by ``data_options``; ``dropout`` 0.2.
    Metric: ``acc`` (classification, threshold 0.5) or ``mse`` (regression, standardised).
    """

    name = "supervised"
    needs_labels = True

    def __init__(
        self,
        encoder,
        num_tasks: int = 1,
        task_type: str = "classification",
        dropout: float = 0.2,
        y_mean: list[float] | None = None,
        y_std: list[float] | None = None,
    ) -> None:
        super().__init__(
            encoder,
            num_tasks=num_tasks,
            task_type=task_type,
            dropout=dropout,
            y_mean=y_mean,
            y_std=y_std,
        )
        if task_type not in ("classification", "regression"):
            raise ValueError(f"task_type must be classification or regression, got {task_type!r}")
        self.task_type = task_type
        self.metric = "acc" if task_type == "classification" else "mse"
        self.head = nn.Linear(self.hidden_dim, num_tasks)
        self.drop = nn.Dropout(dropout)
        mean = torch.tensor(y_mean if y_mean is not None else [0.0] * num_tasks)
        std = torch.tensor(y_std if y_std is not None else [1.0] * num_tasks)
        self.register_buffer("y_mean", mean.float(), persistent=False)
        self.register_buffer("y_std", std.float(), persistent=False)

    @classmethod
    def data_options(
        cls, graphs: GraphSet, task_type: str | None, options: dict[str, Any]
    ) -> dict[str, Any]:
        if graphs.y is None or graphs.y.shape[1] == 0:
            raise ValueError(
                "supervised pretraining needs a labelled dataset (this one has no task columns)"
            )
        y = graphs.y.float()
        opts = dict(options)
        opts.setdefault("num_tasks", int(y.shape[1]))
        tt = opts.setdefault("task_type", task_type or "classification")
        if tt == "regression" and opts.get("y_mean") is None:
            present = ~torch.isnan(y)
            cnt = present.sum(0).clamp(min=1)
            yz = torch.where(present, y, torch.zeros_like(y))
            mean = yz.sum(0) / cnt
            var = (torch.where(present, y - mean, torch.zeros_like(y)) ** 2).sum(0) / cnt
            std = var.sqrt()
            std = torch.where(std > 0, std, torch.ones_like(std))
            opts["y_mean"], opts["y_std"] = mean.tolist(), std.tolist()
        return opts

    def loss(self, batch: GraphBatch, generator: torch.Generator | None = None):
        if batch.y is None:
            raise ValueError("supervised pretraining needs labels (batch.y is None)")
        h = self.encoder.encode(batch.x, batch.edge_index, batch.edge_attr)
        g = scatter(h, batch.batch, dim=0, dim_size=batch.num_graphs, reduce="mean")
        pred = self.head(self.drop(g)).float()
        y = batch.y.float()
        present = ~torch.isnan(y)
        w = present.float()
        y0 = torch.where(present, y, torch.zeros_like(y))
        denom = w.sum().clamp(min=1)
        if self.task_type == "classification":
            per = F.binary_cross_entropy_with_logits(pred, y0, reduction="none")
            loss = (per * w).sum() / denom
            acc = (((pred.detach() > 0).float() == y0).float() * w).sum() / denom
            return loss, {"acc": acc}
        target = (y0 - self.y_mean) / self.y_std
        loss = (((pred - target) ** 2) * w).sum() / denom
        return loss, {"mse": loss.detach()}
