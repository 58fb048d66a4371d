"""Node encoders: input embedding, ``num_layers`` convolutions, norms, JK."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from molpt.featurize.vocab import get_spec
from molpt.nn.convs import CONVS
from molpt.nn.embeddings import AtomEmbedding, prepare_bonds, self_loop_input

JK_MODES = ("last", "concat", "max", "sum")


class Encoder(nn.Module):
    """A GNN node encoder (Hu et al. 2020 layout).

    Per layer: conv (with this layer's bond embedding) -> BatchNorm -> ReLU (all but the
    last layer) -> dropout.  JK: ``last`` (default), ``concat`` / ``max`` / ``sum`` over the
    input embedding and every layer's output.

    Args:
        featurizer: featurizer name; sizes the atom and bond embeddings.
        conv: ``gin`` (default), ``gcn``, ``sage`` or ``gat``.
        num_layers, hidden_dim, dropout, jk: as in Hu et al. (5, 300, 0.0, last).

    Forward: a batch with ``x`` (N, F_atom) long, ``edge_index`` (2, E), ``edge_attr``
    (E, F_bond) long  ->  node embeddings (N, out_dim).
    """

    def __init__(
        self,
        featurizer: str = "basic",
        conv: str = "gin",
        num_layers: int = 5,
        hidden_dim: int = 300,
        dropout: float = 0.0,
        jk: str = "last",
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("num_layers must be at least 1")
        if jk not in JK_MODES:
            raise ValueError(f"unknown jk {jk!r}; choose one of: {', '.join(JK_MODES)}")
        self.config: dict[str, Any] = dict(
            featurizer=featurizer,
            conv=conv,
            num_layers=num_layers,
            hidden_dim=hidden_dim,
            dropout=dropout,
            jk=jk,
        )
        self.spec = get_spec(featurizer)
        self.num_layers, self.hidden_dim, self.dropout, self.jk = (
            num_layers,
            hidden_dim,
            dropout,
            jk,
        )
        conv_cls = CONVS.get(conv)
        self.atom_emb = AtomEmbedding(self.spec, hidden_dim)
        self.convs = nn.ModuleList(
            conv_cls(self.spec, hidden_dim, hidden_dim) for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden_dim) for _ in range(num_layers))

    @property
    def out_dim(self) -> int:
        return self.hidden_dim * (self.num_layers + 1) if self.jk == "concat" else self.hidden_dim

    def forward(self, batch: Any) -> torch.Tensor:
        return self.encode(batch.x, batch.edge_index, batch.edge_attr)

    def encode(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor
    ) -> torch.Tensor:
        """x (N, F_atom), edge_index (2, E), edge_attr (E, F_bond) -> (N, out_dim)."""
        h = self.atom_emb(x)
        bonds = prepare_bonds(self.spec, edge_attr)
        loop = self_loop_input(self.spec, x.device)
        hs = [h]
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            h = norm(conv(h, edge_index, bonds, loop).float())
            if i < self.num_layers - 1:
                h = F.relu(h)
            h = F.dropout(h, self.dropout, training=self.training)
            hs.append(h)
        return jump_knowledge(hs, self.jk)


def jump_knowledge(hs: list[torch.Tensor], jk: str) -> torch.Tensor:
    """Combine the input embedding and every layer's output (each (N, d)) by ``jk``."""
    if jk == "last":
        return hs[-1]
    if jk == "concat":
        return torch.cat(hs, dim=1)
    stacked = torch.stack(hs, dim=0)
    return stacked.max(dim=0).values if jk == "max" else stacked.sum(dim=0)


def build_encoder(config: dict[str, Any]) -> Encoder:
    """Rebuild an encoder from its ``config`` dict (as stored in checkpoints)."""
    return Encoder(**config)
