"""Graph pooling: node embeddings (N, d) + graph ids (N,) -> graph embeddings (B, d)."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import scatter, softmax

from molpt.registry import Registry

POOLINGS: Registry[type[nn.Module]] = Registry("pooling")


class _Pool(nn.Module):
    reduce = "mean"

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.in_dim = in_dim

    def forward(self, h: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
        return scatter(h, batch, dim=0, dim_size=num_graphs, reduce=self.reduce)


@POOLINGS.register("mean")
class MeanPool(_Pool):
    reduce = "mean"


@POOLINGS.register("sum")
class SumPool(_Pool):
    reduce = "sum"


@POOLINGS.register("max")
class MaxPool(_Pool):
    reduce = "max"


@POOLINGS.register("attention")
class AttentionPool(_Pool):
    """Global attention (Li et al. 2016): softmax(gate(h)) within each graph, weighted sum."""

    def __init__(self, in_dim: int) -> None:
        super().__init__(in_dim)
        self.gate = nn.Linear(in_dim, 1)

    def forward(self, h: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
        a = softmax(self.gate(h).float(), batch, num_nodes=num_graphs)
        return scatter(h * a.to(h.dtype), batch, dim=0, dim_size=num_graphs, reduce="sum")
