"""Message-passing layers of Hu et al. 2020 (GIN, GCN, GraphSAGE, GAT with bond features).

Self-loops carry the self-loop bond token.  Instead of concatenating self-loop edges to
``edge_index`` in every layer (the original code), the self-loop term is added directly:
for sum aggregation
``sum_{j in N(i)+i} (h_j + e_ij) = sum_{j in N(i)} (h_j + e_ij) + h_i + e_self``.
No compiled extensions: aggregation uses ``index_add_`` / PyG's pure-torch ``scatter``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import scatter, softmax

from molpt.featurize.vocab import FeatureSpec
from molpt.nn.embeddings import BondEmbedding, CategoricalEmbedding
from molpt.registry import Registry

CONVS: Registry[type[nn.Module]] = Registry("encoder")


def _sum_neighbours(msg: torch.Tensor, dst: torch.Tensor, num_nodes: int) -> torch.Tensor:
    out = msg.new_zeros(num_nodes, msg.shape[1])
    return out.index_add_(0, dst, msg)


def _summed_bond_embeddings(
    bond_emb: BondEmbedding, bond_input: torch.Tensor, dst: torch.Tensor, num_nodes: int
) -> torch.Tensor:
    """``sum_{j in N(i)} emb(bond_ij)`` for every node i, without an (E, d) intermediate.

    The bond embedding is linear in a one-hot (categorical) or dense (rich) bond input, so
    the sum over incoming edges equals (per-node counts of each bond category) @ table, or
    (summed dense bond input) @ W^T + in-degree * bias: a tiny (N, V) @ (V, d) product
    instead of gathering and scattering E rows of width d (and the same in backward).
    """
    proj = bond_emb.proj
    if isinstance(proj, CategoricalEmbedding):
        weight = proj.table.weight
        v = weight.shape[0]
        flat = (dst.unsqueeze(1) * v + bond_input + proj.offsets).reshape(-1)
        counts = torch.bincount(flat, minlength=num_nodes * v).view(num_nodes, v)
        return counts.to(weight.dtype) @ weight
    sums = bond_input.new_zeros(num_nodes, bond_input.shape[1]).index_add_(0, dst, bond_input)
    deg = torch.bincount(dst, minlength=num_nodes).to(sums.dtype).unsqueeze(1)
    return proj(sums) + (deg - 1.0) * proj.bias


class BondConv(nn.Module):
    """Base: owns this layer's bond embedding; subclasses implement ``propagate``."""

    def __init__(self, spec: FeatureSpec, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.bond_emb = BondEmbedding(spec, self._edge_dim())

    def _edge_dim(self) -> int:
        return self.in_dim

    def forward(
        self,
        h: torch.Tensor,
        edge_index: torch.Tensor,
        bond_input: torch.Tensor,
        self_loop_input: torch.Tensor,
    ) -> torch.Tensor:
        """h (N, in_dim), edge_index (2, E), bond_input (E, C), self_loop_input (1, C)."""
        e = self.bond_emb(bond_input)
        e_self = self.bond_emb(self_loop_input)  # (1, edge_dim)
        return self.propagate(h, edge_index, e, e_self)

    def propagate(self, h, edge_index, e, e_self):  # pragma: no cover - abstract
        raise NotImplementedError


@CONVS.register("gin")
class GINConv(BondConv):
    """GIN with edge embeddings: MLP(sum_j (h_j + e_ij) incl. self-loop); MLP d -> 2d -> d."""

    def __init__(self, spec: FeatureSpec, in_dim: int, out_dim: int) -> None:
        super().__init__(spec, in_dim, out_dim)
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, 2 * in_dim), nn.ReLU(), nn.Linear(2 * in_dim, out_dim)
        )

    def forward(self, h, edge_index, bond_input, self_loop_input):
        # same result as propagate(h, edge_index, bond_emb(bond_input), ...), but the bond
        # term is summed per node through the (linear) embedding: see _summed_bond_embeddings
        src, dst = edge_index
        n = h.shape[0]
        bond_sum = _summed_bond_embeddings(self.bond_emb, bond_input, dst, n)
        e_self = self.bond_emb(self_loop_input)
        agg = _sum_neighbours(h.index_select(0, src), dst, n) + h + (bond_sum + e_self).to(h.dtype)
        return self.mlp(agg)

    def propagate(self, h, edge_index, e, e_self):
        src, dst = edge_index
        agg = _sum_neighbours(h.index_select(0, src) + e.to(h.dtype), dst, h.shape[0])
        agg = agg + h + e_self.to(h.dtype)
        return self.mlp(agg)


class _LinearBondConv(BondConv):
    """A conv that first maps h with W (so bond embeddings live in the output space)."""

    def __init__(self, spec: FeatureSpec, in_dim: int, out_dim: int) -> None:
        super().__init__(spec, in_dim, out_dim)
        self.linear = nn.Linear(in_dim, out_dim)

    def _edge_dim(self) -> int:
        return self.out_dim


def _degree_with_self_loop(dst: torch.Tensor, n: int, like: torch.Tensor) -> torch.Tensor:
    """In-degree of every node plus one (its self-loop), shape (n,), dtype of ``like``."""
    ones = torch.ones_like(dst, dtype=like.dtype)
    return torch.ones(n, device=like.device, dtype=like.dtype).index_add_(0, dst, ones)


@CONVS.register("gcn")
class GCNConv(_LinearBondConv):
    """GCN with edge embeddings and symmetric degree normalisation (self-loop included)."""

    def propagate(self, h, edge_index, e, e_self):
        src, dst = edge_index
        n = h.shape[0]
        x = self.linear(h)
        deg = _degree_with_self_loop(dst, n, x)
        dinv = deg.pow(-0.5)
        norm = (dinv.index_select(0, src) * dinv.index_select(0, dst)).unsqueeze(1)
        out = _sum_neighbours(norm * (x.index_select(0, src) + e.to(x.dtype)), dst, n)
        return out + (dinv * dinv).unsqueeze(1) * (x + e_self.to(x.dtype))


@CONVS.register("sage")
class SAGEConv(_LinearBondConv):
    """GraphSAGE (Hu et al. variant): mean of (W h_j + e_ij) incl. self-loop, L2-normalised."""

    def propagate(self, h, edge_index, e, e_self):
        src, dst = edge_index
        n = h.shape[0]
        x = self.linear(h)
        s = _sum_neighbours(x.index_select(0, src) + e.to(x.dtype), dst, n) + x + e_self.to(x.dtype)
        cnt = _degree_with_self_loop(dst, n, x)
        return F.normalize(s / cnt.unsqueeze(1), p=2, dim=-1)


@CONVS.register("gat")
class GATConv(BondConv):
    """GAT (Hu et al. variant): 2 heads, bond embeddings added to neighbours, mean over heads."""

    heads = 2

    def __init__(self, spec: FeatureSpec, in_dim: int, out_dim: int) -> None:
        super().__init__(spec, in_dim, out_dim)
        self.linear = nn.Linear(in_dim, self.heads * out_dim)
        self.att = nn.Parameter(torch.empty(1, self.heads, 2 * out_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        nn.init.xavier_uniform_(self.att)

    def _edge_dim(self) -> int:
        return self.heads * self.out_dim

    def propagate(self, h, edge_index, e, e_self):
        n = h.shape[0]
        loops = torch.arange(n, device=h.device)
        src = torch.cat([edge_index[0], loops])
        dst = torch.cat([edge_index[1], loops])
        x = self.linear(h).view(n, self.heads, self.out_dim)
        ee = torch.cat([e, e_self.expand(n, -1)]).to(x.dtype).view(-1, self.heads, self.out_dim)
        xj = x.index_select(0, src) + ee
        alpha = (torch.cat([x.index_select(0, dst), xj], dim=-1) * self.att).sum(-1)  # (E', heads)
        alpha = softmax(F.leaky_relu(alpha, 0.2), dst, num_nodes=n)
        out = scatter(xj * alpha.unsqueeze(-1), dst, dim=0, dim_size=n, reduce="sum")
        return out.mean(dim=1) + self.bias
