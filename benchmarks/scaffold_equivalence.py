"""Proof that molpt's linear-time scaffolds equal RDKit's Murcko scaffolds, plus timings.

Usage:  python benchmarks/scaffold_equivalence.py [--moses 100000] [--data-dir D] [--no-write]

For every molecule RDKit parses in the eleven MoleculeNet sets (``$MOLPT_DATA`` or
``--data-dir``) and in the first ``--moses`` MOSES molecules (``pretrain/moses_train.csv.gz``
beside it), compares ``molpt.data.splits.scaffold_of`` with
``MurckoScaffold.MurckoScaffoldSmiles(mol=..., includeChirality=...)``, with and without
chirality (the split methods use both).  Any difference is printed and counted.  Then times
both on one growing molecule (RDKit only where it stays under a minute) and the whole
``molpt split`` path on a set that holds a 10,000-character SMILES.  The result is appended
to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd
from rdkit import Chem, RDLogger, rdBase
from rdkit.Chem.Scaffolds import MurckoScaffold

from molpt.data import DATASETS
from molpt.data.splits import murcko_scaffold_mol, scaffold_split

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _rdkit(mol: Chem.Mol, chir: bool) -> str:
    try:
        return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=chir)
    except Exception as exc:  # noqa: BLE001 - compare failures too
        return f"<error {type(exc).__name__}>"


def _molpt(mol: Chem.Mol, chir: bool) -> str:
    try:
        return Chem.MolToSmiles(murcko_scaffold_mol(mol), chir)
    except Exception as exc:  # noqa: BLE001
        return f"<error {type(exc).__name__}>"


def compare(name: str, smiles: list[str]) -> dict:
    parsed = same = diff = 0
    t_rd = t_mp = 0.0
    examples = []
    for s in smiles:
        if not isinstance(s, str):
            continue
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        parsed += 1
        for chir in (True, False):
            t0 = time.perf_counter()
            a = _rdkit(mol, chir)
            t1 = time.perf_counter()
            b = _molpt(mol, chir)
            t2 = time.perf_counter()
            t_rd += t1 - t0
            t_mp += t2 - t1
            if a == b:
                same += 1
            else:
                diff += 1
                if len(examples) < 5:
                    examples.append((s, chir, a, b))
    for e in examples:
        print(f"  DIFF {name}: {e}", file=sys.stderr)
    return {"set": name, "rows": len(smiles), "parsed": parsed, "same": same, "diff": diff,
            "rdkit_s": t_rd, "molpt_s": t_mp}  # fmt: skip


def _chain(k: int) -> str:
    return "c1ccccc1" + "CC(C)C(=O)Nc1ccc(cc1)" * k + "C"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moses", type=int, default=100_000)
    default_dir = os.environ.get("MOLPT_DATA", "../shared/data/moleculenet")
    ap.add_argument("--data-dir", default=default_dir)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    RDLogger.DisableLog("rdApp.*")
    # timings first, in a fresh process (a long comparison run first slows them)
    growth = []
    for k in (50, 100, 200, 300, 500):
        s = _chain(k)
        mol = Chem.MolFromSmiles(s)
        t0 = time.perf_counter()
        b = _molpt(mol, True)
        t_mp = time.perf_counter() - t0
        t_rd = None
        if k <= 300:
            t0 = time.perf_counter()
            a = _rdkit(mol, True)
            t_rd = time.perf_counter() - t0
            assert a == b, (k, a[:80], b[:80])
        growth.append((len(s), mol.GetNumAtoms(), t_rd, t_mp))
        print(growth[-1], file=sys.stderr)

    big = _chain(476)  # 10,004 characters
    smiles = pd.read_csv(Path(args.data_dir) / "BBBP.csv")["smiles"].tolist() + [big]
    t0 = time.perf_counter()
    scaffold_split(smiles)
    t_split = time.perf_counter() - t0

    root = Path(args.data_dir)
    rows = []
    for name in [n for n, s in DATASETS._items.items() if s.kind == "benchmark"]:
        spec = DATASETS.get(name)
        df = pd.read_csv(root / spec.file_name, usecols=[spec.smiles_col])
        rows.append(compare(name, df[spec.smiles_col].tolist()))
        print(rows[-1], file=sys.stderr)
    moses = root.parent / "pretrain" / "moses_train.csv.gz"
    df = pd.read_csv(moses, nrows=args.moses)
    rows.append(compare(f"moses (first {args.moses:,})", df["SMILES"].tolist()))
    print(rows[-1], file=sys.stderr)

    total_same = sum(r["same"] for r in rows)
    total_diff = sum(r["diff"] for r in rows)
    total_mols = sum(r["parsed"] for r in rows)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## scaffold_equivalence.py — {now}",
        "",
        f"Machine: {platform.platform()}; os.cpu_count()={os.cpu_count()}; python "
        f"{platform.python_version()}; rdkit {rdBase.rdkitVersion}; load average "
        f"{os.getloadavg()[0]:.1f}.",
        "Every RDKit-parsable molecule of the 11 MoleculeNet sets and the first "
        f"{args.moses:,} MOSES molecules; each compared twice (with and without chirality): "
        "`molpt.data.splits` scaffold vs `MurckoScaffold.MurckoScaffoldSmiles`.",
        "",
        "| set | rows | parsed | identical | different | RDKit (s) | molpt (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['rows']:,} | {r['parsed']:,} | {r['same']:,} | {r['diff']:,} "
            f"| {r['rdkit_s']:.1f} | {r['molpt_s']:.1f} |"
        )
    lines += [
        f"| **total** | | {total_mols:,} | {total_same:,} | {total_diff:,} | | |",
        "",
        "One growing molecule (`c1ccccc1` + k x `CC(C)C(=O)Nc1ccc(cc1)`), scaffold time "
        "(RDKit only up to 300 repeats):",
        "",
        "| SMILES characters | atoms | RDKit (s) | molpt (s) |",
        "|---:|---:|---:|---:|",
    ]
    for n_chars, n_atoms, t_rd, t_mp in growth:
        rd = f"{t_rd:.2f}" if t_rd is not None else "not run"
        lines.append(f"| {n_chars:,} | {n_atoms:,} | {rd} | {t_mp:.3f} |")
    lines += [
        "",
        f"`scaffold_split` of BBBP plus one {len(big):,}-character SMILES: {t_split:.1f} s.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        with open(RESULTS, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    if total_diff:
        sys.exit(1)


if __name__ == "__main__":
    main()
