"""The layer probe study: which layer of a frozen encoder knows the most, and does
pretraining help there even when the output layer loses to a random initialisation?

For every checkpoint of record (``molpt/...``) and Hu et al.'s context-prediction encoders
present in the catalogue, ``molpt probe --layers all`` on BBBP, BACE, ClinTox and SIDER
(scaffold split): a logistic regression on each layer's mean-pooled node states alone
(layer 0 = the input embedding), beside the same layer of the random-init twin.

Resumable like the split probe study: each encoder's rows go to ``rows/<name>.csv`` once it
is done and a rerun skips it; ``summary.csv`` and ``report.md`` are rebuilt every time.

    python benchmarks/probe_layers.py [--only NAME ...] [--seeds 0] [--max-minutes M]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import pandas as pd
from probe_splits import DATASETS, _encoders

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
    from molpt.train.checkpoint import load_checkpoint
    from molpt.train.device import device_label, device_name
    from molpt.train.probe import load_probe_sets, probe_checkpoint

    t_start = time.perf_counter()
    machine = device_label("cpu", device_name("cpu"))
    sets_of: dict[str, list] = {}
    for name, path in _encoders(only):
        if not only and not _wanted(name):
            continue
        dest = _rows_file(name)
        if dest.is_file():
            continue
        if max_minutes and time.perf_counter() - t_start > 60 * max_minutes:
            print(f"stopped after --max-minutes {max_minutes:g}; rerun to continue")
            return
        ckpt = load_checkpoint(path)
        feat = ckpt["featurizer"]["name"]
        if feat not in sets_of:
            sets_of[feat] = load_probe_sets(list(DATASETS), feat)
        layers = list(range(int(ckpt["encoder_config"]["num_layers"]) + 1))
        t0 = time.perf_counter()
        rows = probe_checkpoint(path, DATASETS, ["scaffold"], seeds, twin=True,
                                sets=sets_of[feat], label=name, layers=layers)  # fmt: skip
        f = pd.DataFrame(rows)
        f["device_name"] = machine
        dest.parent.mkdir(parents=True, exist_ok=True)
        f.to_csv(dest, index=False, float_format="%.6g")
        print(f"{name}: {len(f)} rows in {time.perf_counter() - t0:.0f} s", flush=True)


def summarise() -> pd.DataFrame:
    """Per encoder × layer: the pretrained and twin mean test ROC-AUC over the four sets, and
    the gain; writes ``summary.csv`` and ``report.md``."""
    from molpt.train.probe import summarise as per_cell

    files = sorted((OUT / "rows").glob("*.csv"))
    if not files:
        return pd.DataFrame()
    f = pd.concat([pd.read_csv(p) for p in files], ignore_index=True)
    cells = per_cell(f.to_dict("records"))
    wide = cells.pivot_table(index=["checkpoint", "layer", "dataset"], columns="encoder",
                             values="test").reset_index()  # fmt: skip
    wide["gain"] = wide["pretrained"] - wide["random_init"]
    g = (wide.groupby(["checkpoint", "layer"])[["pretrained", "random_init", "gain"]]
         .mean().reset_index())  # fmt: skip
    g.to_csv(OUT / "summary.csv", index=False, float_format="%.6g")
    _report(g, wide, f)
    return g


def _report(g: pd.DataFrame, wide: pd.DataFrame, f: pd.DataFrame) -> None:
    def pts(v: float) -> str:
        return f"{100 * v:+.1f}"

    layers = sorted(g.layer.unique())
    lines = [
        "# Layer probe study: which layer of a frozen encoder knows the most",
        "",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `python "
        f"benchmarks/probe_layers.py` from `rows/*.csv` on {f.device_name.iloc[0]}.",
        "",
        "`molpt probe CKPT --layers all` on BBBP, BACE, ClinTox and SIDER, scaffold split, "
        f"seed(s) {', '.join(str(s) for s in sorted(f.seed.unique()))}: a logistic regression "
        "(C chosen on valid) on one layer's mean-pooled node states (layer 0 = the input "
        "embedding; an inner layer after its ReLU), PCA-whitened. Gain = encoder minus the "
        "same layer of its random-init twin, test ROC-AUC points x 100, mean of the four sets.",
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
    lines += [
        "",
        "## Mean test ROC-AUC x 100 of the four sets, encoder / twin, per layer",
        "",
        "| encoder | " + " | ".join(f"layer {x}" for x in layers) + " |",
        "|---|" + "---|" * len(layers),
    ]
    for ck, s in g.groupby("checkpoint", sort=True):
        by = s.set_index("layer")
        lines.append(f"| `{ck}` | " + " | ".join(
            f"{100 * by.pretrained[x]:.1f} / {100 * by.random_init[x]:.1f}" if x in by.index
            else "–" for x in layers) + " |")  # fmt: skip
    lines += [
        "",
        "## Per dataset (test ROC-AUC x 100, encoder / twin)",
        "",
        "| encoder | dataset | " + " | ".join(f"layer {x}" for x in layers) + " |",
        "|---|---|" + "---|" * len(layers),
    ]
    for (ck, ds), s in wide.groupby(["checkpoint", "dataset"], sort=True):
        by = s.set_index("layer")
        lines.append(f"| `{ck}` | {ds} | " + " | ".join(
            f"{100 * by.pretrained[x]:.1f} / {100 * by.random_init[x]:.1f}" if x in by.index
            else "–" for x in layers) + " |")  # fmt: skip
    (OUT / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    from molpt.benchmark.grid import parse_seeds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="encoder names (default: all)")
    ap.add_argument("--seeds", default="0", help="twin seeds (the scaffold split is fixed)")
    ap.add_argument("--max-minutes", type=float, default=None)
    a = ap.parse_args(argv)
    run(a.only, parse_seeds(a.seeds), a.max_minutes)
    g = summarise()
    if len(g):
        print(g.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"wrote {OUT / 'report.md'}")


if __name__ == "__main__":
    main()
