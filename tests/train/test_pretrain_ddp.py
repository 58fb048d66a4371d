"""DDP on CPU: two gloo processes run the same loop and end close to one process."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from molpt.featurize import featurize_many
from molpt.train.pretrain import PretrainConfig, pretrain


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, cfg_kwargs: dict) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    pretrain(PretrainConfig(**cfg_kwargs), progress=False)


def _cfg(graph_file: Path, out: Path) -> dict:
    return dict(
        objective="attrmask",
        data=str(graph_file),
        out=str(out),
        epochs=3,
        batch_size=64,
        hidden_dim=32,
        num_layers=2,
        lr=3e-3,
        device="cpu",
    )


@pytest.mark.slow
def test_ddp_two_gloo_processes_match_single_process(tmp_path, data_dir, tmp_cache):
    smiles = pd.read_csv(data_dir / "BBBP.csv", nrows=256)["smiles"].tolist()
    graphs, _ = featurize_many(smiles, "basic")
    graph_file = tmp_path / "bbbp256.pt"
    graphs.save(graph_file, meta={"name": "bbbp256"})

    single = pretrain(PretrainConfig(**_cfg(graph_file, tmp_path / "single")), progress=False)
    mp.start_processes(
        _worker,
        args=(2, _free_port(), _cfg(graph_file, tmp_path / "ddp")),
        nprocs=2,
        join=True,
        start_method="spawn",
    )
    h1 = json.loads((single.parent / "history.json").read_text())
    h2 = json.loads((tmp_path / "ddp" / "history.json").read_text())
    assert [r["epoch"] for r in h2] == [1, 2, 3]
    # both ranks together saw every graph (256 is divisible by 2)
    assert h2[-1]["graphs"] == len(graphs)
    assert h2[-1]["loss"] < h2[0]["loss"]
    assert abs(h2[-1]["loss"] - h1[-1]["loss"]) < 0.25 * h1[-1]["loss"]
    assert (tmp_path / "ddp" / "checkpoint.pt").is_file()
