"""The split probe study: how does the split change the gain of a frozen encoder?

For every encoder in the catalogue whose file is present (Hu et al.'s GCN, GraphSAGE and GAT
checkpoints) and every checkpoint of record (``molpt/...``), a linear probe
(:mod:`molpt.train.probe`) on BBBP, BACE, ClinTox and SIDER under the scaffold, balanced
scaffold, random scaffold and random splits, seeds 0-9, beside the random-init twin of the
same architecture (one twin per architecture and seed, shared by its checkpoints).

Resumable: each encoder's rows go to ``rows/<name>.csv`` once it is done, and a rerun skips
the encoders already there.  ``summary.csv`` and ``report.md`` are rebuilt from the rows
every time.

    python benchmarks/probe_splits.py [--only NAME ...] [--seeds 0-9] [--max-minutes M]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

OUT = Path(__file__).resolve().parent / "results" / "probe_splits"
SPLITS = ("scaffold", "balanced_scaffold", "random_scaffold", "random")
DATASETS = ("bbbp", "bace", "clintox", "sider")


def _encoders(only: list[str] | None) -> list[tuple[str, Path]]:
    from molpt.published.catalogue import entries
    from molpt.published.records import records
    from molpt.published.resolve import resolve_checkpoint

    names = [e.name for e in entries()]
    names += ["molpt/" + c["name"] for c in records() if c.get("present")]
    out = []
    for name in names:
        if only and name not in only:
            continue
        try:
            out.append((name, Path(resolve_checkpoint(name, progress=False))))
        except Exception as exc:  # absent file: say so and go on
            print(f"skip {name}: {str(exc).splitlines()[0][:120]}", file=sys.stderr)
    return out


def _arch_key(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]


def _rows_file(name: str) -> Path:
    return OUT / "rows" / (name.replace("/", "__") + ".csv")


def _probe_cells(emb_of, sets, seeds) -> list[dict]:
    """Probe rows for every dataset × split × seed; ``emb_of(dataset, seed)`` -> (N, D).
    Deterministic cells (the scaffold split of a fixed encoder) are computed once."""
    from molpt.data.splits import split as split_fn
    from molpt.train.probe import linear_probe

    rows, memo = [], {}
    for ps in sets:
        for sp in SPLITS:
            for seed in seeds:
                z, zkey = emb_of(ps.name, seed)
                skey = seed if sp != "scaffold" else 0
                key = (ps.name, sp, skey, zkey)
                if key not in memo:
                    tr, va, te = split_fn(ps.smiles, sp, seed=seed)
                    memo[key] = linear_probe(z, ps.y, ps.task_type, tr, va, te)
                rows.append({"dataset": ps.name, "split": sp, "seed": seed, **memo[key]})
    return rows


def run(only: list[str] | None, seeds: list[int], max_minutes: float | None) -> None:
    from molpt.train.checkpoint import load_encoder
    from molpt.train.device import device_label, device_name
    from molpt.train.probe import embed_graphs, load_probe_sets, random_twin

    t_start = time.perf_counter()
    sets = load_probe_sets(DATASETS)
    dev = torch.device("cpu")
    machine = device_label("cpu", device_name(dev))
    (OUT / "rows").mkdir(parents=True, exist_ok=True)
    for name, path in _encoders(only):
        if max_minutes is not None and time.perf_counter() - t_start > max_minutes * 60:
            print(f"stopped after --max-minutes {max_minutes:g}; rerun to continue")
            break
        enc, ckpt = load_encoder(path)
        cfg = dict(ckpt["encoder_config"])
        arch = f"{cfg.get('conv')}{cfg.get('num_layers')}x{cfg.get('hidden_dim')}"
        twin_name = f"random_init/{arch}_{_arch_key(cfg)}"
        for label, make in ((name, None), (twin_name, cfg)):
            dest = _rows_file(label)
            if dest.is_file():
                continue
            t0 = time.perf_counter()
            if make is None:
                emb = {ps.name: embed_graphs(enc, ps.graphs) for ps in sets}
                rows = _probe_cells(lambda d, s, emb=emb: (emb[d], 0), sets, seeds)
                kind = "pretrained"
            else:
                cache: dict = {}

                def emb_of(d, s, cache=cache, make=make):
                    if s not in cache:
                        twin = random_twin(make, s)
                        cache[s] = {ps.name: embed_graphs(twin, ps.graphs) for ps in sets}
                    return cache[s][d], s

                rows = _probe_cells(emb_of, sets, seeds)
                kind = "random_init"
            secs = time.perf_counter() - t0
            f = pd.DataFrame(rows)
            f.insert(0, "encoder", label)
            f.insert(1, "kind", kind)
            f.insert(2, "architecture", arch)
            f["twin"] = twin_name
            f["device_name"] = machine
            f["seconds"] = secs
            tmp = dest.with_suffix(".tmp")
            f.to_csv(tmp, index=False)
            tmp.replace(dest)
            print(f"{label}: {len(f)} rows in {secs:.0f} s", flush=True)
    summarise()


def summarise() -> None:
    files = sorted((OUT / "rows").glob("*.csv"))
    if not files:
        return
    f = pd.concat([pd.read_csv(p) for p in files], ignore_index=True)
    pre = f[f.kind == "pretrained"]
    twin = f[f.kind == "random_init"].rename(columns={"test": "twin_test"})
    m = pre.merge(twin[["twin", "dataset", "split", "seed", "twin_test"]],
                  on=["twin", "dataset", "split", "seed"], how="left")  # fmt: skip
    m["gain"] = m["test"] - m["twin_test"]
    g = (m.groupby(["encoder", "dataset", "split"], sort=False)
         .agg(seeds=("seed", "nunique"), test=("test", "mean"), test_std=("test", "std"),
              twin_test=("twin_test", "mean"), twin_std=("twin_test", "std"),
              gain=("gain", "mean"), gain_std=("gain", "std"))
         .reset_index())  # fmt: skip
    g.to_csv(OUT / "summary.csv", index=False, float_format="%.4f")
    _report(g, f)


def _report(g: pd.DataFrame, f: pd.DataFrame) -> None:
    # mean over the four sets, per encoder × split: the headline table
    avg = g.groupby(["encoder", "split"], sort=False)[["test", "twin_test", "gain"]].mean()
    wide = avg["gain"].unstack("split").reindex(columns=list(SPLITS))
    lines = [
        "# Split probe study: how the split changes a frozen encoder's gain",
        "",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by "
        "`python benchmarks/probe_splits.py` from `rows/*.csv` on "
        f"{', '.join(sorted(set(f['device_name'])))}.",
        "",
        "Linear probe (frozen encoder, mean-pooled embeddings, PCA-whitened, logistic "
        "regression with C chosen on valid; `molpt probe`) on BBBP, BACE, ClinTox and SIDER; "
        "test ROC-AUC; seeds 0-9 (the seed of the seeded splits and of the random-init "
        "twin). Gain = encoder minus its random-init twin of the same architecture, paired "
        "by seed, in ROC-AUC points x 100, averaged over the four sets.",
        "",
        "| encoder | " + " | ".join(SPLITS) + " |",
        "|---|" + "---|" * len(SPLITS),
    ]
    for enc, row in wide.iterrows():
        cells = ["–" if pd.isna(v) else f"{100 * v:+.1f}" for v in row]
        lines.append(f"| `{enc}` | " + " | ".join(cells) + " |")
    lines += ["", "Mean test ROC-AUC x 100 over the four sets, encoder / its random-init twin:", "",
              "| encoder | " + " | ".join(SPLITS) + " |", "|---|" + "---|" * len(SPLITS)]
    for enc in wide.index:
        cells = []
        for sp in SPLITS:
            if (enc, sp) in avg.index:
                a = avg.loc[(enc, sp)]
                cells.append(f"{100 * a.test:.1f} / {100 * a.twin_test:.1f}")
            else:
                cells.append("–")
        lines.append(f"| `{enc}` | " + " | ".join(cells) + " |")
    lines += ["", "## Per dataset (test ROC-AUC x 100, mean ± std over seeds; twin; gain)", "",
              "| encoder | dataset | split | encoder | twin | gain |", "|---|---|---|---|---|---|"]
    for _, r in g.iterrows():
        lines.append(f"| `{r.encoder}` | {r.dataset} | {r.split} | {100 * r.test:.1f} ± "
                     f"{100 * (r.test_std if not np.isnan(r.test_std) else 0):.1f} | "
                     f"{100 * r.twin_test:.1f} ± {100 * r.twin_std:.1f} | "
                     f"{100 * r.gain:+.1f} ± {100 * r.gain_std:.1f} |")  # fmt: skip
    (OUT / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="encoder names to run (default: all present)")
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--summarise-only", action="store_true")
    a = ap.parse_args(argv)
    if a.summarise_only:
        summarise()
        return
    from molpt.benchmark.grid import parse_seeds

    run(a.only, parse_seeds(a.seeds) or [0], a.max_minutes)


if __name__ == "__main__":
    main()
