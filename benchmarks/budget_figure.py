"""The budget figure of study ``molpt_gin_budget``: what each amount of pretraining buys.

Left: the linear probe's mean test ROC-AUC over BBBP / BACE / ClinTox / SIDER (scaffold
split, frozen encoder; from each budget point's model card) against pretraining graph
passes, log axis, per objective; the random initialisation (epoch 0) as a dashed line.
Right: the fine-tuned gain over no pretraining (hu2020 protocol, from the study's
summary.csv) at the budget points fine-tuned so far: each finished set with its 95% CI, and
the mean over the four sets once all four are finished, beside Hu et al.'s published mean
gain (a star at their 200M graph passes).  Hu et al.'s budget
(100 epochs x 2M molecules = 200M graph passes) is marked on both.

    python benchmarks/budget_figure.py    # writes benchmarks/results/molpt_gin_budget/budget.png
                                          # budget.csv (the probe points drawn) and
                                          # budget_gains.csv (the fine-tuned gains drawn)
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
    """Per budget point that the study has fine-tuned, matched to the point by its
    checkpoint's sha256: one row per finished set (all planned seeds: its gain over no
    pretraining and the gain's 95% CI) and, once all four sets are finished, a row for their
    mean (``dataset`` = "mean of 4"; no CI)."""
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
        if hit.empty:
            continue
        top = hit.iloc[0]
        base = {"method": method, "record": top.record, "graph_passes": top.graph_passes,
                "objective": top.objective}  # fmt: skip
        done = g[g["complete"].astype(bool)]
        for _, row in done.iterrows():
            out.append({**base, "dataset": row.dataset, "gain": 100 * row.gain,
                        "ci_low": 100 * row.ci_low, "ci_high": 100 * row.ci_high,
                        "p_holm": row.p_wilcoxon_holm})  # fmt: skip
        if len(done) >= 4:
            out.append({**base, "dataset": "mean of 4", "gain": 100 * done["gain"].mean()})
    return pd.DataFrame(out)


def published_gains(gains: pd.DataFrame) -> dict[str, float]:
    """Per objective drawn, the published mean gain over the four sets (method minus none,
    the `published` column of summary.csv: Hu et al.'s Table 1, 200M graph passes)."""
    summary = OUT / "summary.csv"
    if gains.empty or not summary.is_file():
        return {}
    s = pd.read_csv(summary).dropna(subset=["published"])
    none = s[s.method == "none"].set_index("dataset")["published"]
    out = {}
    for obj, g in gains.groupby("objective"):
        for method in g.method.unique():  # any budget point: the published row is the same
            pub = s[s.method == method].set_index("dataset")["published"]
            sets = pub.index.intersection(none.index)
            if len(sets) >= 4:
                out[obj] = float(pub[sets].mean() - none[sets].mean())
                break
    return out


def fine_tuning_devices() -> str:
    """The devices the study's rows were fine-tuned on, as named in results.csv."""
    results = OUT / "results.csv"
    if not results.is_file():
        return ""
    r = pd.read_csv(results)
    col = "device_name" if "device_name" in r.columns else "device"
    return ", ".join(sorted({str(v) for v in r[col].dropna()}))


def draw(points: pd.DataFrame, gains: pd.DataFrame, path: Path) -> None:
    from molpt.plotting import pyplot
    from molpt.published.records import HU_GRAPH_PASSES
    from molpt.train.device import device_label, device_name

    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 3.6))
    for obj, g in points.groupby("objective"):
        g = g.dropna(subset=["probe_mean_test"])
        ax.plot(g.graph_passes, 100 * g.probe_mean_test, marker="o", label=obj)
    init = points.probe_init_mean_test.dropna()
    if len(init):
        ax.axhline(100 * init.iloc[0], ls="--", color="grey", label="random init")
    if len(gains):
        colours = {obj: line.get_color() for obj, line in
                   zip(points.objective.unique(), ax.get_lines(), strict=False)}  # fmt: skip
        sets = sorted(set(gains.dataset) - {"mean of 4"})
        nudge = {d: 1.3 ** (i - (len(sets) - 1) / 2) for i, d in enumerate(sets)}
        for (obj, d), g in gains.groupby(["objective", "dataset"]):
            c = colours.get(obj)
            if d == "mean of 4":
                bx.plot(g.graph_passes, g.gain, marker="s", ms=9, ls="-", color=c,
                        label=f"{obj}, mean of 4")  # fmt: skip
                continue
            x = g.graph_passes * nudge[d] * (1.04 if obj == "contextpred" else 0.96)
            bx.errorbar(x, g.gain, yerr=[g.gain - g.ci_low, g.ci_high - g.gain], fmt="o",
                        ms=3, lw=0.8, color=c, alpha=0.6)  # fmt: skip
            for xi, yi in zip(x, g.gain, strict=True):
                bx.annotate(d, (xi, yi), fontsize=6, color=c, xytext=(3, 0),
                            textcoords="offset points", va="center")  # fmt: skip
        for obj, gain in published_gains(gains).items():
            bx.plot([HU_GRAPH_PASSES], [gain], marker="*", ms=12, ls="none",
                    color=colours.get(obj), label=f"{obj}, Hu et al. (mean of 4)")  # fmt: skip
    else:
        bx.text(0.5, 0.5, "no budget point fine-tuned yet", ha="center", va="center",
                transform=bx.transAxes, color="grey")  # fmt: skip
    bx.axhline(0, color="grey", lw=0.8)
    for x in (ax, bx):
        x.set_xscale("log")
        x.axvline(HU_GRAPH_PASSES, color="red", ls=":", label="Hu et al. (200M)")
        x.set_xlabel("pretraining graph passes")
        x.set_xlim(1e5, 5e8)
        if x is ax:
            x.legend(fontsize=7)
        else:  # beside the axes: the per-set labels fill the panel
            x.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_ylabel("probe test ROC-AUC x 100 (mean of 4)")
    ax.set_title("linear probe, scaffold split")
    bx.set_ylabel("fine-tuned gain over none (points)")
    bx.set_title("fine-tuned gain (hu2020, 10 seeds; 95% CI per set)", fontsize=10)
    ft = fine_tuning_devices()
    fig.suptitle(f"GIN 5x300 pretrained by molpt on MOSES; pretraining on "
                 f"{device_label('cpu', device_name('cpu'))}"
                 + (f"; fine-tuning on {ft}" if ft else ""), fontsize=9)  # fmt: skip
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
    if len(gains):
        gains.to_csv(OUT / "budget_gains.csv", index=False, float_format="%.6g")
    draw(points, gains, OUT / "budget.png")
    print(points.drop(columns=["sha256"]).to_string(index=False))
    print(f"wrote {OUT / 'budget.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
