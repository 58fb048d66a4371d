"""Fixtures for benchmark tests: a tiny grid spec and a crafted results table."""

from __future__ import annotations

import pytest

from molpt.benchmark.grid import resolve_grid

TINY_GRID = dict(num_layers=2, hidden_dim=16, epochs=1, limit=150, batch_size=64)


@pytest.fixture()
def tiny_spec():
    """bbbp x scaffold x seeds 0,1 x none only: 2 quick jobs (no pretraining step)."""
    spec = resolve_grid("quick", datasets=["bbbp"], splits=["scaffold"], seeds=[0, 1],
                        **TINY_GRID)  # fmt: skip
    spec.pretrain = None
    return spec
