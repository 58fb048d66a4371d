"""Fine-tuning speed of ``molpt.train.finetune`` (Hu et al.'s setting by default).

Prints one JSON line per (dataset, strategy): seconds per epoch (after the first, which
includes warm-up), optimizer steps per second and graphs per second, plus the metrics.

    python benchmarks/finetune_speed.py --datasets bbbp,tox21 --epochs 4 --device auto
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import torch

from molpt.data import load_dataset
from molpt.train.finetune import FinetuneConfig, finetune


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="bbbp")
    ap.add_argument("--strategies", default="full,linear,two-stage")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--num-layers", type=int, default=5)
    ap.add_argument("--hidden-dim", type=int, default=300)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = {
        "platform": platform.platform(),
        "cpus": __import__("os").cpu_count(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
    }
    print(json.dumps({"machine": machine}), flush=True)
    for name in args.datasets.split(","):
        ds = load_dataset(name)
        for strategy in args.strategies.split(","):
            cfg = FinetuneConfig(
                dataset=name, strategy=strategy, epochs=args.epochs,
                batch_size=args.batch_size, num_layers=args.num_layers,
                hidden_dim=args.hidden_dim, device=args.device,
            )  # fmt: skip
            t0 = time.perf_counter()
            r = finetune(cfg, dataset=ds, progress=False)
            wall = time.perf_counter() - t0
            secs = [h["seconds"] for h in r["history"]]
            steady = secs[1:] or secs
            per_epoch = sum(steady) / len(steady)
            steps = math.ceil(r["n_train"] / args.batch_size)
            print(json.dumps({
                "dataset": name, "strategy": strategy, "device": r["device"],
                "epochs": args.epochs, "wall_s": round(wall, 2),
                "s_per_epoch": round(per_epoch, 4),
                "steps_per_s": round(steps / per_epoch, 1),
                "graphs_per_s": round(r["n_train"] / per_epoch, 0),
                "first_epoch_s": secs[0], "test_at_best_valid": r["test_at_best_valid"],
                "last_test": r["last_test"],
            }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
