"""The pretraining-objective interface and its registry.

An objective owns the encoder it pretrains plus whatever heads it needs, and turns a
``GraphBatch`` into a scalar loss.  All randomness comes from the ``generator`` argument
(a ``torch.Generator`` on the batch's device), so a run is reproducible and resumable.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from molpt.featurize.graphs import GraphBatch, GraphSet
from molpt.nn.encoder import Encoder
from molpt.registry import Registry

OBJECTIVES: Registry[type[Objective]] = Registry("objective")

Metrics = dict[str, torch.Tensor]


class Objective(nn.Module):
    """Base class: ``loss(batch, generator) -> (loss, metrics)``.

    Subclasses set ``name`` and ``metric`` (the headline metric key, e.g. ``acc``), accept
    their options as keyword arguments in ``__init__`` (all JSON-serialisable), and call
    ``super().__init__(encoder, **options)`` so that ``config`` records them: a checkpoint
    rebuilds the objective with ``OBJECTIVES.get(name)(encoder, **config)``.

    ``metrics`` values are detached 0-dim tensors (``float(v)`` gives the number); they
    are not converted to Python floats inside the step so that a GPU step never waits for
    the device.  The training loop averages them over an epoch.
    """

    name: str = ""
    metric: str = "acc"
    needs_labels: bool = False

    def __init__(self, encoder: Encoder, **options: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.spec = encoder.spec
        self.config: dict[str, Any] = dict(options)

    @property
    def hidden_dim(self) -> int:
        return self.encoder.out_dim

    @classmethod
    def data_options(
        cls, graphs: GraphSet, task_type: str | None, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Options derived from the training data (e.g. number of tasks); default: none."""
        return dict(options)

    def loss(
        self, batch: GraphBatch, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, Metrics]:
        """batch -> (scalar loss, {metric name: detached 0-dim tensor})."""
        raise NotImplementedError

    def forward(
        self, batch: GraphBatch, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, Metrics]:
        # DistributedDataParallel calls forward; keep it identical to loss()
        return self.loss(batch, generator)

    def head_state(self) -> dict[str, torch.Tensor]:
        """Parameters and buffers of everything but the encoder (heads, context GNN, ...)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def load_head_state(self, state: dict[str, torch.Tensor]) -> None:
        full = {f"encoder.{k}": v for k, v in self.encoder.state_dict().items()}
        full.update(state)
        self.load_state_dict(full)


def build_objective(name: str, encoder: Encoder, config: dict[str, Any] | None = None) -> Objective:
    """Rebuild an objective from its registry name and stored ``config``."""
    return OBJECTIVES.get(name)(encoder, **(config or {}))


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Share of ``pred.argmax(-1) == target`` as a detached 0-dim float tensor (0 if empty)."""
    if target.numel() == 0:
        return torch.zeros((), device=pred.device)
    return (pred.detach().argmax(-1) == target).float().mean()


def binary_accuracy(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Mean of the share of positive scores > 0 and negative scores < 0."""
    pos, neg = pos.detach(), neg.detach()
    a = (pos > 0).float().mean() if pos.numel() else torch.zeros((), device=pos.device)
    b = (neg < 0).float().mean() if neg.numel() else torch.zeros((), device=neg.device)
    return (a + b) / 2


def cycle(n: int, device: torch.device, shift: int = 1) -> torch.Tensor:
    """Index ``i -> (i + shift) mod n`` (Hu et al.'s ``cycle_index``)."""
    return (torch.arange(n, device=device) + shift) % max(n, 1)
