"""CUDA smoke test of the pretraining loop on precomputed graphs (no RDKit needed).

Usage: python benchmarks/gpu_smoke_pretrain.py GRAPHS.pt OUTDIR

1. every objective: 3 bf16 steps at GIN 5x300, batch 256, on the GPU (finite losses);
2. ``pretrain()``: attrmask, 1 epoch over GRAPHS on cuda (bf16, batch 256), then 1 more
   epoch with ``resume``; prints the history (graphs/s) and the checkpoint keys.
"""

from __future__ import annotations

import json
import sys
import time

import _rdkit_optional  # noqa: F401  (must precede molpt imports)
import torch

from molpt.featurize.graphs import GraphSet
from molpt.nn import Encoder
from molpt.objectives import OBJECTIVES
from molpt.train.checkpoint import load_checkpoint
from molpt.train.device import autocast
from molpt.train.pretrain import PretrainConfig, pretrain


def main() -> None:
    graphs_path, out = sys.argv[1], sys.argv[2]
    dev = torch.device("cuda")
    print("device:", torch.cuda.get_device_name(dev), "torch", torch.__version__, flush=True)
    graphs, _ = GraphSet.load(graphs_path)
    gs = graphs.to(dev)
    batch = gs.batch(torch.arange(256, device=dev))
    for name in OBJECTIVES.choices():
        torch.manual_seed(0)
        cls = OBJECTIVES.get(name)
        g = graphs
        if cls.needs_labels:  # a synthetic 2-task label for the smoke run
            y = (torch.rand(len(graphs), 2) > 0.5).float()
            g = graphs.with_labels(y, ["a", "b"])
            b = g.to(dev).batch(torch.arange(256, device=dev))
        else:
            b = batch
        obj = cls(Encoder("basic", "gin", 5, 300), **cls.data_options(g, None, {})).to(dev)
        opt = torch.optim.Adam(obj.parameters(), 1e-3)
        gen = torch.Generator(device=dev).manual_seed(0)
        losses = []
        t0 = time.perf_counter()
        for _ in range(3):
            with autocast(dev, True):
                loss, metrics = obj.loss(b, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        ok = all(torch.isfinite(torch.tensor(losses)))
        print(f"{name:12s} losses {[round(v, 4) for v in losses]} finite={ok} "
              f"{(time.perf_counter() - t0) / 3 * 1000:.1f} ms/step", flush=True)  # fmt: skip
    cfg = dict(objective="attrmask", data=graphs_path, out=out, epochs=1, device="cuda")
    t0 = time.perf_counter()
    ckpt = pretrain(PretrainConfig(**cfg), progress=False)
    print(f"pretrain epoch 1: {time.perf_counter() - t0:.1f} s", flush=True)
    cfg.update(epochs=2, resume=True)
    pretrain(PretrainConfig(**cfg), progress=False)
    c = load_checkpoint(ckpt)
    print("checkpoint keys:", sorted(c))
    print("history:", json.dumps(c["history"], indent=1))


if __name__ == "__main__":
    main()
