"""K models as one: ``StackedModel`` trains K runs of the same architecture in one step.

Every parameter and buffer of a ``GraphModel`` gets a leading run dimension K and keeps its
name (``encoder.convs.0.mlp.0.weight`` of shape (K, 600, 300) holds the K runs' copies), so
``StackedModel.from_models(models)`` stacks K ordinary models and ``unstack(k)`` gives run
k's ordinary state dict back.

The K runs' batches form one disjoint graph (:class:`MultiBatch`) whose nodes, edges and
graphs are grouped by run (run k owns the rows ``bounds[k]``).  Message passing, pooling
and the loss run once over all runs (edges never cross runs).  Every operation that mixes
rows with a run's own weights or statistics (the linear layers as a grouped matmul, the
embeddings, BatchNorm, dropout) works on run k's contiguous rows with run k's weights, so
every number a run computes, forward and backward, is made of exactly the operations of
that run alone, in the same order: a run's result does not depend on which other runs
share its step, to the last bit on CPU.

Randomness: run k's dropout masks are drawn from run k's own generator with the shape of
run k's own nodes.

The layer math is molpt.nn's (GIN, GCN, GraphSAGE, GAT with bond embeddings; JK;
mean/sum/max/attention pooling); ``tests/nn/test_stacked.py`` checks each against the
ordinary modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import scatter, softmax

from molpt.featurize.graphs import GraphSet
from molpt.featurize.vocab import FeatureSpec, get_spec
from molpt.nn.embeddings import prepare_bonds, self_loop_input
from molpt.nn.encoder import jump_knowledge
from molpt.nn.model import GraphModel

Bounds = list[tuple[int, int]]


# ------------------------------------------------------------------------------------------
# the fused batch
# ------------------------------------------------------------------------------------------
@dataclass
class MultiBatch:
    """The batches of K runs as one disjoint graph, rows grouped by run.

    Attributes:
        K: number of runs; a run without graphs in this step owns empty ranges.
        x: (N, F_atom) long atom features.
        edge_index: (2, E) long, batch-global node indices.
        edge_attr: (E, F_bond) long bond features.
        batch: (N,) graph of each node (0..G-1).
        nodes, edges, graphs: run k's rows are ``[a, b)`` for ``(a, b) = nodes[k]`` etc.
        graph_run: (G,) run of each graph.
        y: (G, T) labels (None when the GraphSet has none).
        idx: (G,) row of each graph in its GraphSet.
    """

    K: int
    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    batch: torch.Tensor
    nodes: Bounds
    edges: Bounds
    graphs: Bounds
    graph_run: torch.Tensor
    y: torch.Tensor | None
    idx: torch.Tensor

    @property
    def num_graphs(self) -> int:
        return int(self.idx.numel())

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])


def bounds_of(counts: list[int]) -> Bounds:
    out, start = [], 0
    for c in counts:
        out.append((start, start + c))
        start += c
    return out


def multi_batch(graphs: GraphSet, parts: list[torch.Tensor | None]) -> MultiBatch:
    """Assemble run k's graphs ``parts[k]`` (GraphSet rows; None/empty = idle) for all K."""
    K = len(parts)
    device = graphs.node_ptr.device
    sizes = [0 if p is None else int(p.numel()) for p in parts]
    live = [p for p in parts if p is not None and p.numel()]
    if not live:
        raise ValueError("no run has a graph in this step")
    idx = torch.cat(live).to(device)
    graph_run = torch.repeat_interleave(
        torch.arange(K, device=device), torch.tensor(sizes, device=device)
    )
    b = graphs.batch(idx)
    n_per_graph = b.ptr[1:] - b.ptr[:-1]
    e_per_graph = graphs.edge_ptr[idx + 1] - graphs.edge_ptr[idx]
    per_run = torch.zeros(2, K, dtype=torch.long, device=device)
    per_run[0].index_add_(0, graph_run, n_per_graph)
    per_run[1].index_add_(0, graph_run, e_per_graph)
    n_counts, e_counts = per_run.tolist()
    return MultiBatch(
        K=K, x=b.x, edge_index=b.edge_index, edge_attr=b.edge_attr, batch=b.batch,
        nodes=bounds_of(n_counts), edges=bounds_of(e_counts), graphs=bounds_of(sizes),
        graph_run=graph_run, y=b.y, idx=idx,
    )  # fmt: skip


def per_run(
    fn: Callable[[int, torch.Tensor], torch.Tensor], rows: torch.Tensor, bounds: Bounds
) -> torch.Tensor:
    """Apply ``fn(k, rows[a:b])`` to each run's rows and concatenate (empty runs skipped).

    The pieces come from one ``split`` (its backward concatenates the K gradients once;
    K separate slices would each scatter into a full-size zero tensor).
    """
    pieces = rows.split([b - a for a, b in bounds])
    outs = [fn(k, p) for k, p in enumerate(pieces) if p.shape[0]]
    return outs[0] if len(outs) == 1 else torch.cat(outs)


_PLANS: dict[tuple, tuple[int, torch.Tensor]] = {}


def _plan(bounds: Bounds, device: torch.device) -> tuple[int, torch.Tensor]:
    """(R, pos) for rows grouped by run: R = the largest run's row count, ``pos`` (N,) each
    row's place in a (K * R) padded grid (run k's i-th row at ``k * R + i``).  Cached per
    bounds and device (a step asks for the same few)."""
    key = (tuple(bounds), str(device))
    hit = _PLANS.get(key)
    if hit is None:
        sizes = [b - a for a, b in bounds]
        R = max(sizes)
        pos = torch.cat([torch.arange(n) + k * R for k, n in enumerate(sizes)])
        if len(_PLANS) > 64:
            _PLANS.clear()
        hit = _PLANS[key] = (R, pos.to(device))
    return hit


def padded_rows(
    fn: Callable[[torch.Tensor], torch.Tensor], rows: torch.Tensor, bounds: Bounds
) -> torch.Tensor:
    """The batched counterpart of :func:`per_run`: rows (N, C) grouped by run are laid out
    as (K, R, C) (zero rows pad each run to the largest), ``fn`` maps that to (K, R, C')
    with one batched op per layer (``bmm``), and each run's own rows come back (N, C').

    Padding rows are zero on the way in and dropped on the way out, so they add nothing to
    any gradient; the numbers equal :func:`per_run`'s up to the rounding of a batched
    matmul (not bit-for-bit).
    """
    K = len(bounds)
    R, pos = _plan(bounds, rows.device)
    grid = rows.new_zeros(K * R, rows.shape[1]).index_copy(0, pos, rows)
    out = fn(grid.view(K, R, -1))
    return out.reshape(K * R, -1).index_select(0, pos)


#: rows per block of an evaluation matmul (see :func:`row_stable_mm`)
ROW_BLOCK = 64


def row_stable_mm(
    fn: Callable[[torch.Tensor], torch.Tensor], rows: torch.Tensor
) -> torch.Tensor:
    """``fn(rows)`` for a row-wise matmul ``fn``; without autograd (evaluation, prediction)
    the rows are zero-padded to a multiple of ``ROW_BLOCK`` first and cut back after.

    A CPU BLAS picks its kernels by the number of rows M, and rows in a block's remainder
    can round differently from the same rows inside a full block, so a molecule's output
    would depend on which molecules share its batch.  With M always a multiple of 64 every
    row takes the same path: a molecule predicts bit-identically whatever batch, chunk or
    ensemble it is in (``molpt predict`` reproduces a run's ``predictions.csv``).  Training
    steps (autograd on) are left as they are.
    """
    if torch.is_grad_enabled() or rows.dim() != 2:
        return fn(rows)
    m = rows.shape[0]
    pad = (-m) % ROW_BLOCK
    if pad == 0:
        return fn(rows)
    return fn(torch.cat([rows, rows.new_zeros(pad, rows.shape[1])]))[:m]


# ------------------------------------------------------------------------------------------
# stacked building blocks (parameter names mirror the ordinary modules)
# ------------------------------------------------------------------------------------------
class StackedLinear(nn.Module):
    """K linear maps: ``weight`` (K, out, in), ``bias`` (K, out) (nn.Linear layout).

    ``batched`` (set by :meth:`StackedModel.set_matmul`) runs the K maps as one ``bmm``
    over runs padded to equal row blocks instead of K matmuls over each run's rows.
    """

    batched = False

    def __init__(self, K: int, in_dim: int, out_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(K, out_dim, in_dim))
        self.bias = nn.Parameter(torch.zeros(K, out_dim)) if bias else None

    def padded(self, grid: torch.Tensor) -> torch.Tensor:
        """(K, R, in) -> (K, R, out): run k's block through run k's map, one batched op."""
        w = self.weight.transpose(1, 2)
        if self.bias is None:
            return torch.bmm(grid, w)
        return torch.baddbmm(self.bias.unsqueeze(1), grid, w)

    def use_bmm(self, bounds: Bounds) -> bool:
        return self.batched and len(bounds) > 1

    def maps(self) -> Callable[[int, torch.Tensor], torch.Tensor]:
        """``f(k, rows)``: run k's map.  The per-run views come from one ``unbind`` (whose
        backward stacks the K gradients once, instead of K full-size scatters)."""
        ws = self.weight.unbind(0)
        bs = self.bias.unbind(0) if self.bias is not None else [None] * len(ws)
        return lambda k, h: row_stable_mm(lambda r: F.linear(r, ws[k], bs[k]), h)

    def forward(self, h: torch.Tensor, bounds: Bounds) -> torch.Tensor:
        """Grouped matmul: run k's rows of h (N, in) through run k's map -> (N, out)."""
        if self.use_bmm(bounds):
            return padded_rows(self.padded, h, bounds)
        return per_run(self.maps(), h, bounds)

    def shared(self, v: torch.Tensor) -> torch.Tensor:
        """One input row v (1, in) through every run's map -> (K, out)."""
        v = v.to(self.weight.dtype)
        f = self.maps()
        return torch.cat([f(k, v) for k in range(self.weight.shape[0])])


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

    def maps(self) -> Callable[[int, torch.Tensor], torch.Tensor]:
        tables = self.table.weight.unbind(0)
        return lambda k, x: F.embedding(x + self.offsets, tables[k]).sum(dim=1)

    def forward(self, x: torch.Tensor, bounds: Bounds) -> torch.Tensor:
        """x (R, C) long, rows grouped by run -> (R, d)."""
        return per_run(self.maps(), x, bounds)

    def shared(self, v: torch.Tensor) -> torch.Tensor:
        """One row v (1, C) -> (K, d)."""
        f = self.maps()
        return torch.cat([f(k, v) for k in range(self.table.weight.shape[0])])


def _make_proj(K: int, spec: FeatureSpec, dense_dim: int, vocab, dim: int) -> nn.Module:
    return StackedLinear(K, dense_dim, dim) if spec.dense else StackedCategorical(K, vocab, dim)


class StackedAtomEmbedding(nn.Module):
    def __init__(self, K: int, spec: FeatureSpec, dim: int) -> None:
        super().__init__()
        self.spec = spec
        self.proj = _make_proj(K, spec, spec.atom_dense_dim, spec.atom_vocab, dim)

    def forward(self, mb: MultiBatch) -> torch.Tensor:
        x = self.spec.expand_atoms(mb.x) if self.spec.dense else mb.x
        return self.proj(x, mb.nodes)


class StackedBondEmbedding(nn.Module):
    def __init__(self, K: int, spec: FeatureSpec, dim: int) -> None:
        super().__init__()
        self.spec = spec
        self.proj = _make_proj(K, spec, spec.bond_dense_dim, spec.bond_vocab, dim)

    def per_edge(self, mb: MultiBatch, bonds: torch.Tensor) -> torch.Tensor:
        """Every edge's embedding under its run's weights: (E, d)."""
        return self.proj(bonds, mb.edges)

    def summed(self, mb: MultiBatch, bonds: torch.Tensor) -> torch.Tensor:
        """``sum_{j in N(i)} emb(bond_ij)`` per node (N, d), as molpt.nn.convs does it:
        per-node bond-category counts @ table (or summed dense input @ W + deg * bias)."""
        n, dst = mb.num_nodes, mb.edge_index[1]
        proj = self.proj
        if self.spec.dense:
            sums = bonds.new_zeros(n, bonds.shape[1]).index_add_(0, dst, bonds)
            deg = torch.bincount(dst, minlength=n).to(sums.dtype).unsqueeze(1)
            lin, biases = proj.maps(), proj.bias.unbind(0)

            def dense(k: int, rows: torch.Tensor) -> torch.Tensor:
                a, b = mb.nodes[k]
                return lin(k, rows) + (deg[a:b] - 1.0) * biases[k]

            return per_run(dense, sums, mb.nodes)
        v = proj.table.weight.shape[1]
        flat = (dst.unsqueeze(1) * v + bonds + proj.offsets).reshape(-1)
        counts = torch.bincount(flat, minlength=n * v).view(n, v)
        tables = proj.table.weight.unbind(0)
        return per_run(lambda k, c: row_stable_mm(lambda r: r @ tables[k],
                                                  c.to(tables[k].dtype)),
                       counts, mb.nodes)  # fmt: skip

    def self_loop(self, loop: torch.Tensor) -> torch.Tensor:
        """The self-loop token under every run's weights: (K, d)."""
        return self.proj.shared(loop)


def _plus_per_run(h: torch.Tensor, per_k: torch.Tensor, bounds: Bounds) -> torch.Tensor:
    """Run k's rows of h plus the row ``per_k[k]`` (per run: the gradient of ``per_k[k]``
    is a plain sum over run k's rows, as in a solo run; a gather's index_add would round
    differently)."""
    rows_k = per_k.unbind(0)
    return per_run(lambda k, rows: rows + rows_k[k].to(rows.dtype), h, bounds)


def _index_add(msg: torch.Tensor, dst: torch.Tensor, n: int) -> torch.Tensor:
    return msg.new_zeros(n, msg.shape[1]).index_add_(0, dst, msg)


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
        src, dst = mb.edge_index
        n = h.shape[0]
        bond_term = _plus_per_run(self.bond_emb.summed(mb, bonds),
                                  self.bond_emb.self_loop(loop), mb.nodes)  # fmt: skip
        agg = _index_add(h.index_select(0, src), dst, n) + h + bond_term.to(h.dtype)
        first, second = self.mlp[0], self.mlp[2]
        if first.use_bmm(mb.nodes):
            return padded_rows(lambda g: second.padded(F.relu(first.padded(g))), agg, mb.nodes)
        lin1, lin2 = first.maps(), second.maps()
        return per_run(lambda k, a: lin2(k, F.relu(lin1(k, a))), agg, mb.nodes)


class _StackedLinearFirst(_StackedConv):
    def __init__(self, K: int, spec: FeatureSpec, dim: int) -> None:
        super().__init__(K, spec, dim)
        self.linear = StackedLinear(K, dim, dim)

    def _mapped(self, h, mb: MultiBatch, bonds, loop):
        """W h per run, each edge's bond embedding and the self-loop one (K, d)."""
        x = self.linear(h, mb.nodes)
        e = self.bond_emb.per_edge(mb, bonds).to(x.dtype)
        return x, e, self.bond_emb.self_loop(loop)


def _deg_with_self_loop(dst: torch.Tensor, n: int, like: torch.Tensor) -> torch.Tensor:
    ones = torch.ones_like(dst, dtype=like.dtype)
    return torch.ones(n, device=like.device, dtype=like.dtype).index_add_(0, dst, ones)


class StackedGCN(_StackedLinearFirst):
    def forward(self, h, mb: MultiBatch, bonds, loop):
        src, dst = mb.edge_index
        n = h.shape[0]
        x, e, e_self = self._mapped(h, mb, bonds, loop)
        dinv = _deg_with_self_loop(dst, n, x).pow(-0.5)
        norm = (dinv.index_select(0, src) * dinv.index_select(0, dst)).unsqueeze(1)
        out = _index_add(norm * (x.index_select(0, src) + e), dst, n)
        return out + (dinv * dinv).unsqueeze(1) * _plus_per_run(x, e_self, mb.nodes)


class StackedSAGE(_StackedLinearFirst):
    def forward(self, h, mb: MultiBatch, bonds, loop):
        src, dst = mb.edge_index
        n = h.shape[0]
        x, e, e_self = self._mapped(h, mb, bonds, loop)
        s = _index_add(x.index_select(0, src) + e, dst, n) + _plus_per_run(x, e_self, mb.nodes)
        cnt = _deg_with_self_loop(dst, n, x)
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
        n, H, d = h.shape[0], self.heads, self.dim
        x = self.linear(h, mb.nodes).view(n, H, d)
        e = self.bond_emb.per_edge(mb, bonds).to(x.dtype).view(-1, H, d)
        e_self = self.bond_emb.self_loop(loop).to(x.dtype).view(-1, H, d)
        loops = torch.arange(n, device=h.device)
        dst = torch.cat([mb.edge_index[1], loops])
        x_dst = x.index_select(0, dst)
        x_src = x.index_select(0, mb.edge_index[0])
        xj = torch.cat([x_src + e, _plus_per_run(x, e_self, mb.nodes)])
        # the loops follow the real edges: run k's edges and its nodes' loops
        bounds = mb.edges + [(mb.edges[-1][1] + a, mb.edges[-1][1] + b) for a, b in mb.nodes]
        K = len(mb.nodes)
        both = torch.cat([x_dst, xj], dim=-1)
        atts = self.att.unbind(0)

        def score(k: int, rows: torch.Tensor) -> torch.Tensor:
            return (rows * atts[k % K]).sum(-1)

        alpha = per_run(score, both, bounds)
        alpha = softmax(F.leaky_relu(alpha, 0.2), dst, num_nodes=n)
        out = scatter(xj * alpha.unsqueeze(-1), dst, dim=0, dim_size=n, reduce="sum")
        return _plus_per_run(out.mean(dim=1), self.bias, mb.nodes)


STACKED_CONVS: dict[str, type[_StackedConv]] = {
    "gin": StackedGIN, "gcn": StackedGCN, "sage": StackedSAGE, "gat": StackedGAT,
}  # fmt: skip


class StackedBatchNorm(nn.Module):
    """Per-run BatchNorm1d (each run normalises over its own rows, own running stats)."""

    def __init__(self, K: int, dim: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(K, dim))
        self.bias = nn.Parameter(torch.zeros(K, dim))
        self.register_buffer("running_mean", torch.zeros(K, dim))
        self.register_buffer("running_var", torch.ones(K, dim))
        self.register_buffer("num_batches_tracked", torch.zeros(K, dtype=torch.long))

    def forward(self, h: torch.Tensor, mb: MultiBatch) -> torch.Tensor:
        training = self.training
        ws, bs = self.weight.unbind(0), self.bias.unbind(0)

        def norm(k: int, rows: torch.Tensor) -> torch.Tensor:
            if training:
                self.num_batches_tracked[k] += 1
            return F.batch_norm(rows, self.running_mean[k], self.running_var[k], ws[k], bs[k],
                                training, self.momentum, self.eps)  # fmt: skip

        return per_run(norm, h, mb.nodes)


def run_dropout(
    h: torch.Tensor, p: float, bounds: Bounds, generators: list[torch.Generator] | None
) -> torch.Tensor:
    """Dropout with run k's mask drawn from ``generators[k]`` for its own rows."""
    if p <= 0 or generators is None:
        return h

    # uniform draws compared with p (vectorised; bernoulli_ is per element on CPU), run k's
    # drawn from its own generator into its own rows, then one multiply for all runs
    u = torch.empty(h.shape, device=h.device)
    for k, (a, b) in enumerate(bounds):
        if b > a:
            torch.rand((b - a, h.shape[1]), generator=generators[k], device=h.device,
                       out=u[a:b])  # fmt: skip
    return h * ((u >= p).to(h.dtype) / (1 - p))


class StackedEncoder(nn.Module):
    """K encoders of one architecture (``molpt.nn.Encoder`` semantics)."""

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
        """-> node embeddings (N, out_dim), rows grouped by run."""
        h = self.atom_emb(mb)
        bonds = prepare_bonds(self.spec, mb.edge_attr)
        loop = self_loop_input(self.spec, h.device)
        hs = [h]
        gens = generators if self.training else None
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            h = norm(conv(h, mb, bonds, loop).float(), mb)
            if i < self.num_layers - 1:
                h = F.relu(h)
            h = run_dropout(h, self.dropout, mb.nodes, gens)
            hs.append(h)
        return jump_knowledge(hs, self.jk)


class StackedPool(nn.Module):
    def __init__(self, K: int, pooling: str, dim: int) -> None:
        super().__init__()
        if pooling not in ("mean", "sum", "max", "attention"):
            raise ValueError(f"unknown pooling {pooling!r}")
        self.pooling = pooling
        if pooling == "attention":
            self.gate = StackedLinear(K, dim, 1)

    def forward(self, h: torch.Tensor, mb: MultiBatch) -> torch.Tensor:
        """Node embeddings -> graph embeddings (G, d) in the order of ``mb.idx``."""
        g = mb.num_graphs
        if self.pooling != "attention":
            return scatter(h, mb.batch, dim=0, dim_size=g, reduce=self.pooling)
        a = softmax(self.gate(h, mb.nodes).float(), mb.batch, num_nodes=g)
        return scatter(h * a.to(h.dtype), mb.batch, dim=0, dim_size=g, reduce="sum")


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

    def set_matmul(self, batched: bool) -> StackedModel:
        """``batched=True``: every linear layer runs as one ``bmm`` over the runs padded to
        equal row blocks (fast on GPUs and with bf16; equal to the per-run matmuls up to
        rounding).  False (default): K matmuls over each run's own rows, so a run's numbers
        are bit-identical alone or in any group on a CPU."""
        for m in self.modules():
            if isinstance(m, StackedLinear):
                m.batched = bool(batched)
        return self

    def unstack(self, k: int) -> dict[str, torch.Tensor]:
        """Run k's ordinary ``GraphModel`` state dict."""
        return {name: v[k].clone() for name, v in self.state_dict().items()}

    def embed(
        self, mb: MultiBatch, generators: list[torch.Generator] | None = None
    ) -> torch.Tensor:
        """Pooled graph embeddings in the order of ``mb.idx``: (G, out_dim)."""
        return self.pool(self.encoder(mb, generators), mb)

    def head_rows(self, g: torch.Tensor, graphs: Bounds) -> torch.Tensor:
        """Graph embeddings (G, d) grouped by run (``graphs[k]``) -> head outputs (G, T)."""
        return self.head(g, graphs)

    def forward(
        self, mb: MultiBatch, generators: list[torch.Generator] | None = None
    ) -> torch.Tensor:
        """Head outputs (G, T) in the order of ``mb.idx``."""
        return self.head(self.embed(mb, generators), mb.graphs)


__all__ = [
    "STACKED_CONVS",
    "MultiBatch",
    "StackedEncoder",
    "StackedModel",
    "multi_batch",
    "padded_rows",
    "per_run",
    "row_stable_mm",
    "run_dropout",
]
