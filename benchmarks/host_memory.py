"""Resident memory and speed of a fused CPU fine-tuning group under each heap allocator.

    python benchmarks/host_memory.py [--dataset bace] [--k 10] [--epochs 3] [--bf16]
                                     [--contenders glibc,jemalloc,tcmalloc] [--parallel]
                                     [--record benchmarks/RESULTS.md]

Runs the same group (Hu's settings: GIN 5x300, batch 32, dropout 0.5, scaffold split, K runs
of seeds 0..K-1) once per contender, each in a fresh subprocess so the heaps start equal:

- ``glibc``: the C library's malloc (``MOLPT_ALLOCATOR=system``; freed blocks stay in its heap),
- ``trim``: glibc plus ``MOLPT_HEAP_TRIM_EVERY=N`` (``release_host_memory`` every N training
  steps; --every, default 8),
- ``jemalloc`` / ``tcmalloc``: what the ``molpt`` launcher preloads (``molpt.cli.launcher``, the
  same environment; jemalloc with page decay off),
- ``jemalloc-decay``: jemalloc with its default 10 s page decay, for comparison.

``--parallel`` runs the contenders at the same time, one thread each (two contenders on a
2-core machine: both see the same machine at the same moment, like two study processes);
otherwise one after another.  Prints, per epoch, resident memory after the epoch, the peak so
far and seconds per epoch, then each contender's peak, time and user / system CPU against the
first contender; ``--record`` appends the table, with the machine, to a markdown file.  Linux
only (the allocators are preloaded).
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
    from molpt.allocator import loaded_allocator

    print(json.dumps({"epochs": epochs, "allocator": loaded_allocator(),
                      "user": cpu1.user - cpu0.user,
                      "system": cpu1.system - cpu0.system}))


CONTENDERS = ("glibc", "trim", "jemalloc", "jemalloc-decay", "tcmalloc")


def allocator_of(name: str) -> str:
    """The allocator a contender runs under, as ``loaded_allocator`` names it."""
    return "system" if name in ("glibc", "trim") else name.split("-")[0]


def contender_env(name: str, every: int, threads: int) -> dict[str, str]:
    """The environment a contender's process runs with (the launcher's, for an allocator)."""
    from molpt.cli.launcher import LAUNCHED_ENV, AllocatorError, plan

    drop = ("LD_PRELOAD", "MALLOC_CONF", LAUNCHED_ENV, "MOLPT_HEAP_TRIM_EVERY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["OMP_NUM_THREADS"] = str(threads)
    env["MOLPT_HEAP_TRIM_EVERY"] = str(every if name == "trim" else 0)
    allocator = allocator_of(name)
    if allocator == "system":
        return env
    decision = plan(["finetune"], {**env, "MOLPT_ALLOCATOR": allocator}, loaded=lambda: "system")
    if decision is None:
        raise AllocatorError(f"{allocator} is not available on this machine")
    env = decision[1]
    if name == "jemalloc-decay":
        env.pop("MALLOC_CONF", None)
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="bace")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--every", type=int, default=8, help="steps between trims (default 8)")
    ap.add_argument("--contenders", default="glibc,jemalloc,tcmalloc",
                    help=f"comma-separated, from {', '.join(CONTENDERS)}; the first is the base")
    ap.add_argument("--parallel", action="store_true",
                    help="run the contenders at the same time, one thread each")
    ap.add_argument("--threads", type=int, default=0,
                    help="threads per contender when run one after another (default: all)")
    ap.add_argument("--record", type=Path)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        child(a)
        return 0
    names = [n.strip() for n in a.contenders.split(",") if n.strip()]
    if not names or any(n not in CONTENDERS for n in names):
        ap.error(f"--contenders: choose from {', '.join(CONTENDERS)}")
    threads = 1 if a.parallel else (a.threads or os.cpu_count() or 1)
    load = os.getloadavg()[0]
    cmd = [sys.executable, __file__, "--child", "--dataset", a.dataset, "--k", str(a.k),
           "--epochs", str(a.epochs)] + (["--bf16"] if a.bf16 else [])  # fmt: skip
    envs = {n: contender_env(n, a.every, threads) for n in names}

    logs = {n: tempfile.TemporaryFile("w+") for n in names}  # stderr: a full pipe would stall

    def start(n: str) -> subprocess.Popen:
        return subprocess.Popen(cmd, env=envs[n], stdout=subprocess.PIPE, stderr=logs[n],
                                text=True)  # fmt: skip

    runs = {}
    procs = {n: start(n) for n in names} if a.parallel else {}
    for n in names:
        proc = procs.get(n) or start(n)
        out, _ = proc.communicate()
        if proc.returncode != 0:
            logs[n].seek(0)
            print(f"{n}: exit {proc.returncode}\n{logs[n].read()[-2000:]}", file=sys.stderr)
            return 1
        runs[n] = json.loads(out.strip().splitlines()[-1])
        want = allocator_of(n)
        if runs[n]["allocator"] != want:
            print(f"{n}: ran under {runs[n]['allocator']}, not {want}", file=sys.stderr)
            return 1
    import torch
    from finetune_throughput import machine_info

    info = machine_info(torch.device("cpu"))
    prec = "bf16" if a.bf16 else "fp32"
    how = ("all at the same time, one thread each" if a.parallel
           else f"one after another, {threads} thread(s) each")  # fmt: skip
    lines = [
        "### Host memory and speed of a fused CPU group by allocator, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; torch {info['torch']}; load average "
        f"at start {load:.2f}. {a.dataset}, K = {a.k} GIN 5x300 runs, batch 32, dropout 0.5, "
        f"{prec}, {a.epochs} epochs; each contender in a fresh process ({how}). "
        "`glibc` = the C library's malloc (`MOLPT_ALLOCATOR=system`), `trim` = glibc with "
        f"`MOLPT_HEAP_TRIM_EVERY={a.every}`, `jemalloc` / `tcmalloc` = what the `molpt` "
        "command preloads (jemalloc with page decay off), `jemalloc-decay` = jemalloc's "
        "default 10 s decay; RSS / peak in GB after each epoch, s = seconds per epoch.",
        "",
        f"Command: `python benchmarks/host_memory.py --dataset {a.dataset} --k {a.k} --epochs "
        f"{a.epochs}{' --bf16' if a.bf16 else ''} --contenders {','.join(names)}"
        f"{' --parallel' if a.parallel else ''}`",
        "",
        "| epoch | " + " | ".join(f"{n}: RSS / peak | {n}: s" for n in names) + " |",
        "|---|" + "---|---|" * len(names),
    ]
    for i in range(a.epochs):
        cells = [f"{runs[n]['epochs'][i]['rss']:.2f} / {runs[n]['epochs'][i]['peak']:.2f} | "
                 f"{runs[n]['epochs'][i]['seconds']:.1f}" for n in names]  # fmt: skip
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    base = names[0]
    total = {n: sum(e["seconds"] for e in runs[n]["epochs"]) for n in names}
    peak = {n: runs[n]["epochs"][-1]["peak"] for n in names}
    lines += ["", f"| contender | peak GB | vs {base} | time s | vs {base} | "
              "user / system CPU s |", "|---|---|---|---|---|---|"]  # fmt: skip
    for n in names:
        lines.append(f"| {n} | {peak[n]:.2f} | {peak[n] / peak[base]:.2f}x | {total[n]:.0f} | "
                     f"{total[n] / total[base]:.2f}x | {runs[n]['user']:.0f} / "
                     f"{runs[n]['system']:.0f} |")  # fmt: skip
    emit("\n".join(lines) + "\n", a.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
