"""The budget figure of study ``molpt_gin_budget``: what each amount of pretraining buys.

Left: the linear probe's mean test ROC-AUC over BBBP / BACE / ClinTox / SIDER (scaffold
split, frozen encoder; from each budget point's model card) against pretraining graph
passes, log axis, per objective; the random initialisation (epoch 0) as a dashed line.
Right: the fine-tuned gain over no pretraining (mean over the four sets, hu2020 protocol,
from the study's summary.csv) at the budget points fine-tuned so far.  Hu et al.'s budget
(100 epochs x 2M molecules = 200M graph passes) is marked on both.

    python benchmarks/budget_figure.py    # writes benchmarks/results/molpt_gin_budget/budget.png
                                          # and budget.csv (the points drawn)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "molpt_gin_budget"
NAME = re.compile(r"^gin5x300_(?P<objective>[a-z]+)_moses_e(?P<epoch>\d+)$")


def budget_points(records_dir: Path | None = None) -> pd.DataFrame:
    """One row per budget point of record: objective, epoch, graph passes, probe."""
    from molpt.published.records import HU_GRAPH_PASSES, records

    rows = []
    for card in records(records_dir):
        m = NAME.match(card["name"])
        if not m:
            continue
        curve = {p["epoch"]: p for p in card.get("probe_curve") or []}
        last = curve.get(card["epochs"])
        init = curve.get(0)
        b = card.get("budget") or {}
        rows.append({
            "record": "molpt/" + card["name"], "objective": m["objective"],
            "epoch": int(m["epoch"]), "graph_passes": b.get("graphs_seen"),
            "fraction_of_hu2020": (b.get("graphs_seen") or 0) / HU_GRAPH_PASSES,
            "device_hours": b.get("device_hours"),
            "probe_mean_test": last["mean_test"] if last else None,
            "probe_init_mean_test": init["mean_test"] if init else None,
            "sha256": card["sha256"],
        })  # fmt: skip
    return pd.DataFrame(rows).sort_values(["objective", "epoch"]) if rows else pd.DataFrame()


def fine_tuned_gains(points: pd.DataFrame) -> pd.DataFrame:
    """Mean gain over the four sets per budget point that the study has fine-tuned (all
    four sets complete), matched to the point by its checkpoint's sha256."""
    summary, results = OUT / "summary.csv", OUT / "results.csv"
    if points.empty or not summary.is_file() or not results.is_file():
        return pd.DataFrame()
    s = pd.read_csv(summary)
    r = pd.read_csv(results, dtype={"checkpoint_sha256": str})
    have = r.dropna(subset=["checkpoint_sha256"])
    sha_of = have.groupby("method")["checkpoint_sha256"].first()
    out = []
    for method, g in s[s.method != "none"].groupby("method"):
        sha = str(sha_of.get(method, ""))
        hit = points[points.sha256.str.startswith(sha)] if len(sha) >= 8 else points[:0]
        if hit.empty or len(g) < 4 or not bool(g["complete"].all()):
            continue
        out.append({"method": method, "record": hit.iloc[0].record,
                    "graph_passes": hit.iloc[0].graph_passes,
                    "objective": hit.iloc[0].objective,
                    "gain": 100 * g["gain"].mean()})  # fmt: skip
    return pd.DataFrame(out)


def draw(points: pd.DataFrame, gains: pd.DataFrame, path: Path) -> None:
    from molpt.plotting import pyplot
    from molpt.published.records import HU_GRAPH_PASSES
    from molpt.train.device import device_label, device_name

    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6))
    for obj, g in points.groupby("objective"):
        g = g.dropna(subset=["probe_mean_test"])
        ax.plot(g.graph_passes, 100 * g.probe_mean_test, marker="o", label=obj)
    init = points.probe_init_mean_test.dropna()
    if len(init):
        ax.axhline(100 * init.iloc[0], ls="--", color="grey", label="random init")
    if len(gains):
        for obj, g in gains.groupby("objective"):
            bx.plot(g.graph_passes, g.gain, marker="s", label=obj)
    else:
        bx.text(0.5, 0.5, "no budget point fine-tuned yet", ha="center", va="center",
                transform=bx.transAxes, color="grey")  # fmt: skip
    bx.axhline(0, color="grey", lw=0.8)
    for x in (ax, bx):
        x.set_xscale("log")
        x.axvline(HU_GRAPH_PASSES, color="red", ls=":", label="Hu et al. (200M)")
        x.set_xlabel("pretraining graph passes")
        x.set_xlim(1e5, 5e8)
        x.legend(fontsize=7)
    ax.set_ylabel("probe test ROC-AUC x 100 (mean of 4)")
    ax.set_title("linear probe, scaffold split")
    bx.set_ylabel("fine-tuned gain over none (points)")
    bx.set_title("fine-tuned (hu2020 protocol, 10 seeds)")
    fig.suptitle(f"GIN 5x300 pretrained by molpt on MOSES; pretraining on "
                 f"{device_label('cpu', device_name('cpu'))}", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    points = budget_points()
    if points.empty:
        print("no budget point of record (checkpoints/molpt/gin5x300_*_moses_eN)",
              file=sys.stderr)  # fmt: skip
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    gains = fine_tuned_gains(points)
    points.drop(columns=["sha256"]).to_csv(OUT / "budget.csv", index=False,
                                           float_format="%.6g")  # fmt: skip
    draw(points, gains, OUT / "budget.png")
    print(points.drop(columns=["sha256"]).to_string(index=False))
    print(f"wrote {OUT / 'budget.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
