"""Edge prediction (Hu et al. 2020): tell bonded atom pairs from random non-bonded pairs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from molpt.featurize.graphs import GraphBatch
from molpt.objectives.base import OBJECTIVES, Objective, binary_accuracy
from molpt.objectives.ops import count_per_graph


def sample_non_edges(
    batch: GraphBatch, pos: torch.Tensor, generator: torch.Generator | None, tries: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random non-bonded, non-self pair in the same molecule per positive edge.

    Args:
        batch: the batch (its ``edge_index`` defines "bonded").
        pos: (2, P) positive pairs; a negative is drawn in the molecule of each.
        tries: rounds of vectorised rejection sampling.

    Returns:
        ((2, P) pairs, (P,) bool valid): pairs still invalid after ``tries`` rounds (e.g. in
        a molecule where every pair is bonded) are marked invalid and must be ignored.
    """
    n_total = batch.num_nodes
    g = batch.batch[pos[0]]
    start = batch.ptr[g]
    n = count_per_graph(batch.ptr)[g].to(torch.float64)
    edge_key = batch.edge_index[0] * n_total + batch.edge_index[1]
    u, v = pos[0].clone(), pos[1].clone()  # placeholders for pairs never found
    valid = torch.zeros_like(pos[0], dtype=torch.bool)
    for _ in range(tries):
        r = torch.rand(2, pos.shape[1], generator=generator, device=pos.device, dtype=torch.float64)
        cu = start + (r[0] * n).long()
        cv = start + (r[1] * n).long()
        ok = (cu != cv) & ~torch.isin(cu * n_total + cv, edge_key)
        take = ok & ~valid
        u = torch.where(take, cu, u)
        v = torch.where(take, cv, v)
        valid = valid | ok
    return torch.stack([u, v]), valid


@OBJECTIVES.register("edgepred")
class EdgePred(Objective):
    """Positives: bonds (one direction). Negatives: as many random non-bonded pairs.

    Score = dot product of the two atoms' embeddings; BCE.  Metric ``acc``.
    """

    name = "edgepred"
    metric = "acc"

    def __init__(self, encoder, tries: int = 4) -> None:
        super().__init__(encoder, tries=tries)
        self.tries = tries

    def loss(self, batch: GraphBatch, generator: torch.Generator | None = None):
        h = self.encoder.encode(batch.x, batch.edge_index, batch.edge_attr).float()
        ei = batch.edge_index
        pos = ei[:, ei[0] < ei[1]]
        neg, valid = sample_non_edges(batch, pos, generator, self.tries)
        s_pos = (h[pos[0]] * h[pos[1]]).sum(-1)
        s_neg = (h[neg[0]] * h[neg[1]]).sum(-1)
        l_pos = F.binary_cross_entropy_with_logits(s_pos, torch.ones_like(s_pos))
        w = valid.float()
        l_neg = (
            F.binary_cross_entropy_with_logits(s_neg, torch.zeros_like(s_neg), reduction="none") * w
        ).sum() / w.sum().clamp(min=1)
        if pos.shape[1] == 0:  # no bond in the whole batch: keep the graph connected
            return h.sum() * 0.0, {"acc": torch.zeros((), device=h.device)}
        return l_pos + l_neg, {"acc": binary_accuracy(s_pos, s_neg[valid])}
