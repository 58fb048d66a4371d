"""Vectorised graph operations shared by the objectives (no per-molecule Python).

Every function works on a whole batch in PyG layout: nodes of graph ``g`` are contiguous,
``batch`` (N,) gives each node's graph and ``ptr`` (B+1,) the node offsets.
"""

from __future__ import annotations

import torch


def random_rank(
    group: torch.Tensor,
    num_groups: int,
    generator: torch.Generator | None,
    priority: torch.Tensor | None = None,
    priority_span: float = 1.0,
) -> torch.Tensor:
    """A random rank of every element within its group: a uniform random order per group.

    Args:
        group: (M,) long group id of every element (e.g. ``batch`` for nodes).
        num_groups: number of groups B.
        generator: random source (on ``group``'s device).
        priority: optional (M,) non-negative numbers < ``priority_span``; elements with a
            lower priority come first, ties broken at random.
        priority_span: an upper bound (exclusive) of ``priority`` (default 1).

    Returns:
        (M,) long: 0 for the first element of each group, 1 for the second, ...
    """
    m = group.numel()
    key = torch.rand(m, generator=generator, device=group.device, dtype=torch.float64)
    span = 1.0
    if priority is not None:
        key = key + priority.to(torch.float64)
        span = float(priority_span) + 1.0
    perm = torch.argsort(group.to(torch.float64) * span + key)
    counts = torch.bincount(group, minlength=num_groups)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.empty(m, dtype=torch.long, device=group.device)
    rank[perm] = torch.arange(m, device=group.device) - start[group[perm]]
    return rank


def count_per_graph(ptr: torch.Tensor) -> torch.Tensor:
    """(B+1,) offsets -> (B,) long counts."""
    return ptr[1:] - ptr[:-1]


def fraction_count(n: torch.Tensor, rate: float, plus_one: bool = False) -> torch.Tensor:
    """``int(n * rate [+ 1])`` per element, computed in float64 exactly as Python does."""
    v = n.to(torch.float64) * rate
    if plus_one:
        v = v + 1.0
    return torch.floor(v).long()


def sample_per_graph(
    batch: torch.Tensor, ptr: torch.Tensor, k: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Choose ``k[g]`` distinct nodes of every graph ``g`` uniformly: (N,) bool mask."""
    rank = random_rank(batch, ptr.numel() - 1, generator)
    return rank < k[batch]


def random_node_per_graph(ptr: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One uniformly random node index (global) per graph: (B,) long."""
    n = count_per_graph(ptr)
    u = torch.rand(n.numel(), generator=generator, device=ptr.device, dtype=torch.float64)
    return ptr[:-1] + torch.minimum((u * n).long(), (n - 1).clamp(min=0))


def hop_distances(
    edge_index: torch.Tensor, num_nodes: int, sources: torch.Tensor, max_hops: int
) -> torch.Tensor:
    """Shortest-path hop distance of every node from the nearest of ``sources``.

    Frontier propagation over ``edge_index`` for ``max_hops`` steps (index ops only, no
    host synchronisation).  Nodes farther than ``max_hops`` (or unreachable) get
    ``max_hops + 1``.

    Args:
        edge_index: (2, E) directed edges (both directions present for molecules).
        num_nodes: N.
        sources: (S,) long node indices at distance 0.
        max_hops: how far to search.

    Returns:
        (N,) long distances in ``0..max_hops + 1``.
    """
    device = edge_index.device
    far = max_hops + 1
    dist = torch.full((num_nodes,), far, dtype=torch.long, device=device)
    dist[sources] = 0
    frontier = torch.zeros(num_nodes, dtype=torch.float32, device=device)
    frontier[sources] = 1.0
    src, dst = edge_index[0], edge_index[1]
    for d in range(1, max_hops + 1):
        hit = torch.zeros(num_nodes, dtype=torch.float32, device=device)
        hit.index_add_(0, dst, frontier[src])
        new = (hit > 0) & (dist == far)
        dist = torch.where(new, torch.full_like(dist, d), dist)
        frontier = new.to(torch.float32)
    return dist


def induced_subgraph(
    keep: torch.Tensor,
    edge_index: torch.Tensor,
    edge_attr: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep the nodes in ``keep`` (N,) bool and the edges between kept nodes, relabelled.

    Returns:
        (node_idx (N',) long old indices of the kept nodes in order,
         edge_index (2, E') new indices, edge_attr (E', F)).
    """
    new_id = torch.cumsum(keep.long(), 0) - 1
    emask = keep[edge_index[0]] & keep[edge_index[1]]
    ei = new_id[edge_index[:, emask]]
    node_idx = torch.nonzero(keep, as_tuple=False).view(-1)
    return node_idx, ei, edge_attr[emask]


def ptr_from_batch(batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """(N,) sorted graph ids -> (B+1,) offsets."""
    counts = torch.bincount(batch, minlength=num_graphs)
    ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=batch.device)
    torch.cumsum(counts, 0, out=ptr[1:])
    return ptr


def one_direction(edge_index: torch.Tensor) -> torch.Tensor:
    """(E,) bool: one copy of every bond (the one with source < target)."""
    return edge_index[0] < edge_index[1]
