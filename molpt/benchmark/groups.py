"""Fused groups: which benchmark jobs train together in one ``finetune_group`` call.

Jobs can share a group iff their ``FinetuneConfig``s have equal
``molpt.train.finetune.group_key`` (same dataset, split method, featurizer, strategy,
architecture, epochs, batch size, learning rate, precision, ...); they differ in seed, split
seed and starting weights.  Within one key the jobs (in grid order) are cut into groups of at
most ``K`` runs, where ``K`` is the smaller of ``--fuse`` (when given) and a memory bound:

    per run   = 16 B x parameters                      (fp32 weights, grads, Adam m and v)
              + max(train step, eval) activations
    train     = batch_size x nodes/graph x hidden x layers x 4 B x 12
                + batch_size x edges/graph x hidden x layers x 4 B x 3
    eval      = eval_batch_size x nodes/graph x hidden x 4 B x 4      (no autograd)
    budget    = 0.8 x free GPU memory (CUDA) or 0.5 x available RAM (CPU),
                divided by the number of groups that run at once
    K_memory  = max(1, budget // per run)

(measured where the driver runs: with ``--executor ray`` on a remote cluster, give ``--fuse``
when its machines differ from the driver's.)

(12 and 3 are generous counts of the node and edge tensors a GIN/GCN layer keeps for the
backward pass: MLP input, 2 x hidden pre-norm, normalised, activation, dropout mask,
aggregated messages; the estimate is meant to be safe, not tight.)  When there are fewer
groups than parallel slots (``--workers``), the largest groups are halved until every slot
has one, since idle workers cost more than a smaller fusion.

A group is formed from *pending* jobs only, so rerunning an interrupted benchmark re-runs
just the unfinished runs of a group; job ids never depend on grouping.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from molpt.benchmark.grid import Job, finetune_config

log = logging.getLogger(__name__)

BYTES_PER_PARAM = 16  # fp32 weight + grad + Adam exp_avg + exp_avg_sq
TRAIN_NODE_TENSORS = 12
TRAIN_EDGE_TENSORS = 3
EVAL_NODE_TENSORS = 4
GPU_FRACTION = 0.8
CPU_FRACTION = 0.5


@dataclass
class Group:
    """Jobs that train together (one task for an executor)."""

    jobs: list[Job]

    @property
    def job_ids(self) -> list[str]:
        return [j.job_id for j in self.jobs]

    def __len__(self) -> int:
        return len(self.jobs)

    def label(self) -> str:
        """e.g. ``bbbp/scaffold/basic/full/gin5x300 x6 (none s0-2, attrmask s0-2)``."""
        c = self.jobs[0].config
        head = "/".join(str(c[k]) for k in ("dataset", "split", "featurizer", "strategy"))
        head += f"/{c['encoder']}{c['num_layers']}x{c['hidden_dim']}"
        by_method: dict[str, list[int]] = {}
        for j in self.jobs:
            by_method.setdefault(str(j.config["method"]), []).append(int(j.config["seed"]))
        parts = [f"{m} {_seeds_text(s)}" for m, s in by_method.items()]
        return f"{head} x{len(self.jobs)} ({', '.join(parts)})"


def _seeds_text(seeds: list[int]) -> str:
    s = sorted(seeds)
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"s{s[0]}-{s[-1]}"
    return ",".join(f"s{x}" for x in s)


def job_group_key(job: Job, data_dir: str | None = None, device: str = "auto") -> tuple:
    """``group_key`` of the job's fine-tuning config (outputs and paths play no part)."""
    from molpt.train.finetune import group_key

    return group_key(finetune_config(job, "", data_dir, device))


# ------------------------------------------------------------------------------------------
# memory bound
# ------------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _num_parameters(featurizer: str, conv: str, num_layers: int, hidden_dim: int,
                    jk: str) -> int:  # fmt: skip
    from molpt.nn.encoder import Encoder

    enc = Encoder(featurizer=featurizer, conv=conv, num_layers=num_layers,
                  hidden_dim=hidden_dim, jk=jk)  # fmt: skip
    return sum(p.numel() for p in enc.parameters()) + hidden_dim * num_layers  # + head


def run_bytes(config: dict[str, Any], nodes_per_graph: float, edges_per_graph: float,
              eval_batch_size: int = 2048) -> int:  # fmt: skip
    """Estimated memory of one run of a fused group (see the module docstring)."""
    h, layers, bs = int(config["hidden_dim"]), int(config["num_layers"]), int(config["batch_size"])
    params = _num_parameters(config["featurizer"], config["encoder"], layers, h,
                             config.get("jk", "last"))  # fmt: skip
    train = 4 * bs * h * layers * (TRAIN_NODE_TENSORS * nodes_per_graph
                                   + TRAIN_EDGE_TENSORS * edges_per_graph)  # fmt: skip
    evaluation = 4 * eval_batch_size * nodes_per_graph * h * EVAL_NODE_TENSORS
    return int(BYTES_PER_PARAM * params + max(train, evaluation))


def memory_budget(device: str = "auto", parallel: int = 1) -> int:
    """Bytes one group may use: a fraction of free GPU memory or available RAM / ``parallel``."""
    import torch

    from molpt.train.device import resolve_device

    try:
        dev = resolve_device(device)
    except (ValueError, RuntimeError):
        dev = torch.device("cpu")
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        total = GPU_FRACTION * free
    else:
        try:
            import psutil

            avail = psutil.virtual_memory().available
        except ImportError:  # pragma: no cover - psutil comes with the dependencies
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        total = CPU_FRACTION * avail
    return int(total / max(1, parallel))


def dataset_shape(dataset) -> tuple[float, float]:
    """Mean nodes and mean directed edges per graph of a loaded ``MolDataset``."""
    g = dataset.graphs
    n = max(1, len(g))
    return float(g.x.shape[0]) / n, float(g.edge_index.shape[1]) / n


# ------------------------------------------------------------------------------------------
# grouping
# ------------------------------------------------------------------------------------------
def form_groups(
    jobs: list[Job],
    fuse: int | None = None,
    parallel: int = 1,
    cap: Callable[[Job], int] | None = None,
    data_dir: str | None = None,
    device: str = "auto",
) -> list[Group]:
    """Cut ``jobs`` into fused groups (stable: the same jobs always give the same groups).

    Args:
        jobs: pending jobs in grid order.
        fuse: most runs per group (``--fuse``); None = no cap beyond memory.
        parallel: groups that run at once; when there are fewer groups, the largest are
            halved until each slot has one (never beyond groups of one run).
        cap: most runs per group the memory allows for a job's key (None = unbounded).
    """
    if fuse is not None and fuse < 1:
        raise ValueError(f"--fuse must be at least 1, got {fuse}")
    buckets: dict[tuple, list[Job]] = {}
    for j in jobs:
        buckets.setdefault(job_group_key(j, data_dir, device), []).append(j)
    groups: list[Group] = []
    for members in buckets.values():
        k = len(members)
        if fuse is not None:
            k = min(k, fuse)
        if cap is not None:
            k = min(k, max(1, cap(members[0])))
        k = max(1, k)
        n = -(-len(members) // k)  # groups needed; spread the runs evenly over them
        size, extra = divmod(len(members), n)
        start = 0
        for i in range(n):
            end = start + size + (1 if i < extra else 0)
            groups.append(Group(members[start:end]))
            start = end
    while len(groups) < parallel:
        big = max(range(len(groups)), key=lambda i: len(groups[i]), default=None)
        if big is None or len(groups[big]) < 2:
            break
        g = groups[big].jobs
        half = -(-len(g) // 2)
        groups[big : big + 1] = [Group(g[:half]), Group(g[half:])]
    return groups


__all__ = [
    "Group",
    "dataset_shape",
    "form_groups",
    "job_group_key",
    "memory_budget",
    "run_bytes",
]
