"""GraphMAE (Hou et al. 2022): masked-atom feature reconstruction with a re-masking decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from molpt.featurize.graphs import GraphBatch
from molpt.nn.convs import GINConv
from molpt.nn.embeddings import prepare_bonds, self_loop_input
from molpt.objectives.attrmask import apply_atom_mask
from molpt.objectives.base import OBJECTIVES, Objective, accuracy


def scaled_cosine_error(pred: torch.Tensor, target: torch.Tensor, alpha: float) -> torch.Tensor:
    """mean over rows of (1 - cos(pred, target)) ** alpha."""
    cos = (F.normalize(pred, dim=-1) * F.normalize(target, dim=-1)).sum(-1)
    return (1.0 - cos).pow(alpha).mean()


@OBJECTIVES.register("graphmae")
class GraphMAE(Objective):
    """Mask ``int(N * mask_rate)`` atoms of the batch, encode, re-mask, decode with one GIN layer.

    Targets: the one-hot atom type (column 0) for categorical featurizers (GraphMAE's
    chemistry setting), the full 151-dim expanded atom vector for ``rich``.
    Options: ``mask_rate`` (0.25), ``alpha`` (1.0, the scaled-cosine exponent).
    Metric ``acc``: atom-type accuracy of the decoded atom-type block at masked atoms.
    """

    name = "graphmae"
    metric = "acc"

    def __init__(self, encoder, mask_rate: float = 0.25, alpha: float = 1.0) -> None:
        super().__init__(encoder, mask_rate=mask_rate, alpha=alpha)
        self.mask_rate, self.alpha = mask_rate, alpha
        d = self.hidden_dim
        self.target_dim = (
            self.spec.atom_dense_dim if self.spec.dense else self.spec.num_atom_classes
        )
        self.activation = nn.PReLU()
        self.enc_to_dec = nn.Linear(d, d, bias=False)
        self.decoder = GINConv(self.spec, d, self.target_dim)
        self.register_buffer("atom_token", self.spec.token("atom_mask"), persistent=False)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.dense:
            return self.spec.expand_atoms(x)
        return F.one_hot(x[:, 0].long(), self.spec.num_atom_classes).float()

    def loss(self, batch: GraphBatch, generator: torch.Generator | None = None):
        n = batch.num_nodes
        m = max(1, int(n * self.mask_rate))
        perm = torch.randperm(n, generator=generator, device=batch.x.device)
        mask = torch.zeros(n, dtype=torch.bool, device=batch.x.device)
        mask[perm[:m]] = True
        x = apply_atom_mask(batch.x, mask, self.atom_token)
        h = self.encoder.encode(x, batch.edge_index, batch.edge_attr)
        z = self.enc_to_dec(self.activation(h))
        z = torch.where(mask.unsqueeze(1), torch.zeros_like(z), z)  # re-mask
        bonds = prepare_bonds(self.spec, batch.edge_attr)
        out = self.decoder(z, batch.edge_index, bonds, self_loop_input(self.spec, z.device))
        pred = out[mask].float()
        loss = scaled_cosine_error(pred, self.target(batch.x[mask]), self.alpha)
        acc = accuracy(pred[:, : self.spec.num_atom_classes], batch.x[mask, 0].long())
        return loss, {"acc": acc}
