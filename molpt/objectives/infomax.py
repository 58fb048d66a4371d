"""Deep Graph Infomax as used by Hu et al. 2020."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import scatter

from molpt.featurize.graphs import GraphBatch
from molpt.objectives.base import OBJECTIVES, Objective, binary_accuracy, cycle


@OBJECTIVES.register("infomax")
class Infomax(Objective):
    """summary = sigmoid(mean pool); score = node · W · summary.

    Positives pair every node with its own graph's summary, negatives with the next
    graph's summary in the batch (cyclic).  BCE; metric ``acc``.
    """

    name = "infomax"
    metric = "acc"

    def __init__(self, encoder) -> None:
        super().__init__(encoder)
        d = self.hidden_dim
        self.weight = nn.Parameter(torch.empty(d, d))
        nn.init.xavier_uniform_(self.weight)

    def loss(self, batch: GraphBatch, generator: torch.Generator | None = None):
        h = self.encoder.encode(batch.x, batch.edge_index, batch.edge_attr).float()
        b = batch.num_graphs
        summary = torch.sigmoid(scatter(h, batch.batch, dim=0, dim_size=b, reduce="mean"))
        hw = summary @ self.weight  # (B, d), as Hu et al.: sum(x * (s W))
        s_pos = (h * hw[batch.batch]).sum(-1)
        s_neg = (h * hw[cycle(b, h.device)][batch.batch]).sum(-1)
        loss = F.binary_cross_entropy_with_logits(
            s_pos, torch.ones_like(s_pos)
        ) + F.binary_cross_entropy_with_logits(s_neg, torch.zeros_like(s_neg))
        return loss, {"acc": binary_accuracy(s_pos, s_neg)}
