"""Prediction speed and memory: ``molpt predict`` against its ceiling, and chemprop v2's.

    python benchmarks/predict_throughput.py                      # N = 100,000 MOSES molecules
    python benchmarks/predict_throughput.py --n 5000 --rss 2000 8000 --record benchmarks/RESULTS.md

Side by side in one run, on the first N molecules of MOSES (``--moses``, column SMILES):

1. five BBBP GIN models (5 x 300, ``--epochs`` epochs, seeds 0-4, one fused group) are
   fine-tuned; chemprop v2's default MPNN is trained on BBBP for as many epochs;
2. the ceiling: the same models' forward pass (``Ensemble.predict_graphs``: the stacked
   model plus the output transform) over already-featurized chunks, timed alone;
3. ``molpt predict`` (a fresh process: start-up, reading, featurizing, model, fingerprints,
   applicability domain, writing) with 1 model, then 5, and its ratio to the ceiling;
4. peak RSS of ``molpt predict`` (1 model) on the two ``--rss`` sizes (flat: ratio <= 1.3);
5. ``molpt predict`` with a 3-model ensemble on the N molecules (wall, molecules/s, RSS);
6. ``chemprop predict`` with its model on the same N molecules.

Every timed command runs in a child process with ``OMP_NUM_THREADS=--threads`` under a small
wrapper that reports its peak RSS (``getrusage(RUSAGE_CHILDREN)``: the largest single
process, workers included).  ``--record FILE`` appends the section to FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import emit  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MOSES = Path("/work/shared/data/pretrain/moses_train.csv.gz")

#: runs a command and prints its peak RSS (KiB, the largest descendant waited for)
WRAP = (
    "import json, resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:]).returncode\n"
    "print(json.dumps({'rc': rc, 'maxrss_kib': "
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
)


def machine() -> str:
    """CPU model, cores and load: where the numbers come from."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()}-core {name}, load average {load:.1f} at start"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def env(threads: int) -> dict[str, str]:
    e = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        e[k] = str(threads)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def measured(cmd: list[str], threads: int, log: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS GiB) of ``cmd`` run in a child process; raises on failure."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        p = subprocess.run([sys.executable, "-c", WRAP, *cmd], env=env(threads),
                           stdout=subprocess.PIPE, stderr=fh, text=True)  # fmt: skip
    wall = time.perf_counter() - t0
    last = [ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1]
    res = json.loads(last)
    if res["rc"] != 0 or p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed (rc {res['rc']}); see {log}")
    return wall, res["maxrss_kib"] / 2**20


def library(moses: Path, n: int, out: Path) -> Path:
    """The first ``n`` MOSES SMILES as a one-column CSV ``smiles``."""
    df = pd.read_csv(moses, nrows=n, usecols=["SMILES"])
    if len(df) < n:
        raise SystemExit(f"{moses} has only {len(df)} molecules, {n} asked for")
    df.rename(columns={"SMILES": "smiles"}).to_csv(out, index=False)
    return out


def train_molpt(work: Path, epochs: int, k: int) -> list[Path]:
    """``k`` BBBP GIN models (seeds 0..k-1, one fused group) as model folders."""
    from molpt.train.finetune import FinetuneConfig, finetune_group

    outs = [work / "molpt" / f"seed{s}" for s in range(k)]
    if all((o / "model.json").is_file() for o in outs):
        return outs
    cfgs = [FinetuneConfig(dataset="bbbp", seed=s, epochs=epochs, device="cpu", out=str(o),
                           overwrite=True) for s, o in enumerate(outs)]  # fmt: skip
    finetune_group(cfgs, progress=False)
    return outs


def ceiling(model_dirs: list[Path], lib: Path, chunk: int = 10000) -> float:
    """Seconds of the models' forward pass alone over already-featurized chunks."""
    from molpt.predict import load_model
    from molpt.predict.stream import featurize_chunk, graphs_of

    pred = load_model(model_dirs)
    smiles = pd.read_csv(lib)["smiles"].tolist()
    feat = pred.featurizer
    chunks = [graphs_of(feat, featurize_chunk(feat, smiles[a : a + chunk])[0])
              for a in range(0, len(smiles), chunk)]  # fmt: skip
    warm = featurize_chunk(pred.featurizer, smiles[:256])[0]
    pred.ensemble.predict_graphs(graphs_of(pred.featurizer, warm))  # warm-up
    t0 = time.perf_counter()
    for g in chunks:
        pred.ensemble.predict_graphs(g)
    return time.perf_counter() - t0


def molpt_predict(model_dirs: list[Path], lib: Path, out: Path, threads: int, workers: int,
                  log: Path) -> tuple[float, float]:  # fmt: skip
    cmd = [sys.executable, "-m", "molpt", "predict", str(lib), "--out", str(out), "--no-progress",
           "--workers", str(workers)]  # fmt: skip
    for d in model_dirs:
        cmd += ["--model", str(d)]
    out.unlink(missing_ok=True)
    res = measured(cmd, threads, log)
    rows = sum(1 for _ in open(out)) - 1
    n = sum(1 for _ in open(lib)) - 1
    if rows != n:
        raise RuntimeError(f"{out} has {rows} rows, expected {n}")
    return res


def chemprop(venv: Path, work: Path, lib: Path, epochs: int, threads: int,
             data: Path) -> tuple[float, float] | str:  # fmt: skip
    """(wall, RSS) of ``chemprop predict`` on ``lib``, or why it could not run."""
    exe = venv / "bin" / "chemprop"
    if not exe.is_file():
        return f"chemprop is not installed in {venv}"
    save = work / "chemprop"
    models = sorted(save.rglob("best*.pt")) if save.exists() else []
    if not models:
        cmd = [str(exe), "train", "-i", str(data), "-s", "smiles", "--target-columns", "p_np",
               "-t", "classification", "--epochs", str(epochs), "--save-dir", str(save),
               "--accelerator", "cpu", "--devices", "1", "-n", "0"]  # fmt: skip
        try:
            measured(cmd, threads, work / "chemprop_train.log")
        except RuntimeError as exc:
            return f"chemprop train failed: {exc}"
        models = sorted(save.rglob("best*.pt"))
        if not models:
            return f"chemprop train wrote no best*.pt under {save}"
    out = work / "chemprop_preds.csv"
    cmd = [str(exe), "predict", "-i", str(lib), "-s", "smiles", "--model-paths", str(models[0]),
           "-o", str(out), "--accelerator", "cpu", "--devices", "1", "-n", "0"]  # fmt: skip
    try:
        return measured(cmd, threads, work / "chemprop_predict.log")
    except RuntimeError as exc:
        return f"chemprop predict failed: {exc}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="molecules to score (default 100000)")
    ap.add_argument("--n5", type=int, default=None,
                    help="molecules for the 5-model comparison (default --n)")  # fmt: skip
    ap.add_argument("--rss", type=int, nargs=2, default=[10_000, 200_000],
                    help="the two library sizes of the memory check")  # fmt: skip
    ap.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (both tools)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=0, help="molpt predict --workers")
    ap.add_argument("--moses", type=Path, default=DEFAULT_MOSES)
    ap.add_argument("--chemprop-venv", type=Path, default=Path("/work/chemprop_venv"))
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (kept if given)")
    ap.add_argument("--record", type=Path, default=None)
    a = ap.parse_args(argv)

    import torch

    torch.set_num_threads(a.threads)
    where = machine()
    work = a.work or Path(tempfile.mkdtemp(prefix="molpt-predict-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        lib = library(a.moses, a.n, work / f"moses_{a.n}.csv")
        t0 = time.perf_counter()
        dirs = train_molpt(work, a.epochs, 5)
        print(f"fine-tuned 5 BBBP GIN models in {time.perf_counter() - t0:.0f} s", flush=True)
        rows = []
        n5 = a.n5 or a.n
        lib5 = lib if n5 == a.n else library(a.moses, n5, work / f"moses_{n5}.csv")
        for k, n, src in ((1, a.n, lib), (5, n5, lib5)):
            c = ceiling(dirs[:k], src)
            w, rss = molpt_predict(dirs[:k], src, work / f"pred{k}.csv", a.threads, a.workers,
                                   work / f"pred{k}.log")  # fmt: skip
            rows.append((k, n, n / c, n / w, c / w, rss))
            print(f"{k} model(s), {n} molecules: ceiling {n / c:.0f} mol/s, predict "
                  f"{n / w:.0f} mol/s ({c / w:.2f} of the ceiling), peak RSS {rss:.2f} GiB",
                  flush=True)  # fmt: skip
            (work / f"pred{k}.csv").unlink(missing_ok=True)
        mem = []
        for n in a.rss:
            small = library(a.moses, n, work / f"moses_{n}.csv")
            w, rss = molpt_predict(dirs[:1], small, work / f"rss{n}.csv", a.threads, a.workers,
                                   work / f"rss{n}.log")  # fmt: skip
            mem.append((n, w, rss))
            print(f"RSS: {n} molecules: {rss:.3f} GiB ({n / w:.0f} mol/s)", flush=True)
            (work / f"rss{n}.csv").unlink(missing_ok=True)
        w3, rss3 = molpt_predict(dirs[:3], lib, work / "pred3.csv", a.threads, a.workers,
                                 work / "pred3.log")  # fmt: skip
        print(f"3-model ensemble on {a.n}: {w3:.1f} s, {a.n / w3:.0f} mol/s, peak RSS "
              f"{rss3:.2f} GiB", flush=True)
        bbbp = work / "bbbp.csv"
        from molpt.data import resolve_dataset

        _, src = resolve_dataset("bbbp")
        pd.read_csv(src).to_csv(bbbp, index=False)
        cp = chemprop(a.chemprop_venv, work, lib, a.epochs, a.threads, bbbp)
        print(f"chemprop: {cp}", flush=True)
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)

    lines = [
        f"### molpt predict throughput and memory, {time.strftime('%Y-%m-%d')}",
        "",
        f"`benchmarks/predict_throughput.py --n {a.n}` (commit {commit()}), {where}; "
        f"{a.threads} thread(s) per process, `--workers {a.workers}`; the first {a.n:,} MOSES "
        f"molecules; models: BBBP GIN 5 x 300 fine-tuned {a.epochs} epochs (molpt) / chemprop "
        f"v2's default MPNN trained {a.epochs} epochs. Ceiling = the same models' forward pass "
        "over already-featurized chunks; predict = the whole `molpt predict` process (start-up, "
        "reading, featurizing, model, fingerprints and applicability domain, writing).",
        "",
        "| what | molecules/s | of the ceiling | peak RSS |",
        "|---|---|---|---|",
    ]
    for k, n, cr, pr, ratio, rss in rows:
        lines += [f"| ceiling, {k} model(s), {n:,} molecules | {cr:,.0f} | 1 | |",
                  f"| `molpt predict`, {k} model(s), {n:,} molecules | {pr:,.0f} | {ratio:.2f} | "
                  f"{rss:.2f} GiB |"]  # fmt: skip
    lines.append(f"| `molpt predict`, 3 models, {a.n:,} molecules: {w3:.0f} s | "
                 f"{a.n / w3:,.0f} | | {rss3:.2f} GiB |")  # fmt: skip
    if isinstance(cp, tuple):
        lines.append(f"| `chemprop predict` (chemprop {chemprop_version(a.chemprop_venv)}), 1 "
                     f"model | {a.n / cp[0]:,.0f} | | {cp[1]:.2f} GiB |")  # fmt: skip
    (n1, w1, r1), (n2, w2, r2) = mem
    lines += [
        "",
        f"- Memory: `molpt predict` (1 model) peaked at {r1:.3f} GiB on {n1:,} molecules and "
        f"{r2:.3f} GiB on {n2:,} ({r2 / r1:.2f}x for {n2 / n1:.0f}x the molecules; goal <= 1.3).",
    ]
    if not isinstance(cp, tuple):
        lines.append(f"- chemprop: not measured: {cp}.")
    emit("\n".join(lines) + "\n", a.record)
    return 0


def chemprop_version(venv: Path) -> str:
    try:
        return subprocess.run([str(venv / "bin" / "python"), "-c",
                               "import chemprop; print(chemprop.__version__)"],
                              capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "?"


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
