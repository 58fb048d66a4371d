"""The layer probe study: which layer of a frozen encoder knows the most, and does
pretraining help there even when the output layer loses to a random initialisation?

For every checkpoint of record (``molpt/...``) and Hu et al.'s context-prediction encoders
present in the catalogue, ``molpt probe --layers all`` on BBBP, BACE, ClinTox and SIDER
(scaffold split): a logistic regression on each layer's mean-pooled node states alone
(layer 0 = the input embedding), beside the same layer of the random-init twin of the
architecture (seeds 0-4, computed once per architecture).

Resumable like the split probe study: each encoder's rows go to ``rows/<name>.csv`` once it
is done and a rerun skips it; ``summary.csv`` and ``report.md`` are rebuilt every time.

    python benchmarks/probe_layers.py [--only NAME ...] [--seeds 0-4] [--max-minutes M]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import pandas as pd
from probe_splits import DATASETS, _arch_key, _encoders

OUT = Path(__file__).resolve().parent / "results" / "probe_layers"
#: Hu et al.'s published encoders taken by default: their self-supervised context prediction
#: (alone and followed by supervised pretraining), beside molpt's own records
DEFAULT_PUBLISHED = ("contextpred", "supervised_contextpred")


def _rows_file(name: str) -> Path:
    return OUT / "rows" / (name.replace("/", "__") + ".csv")


def _wanted(name: str) -> bool:
    if name.startswith("molpt/"):
        return True
    tail = name.split("/", 1)[-1]  # e.g. gcn_supervised_contextpred
    return tail.split("_", 1)[-1] in DEFAULT_PUBLISHED


def run(only: list[str] | None, seeds: list[int], max_minutes: float | None) -> None:
    """The encoders' rows (scaffold is one fixed split: one fit per layer) and, once per
    architecture, its random-init twins for every seed in ``seeds``."""
    from molpt.train.checkpoint import load_checkpoint
    from molpt.train.device import device_label, device_name
    from molpt.train.probe import load_probe_sets, probe_checkpoint, probe_twin

    t_start = time.perf_counter()
    machine = device_label("cpu", device_name("cpu"))
    sets_of: dict[str, list] = {}

    def write(dest: Path, rows: list[dict], **cols) -> None:
        f = pd.DataFrame(rows).assign(device_name=machine, **cols)
        dest.parent.mkdir(parents=True, exist_ok=True)
        f.to_csv(dest, index=False, float_format="%.6g")

    for name, path in _encoders(only):
        if not only and not _wanted(name):
            continue
        if max_minutes and time.perf_counter() - t_start > 60 * max_minutes:
            print(f"stopped after --max-minutes {max_minutes:g}; rerun to continue")
            return
        ckpt = load_checkpoint(path)
        cfg = dict(ckpt["encoder_config"])
        feat, arch = ckpt["featurizer"]["name"], _arch_key(cfg)
        layers = list(range(int(cfg["num_layers"]) + 1))
        dest, twin_dest = _rows_file(name), OUT / "rows" / f"twin__{arch}.csv"
        if feat not in sets_of and not (dest.is_file() and twin_dest.is_file()):
            sets_of[feat] = load_probe_sets(list(DATASETS), feat)
        if not dest.is_file():
            t0 = time.perf_counter()
            rows = probe_checkpoint(path, DATASETS, ["scaffold"], [0], twin=False,
                                    sets=sets_of[feat], label=name, layers=layers)  # fmt: skip
            write(dest, rows, arch=arch)
            print(f"{name}: {len(rows)} rows in {time.perf_counter() - t0:.0f} s", flush=True)
        have = set(pd.read_csv(twin_dest).seed) if twin_dest.is_file() else set()
        if not set(seeds) <= have:
            t0 = time.perf_counter()
            rows = probe_twin(cfg, sets_of[feat], ["scaffold"], seeds, layers=layers)
            write(twin_dest, rows, arch=arch, checkpoint=f"random_init {cfg.get('conv', '')}",
                  encoder="random_init")  # fmt: skip
            print(f"twin of {name} ({arch}), seeds {seeds}: {len(rows)} rows in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip


def summarise() -> pd.DataFrame:
    """Per encoder × layer: the encoder's and its twins' (mean over seeds) test ROC-AUC, mean
    of the four sets, and the gain; writes ``summary.csv`` and ``report.md``."""
    files = sorted((OUT / "rows").glob("*.csv"))
    if not files:
        return pd.DataFrame()
    enc = pd.concat([pd.read_csv(p) for p in files if not p.name.startswith("twin__")],
                    ignore_index=True)  # fmt: skip
    twins = pd.concat([pd.read_csv(p) for p in files if p.name.startswith("twin__")],
                      ignore_index=True)  # fmt: skip
    t = (twins.groupby(["arch", "layer", "dataset"])["test"]
         .agg(random_init="mean", twin_std="std", twin_n="size").reset_index())  # fmt: skip
    wide = enc.rename(columns={"test": "pretrained"})[
        ["checkpoint", "arch", "layer", "dataset", "pretrained"]].merge(
        t, on=["arch", "layer", "dataset"], how="inner")  # fmt: skip
    wide["gain"] = wide["pretrained"] - wide["random_init"]
    g = (wide.groupby(["checkpoint", "layer"])[["pretrained", "random_init", "gain"]]
         .mean().reset_index())  # fmt: skip
    g.to_csv(OUT / "summary.csv", index=False, float_format="%.6g")
    _report(g, wide, enc, sorted(twins.seed.unique()))
    return g


def _report(g: pd.DataFrame, wide: pd.DataFrame, f: pd.DataFrame, twin_seeds: list) -> None:
    def pts(v: float) -> str:
        return f"{100 * v:+.1f}"

    layers = sorted(g.layer.unique())
    lines = [
        "# Layer probe study: which layer of a frozen encoder knows the most",
        "",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `python "
        f"benchmarks/probe_layers.py` from `rows/*.csv` on {f.device_name.iloc[0]}.",
        "",
        "`molpt probe CKPT --layers all` on BBBP, BACE, ClinTox and SIDER, scaffold split (one "
        "fixed split): a logistic regression (C chosen on valid) on one layer's mean-pooled "
        "node states (layer 0 = the input embedding; an inner layer after its ReLU), "
        "PCA-whitened. The same for the random-init twin of each architecture, initialised "
        f"with seeds {', '.join(str(int(s)) for s in twin_seeds)} (mean over seeds). Gain = "
        "encoder minus twin, test ROC-AUC points x 100, mean of the four sets. The twins' "
        "spread over seeds (per layer, mean of the four sets' std) is in the last table.",
        "",
        "## Gain over the twin, per layer",
        "",
        "| encoder | " + " | ".join(f"layer {x}" for x in layers) + " | best layer |",
        "|---|" + "---|" * (len(layers) + 1),
    ]
    for ck, s in g.groupby("checkpoint", sort=True):
        by = s.set_index("layer")
        best = int(by.pretrained.idxmax())
        lines.append(f"| `{ck}` | " + " | ".join(
            pts(by.gain.get(x, float("nan"))) for x in layers) + f" | {best} |")  # fmt: skip
    def pair_table(title: str, frame: pd.DataFrame, keys: list[str]) -> None:
        """Encoder / twin test ROC-AUC per layer, one row per ``keys`` group."""
        head = [{"checkpoint": "encoder"}.get(k, k) for k in keys]
        head += [f"layer {x}" for x in layers]
        lines.extend(["", title, "", "| " + " | ".join(head) + " |",
                      "|" + "---|" * len(head)])  # fmt: skip
        for key, s in frame.groupby(keys, sort=True):
            by = s.set_index("layer")
            cells = [f"`{key[0]}`", *map(str, key[1:])]
            lines.append("| " + " | ".join(cells) + " | " + " | ".join(
                f"{100 * by.pretrained[x]:.1f} / {100 * by.random_init[x]:.1f}"
                if x in by.index else "–" for x in layers) + " |")  # fmt: skip

    pair_table("## Mean test ROC-AUC x 100 of the four sets, encoder / twin, per layer", g,
               ["checkpoint"])  # fmt: skip
    pair_table("## Per dataset (test ROC-AUC x 100, encoder / twin)", wide,
               ["checkpoint", "dataset"])  # fmt: skip
    spread = wide.drop_duplicates(["arch", "layer", "dataset"]).groupby(["arch", "layer"])[
        "twin_std"].mean().unstack("layer")  # fmt: skip
    archs = f.drop_duplicates("arch").set_index("arch")["checkpoint"]
    lines += ["", "## Twin spread over seeds (test ROC-AUC std x 100, mean of the four sets)",
              "", "| architecture (first encoder) | " + " | ".join(
                  f"layer {x}" for x in layers) + " |", "|---|" + "---|" * len(layers)]
    for arch, row in spread.iterrows():
        lines.append(f"| {arch} (`{archs.get(arch, '?')}`) | " + " | ".join(
            f"{100 * row.get(x, float('nan')):.1f}" for x in layers) + " |")  # fmt: skip
    (OUT / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    from molpt.benchmark.grid import parse_seeds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="encoder names (default: all)")
    ap.add_argument("--seeds", default="0-4", help="twin seeds (the scaffold split is fixed)")
    ap.add_argument("--max-minutes", type=float, default=None)
    a = ap.parse_args(argv)
    run(a.only, parse_seeds(a.seeds), a.max_minutes)
    g = summarise()
    if len(g):
        print(g.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"wrote {OUT / 'report.md'}")


if __name__ == "__main__":
    main()
