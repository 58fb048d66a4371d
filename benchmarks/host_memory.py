"""Resident memory of a fused CPU fine-tuning group with and without the heap trim.

    python benchmarks/host_memory.py [--dataset bace] [--k 10] [--epochs 3] [--bf16]
                                     [--record benchmarks/RESULTS.md]

Runs the same group (Hu's settings: GIN 5x300, batch 32, dropout 0.5, scaffold split, K runs
of seeds 0..K-1) twice, each in a fresh subprocess so the heaps start equal: once with
``MOLPT_HEAP_TRIM_EVERY=N`` (``release_host_memory`` every N training steps; --every,
default 8) and once with the trim off (molpt's default: glibc keeps freed blocks in its
heap).  Prints, per epoch, resident memory after the epoch, the peak so far and seconds
per epoch; then the ratio of the peaks and each
side's user and system CPU time (trimmed pages are faulted in again: system time);
``--record`` appends the table, with the machine, to a markdown file.  Linux/glibc only
(elsewhere the trim is a no-op).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import emit  # noqa: E402


def _rss_gb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**30


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def child(a: argparse.Namespace) -> None:
    """One group in this process; prints a JSON line of per-epoch memory and time."""
    import molpt.train.finetune as ft
    from molpt.data import load_dataset

    os.environ["MOLPT_HEAP_TRIM_EVERY"] = str(a.every if a.trim else 0)
    epochs: list[dict] = []
    t = [time.perf_counter()]
    predict = ft.predict_parts

    def timed_predict(*args, **kw):  # the last call of every epoch
        out = predict(*args, **kw)
        now = time.perf_counter()
        epochs.append({"rss": _rss_gb(), "peak": _peak_gb(), "seconds": now - t[0]})
        t[0] = now
        return out

    ft.predict_parts = timed_predict
    ds = load_dataset(a.dataset, featurizer="basic")
    out = tempfile.mkdtemp(prefix="molpt-hostmem-")
    cfgs = [ft.FinetuneConfig(dataset=a.dataset, split="scaffold", seed=s, epochs=a.epochs,
                              batch_size=32, num_layers=5, hidden_dim=300, dropout=0.5,
                              bf16=a.bf16, device="cpu", out=os.path.join(out, str(s)))
            for s in range(a.k)]  # fmt: skip
    t[0] = time.perf_counter()
    cpu0 = os.times()
    ft.finetune_group(cfgs, dataset=ds, progress=False)
    cpu1 = os.times()
    print(json.dumps({"epochs": epochs, "user": cpu1.user - cpu0.user,
                      "system": cpu1.system - cpu0.system}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="bace")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--every", type=int, default=8, help="steps between trims (default 8)")
    ap.add_argument("--record", type=Path)
    ap.add_argument("--child", choices=["trim", "keep"], help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        a.trim = a.child == "trim"
        child(a)
        return 0
    import torch
    from finetune_throughput import machine_info

    info = machine_info(torch.device("cpu"))
    runs = {}
    for mode in ("trim", "keep"):
        cmd = [sys.executable, __file__, "--child", mode, "--dataset", a.dataset, "--k",
               str(a.k), "--epochs", str(a.epochs), "--every", str(a.every)]  # fmt: skip
        cmd += ["--bf16"] if a.bf16 else []
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            print(res.stderr[-2000:], file=sys.stderr)
            return 1
        runs[mode] = json.loads(res.stdout.strip().splitlines()[-1])
    prec = "bf16" if a.bf16 else "fp32"
    lines = [
        f"### Host memory of a fused CPU group, {datetime.now(UTC):%Y-%m-%d}",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; torch {info['torch']}, "
        f"{info['threads']} thread(s), load average at start {info['load_avg']:.2f}. "
        f"{a.dataset}, K = {a.k} GIN 5x300 runs, batch 32, dropout 0.5, {prec}, "
        f"{a.epochs} epochs; each side in a fresh process. `trim` = `MOLPT_HEAP_TRIM_EVERY="
        f"{a.every}` (freed heap blocks returned every {a.every} training steps and at each "
        "epoch's end), `keep` = no trim (molpt's default); s = seconds per epoch.",
        "",
        "| epoch | trim: RSS / peak GB | trim: s | keep: RSS / peak GB | keep: s |",
        "|---|---|---|---|---|",
    ]
    for i, (t, k) in enumerate(zip(runs["trim"]["epochs"], runs["keep"]["epochs"],
                                   strict=True), 1):  # fmt: skip
        lines.append(f"| {i} | {t['rss']:.2f} / {t['peak']:.2f} | {t['seconds']:.1f} | "
                     f"{k['rss']:.2f} / {k['peak']:.2f} | {k['seconds']:.1f} |")  # fmt: skip
    pt, pk = runs["trim"]["epochs"][-1]["peak"], runs["keep"]["epochs"][-1]["peak"]
    st = sum(e["seconds"] for e in runs["trim"]["epochs"])
    sk = sum(e["seconds"] for e in runs["keep"]["epochs"])
    lines += ["", f"Peak: {pt:.2f} GB with the trim vs {pk:.2f} GB without "
              f"(**{pk / pt:.2f}x** less); time {st:.0f} s with the trim vs {sk:.0f} s without "
              f"({st / sk:.2f}x); CPU user / system: {runs['trim']['user']:.0f} / "
              f"{runs['trim']['system']:.0f} s with the trim, {runs['keep']['user']:.0f} / "
              f"{runs['keep']['system']:.0f} s without."]
    text = "\n".join(lines) + "\n"
    emit(text, a.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
