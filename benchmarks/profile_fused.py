"""Where a fused fine-tuning group spends its time: torch.profiler over one short group.

Hu et al.'s settings (GIN 5x300, batch 32, scaffold split, fp32) on one dataset, K runs
(seeds 0..K-1) fused, a few epochs; prints the seconds of each epoch and the operators that
take the most device time (CUDA) or CPU time, so that a slow fused path can be traced to its
kernels.  Writes nothing; the output is the measurement.

    python benchmarks/profile_fused.py --dataset bbbp --k 15 --epochs 2 --device cuda
"""

from __future__ import annotations

import argparse

from torch.profiler import ProfilerActivity, profile

from molpt.data import load_dataset
from molpt.train.finetune import FinetuneConfig, finetune_group


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="bbbp")
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--rows", type=int, default=25)
    args = ap.parse_args()

    ds = load_dataset(args.dataset, featurizer="basic", limit=args.limit, progress=False)
    cfgs = [FinetuneConfig(dataset=args.dataset, seed=s, epochs=args.epochs,
                           device=args.device, limit=args.limit)
            for s in range(args.k)]  # fmt: skip
    cuda = args.device == "cuda"
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts) as prof:
        res = finetune_group(cfgs, dataset=ds, progress=False)
    secs = [round(h["seconds"], 3) for h in res[0]["history"]]
    print(f"{args.dataset}, K={args.k}, device {args.device}: seconds per epoch {secs}")
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=args.rows, max_name_column_width=60))


if __name__ == "__main__":
    main()
