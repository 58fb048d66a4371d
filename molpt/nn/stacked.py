"""K models as one: ``StackedModel`` trains K runs of the same architecture in one step.

Every parameter and buffer of a ``GraphModel`` gets a leading run dimension K and keeps its
name (``encoder.convs.0.mlp.0.weight`` of shape (K, 600, 300) holds the K runs' copies), so
``StackedModel.from_models(models)`` stacks K ordinary models and ``unstack(k)`` gives run
k's ordinary state dict back.

The K runs' batches form one disjoint graph (:class:`MultiBatch`).  Node tensors live in a
padded layout of K blocks of ``n_max`` rows (run k's nodes are rows ``k*n_max ..
k*n_max + n_k - 1``): message passing runs once over all runs' edges (they never cross
blocks), each linear layer is one batched matmul (K, n_max, in) x (K, in, out), and
BatchNorm, dropout, pooling and the head work per block.  Padding rows are computed but
never read: they have no edges, are masked out of BatchNorm statistics and pooling, and
their outputs are dropped.

Randomness: run k's dropout masks are drawn from run k's own generator with the shape of run
k's own nodes, so a run's numbers never depend on which other runs share its step.

The layer math is exactly molpt.nn's (GIN, GCN, GraphSAGE, GAT with bond embeddings; JK;
mean/sum/max/attention pooling); ``tests/nn/test_stacked.py`` checks each against the
ordinary modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import scatter, softmax

from molpt.featurize.graphs import GraphSet
from molpt.featurize.vocab import FeatureSpec, get_spec
from molpt.nn.embeddings import prepare_bonds, self_loop_input
from molpt.nn.model import GraphModel


# ------------------------------------------------------------------------------------------
# the fused batch
# ------------------------------------------------------------------------------------------
@dataclass
class MultiBatch:
    """The batches of K runs as one disjoint graph in the padded block layout.

    Attributes:
        K: number of runs (blocks); a run without graphs in this step has an empty block.
        n_max / b_max: rows per block for nodes / graphs.
        x: (N, F_atom) long atom features of the real nodes, grouped by run.
        node_pad: (N,) padded row of each real node.
        src, dst: (E,) padded rows of each edge's ends.
        edge_attr: (E, F_bond) long; edge_pad: (E,) padded slot of each edge (blocks of e_max).
        edge_run: (E,) run of each edge; e_max: edge slots per block.
        node_graph: (N,) padded graph slot of each real node.
        graph_slot: (G,) padded slot of each real graph, in the order the graphs were given.
        graph_run: (G,) run of each graph.
        node_counts / graph_counts: (K,) real nodes / graphs per run.
        y: (G, T) labels of the graphs (None when the GraphSet has none).
        idx: (G,) row of each graph in its GraphSet.
    """

    K: int
    n_max: int
    b_max: int
    e_max: int
    x: torch.Tensor
    node_pad: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    edge_attr: torch.Tensor
    edge_pad: torch.Tensor
    edge_run: torch.Tensor
    node_graph: torch.Tensor
    graph_slot: torch.Tensor
    graph_run: torch.Tensor
    node_counts: torch.Tensor
    graph_counts: torch.Tensor
    y: torch.Tensor | None
    idx: torch.Tensor

    @property
    def num_graphs(self) -> int:
        return int(self.idx.numel())

    def node_mask(self) -> torch.Tensor:
        """(K, n_max, 1) float: 1 for real rows."""
        ar = torch.arange(self.n_max, device=self.node_counts.device)
        return (ar.unsqueeze(0) < self.node_counts.unsqueeze(1)).unsqueeze(-1)


def _segment_positions(group: torch.Tensor, counts: torch.Tensor, width: int) -> torch.Tensor:
    """Padded slot ``group * width + rank within group`` for rows sorted by ``group``."""
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(group.numel(), device=group.device) - starts[group]
    return group * width + local


def multi_batch(graphs: GraphSet, parts: list[torch.Tensor | None]) -> MultiBatch:
    """Assemble run k's graphs ``parts[k]`` (GraphSet rows; None/empty = idle) for all K."""
    K = len(parts)
    device = graphs.node_ptr.device
    sizes = [0 if p is None else int(p.numel()) for p in parts]
    idx = torch.cat([p for p in parts if p is not None and p.numel()]).to(device)
    graph_counts = torch.tensor(sizes, dtype=torch.long, device=device)
    graph_run = torch.repeat_interleave(torch.arange(K, device=device), graph_counts)
    b = graphs.batch(idx)
    n_per_graph = b.ptr[1:] - b.ptr[:-1]
    e_per_graph = graphs.edge_ptr[idx + 1] - graphs.edge_ptr[idx]
    node_counts = torch.zeros(K, dtype=torch.long, device=device).index_add_(
        0, graph_run, n_per_graph
    )
    edge_counts = torch.zeros(K, dtype=torch.long, device=device).index_add_(
        0, graph_run, e_per_graph
    )
    stats = torch.stack([node_counts.max(), graph_counts.max(), edge_counts.max()]).tolist()
    n_max, b_max, e_max = (max(1, int(v)) for v in stats)
    node_run = graph_run[b.batch]
    node_pad = _segment_positions(node_run, node_counts, n_max)
    edge_run = node_run[b.edge_index[1]]
    graph_slot = _segment_positions(graph_run, graph_counts, b_max)
    return MultiBatch(
        K=K, n_max=n_max, b_max=b_max, e_max=e_max,
        x=b.x, node_pad=node_pad,
        src=node_pad[b.edge_index[0]], dst=node_pad[b.edge_index[1]],
        edge_attr=b.edge_attr, edge_pad=_segment_positions(edge_run, edge_counts, e_max),
        edge_run=edge_run, node_graph=graph_slot[b.batch], graph_slot=graph_slot,
        graph_run=graph_run, node_counts=node_counts, graph_counts=graph_counts,
        y=b.y, idx=idx,
    )  # fmt: skip


def _pad_rows(rows: torch.Tensor, slots: torch.Tensor, total: int) -> torch.Tensor:
    """Scatter ``rows`` (R, d) into a zero (total, d) tensor at ``slots``."""
    out = rows.new_zeros(total, rows.shape[1])
    return out.index_copy(0, slots, rows)


# ------------------------------------------------------------------------------------------
# stacked building blocks (parameter names mirror the ordinary modules)
# ------------------------------------------------------------------------------------------
class StackedLinear(nn.Module):
    """K linear maps: ``weight`` (K, out, in), ``bias`` (K, out) (nn.Linear orientation)."""

    def __init__(self, K: int, in_dim: int, out_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(K, out_dim, in_dim))
        self.bias = nn.Parameter(torch.zeros(K, out_dim)) if bias else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h (K, M, in) -> (K, M, out)."""
        w = self.weight.transpose(1, 2)
        if self.bias is None:
            return torch.bmm(h, w)
        return torch.baddbmm(self.bias.unsqueeze(1), h, w)

    def blocks(self, h: torch.Tensor) -> torch.Tensor:
        """h (K*M, in) in block layout -> (K*M, out)."""
        K = self.weight.shape[0]
        return self(h.view(K, -1, h.shape[-1])).reshape(-1, self.weight.shape[1])

    def shared(self, v: torch.Tensor) -> torch.Tensor:
        """One input row v (1, in) through every run's map -> (K, out)."""
        K = self.weight.shape[0]
        return self(v.to(self.weight.dtype).expand(K, 1, -1).contiguous()).squeeze(1)


class _Table(nn.Module):
    def __init__(self, K: int, rows: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(K, rows, dim))


class StackedCategorical(nn.Module):
    """K fused categorical embeddings (``table.weight`` (K, V, d)); column offsets shared."""

    def __init__(self, K: int, vocab: tuple[int, ...], dim: int) -> None:
        super().__init__()
        offsets = torch.tensor([0, *vocab[:-1]], dtype=torch.long).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.table = _Table(K, sum(vocab), dim)

    def lookup(self, x: torch.Tensor, run: torch.Tensor) -> torch.Tensor:
        """x (R, C) long, run (R,) -> sum of run's rows (R, d)."""
        K, V, d = self.table.weight.shape
        idx = x + self.offsets + (run * V).unsqueeze(1)
        return F.embedding(idx, self.table.weight.view(K * V, d)).sum(dim=1)

    def shared(self, v: torch.Tensor) -> torch.Tensor:
        """One row v (1, C) -> (K, d)."""
        return self.table.weight[:, (v[0] + self.offsets)].sum(dim=1)


class StackedAtomEmbedding(nn.Module):
    def __init__(self, K: int, spec: FeatureSpec, dim: int) -> None:
        super().__init__()
        self.spec = spec
        if spec.dense:
            self.proj: nn.Module = StackedLinear(K, spec.atom_dense_dim, dim)
        else:
            self.proj = StackedCategorical(K, spec.atom_vocab, dim)

    def forward(self, mb: MultiBatch) -> torch.Tensor:
        """-> (K*n_max, d) in block layout (padding rows zero for categorical input)."""
        total = mb.K * mb.n_max
        node_run = torch.div(mb.node_pad, mb.n_max, rounding_mode="floor")
        if self.spec.dense:
            dense = _pad_rows(self.spec.expand_atoms(mb.x), mb.node_pad, total)
            return self.proj.blocks(dense)
        return _pad_rows(self.proj.lookup(mb.x, node_run), mb.node_pad, total)


class StackedBondEmbedding(nn.Module):
    def __init__(self, K: int, spec: FeatureSpec, dim: int) -> None:
        super().__init__()
        self.spec = spec
        if spec.dense:
            self.proj: nn.Module = StackedLinear(K, spec.bond_dense_dim, dim)
        else:
            self.proj = StackedCategorical(K, spec.bond_vocab, dim)

    def per_edge(self, mb: MultiBatch, bonds: torch.Tensor) -> torch.Tensor:
        """Every edge's embedding under its run's weights: (E, d)."""
        if self.spec.dense:
            padded = _pad_rows(bonds, mb.edge_pad, mb.K * mb.e_max)
            return self.proj.blocks(padded)[mb.edge_pad]
        return self.proj.lookup(bonds, mb.edge_run)

    def summed(self, mb: MultiBatch, bonds: torch.Tensor) -> torch.Tensor:
        """``sum_{j in N(i)} emb(bond_ij)`` per padded row (K*n_max, d), via counts @ table."""
        total = mb.K * mb.n_max
        if self.spec.dense:
            sums = bonds.new_zeros(total, bonds.shape[1]).index_add_(0, mb.dst, bonds)
            deg = torch.bincount(mb.dst, minlength=total).to(sums.dtype).unsqueeze(1)
            out = self.proj.blocks(sums).view(mb.K, mb.n_max, -1)
            bias = self.proj.bias.unsqueeze(1)
            return (out + (deg.view(mb.K, mb.n_max, 1) - 1.0) * bias).reshape(total, -1)
        weight = self.proj.table.weight  # (K, V, d)
        v = weight.shape[1]
        flat = (mb.dst.unsqueeze(1) * v + bonds + self.proj.offsets).reshape(-1)
        counts = torch.bincount(flat, minlength=total * v).view(mb.K, mb.n_max, v)
        return torch.bmm(counts.to(weight.dtype), weight).reshape(total, -1)

    def self_loop(self, loop: torch.Tensor) -> torch.Tensor:
        """The self-loop token under every run's weights: (K, d)."""
        return self.proj.shared(loop)


def _add_per_block(h: torch.Tensor, per_run: torch.Tensor, K: int) -> torch.Tensor:
    """h (K*M, d) + per_run (K, d) broadcast over each block."""
    return (h.view(K, -1, h.shape[1]) + per_run.to(h.dtype).unsqueeze(1)).reshape(h.shape)


def _index_add(msg: torch.Tensor, dst: torch.Tensor, total: int) -> torch.Tensor:
    return msg.new_zeros(total, msg.shape[1]).index_add_(0, dst, msg)


class _StackedConv(nn.Module):
    edge_factor = 1

    def __init__(self, K: int, spec: FeatureSpec, dim: int) -> None:
        super().__init__()
        self.K, self.dim = K, dim
        self.bond_emb = StackedBondEmbedding(K, spec, dim * self.edge_factor)


class StackedGIN(_StackedConv):
    def __init__(self, K: int, spec: FeatureSpec, dim: int) -> None:
        super().__init__(K, spec, dim)
        self.mlp = nn.Sequential(
            StackedLinear(K, dim, 2 * dim), nn.ReLU(), StackedLinear(K, 2 * dim, dim)
        )

    def forward(self, h, mb: MultiBatch, bonds, loop):
        total = h.shape[0]
        bond_sum = self.bond_emb.summed(mb, bonds)
        e_self = self.bond_emb.self_loop(loop)
        agg = _index_add(h[mb.src], mb.dst, total) + h
        agg = agg + _add_per_block(bond_sum, e_self, self.K).to(h.dtype)
        z = self.mlp[0].blocks(agg)
        return self.mlp[2].blocks(F.relu(z))


class _StackedLinearFirst(_StackedConv):
    def __init__(self, K: int, spec: FeatureSpec, dim: int) -> None:
        super().__init__(K, spec, dim)
        self.linear = StackedLinear(K, dim, dim)


def _deg_with_self_loop(dst: torch.Tensor, total: int, like: torch.Tensor) -> torch.Tensor:
    ones = torch.ones_like(dst, dtype=like.dtype)
    return torch.ones(total, device=like.device, dtype=like.dtype).index_add_(0, dst, ones)


class StackedGCN(_StackedLinearFirst):
    def forward(self, h, mb: MultiBatch, bonds, loop):
        total = h.shape[0]
        x = self.linear.blocks(h)
        e = self.bond_emb.per_edge(mb, bonds).to(x.dtype)
        e_self = self.bond_emb.self_loop(loop)
        dinv = _deg_with_self_loop(mb.dst, total, x).pow(-0.5)
        norm = (dinv[mb.src] * dinv[mb.dst]).unsqueeze(1)
        out = _index_add(norm * (x[mb.src] + e), mb.dst, total)
        return out + (dinv * dinv).unsqueeze(1) * _add_per_block(x, e_self, self.K)


class StackedSAGE(_StackedLinearFirst):
    def forward(self, h, mb: MultiBatch, bonds, loop):
        total = h.shape[0]
        x = self.linear.blocks(h)
        e = self.bond_emb.per_edge(mb, bonds).to(x.dtype)
        e_self = self.bond_emb.self_loop(loop)
        s = _index_add(x[mb.src] + e, mb.dst, total) + _add_per_block(x, e_self, self.K)
        cnt = _deg_with_self_loop(mb.dst, total, x)
        return F.normalize(s / cnt.unsqueeze(1), p=2, dim=-1)


class StackedGAT(_StackedConv):
    heads = 2
    edge_factor = 2

    def __init__(self, K: int, spec: FeatureSpec, dim: int) -> None:
        super().__init__(K, spec, dim)
        self.linear = StackedLinear(K, dim, self.heads * dim)
        self.att = nn.Parameter(torch.zeros(K, 1, self.heads, 2 * dim))
        self.bias = nn.Parameter(torch.zeros(K, dim))

    def forward(self, h, mb: MultiBatch, bonds, loop):
        total, H, d, K = h.shape[0], self.heads, self.dim, self.K
        x = self.linear.blocks(h).view(total, H, d)
        e = self.bond_emb.per_edge(mb, bonds).to(x.dtype).view(-1, H, d)
        e_self = self.bond_emb.self_loop(loop).to(x.dtype).view(K, 1, H, d)
        loops = torch.arange(total, device=h.device)
        src = torch.cat([mb.src, loops])
        dst = torch.cat([mb.dst, loops])
        self_msg = (x.view(K, -1, H, d) + e_self).view(total, H, d)
        xj = torch.cat([x[mb.src] + e, self_msg])
        att_i, att_j = self.att[:, 0, :, :d], self.att[:, 0, :, d:]  # (K, H, d) each
        a_i = (x.view(K, -1, H, d) * att_i.unsqueeze(1)).sum(-1).view(total, H)
        run_of_edge = torch.cat([mb.edge_run, torch.div(loops, total // K, rounding_mode="floor")])
        a_j = (xj * att_j[run_of_edge]).sum(-1)
        alpha = softmax(F.leaky_relu(a_i[dst] + a_j, 0.2), dst, num_nodes=total)
        out = scatter(xj * alpha.unsqueeze(-1), dst, dim=0, dim_size=total, reduce="sum")
        return _add_per_block(out.mean(dim=1), self.bias, K)


STACKED_CONVS: dict[str, type[_StackedConv]] = {
    "gin": StackedGIN, "gcn": StackedGCN, "sage": StackedSAGE, "gat": StackedGAT,
}  # fmt: skip


class StackedBatchNorm(nn.Module):
    """Per-run BatchNorm1d over each block's real rows (running stats as nn.BatchNorm1d)."""

    def __init__(self, K: int, dim: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(K, dim))
        self.bias = nn.Parameter(torch.zeros(K, dim))
        self.register_buffer("running_mean", torch.zeros(K, dim))
        self.register_buffer("running_var", torch.ones(K, dim))
        self.register_buffer("num_batches_tracked", torch.zeros(K, dtype=torch.long))

    def forward(self, h: torch.Tensor, mb: MultiBatch) -> torch.Tensor:
        K = self.weight.shape[0]
        hb = h.view(K, -1, h.shape[1])
        w, b = self.weight.unsqueeze(1), self.bias.unsqueeze(1)
        if not self.training:
            inv = torch.rsqrt(self.running_var + self.eps).unsqueeze(1)
            return ((hb - self.running_mean.unsqueeze(1)) * inv * w + b).reshape(h.shape)
        mask = mb.node_mask().to(h.dtype)
        n = mb.node_counts.to(h.dtype).clamp_min(1).view(K, 1, 1)
        mean = (hb * mask).sum(1, keepdim=True) / n
        centred = (hb - mean) * mask
        var = (centred * centred).sum(1, keepdim=True) / n
        out = (hb - mean) * torch.rsqrt(var + self.eps) * w + b
        with torch.no_grad():
            active = (mb.node_counts > 0).view(K, 1)
            unbiased = var.squeeze(1) * (n / (n - 1).clamp_min(1)).view(K, 1)
            m = self.momentum
            self.running_mean.copy_(torch.where(
                active, (1 - m) * self.running_mean + m * mean.squeeze(1), self.running_mean))
            self.running_var.copy_(torch.where(
                active, (1 - m) * self.running_var + m * unbiased, self.running_var))
            self.num_batches_tracked.add_(active.view(K).long())  # fmt: skip
        return out.reshape(h.shape)


def block_dropout(
    h: torch.Tensor, p: float, mb: MultiBatch, generators: list[torch.Generator] | None
) -> torch.Tensor:
    """Dropout with run k's mask drawn from ``generators[k]`` for its own (n_k, d) rows."""
    if p <= 0 or generators is None:
        return h
    K, d = mb.K, h.shape[1]
    keep = h.new_zeros(K, mb.n_max, d)
    for k, n_k in enumerate(mb.node_counts.tolist()):
        if n_k:
            draw = torch.empty(n_k, d, device=h.device, dtype=h.dtype)
            keep[k, :n_k] = draw.bernoulli_(1 - p, generator=generators[k])
    return h * keep.view_as(h) / (1 - p)


class StackedEncoder(nn.Module):
    """K encoders of one architecture (``molpt.nn.Encoder`` semantics, block layout)."""

    def __init__(self, K: int, config: dict) -> None:
        super().__init__()
        self.K = K
        self.config = dict(config)
        self.spec = get_spec(config["featurizer"])
        self.num_layers = int(config["num_layers"])
        self.hidden_dim = int(config["hidden_dim"])
        self.dropout = float(config.get("dropout", 0.0))
        self.jk = config.get("jk", "last")
        conv = STACKED_CONVS[config["conv"]]
        self.atom_emb = StackedAtomEmbedding(K, self.spec, self.hidden_dim)
        self.convs = nn.ModuleList(
            conv(K, self.spec, self.hidden_dim) for _ in range(self.num_layers)
        )
        self.norms = nn.ModuleList(
            StackedBatchNorm(K, self.hidden_dim) for _ in range(self.num_layers)
        )

    @property
    def out_dim(self) -> int:
        return self.hidden_dim * (self.num_layers + 1) if self.jk == "concat" else self.hidden_dim

    def forward(
        self, mb: MultiBatch, generators: list[torch.Generator] | None = None
    ) -> torch.Tensor:
        """-> node embeddings (K*n_max, out_dim) in block layout."""
        h = self.atom_emb(mb)
        bonds = prepare_bonds(self.spec, mb.edge_attr)
        loop = self_loop_input(self.spec, h.device)
        hs = [h]
        gens = generators if self.training else None
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            h = norm(conv(h, mb, bonds, loop).float(), mb)
            if i < self.num_layers - 1:
                h = F.relu(h)
            h = block_dropout(h, self.dropout, mb, gens)
            hs.append(h)
        if self.jk == "last":
            return hs[-1]
        if self.jk == "concat":
            return torch.cat(hs, dim=1)
        stacked = torch.stack(hs, dim=0)
        return stacked.max(dim=0).values if self.jk == "max" else stacked.sum(dim=0)


class StackedPool(nn.Module):
    def __init__(self, K: int, pooling: str, dim: int) -> None:
        super().__init__()
        if pooling not in ("mean", "sum", "max", "attention"):
            raise ValueError(f"unknown pooling {pooling!r}")
        self.pooling = pooling
        if pooling == "attention":
            self.gate = StackedLinear(K, dim, 1)

    def forward(self, h: torch.Tensor, mb: MultiBatch) -> torch.Tensor:
        """Block-layout nodes -> graph embeddings (K*b_max, d) in graph-slot layout."""
        slots = mb.K * mb.b_max
        real = h[mb.node_pad]
        if self.pooling != "attention":
            return scatter(real, mb.node_graph, dim=0, dim_size=slots, reduce=self.pooling)
        gate = self.gate.blocks(h).float()[mb.node_pad]
        a = softmax(gate, mb.node_graph, num_nodes=slots)
        return scatter(real * a.to(real.dtype), mb.node_graph, dim=0, dim_size=slots,
                       reduce="sum")  # fmt: skip


class StackedModel(nn.Module):
    """K ``GraphModel``s (encoder, pooling, linear head) of one architecture."""

    def __init__(self, K: int, config: dict) -> None:
        super().__init__()
        self.K = K
        self.config = dict(config)
        self.encoder = StackedEncoder(K, config["encoder"])
        self.pool = StackedPool(K, config.get("pooling", "mean"), self.encoder.out_dim)
        out_dim = config.get("out_dim")
        self.head = StackedLinear(K, self.encoder.out_dim, out_dim) if out_dim else None

    @classmethod
    def from_models(cls, models: list[GraphModel]) -> StackedModel:
        """Stack K ordinary models of one architecture (same config) into one."""
        if not models:
            raise ValueError("no models to stack")
        c0 = models[0].config
        for m in models[1:]:
            if m.config != c0:
                raise ValueError(f"cannot stack models of different architectures: "
                                 f"{m.config} vs {c0}")  # fmt: skip
        if c0.get("head_dropout", 0.0):
            raise ValueError("head dropout is not supported in stacked models")
        stacked = cls(len(models), c0)
        states = [m.state_dict() for m in models]
        own = stacked.state_dict()
        missing = set(own) ^ set(states[0])
        if missing:
            raise ValueError(f"stacked and ordinary models disagree on {sorted(missing)[:3]}")
        stacked.load_state_dict(
            {k: torch.stack([s[k].detach().to(own[k].dtype) for s in states]) for k in own}
        )
        return stacked

    def unstack(self, k: int) -> dict[str, torch.Tensor]:
        """Run k's ordinary ``GraphModel`` state dict."""
        return {name: v[k].clone() for name, v in self.state_dict().items()}

    def embed(
        self, mb: MultiBatch, generators: list[torch.Generator] | None = None
    ) -> torch.Tensor:
        """Pooled graph embeddings in the order of ``mb.idx``: (G, out_dim)."""
        h = self.encoder(mb, generators)
        return self.pool(h, mb)[mb.graph_slot]

    def head_blocks(self, g: torch.Tensor, graph_slot: torch.Tensor, b_max: int) -> torch.Tensor:
        """Graph embeddings (G, d) at ``graph_slot`` -> head outputs (G, T)."""
        padded = _pad_rows(g, graph_slot, self.K * b_max)
        return self.head.blocks(padded)[graph_slot]

    def forward(
        self, mb: MultiBatch, generators: list[torch.Generator] | None = None
    ) -> torch.Tensor:
        """Head outputs (G, T) in the order of ``mb.idx``."""
        h = self.encoder(mb, generators)
        g = self.pool(h, mb)
        return self.head.blocks(g)[mb.graph_slot]


__all__ = [
    "MultiBatch",
    "STACKED_CONVS",
    "StackedEncoder",
    "StackedModel",
    "block_dropout",
    "multi_batch",
]
