"""Attribute masking (Hu et al. 2020): predict the type of masked atoms (and bonds)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from molpt.featurize.graphs import GraphBatch
from molpt.nn.encoder import Encoder
from molpt.objectives.base import OBJECTIVES, Metrics, Objective, accuracy
from molpt.objectives.ops import count_per_graph, fraction_count, random_rank


def mask_atoms_hu(
    batch: GraphBatch, rate: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Hu et al.'s rule: ``int(n_atoms * rate + 1)`` distinct atoms per molecule.

    Returns (N,) bool mask of the chosen atoms (vectorised: random keys, rank per graph).
    """
    k = fraction_count(count_per_graph(batch.ptr), rate, plus_one=True)
    rank = random_rank(batch.batch, batch.num_graphs, generator)
    return rank < k[batch.batch]


def apply_atom_mask(x: torch.Tensor, mask: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """Copy of ``x`` (N, C) with the rows in ``mask`` replaced by ``token`` (C,)."""
    return torch.where(mask.unsqueeze(1), token.to(x.dtype), x)


@OBJECTIVES.register("attrmask")
class AttrMask(Objective):
    """Mask ``int(n * mask_rate + 1)`` atoms per molecule, predict their atom type.

    Options:
        mask_rate: 0.15 (Hu et al.).
        mask_edges: also mask every bond touching a masked atom (bond mask token, both
            directions) and predict its type from ``h_u + h_v``.

    Metrics: ``acc`` (masked-atom accuracy), ``edge_acc`` with ``mask_edges``.
    """

    name = "attrmask"
    metric = "acc"

    def __init__(self, encoder: Encoder, mask_rate: float = 0.15, mask_edges: bool = False):
        super().__init__(encoder, mask_rate=mask_rate, mask_edges=mask_edges)
        self.mask_rate, self.mask_edges = mask_rate, mask_edges
        self.atom_head = nn.Linear(self.hidden_dim, self.spec.num_atom_classes)
        self.bond_head = (
            nn.Linear(self.hidden_dim, self.spec.num_bond_classes) if mask_edges else None
        )
        self.register_buffer("atom_token", self.spec.token("atom_mask"), persistent=False)
        self.register_buffer("bond_token", self.spec.token("bond_mask"), persistent=False)

    def loss(self, batch: GraphBatch, generator: torch.Generator | None = None):
        mask = mask_atoms_hu(batch, self.mask_rate, generator)
        x = apply_atom_mask(batch.x, mask, self.atom_token)
        edge_attr = batch.edge_attr
        if self.mask_edges:
            src, dst = batch.edge_index
            emask = mask[src] | mask[dst]
            edge_attr = apply_atom_mask(edge_attr, emask, self.bond_token)
        h = self.encoder.encode(x, batch.edge_index, edge_attr)
        idx = torch.nonzero(mask, as_tuple=False).view(-1)  # one host sync, reused
        target = batch.x[idx, 0].long()
        logits = self.atom_head(h[idx]).float()
        loss = F.cross_entropy(logits, target)
        metrics: Metrics = {"acc": accuracy(logits, target)}
        if self.bond_head is not None:
            src, dst = batch.edge_index
            sel = torch.nonzero(emask & (src < dst), as_tuple=False).view(-1)
            e_logits = self.bond_head(h[src[sel]] + h[dst[sel]]).float()
            e_target = batch.edge_attr[sel, 0].long()
            if e_target.numel():
                loss = loss + F.cross_entropy(e_logits, e_target)
            else:  # keep the bond head in the graph (DDP expects every parameter used)
                loss = loss + e_logits.sum() * 0.0
            metrics["edge_acc"] = accuracy(e_logits, e_target)
        return loss, metrics
