"""The parts of fused multi-run fine-tuning: per-run data, a masked Adam, one epoch, eval.

A *group* is K fine-tuning runs that share dataset, split method, featurizer, strategy,
architecture and optimisation settings and differ in seed, split seed and starting weights.
``molpt.train.finetune.finetune_group`` assembles these parts; a solo run is a group of one.

* :class:`RunData`: one run's split parts, targets and random streams (batch order and
  dropout, both from the run's own seed only).
* :class:`StackedAdam`: K Adams in one (the moments and step count of a run that has no
  batch in a step do not move).
* :func:`train_epoch` / :func:`train_head_epoch`: one epoch of every run, batch s of every
  run fused into one step; the loss is the sum of each run's mean loss, so each run's
  gradient is exactly its solo gradient.
* :func:`predict_parts` / :func:`embed_all`: batched evaluation of every run's own indices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from molpt.featurize.graphs import GraphSet
from molpt.nn.stacked import StackedModel, bounds_of, multi_batch
from molpt.train.device import autocast, release_host_memory


def heap_trim_every() -> int:
    """``MOLPT_HEAP_TRIM_EVERY``: CPU training steps between heap trims (unset or 0 = never).

    Off by default: trimming bounds a long CPU run's resident memory (a bf16 group of 10
    GIN 5x300 runs: 4.2 instead of 5.7 GB after 4 BACE epochs trimming every 8 steps; 7-9 GB
    after ~60 epochs untrimmed) but cost 1.45x the time in that measurement, because the
    pages given back are faulted in again (benchmarks/host_memory.py, RESULTS.md).  Set it
    where memory, not time, is short.
    """
    try:
        return max(0, int(os.environ.get("MOLPT_HEAP_TRIM_EVERY", "0") or 0))
    except ValueError:
        raise ValueError("MOLPT_HEAP_TRIM_EVERY must be a whole number of steps") from None


def dropout_seed(seed: int) -> int:
    """The seed of a run's dropout stream (derived from the run seed only)."""
    return int(np.random.SeedSequence([int(seed), 0x6D6F6C]).generate_state(1)[0])


@dataclass
class RunData:
    """One run of a group: its parts (GraphSet rows), targets and random streams."""

    seed: int
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    order_gen: torch.Generator
    dropout_gen: torch.Generator
    mean: torch.Tensor | None = None  # regression: training-part mean / std per task
    std: torch.Tensor | None = None
    class_weights: torch.Tensor | None = None  # (2, T) for the class-balanced loss
    eval_idx: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.eval_idx = torch.cat([self.valid, self.test])

    def batches(self, batch_size: int) -> list[torch.Tensor]:
        """This epoch's training batches in the run's own shuffled order.

        A trailing batch of one graph joins the previous one (BatchNorm cannot normalise a
        lone one-atom molecule).
        """
        perm = torch.randperm(self.train.numel(), generator=self.order_gen)
        order = self.train[perm.to(self.train.device)]
        parts = list(torch.split(order, batch_size))
        if len(parts) > 1 and parts[-1].numel() == 1:
            parts[-2] = torch.cat([parts[-2], parts[-1]])
            parts.pop()
        return parts


class StackedAdam:
    """Adam over parameters with a leading run dimension K; ``step(active)`` moves only the
    runs in ``active`` (K,) bool: their moments, step counts and weights.

    Per run the arithmetic is ``torch.optim.Adam``'s (L2 weight decay added to the
    gradient, bias-corrected moments, eps outside the square root).
    """

    def __init__(
        self,
        params,
        lr: float,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("no trainable parameters")
        self.K = self.params[0].shape[0]
        self.lr, self.wd, self.betas, self.eps = lr, weight_decay, betas, eps
        dev = self.params[0].device
        self.steps = torch.zeros(self.K, dtype=torch.float64, device=dev)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def state(self) -> dict:
        return {"steps": self.steps, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def load_state(self, state: dict) -> None:
        self.steps.copy_(state["steps"])
        for mine, saved in zip(self.exp_avg + self.exp_avg_sq,
                               list(state["exp_avg"]) + list(state["exp_avg_sq"]),
                               strict=True):  # fmt: skip
            mine.copy_(saved)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        b1, b2 = self.betas
        active = active.to(self.steps.device)
        self.steps += active.to(self.steps.dtype)
        steps = self.steps.clamp_min(1)
        step_size = (self.lr / (1 - b1**steps)).float()
        bc2_sqrt = (1 - b2**steps).sqrt().float()
        everyone = bool(active.all())
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            g = p.grad
            if g is None:
                continue
            if self.wd:
                g = g.add(p, alpha=self.wd)
            shape = (self.K,) + (1,) * (p.dim() - 1)
            # one arithmetic for every run, whether or not others sit out this step (the
            # in-place and out-of-place forms of lerp / mul / addcmul round identically)
            if everyone:
                m_new = m.lerp_(g, 1 - b1)
                v_new = v.mul_(b2).addcmul_(g, g, value=1 - b2)
            else:
                m_new = m.lerp(g, 1 - b1)
                v_new = v.mul(b2).addcmul_(g, g, value=1 - b2)
            denom = (v_new.sqrt() / bc2_sqrt.view(shape)).add_(self.eps)
            update = step_size.view(shape) * m_new / denom
            if everyone:
                p.sub_(update)
                continue
            a = active.view(shape)
            m.copy_(torch.where(a, m_new, m))
            v.copy_(torch.where(a, v_new, v))
            p.sub_(torch.where(a, update, torch.zeros_like(p)))


def per_run_loss(
    out: torch.Tensor,
    target: torch.Tensor,
    graph_run: torch.Tensor,
    K: int,
    task_type: str,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Each run's masked mean loss over its present labels: (K,).

    out, target (G, T) (NaN = missing label); graph_run (G,); weights (K, 2, T) for the
    class-balanced BCE of two-stage fine-tuning.
    """
    mask = ~torch.isnan(target)
    y = torch.nan_to_num(target)
    if task_type == "classification":
        elem = F.binary_cross_entropy_with_logits(out, y, reduction="none")
        if weights is not None:
            w = weights[graph_run]  # (G, 2, T)
            elem = elem * torch.where(y > 0.5, w[:, 1], w[:, 0])
    else:
        elem = (out - y) ** 2
    elem = torch.where(mask, elem, torch.zeros_like(elem))
    sums = out.new_zeros(K).index_add_(0, graph_run, elem.sum(1))
    counts = out.new_zeros(K).index_add_(0, graph_run, mask.sum(1).to(out.dtype))
    return sums / counts.clamp_min(1)


class GroupTargets:
    """Training targets of every run: shared labels (classification) or each run's labels
    standardised with its own training-part mean and std (regression)."""

    def __init__(self, y: torch.Tensor, runs: list[RunData], task_type: str) -> None:
        if task_type == "regression":
            self.per_run = torch.stack([(y - r.mean) / r.std for r in runs])  # (K, N, T)
            self.shared = None
        else:
            self.per_run, self.shared = None, y

    def __call__(self, idx: torch.Tensor, graph_run: torch.Tensor) -> torch.Tensor:
        if self.shared is not None:
            return self.shared[idx]
        return self.per_run[graph_run, idx]


def _active(parts: list[torch.Tensor | None], device) -> torch.Tensor:
    return torch.tensor([p is not None for p in parts], dtype=torch.bool, device=device)


def train_epoch(
    model: StackedModel,
    opt: StackedAdam,
    graphs: GraphSet,
    runs: list[RunData],
    targets: GroupTargets,
    task_type: str,
    batch_size: int,
    bf16: bool,
) -> tuple[list[float], int]:
    """One epoch of full fine-tuning for every run; returns (mean loss per run, graphs seen)."""
    K = len(runs)
    device = graphs.device
    model.train()
    plans = [r.batches(batch_size) for r in runs]
    gens = [r.dropout_gen for r in runs]
    trim_every = heap_trim_every()
    totals = torch.zeros(K, device=device)
    n_batches = torch.tensor([len(p) for p in plans], dtype=torch.float32, device=device)
    seen = 0
    for s in range(max(len(p) for p in plans)):
        parts = [p[s] if s < len(p) else None for p in plans]
        mb = multi_batch(graphs, parts)
        with autocast(device, bf16, cpu=True):
            out = model(mb, gens)
        losses = per_run_loss(out.float(), targets(mb.idx, mb.graph_run), mb.graph_run, K,
                              task_type)  # fmt: skip
        opt.zero_grad()
        losses.sum().backward()
        opt.step(_active(parts, device))
        totals += losses.detach()
        seen += mb.num_graphs
        del out, losses, mb
        if trim_every and (s + 1) % trim_every == 0:
            release_host_memory(device)
    if trim_every:
        release_host_memory(device)
    return (totals / n_batches.clamp_min(1)).tolist(), seen


def _runs_of(sizes: list[int], device) -> torch.Tensor:
    """Run of each row for runs of ``sizes`` rows, grouped by run."""
    counts = torch.tensor(sizes, dtype=torch.long, device=device)
    return torch.repeat_interleave(torch.arange(len(sizes), device=device), counts)


def train_head_epoch(
    model: StackedModel,
    opt: StackedAdam,
    emb: torch.Tensor,
    runs: list[RunData],
    targets: GroupTargets,
    task_type: str,
    batch_size: int,
    weights: torch.Tensor | None,
) -> tuple[list[float], int]:
    """One epoch of head-only training on frozen embeddings ``emb`` (K, N, d)."""
    K = len(runs)
    device = emb.device
    plans = [r.batches(batch_size) for r in runs]
    totals = torch.zeros(K, device=device)
    n_batches = torch.tensor([len(p) for p in plans], dtype=torch.float32, device=device)
    seen = 0
    for s in range(max(len(p) for p in plans)):
        parts = [p[s] if s < len(p) else None for p in plans]
        live = [(k, p) for k, p in enumerate(parts) if p is not None]
        idx = torch.cat([p for _, p in live])
        sizes = [0 if p is None else p.numel() for p in parts]
        run = _runs_of(sizes, device)
        g = torch.cat([emb[k, p] for k, p in live])
        out = model.head_rows(g, bounds_of(sizes))
        losses = per_run_loss(out.float(), targets(idx, run), run, K, task_type, weights)
        opt.zero_grad()
        losses.sum().backward()
        opt.step(_active(parts, device))
        totals += losses.detach()
        seen += idx.numel()
    return (totals / n_batches.clamp_min(1)).tolist(), seen


@torch.no_grad()
def predict_parts(
    model: StackedModel,
    graphs: GraphSet,
    parts: list[torch.Tensor],
    eval_batch_size: int,
    bf16: bool,
    emb: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Raw head outputs of run k on its own graphs ``parts[k]``: a list of (n_k, T).

    With ``emb`` (K, N, d) the frozen embeddings are used instead of the encoder.
    """
    K = len(parts)
    device = graphs.device
    model.eval()
    chunk = max(1, eval_batch_size // K)
    outs: list[list[torch.Tensor]] = [[] for _ in range(K)]
    for s in range(0, max(p.numel() for p in parts), chunk):
        cut = [p[s : s + chunk] for p in parts]
        cut_or_none = [c if c.numel() else None for c in cut]
        if emb is not None:
            g = torch.cat([emb[k, c] for k, c in enumerate(cut)])
            out = model.head_rows(g, bounds_of([c.numel() for c in cut]))
        else:
            mb = multi_batch(graphs, cut_or_none)
            with autocast(device, bf16, cpu=True):
                out = model(mb)
        out = out.float()
        start = 0
        for k, c in enumerate(cut):
            outs[k].append(out[start : start + c.numel()])
            start += c.numel()
    return [torch.cat(o) for o in outs]


@torch.no_grad()
def embed_all(
    model: StackedModel, graphs: GraphSet, eval_batch_size: int, bf16: bool
) -> torch.Tensor:
    """Every run's pooled embeddings of every graph: (K, N, d) (eval mode)."""
    K, n = model.K, len(graphs)
    model.eval()
    chunk = max(1, eval_batch_size // K)
    out = []
    for s in range(0, n, chunk):
        part = torch.arange(s, min(n, s + chunk), device=graphs.device)
        with autocast(graphs.device, bf16, cpu=True):
            g = model.embed(multi_batch(graphs, [part] * K)).float()
        out.append(g.view(K, part.numel(), -1))
    return torch.cat(out, dim=1)


def group_memory_bytes(num_parameters: int, K: int, batch_nodes: int, hidden_dim: int,
                       num_layers: int) -> int:  # fmt: skip
    """Rough peak memory of a K-run group: weights, grads and two Adam moments (16 bytes
    per parameter per run) plus ~12 activations of (nodes x hidden) floats per layer."""
    params = 16 * num_parameters * K
    acts = 4 * 12 * batch_nodes * hidden_dim * num_layers * K
    return params + acts


__all__ = [
    "GroupTargets",
    "RunData",
    "StackedAdam",
    "dropout_seed",
    "embed_all",
    "group_memory_bytes",
    "per_run_loss",
    "predict_parts",
    "train_epoch",
    "train_head_epoch",
]
