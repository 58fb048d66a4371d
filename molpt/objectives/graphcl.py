"""GraphCL (You et al. 2020): two augmented views per molecule, NT-Xent on pooled embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import scatter

from molpt.featurize.graphs import GraphBatch
from molpt.objectives.attrmask import apply_atom_mask
from molpt.objectives.base import OBJECTIVES, Objective
from molpt.objectives.ops import (
    count_per_graph,
    fraction_count,
    hop_distances,
    induced_subgraph,
    random_node_per_graph,
    random_rank,
)

AUGMENTATIONS = ("none", "dropN", "subgraph", "permE", "maskN")

View = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # x, ei, ea, batch


def augment(
    batch: GraphBatch,
    kind: str,
    ratio: float,
    generator: torch.Generator | None,
    mask_token: torch.Tensor,
    max_hops: int = 32,
) -> View:
    """One augmented view of every molecule of ``batch`` (vectorised).

    Args:
        kind: ``dropN`` drop ``int(n * ratio)`` random atoms per molecule; ``subgraph`` keep
            the ``max(1, int(n * (1 - ratio)))`` atoms nearest a random centre (ties at random;
            GraphCL grows the subgraph from a random atom by random neighbours); ``permE``
            drop ``int(n_bonds * ratio)`` random bonds per molecule (both directions;
            GraphCL's chemistry code only deletes); ``maskN`` mask ``int(n * ratio)`` atoms
            with the atom mask token; ``none``.

    Returns:
        (x (N', F), edge_index (2, E'), edge_attr (E', F_b), batch (N',)) of the view; every
        molecule keeps at least one atom, so graph ids stay ``0..B-1``.
    """
    x, ei, ea, bvec = batch.x, batch.edge_index, batch.edge_attr, batch.batch
    b = batch.num_graphs
    n = count_per_graph(batch.ptr)
    if kind == "none":
        return x, ei, ea, bvec
    if kind == "maskN":
        rank = random_rank(bvec, b, generator)
        mask = rank < fraction_count(n, ratio)[bvec]
        return apply_atom_mask(x, mask, mask_token), ei, ea, bvec
    if kind == "permE":
        # bond k is stored as edges 2k (i->j) and 2k+1 (j->i)
        group = bvec[ei[0, 0::2]]
        n_bonds = torch.bincount(group, minlength=b)
        rank = random_rank(group, b, generator)
        keep_bond = rank >= fraction_count(n_bonds, ratio)[group]
        keep = keep_bond.repeat_interleave(2)
        return x, ei[:, keep], ea[keep], bvec
    if kind == "dropN":
        rank = random_rank(bvec, b, generator)
        keep = rank >= fraction_count(n, ratio)[bvec]
    elif kind == "subgraph":
        centre = random_node_per_graph(batch.ptr, generator)
        dist = hop_distances(ei, x.shape[0], centre, max_hops)
        rank = random_rank(bvec, b, generator, priority=dist, priority_span=max_hops + 2)
        size = fraction_count(n, 1.0 - ratio).clamp(min=1)
        keep = (rank < size[bvec]) & (dist <= max_hops)
    else:
        raise ValueError(
            f"unknown augmentation {kind!r}; choose one of: {', '.join(AUGMENTATIONS)}"
        )
    idx, ei2, ea2 = induced_subgraph(keep, ei, ea)
    return x[idx], ei2, ea2, bvec[idx]


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """GraphCL's NT-Xent: -log(exp(s_ii/T) / sum_{j != i} exp(s_ij/T)), cosine s, mean over i."""
    z1, z2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    logits = z1 @ z2.t() / temperature
    pos = logits.diagonal()
    eye = torch.eye(logits.shape[0], dtype=torch.bool, device=logits.device)
    neg = torch.logsumexp(logits.masked_fill(eye, float("-inf")), dim=1)
    return (neg - pos).mean()


@OBJECTIVES.register("graphcl")
class GraphCL(Objective):
    """Options: ``aug1`` (dropN), ``aug2`` (subgraph), ``aug_ratio`` (0.2), ``temperature``
    (0.1, GraphCL's chemistry setting).  Metric ``acc``: share of molecules whose view-2
    embedding is the most similar to their own view-1 embedding.
    """

    name = "graphcl"
    metric = "acc"

    def __init__(
        self,
        encoder,
        aug1: str = "dropN",
        aug2: str = "subgraph",
        aug_ratio: float = 0.2,
        temperature: float = 0.1,
    ) -> None:
        super().__init__(
            encoder, aug1=aug1, aug2=aug2, aug_ratio=aug_ratio, temperature=temperature
        )
        for a in (aug1, aug2):
            if a not in AUGMENTATIONS:
                raise ValueError(
                    f"unknown augmentation {a!r}; choose one of: {', '.join(AUGMENTATIONS)}"
                )
        self.aug1, self.aug2, self.aug_ratio, self.temperature = aug1, aug2, aug_ratio, temperature
        d = self.hidden_dim
        self.projection = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
        self.register_buffer("atom_token", self.spec.token("atom_mask"), persistent=False)

    def _embed(self, view: View, num_graphs: int) -> torch.Tensor:
        x, ei, ea, bvec = view
        h = self.encoder.encode(x, ei, ea)
        g = scatter(h, bvec, dim=0, dim_size=num_graphs, reduce="mean")
        return self.projection(g).float()

    def loss(self, batch: GraphBatch, generator: torch.Generator | None = None):
        b = batch.num_graphs
        v1 = augment(batch, self.aug1, self.aug_ratio, generator, self.atom_token)
        v2 = augment(batch, self.aug2, self.aug_ratio, generator, self.atom_token)
        z1, z2 = self._embed(v1, b), self._embed(v2, b)
        if b < 2:  # no negatives
            zero = (z1.sum() + z2.sum()) * 0.0
            return zero, {"acc": zero.detach()}
        loss = nt_xent(z1, z2, self.temperature)
        with torch.no_grad():
            sim = F.normalize(z1, dim=-1) @ F.normalize(z2, dim=-1).t()
            acc = (sim.argmax(1) == torch.arange(b, device=sim.device)).float().mean()
        return loss, {"acc": acc}
