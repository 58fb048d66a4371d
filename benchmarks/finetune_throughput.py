"""Fine-tuning throughput: a plain PyG loop vs molpt (one run) vs molpt fused (K runs).

Hu et al.'s settings (GIN 5x300, batch 32, dropout 0.5, Adam 1e-3, scaffold split), in one
process, in alternating rounds so that a noisy machine hurts every contender alike:

* ``plain``: the textbook loop: a list of PyG ``Data`` objects, ``DataLoader(shuffle=True)``,
  ``torch.optim.Adam``, masked BCE; eval of valid + test each epoch (batch 256).
* ``molpt-1``: ``molpt.train.finetune.finetune`` (a group of one).
* ``molpt-K``: ``finetune_group`` with K runs (seeds 0..K-1) fused into one step, the
  default matmul mode of the device (CPU fp32: "per-run", bit-exact; CUDA: "batched").
* ``molpt-K-bmm``: the same with ``matmul="batched"`` (one bmm per layer over the runs
  padded to equal blocks), on a CPU where it is not the fp32 default.
* ``molpt-K-bf16``: bf16 autocast (batched matmul), where the device has native bf16.
* ``ceiling-bsN`` (and ``ceiling-bsN-bf16``): *not* the protocol: the plain loop with one
  model at batch N = 32 x K, the graphs of one fused step.  It is what large batches alone
  buy on the hardware (fewer, larger matmuls and launches), so it puts the fused ratios in
  context: fused K runs at batch 32 do the same work per step, and cannot be expected to
  run much faster than one run at batch 32 x K.

An "epoch" is one pass over the training part plus scoring the valid and test parts, as in
the protocol.  Figures: training graphs per second (runs x training graphs / epoch
seconds), the ratios against ``plain``, and the projected wall time of the whole hu2020
protocol for one method (8 sets x 10 seeds x 100 epochs) at the measured rate.

    python benchmarks/finetune_throughput.py --datasets bbbp,tox21 --k 10 --rounds 2 \
        --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime

import torch
import torch.nn.functional as F

from molpt.data import load_dataset
from molpt.data.splits import split
from molpt.nn.encoder import Encoder
from molpt.nn.model import GraphModel
from molpt.train.device import cpu_has_native_bf16, cpu_name, resolve_device
from molpt.train.finetune import FinetuneConfig, finetune_group

#: training-part sizes of the hu2020 sets under the scaffold split (80 %), for projections
HU2020_TRAIN = dict(bbbp=1631, tox21=6264, toxcast=6860, sider=1141, clintox=1181,
                    muv=74469, hiv=32901, bace=1210)  # fmt: skip
PROTOCOL_GRAPHS = sum(HU2020_TRAIN.values()) * 10 * 100  # per method


def plain_epoch(model, opt, train_list, eval_list, device, batch_size: int = 32,
                bf16: bool = False) -> float:
    """One textbook epoch (train + eval); returns seconds."""
    from contextlib import nullcontext

    from torch_geometric.loader import DataLoader

    t0 = time.perf_counter()
    model.train()
    for batch in DataLoader(train_list, batch_size=batch_size, shuffle=True):
        batch = batch.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext():
            out = model(batch).float()
        y = batch.y.view(out.shape)
        mask = ~torch.isnan(y)
        loss = F.binary_cross_entropy_with_logits(out[mask], y[mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        for batch in DataLoader(eval_list, batch_size=256):
            torch.sigmoid(model(batch.to(device))).cpu()
    return time.perf_counter() - t0


def molpt_epochs(ds, k: int, epochs: int, device: str, bf16: bool, limit: int | None,
                 matmul: str = "auto") -> float:  # fmt: skip
    """Mean seconds per epoch of a K-run fused group (epochs after the first)."""
    cfgs = [FinetuneConfig(dataset=ds.spec.name, seed=s, epochs=epochs, device=device,
                           bf16=bf16, limit=limit, matmul=matmul)
            for s in range(k)]  # fmt: skip
    r = finetune_group(cfgs, dataset=ds, progress=False)[0]
    secs = [h["seconds"] for h in r["history"]]
    steady = secs[1:] or secs
    return sum(steady) / len(steady)


def machine_info(device: torch.device) -> dict:
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "native_bf16_cpu": cpu_has_native_bf16(),
        "load_avg": os.getloadavg()[0],
    }


def hms(seconds: float) -> str:
    h, rem = divmod(int(seconds), 3600)
    return f"{h} h {rem // 60:02d} min"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="bbbp,tox21")
    ap.add_argument("--k", type=int, default=10, help="runs fused into one group")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2, help="molpt epochs per round (>= 2)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--bf16", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--limit", default=None,
                    help="first N molecules per set, e.g. 'tox21=3000' or '3000' (all sets)")
    ap.add_argument("--results", default=None, help="append a section to this RESULTS.md")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    use_bf16 = args.bf16 == "on" or (
        args.bf16 == "auto" and (device.type == "cuda" or cpu_has_native_bf16())
    )
    info = machine_info(device)
    print(json.dumps({"machine": info}), flush=True)
    limits: dict[str, int] = {}
    for item in (args.limit or "").split(","):
        if item.strip():
            key, _, val = item.rpartition("=")
            limits[key or "*"] = int(val)
    table = []
    for name in args.datasets.split(","):
        limit = limits.get(name, limits.get("*"))
        ds = load_dataset(name, limit=limit)
        graphs = ds.graphs
        tr, va, te = split(graphs.smiles, "scaffold")
        data = [graphs[i] for i in range(len(graphs))]
        train_list = [data[i] for i in tr]
        eval_list = [data[i] for i in list(va) + list(te)]
        n_train = len(tr)
        contenders = ["plain", "molpt-1", f"molpt-{args.k}"]
        if device.type == "cpu":
            contenders.append(f"molpt-{args.k}-bmm")
        if use_bf16:
            contenders.append(f"molpt-{args.k}-bf16")
        big = 32 * args.k
        contenders.append(f"ceiling-bs{big}")
        if use_bf16:
            contenders.append(f"ceiling-bs{big}-bf16")
        times: dict[str, list[float]] = {c: [] for c in contenders}
        torch.manual_seed(0)
        model = GraphModel(Encoder("basic", num_layers=5, hidden_dim=300, dropout=0.5),
                           out_dim=len(ds.task_names)).to(device)  # fmt: skip
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        plain_epoch(model, opt, train_list[:256], eval_list[:256], device)  # warm-up
        for rnd in range(args.rounds):
            for c in contenders:
                if c == "plain" or c.startswith("ceiling"):
                    bs = big if c.startswith("ceiling") else 32
                    secs = plain_epoch(model, opt, train_list, eval_list, device, bs,
                                       bf16=c.endswith("bf16"))  # fmt: skip
                    rate = n_train / secs
                else:
                    k = 1 if c == "molpt-1" else args.k
                    mode = "batched" if c.endswith("bmm") else "auto"
                    secs = molpt_epochs(ds, k, args.epochs, args.device, c.endswith("bf16"),
                                        limit, mode)  # fmt: skip
                    rate = k * n_train / secs
                times[c].append(rate)
                print(json.dumps({"dataset": name, "round": rnd, "contender": c,
                                  "epoch_s": round(secs, 3),
                                  "graphs_per_s": round(rate, 1)}), flush=True)  # fmt: skip
        base = statistics.median(times["plain"])
        for c in contenders:
            rate = statistics.median(times[c])
            table.append(dict(dataset=name if limit is None else f"{name} (first {limit})",
                              contender=c, graphs_per_s=round(rate, 1),
                              ratio=round(rate / base, 2),
                              protocol_hours=round(PROTOCOL_GRAPHS / rate / 3600, 1)))  # fmt: skip
    lines = [
        "| dataset | contender | train graphs/s | vs plain | hu2020 protocol, one method |",
        "|---|---|---|---|---|",
    ]
    for row in table:
        lines.append(f"| {row['dataset']} | {row['contender']} | {row['graphs_per_s']:.0f} | "
                     f"{row['ratio']:.2f}x | {hms(row['protocol_hours'] * 3600)} |")  # fmt: skip
    text = "\n".join(lines)
    print(text)
    if args.results:
        where = info["gpu"] or f"{info['cpu']}, {info['cores']} cores"
        section = (
            f"\n### Fine-tuning throughput, fused runs (benchmarks/finetune_throughput.py), "
            f"{datetime.now(UTC).date()}\n\n"
            f"Machine: {where}; torch {info['torch']}, {info['threads']} thread(s), native "
            f"bf16 CPU: {info['native_bf16_cpu']}, load average at start "
            f"{info['load_avg']:.2f}. Hu's settings (GIN 5x300, batch 32, dropout 0.5, "
            f"scaffold split); an epoch = training + scoring valid and test; median of "
            f"{args.rounds} alternating rounds; K = {args.k}; `ceiling-bsN` rows are the "
            f"plain loop with one model at batch N = 32 x K, not the protocol: what large "
            f"batches alone buy on this machine. The projection multiplies the "
            f"rate out to 8 sets x 10 seeds x 100 epochs ({PROTOCOL_GRAPHS:,} training "
            "graphs) for one method.\n\n"
            f"Command: `python benchmarks/finetune_throughput.py --datasets {args.datasets} "
            f"--k {args.k} --rounds {args.rounds} --epochs {args.epochs} --device "
            f"{args.device}{' --limit ' + args.limit if args.limit else ''}"
            f"{' --threads ' + str(args.threads) if args.threads else ''}`\n\n{text}\n"
        )
        with open(args.results, "a", encoding="utf-8") as fh:
            fh.write(section)


if __name__ == "__main__":
    main()
