"""Featurization throughput: molpt (basic, ogb; 1 and 2 workers; cache reload) vs OGB.

Usage:  python benchmarks/featurize.py [--n 20000] [--repeats 3] [--data-dir D] [--no-write]

All timings use the same first ``n`` MOSES molecules (the catalogue's ``moses`` file, found
from ``--data-dir`` / ``$MOLPT_DATA``).  Single-process timings are the best of ``repeats``
repetitions, interleaved so that machine noise hits every method alike.  The OGB baseline
calls ``ogb.utils.smiles2graph`` once per SMILES (it builds the same numpy arrays that the
``ogb`` featurizer produces).  Results are appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from rdkit import RDLogger, rdBase

from molpt.data import DATASETS, local_path, read_table
from molpt.featurize import featurize_many
from molpt.featurize.cache import cached_featurize
from molpt.train.device import cpu_name

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\n"
    "Each run appends a dated section (machine, versions, numbers). Never rewrite other "
    "sections.\n"
)


def ogb_baseline(smiles: list[str]) -> int:
    from ogb.utils import smiles2graph

    n = 0
    for s in smiles:
        g = smiles2graph(s)
        n += g["num_nodes"] > 0
    return n


def molpt_run(smiles: list[str], name: str, workers: int = 1) -> int:
    graphs, _ = featurize_many(smiles, name, workers=workers)
    return len(graphs)


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="molecules (first n of MOSES)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args(argv)

    RDLogger.DisableLog("rdApp.*")
    load = os.getloadavg()  # other processes on a small machine skew multi-worker numbers
    path = local_path(DATASETS.get("moses"), args.data_dir)
    if path is None:
        sys.exit("error: MOSES file not found; set MOLPT_DATA or --data-dir")
    smiles, *_ = read_table(path, limit=args.n)
    n = len(smiles)
    print(f"{n} MOSES molecules from {path}", file=sys.stderr)

    # warm-up (imports, lookup tables, RDKit first-call costs)
    ogb_baseline(smiles[:200])
    molpt_run(smiles[:200], "basic")
    molpt_run(smiles[:200], "ogb")

    methods = {
        "ogb.smiles2graph": lambda: ogb_baseline(smiles),
        "molpt basic": lambda: molpt_run(smiles, "basic"),
        "molpt ogb": lambda: molpt_run(smiles, "ogb"),
    }
    best = {k: float("inf") for k in methods}
    for r in range(args.repeats):
        for k, fn in methods.items():  # interleaved
            t = timed(fn)
            best[k] = min(best[k], t)
            print(f"  rep {r + 1}: {k:18s} {t:7.2f} s", file=sys.stderr)
    for name in ("basic", "ogb"):
        key = f"molpt {name} --workers 2"
        best[key] = min(timed(molpt_run, smiles, name, 2) for _ in range(2))
        print(f"  {key:28s} {best[key]:7.2f} s", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        miss = timed(cached_featurize, smiles, "ogb", {"bench": n}, 1, tmp)
        hit = min(timed(cached_featurize, smiles, "ogb", {"bench": n}, 1, tmp) for _ in range(3))
    best["molpt ogb cache miss (featurize + save)"] = miss
    best["molpt ogb cache reload"] = hit

    rate = {k: n / v for k, v in best.items()}
    base = rate["ogb.smiles2graph"]
    ratios = {
        "molpt ogb / OGB (1 process)": rate["molpt ogb"] / base,
        "molpt basic / OGB (1 process)": rate["molpt basic"] / base,
        "molpt ogb 2 workers / 1 worker": rate["molpt ogb --workers 2"] / rate["molpt ogb"],
        "molpt basic 2 workers / 1 worker": rate["molpt basic --workers 2"] / rate["molpt basic"],
        "cache reload / featurize (ogb, 1 process)": best["molpt ogb"] / hit,
    }
    lines = ["| method | best time (s) | mol/s |", "|---|---:|---:|"]
    lines += [f"| {k} | {best[k]:.2f} | {rate[k]:,.0f} |" for k in best]
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f}x |" for k, v in ratios.items()]
    table = "\n".join(lines)
    print(table)

    machine = (
        f"{platform.platform()}; {cpu_name()}; os.cpu_count()={os.cpu_count()}; "
        f"python {platform.python_version()}; torch {torch.__version__}; "
        f"rdkit {rdBase.rdkitVersion}; load average at start {load[0]:.2f}"
    )
    if not args.no_write:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            f"\n## featurize.py — {stamp}\n\n"
            f"Machine: {machine}.\n"
            f"Input: first {n} MOSES molecules; single-process numbers are the best of "
            f"{args.repeats} interleaved repetitions, 2-worker numbers the best of 2.\n\n"
            f"{table}\n"
        )
        if not RESULTS.exists():
            RESULTS.write_text(HEADER)
        with open(RESULTS, "a", encoding="utf-8") as fh:
            fh.write(section)
        print(f"appended to {RESULTS}", file=sys.stderr)
    return {"best": best, "ratios": ratios}


if __name__ == "__main__":
    main()
