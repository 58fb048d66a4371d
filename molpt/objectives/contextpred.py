"""Context prediction (Hu et al. 2020).

For a random centre atom per molecule: the substructure is every atom within ``k`` hops
(embedded by the main encoder, centre atom taken), the context every atom at distance
``r1 < d <= r2`` (embedded by a separate ``r2 - r1``-layer context encoder), and the
anchors the context atoms also in the substructure (``r1 < d <= k``; with Hu's k=5, r1=4,
r2=7: exactly distance 5).  Score = dot(centre embedding, mean of the anchors' context
embeddings); a negative pairs each substructure with the next molecule's context.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch_geometric.utils import scatter

from molpt.featurize.graphs import GraphBatch
from molpt.nn.encoder import Encoder
from molpt.objectives.base import OBJECTIVES, Objective, binary_accuracy, cycle
from molpt.objectives.ops import hop_distances, induced_subgraph, random_node_per_graph


@dataclass
class ContextSets:
    """Node sets of one batch (all (N,) bool over the batch's nodes, plus per graph).

    Attributes:
        dist: (N,) hop distance from the graph's centre (``r2 + 1`` = farther/unreachable).
        centre: (B,) global index of each graph's centre atom.
        substruct: nodes within ``k`` hops.
        context: nodes at distance ``r1 < d <= r2``.
        anchor: context nodes inside the substructure (``r1 < d <= k``).
        valid: (B,) graphs with at least one anchor (others are skipped).
    """

    dist: torch.Tensor
    centre: torch.Tensor
    substruct: torch.Tensor
    context: torch.Tensor
    anchor: torch.Tensor
    valid: torch.Tensor


def context_sets(
    edge_index: torch.Tensor,
    batch: torch.Tensor,
    centre: torch.Tensor,
    k: int = 5,
    r1: int = 4,
    r2: int = 7,
) -> ContextSets:
    """Substructure / context / anchor sets around ``centre`` (B,), all graphs at once."""
    n = batch.numel()
    dist = hop_distances(edge_index, n, centre, max(k, r2))
    sub = dist <= k
    ctx = (dist > r1) & (dist <= r2)
    anchor = ctx & sub
    b = centre.numel()
    valid = torch.zeros(b, dtype=torch.long, device=batch.device)
    valid.index_add_(0, batch, anchor.long())
    return ContextSets(dist, centre, sub, ctx, anchor, valid > 0)


@OBJECTIVES.register("contextpred")
class ContextPred(Objective):
    """Options (Hu et al.'s defaults, relative to the encoder depth L): ``k`` = L (5),
    ``r1`` = k - 1 (4), ``r2`` = r1 + ``csize`` (3 -> 7).  The context encoder has
    ``r2 - r1`` layers and the encoder's featurizer, width and conv.
    Metric ``acc``; ``frac_valid`` = share of molecules with a context.
    """

    name = "contextpred"
    metric = "acc"

    def __init__(
        self,
        encoder: Encoder,
        k: int | None = None,
        r1: int | None = None,
        r2: int | None = None,
        csize: int = 3,
    ) -> None:
        # Hu et al.: k = num_layer, l1 = num_layer - 1, l2 = l1 + csize
        k = encoder.num_layers if k is None else k
        r1 = k - 1 if r1 is None else r1
        r2 = r1 + csize if r2 is None else r2
        super().__init__(encoder, k=k, r1=r1, r2=r2, csize=r2 - r1)
        if not 0 <= r1 < r2 or r1 >= k:
            raise ValueError(f"contextpred needs 0 <= r1 < k and r1 < r2 (k={k}, r1={r1}, r2={r2})")
        self.k, self.r1, self.r2 = k, r1, r2
        cfg = dict(encoder.config)
        cfg.update(num_layers=r2 - r1, jk="last")
        self.context_encoder = Encoder(**cfg)

    def loss(self, batch: GraphBatch, generator: torch.Generator | None = None):
        centre = random_node_per_graph(batch.ptr, generator)
        sets = context_sets(batch.edge_index, batch.batch, centre, self.k, self.r1, self.r2)
        node_valid = sets.valid[batch.batch]
        # substructure graphs (valid molecules only), centre embedding
        keep_s = sets.substruct & node_valid
        s_idx, s_ei, s_ea = induced_subgraph(keep_s, batch.edge_index, batch.edge_attr)
        new_id = torch.cumsum(keep_s.long(), 0) - 1
        # context graphs, anchors pooled per molecule
        keep_c = sets.context & node_valid
        c_idx, c_ei, c_ea = induced_subgraph(keep_c, batch.edge_index, batch.edge_attr)
        if c_idx.numel() < 2:  # no (or a one-atom) context in the whole batch: skip it
            zero = sum(p.sum() for p in self.parameters()) * 0.0
            return zero, {"acc": zero.detach(), "frac_valid": sets.valid.float().mean()}
        hc = self.context_encoder.encode(batch.x[c_idx], c_ei, c_ea)
        hs = self.encoder.encode(batch.x[s_idx], s_ei, s_ea)
        is_anchor = sets.anchor[c_idx]
        b = batch.num_graphs
        ctx = scatter(
            hc[is_anchor].float(), batch.batch[c_idx][is_anchor], dim=0, dim_size=b, reduce="mean"
        )
        graphs = torch.nonzero(sets.valid, as_tuple=False).view(-1)
        centre_h = hs[new_id[centre[graphs]]].float()
        ctx_v = ctx[graphs]
        s_pos = (centre_h * ctx_v).sum(-1)
        s_neg = (centre_h * ctx_v[cycle(ctx_v.shape[0], ctx_v.device)]).sum(-1)
        loss = F.binary_cross_entropy_with_logits(
            s_pos, torch.ones_like(s_pos)
        ) + F.binary_cross_entropy_with_logits(s_neg, torch.zeros_like(s_neg))
        metrics = {
            "acc": binary_accuracy(s_pos, s_neg),
            "frac_valid": sets.valid.float().mean(),
        }
        return loss, metrics
