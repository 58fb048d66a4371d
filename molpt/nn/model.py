"""GraphModel(encoder, pooling, head): shared by pretraining and fine-tuning."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from molpt.nn.encoder import Encoder
from molpt.nn.pooling import POOLINGS


class GraphModel(nn.Module):
    """Encoder -> graph pooling -> optional linear head.

    ``forward(batch)`` returns head outputs (B, out_dim) (or pooled embeddings when there is
    no head); ``embed(batch)`` always returns pooled embeddings (B, encoder.out_dim).
    ``config`` holds every part's hyperparameters so a checkpoint can rebuild the model.
    """

    def __init__(
        self,
        encoder: Encoder,
        pooling: str = "mean",
        out_dim: int | None = None,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pool = POOLINGS.get(pooling)(encoder.out_dim)
        self.head = nn.Linear(encoder.out_dim, out_dim) if out_dim else None
        self.head_dropout = nn.Dropout(head_dropout)
        self.config: dict[str, Any] = {
            "encoder": dict(encoder.config),
            "pooling": pooling,
            "out_dim": out_dim,
            "head_dropout": head_dropout,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GraphModel:
        return cls(
            Encoder(**config["encoder"]),
            pooling=config.get("pooling", "mean"),
            out_dim=config.get("out_dim"),
            head_dropout=config.get("head_dropout", 0.0),
        )

    def node_embeddings(self, batch: Any) -> torch.Tensor:
        return self.encoder(batch)

    def embed(self, batch: Any) -> torch.Tensor:
        h = self.encoder(batch)
        return self.pool(h, batch.batch, int(batch.ptr.numel() - 1))

    def forward(self, batch: Any) -> torch.Tensor:
        g = self.embed(batch)
        if self.head is None:
            return g
        return self.head(self.head_dropout(g))
