"""``molpt report RESULTS_DIR``: summary.csv, report.md and figures from results.csv.

Per dataset x split x featurizer x strategy x method: number of seeds, mean ± std of the test
metric at the best-validation epoch and at the last epoch.  Gains over ``none`` (no
pretraining) are paired by seed within the same dataset/split/featurizer/strategy and tested
with the Wilcoxon signed-rank test (Holm-corrected across datasets) and the paired t-test.
For metrics where lower is better (RMSE) the gain is ``none - method``, so a positive gain is
always an improvement.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molpt.benchmark.grid import NONE_METHOD
from molpt.benchmark.published import lookup
from molpt.benchmark.stats import holm, min_wilcoxon_p, paired_test, verdict
from molpt.benchmark.store import ResultsStore
from molpt.train.metrics import HIGHER_IS_BETTER
from molpt.utils import atomic_write_text

BASE_KEYS = ["dataset", "split", "featurizer", "strategy"]
MAYBE_KEYS = ["epochs", "batch_size", "lr", "dropout", "limit"]
ALPHA = 0.05
PERCENT_METRICS = ("roc_auc", "pr_auc")

log = logging.getLogger(__name__)


@dataclass
class ReportFiles:
    summary_csv: Path
    report_md: Path
    plots: list[Path] = field(default_factory=list)
    summary: pd.DataFrame | None = None
    gains: pd.DataFrame | None = None


# ------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------

def _nanmean(values: np.ndarray) -> float:
    """Mean over the finite entries; NaN (without a warning) when there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")

def group_keys(frame: pd.DataFrame) -> list[str]:
    """Grouping columns: the base keys plus any training setting that varies in the file."""
    extra = [
        c for c in MAYBE_KEYS if c in frame and frame[c].astype(str).nunique(dropna=False) > 1
    ]
    return BASE_KEYS + extra


def summarise(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(summary per cell and method, gains over ``none``, grouping keys)."""
    keys = group_keys(frame)
    f = frame.copy()
    for c in ("test_at_best_valid", "last_test", "best_valid", "pr_auc", "best_epoch",
              "tasks_scored", "tasks_skipped", "seconds"):  # fmt: skip
        f[c] = pd.to_numeric(f[c], errors="coerce")
    rows = []
    for k, g in f.groupby(keys + ["method"], sort=False, dropna=False):
        rec = dict(zip(keys + ["method"], k, strict=True))
        rec.update(
            metric=g["metric"].iloc[0],
            n_seeds=int(g["seed"].nunique()),
            seeds=",".join(str(s) for s in sorted(g["seed"].astype(int))),
            test_mean=g["test_at_best_valid"].mean(),
            test_std=g["test_at_best_valid"].std(ddof=1) if len(g) > 1 else float("nan"),
            last_mean=g["last_test"].mean(),
            last_std=g["last_test"].std(ddof=1) if len(g) > 1 else float("nan"),
            valid_mean=g["best_valid"].mean(),
            pr_auc_mean=g["pr_auc"].mean(),
            best_epoch_mean=g["best_epoch"].mean(),
            tasks_scored=g["tasks_scored"].mean(),
            tasks_skipped=g["tasks_skipped"].mean(),
            epochs=g["epochs"].iloc[0],
            seconds=g["seconds"].sum(),
        )
        rows.append(rec)
    summary = pd.DataFrame(rows)

    gains = []
    for k, g in f.groupby(keys, sort=False, dropna=False):
        base = g[g["method"] == NONE_METHOD].set_index("seed")
        if base.empty:
            continue
        for m, gm in g[g["method"] != NONE_METHOD].groupby("method", sort=False):
            gm = gm.set_index("seed")
            seeds = sorted(set(gm.index) & set(base.index))
            metric = str(gm["metric"].iloc[0])
            sign = 1.0 if HIGHER_IS_BETTER.get(metric, True) else -1.0
            a = sign * gm.loc[seeds, "test_at_best_valid"].to_numpy(float)
            b = sign * base.loc[seeds, "test_at_best_valid"].to_numpy(float)
            res = paired_test(a, b)
            la = sign * gm.loc[seeds, "last_test"].to_numpy(float)
            lb = sign * base.loc[seeds, "last_test"].to_numpy(float)
            rec = dict(zip(keys, k if isinstance(k, tuple) else (k,), strict=True))
            rec.update(
                method=m,
                metric=metric,
                n_pairs=res.n,
                gain=res.mean,
                gain_std=res.std,
                ci_low=res.ci_low,
                ci_high=res.ci_high,
                last_gain=_nanmean(la - lb),
                p_wilcoxon=res.p_wilcoxon,
                p_ttest=res.p_ttest,
                note=res.note,
            )
            gains.append(rec)
    gains_df = pd.DataFrame(gains)
    if not gains_df.empty:
        family = [c for c in keys if c != "dataset"] + ["method"]
        gains_df["p_wilcoxon_holm"] = np.nan
        gains_df["p_ttest_holm"] = np.nan
        for _, idx in gains_df.groupby(family, sort=False, dropna=False).groups.items():
            idx = list(idx)
            gains_df.loc[idx, "p_wilcoxon_holm"] = holm(gains_df.loc[idx, "p_wilcoxon"])
            gains_df.loc[idx, "p_ttest_holm"] = holm(gains_df.loc[idx, "p_ttest"])
        gains_df["verdict"] = [
            verdict(g, p, ALPHA)
            for g, p in zip(gains_df["gain"], gains_df["p_wilcoxon_holm"], strict=True)
        ]
        summary = summary.merge(
            gains_df[keys + ["method", "gain", "ci_low", "ci_high", "p_wilcoxon",
                             "p_wilcoxon_holm", "p_ttest", "p_ttest_holm", "verdict"]],
            on=keys + ["method"], how="left",
        )  # fmt: skip
    return summary, gains_df, keys


def dataset_averages(summary: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean over datasets of each method's mean, per setting and metric."""
    setting = [c for c in keys if c != "dataset"]
    rows = []
    for k, g in summary.groupby(setting + ["method", "metric"], sort=False, dropna=False):
        rec = dict(zip(setting + ["method", "metric"], k, strict=True))
        rec.update(
            n_datasets=int(g["dataset"].nunique()),
            test_mean=g["test_mean"].mean(),
            last_mean=g["last_mean"].mean(),
        )
        rows.append(rec)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# formatting
# ------------------------------------------------------------------------------------------
def _fmt(v: float, metric: str, digits: int | None = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if metric in PERCENT_METRICS:
        return f"{100 * v:.{1 if digits is None else digits}f}"
    return f"{v:.{3 if digits is None else digits}f}"


def _pm(mean: float, std: float, metric: str) -> str:
    s = _fmt(mean, metric)
    if s != "–" and not (std is None or math.isnan(std)):
        s += f" ± {_fmt(std, metric)}"
    return s


def _p(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.3f}" if v >= 0.001 else f"{v:.1e}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _setting_label(rec: dict[str, Any], keys: list[str]) -> str:
    parts = [f"{rec[k]}" for k in keys if k != "dataset"]
    return ", ".join(f"{k}={v}" if k in MAYBE_KEYS else v for k, v in
                     zip([k for k in keys if k != "dataset"], parts, strict=True))  # fmt: skip


def _metric_name(metric: str) -> str:
    return {"roc_auc": "ROC-AUC (%)", "rmse": "RMSE", "mae": "MAE", "pr_auc": "PR-AUC (%)"}.get(
        metric, metric
    )


# ------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------
def _errors_pending(root: Path, done: set[str]) -> list[dict]:
    path = root / "errors.jsonl"
    if not path.is_file():
        return []
    out = {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("job_id") not in done:
            out[rec.get("job_id")] = rec
    return list(out.values())


def _uniq(frame: pd.DataFrame, col: str) -> str:
    if col not in frame:
        return "–"
    vals = [str(v) for v in dict.fromkeys(frame[col].dropna().tolist())]
    return ", ".join(vals) if vals else "–"


def _safe_plot(fn, frame: pd.DataFrame, path: Path) -> Path | None:
    """Figures are secondary: a plotting failure is logged, never fatal for the report."""
    try:
        return fn(frame, path)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not draw %s: %s", path.name, exc)
        return None


def write_report(results_dir: str | Path) -> ReportFiles:
    """Write ``summary.csv``, ``report.md``, ``gains.png`` and ``splits.png``.

    Raises:
        FileNotFoundError: no such folder.
        ValueError: no finished job in ``results.csv``.
    """
    from molpt.benchmark.plots import plot_gains, plot_splits

    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no such results folder: {root}")
    store = ResultsStore(root)
    read = store.read()
    frame = read.frame
    if frame.empty:
        raise ValueError(f"{root}: no finished job in {store.path.name} yet")
    frame["seed"] = frame["seed"].astype(int)
    summary, gains, keys = summarise(frame)
    averages = dataset_averages(summary, keys)
    summary_csv = root / "summary.csv"
    atomic_write_text(summary_csv, summary.to_csv(index=False, float_format="%.6g"))

    plots: list[Path] = []
    setting_cols = [k for k in keys if k != "dataset"]
    if not gains.empty:
        g = gains.copy()
        g["setting"] = [_setting_label(r, keys) for r in g.to_dict("records")]
        for c in ("gain", "ci_low", "ci_high"):
            g[c] = [v * (100 if m in PERCENT_METRICS else 1) for v, m in zip(g[c], g["metric"],
                                                                            strict=True)]
        p = _safe_plot(plot_gains, g, root / "gains.png")
        if p:
            plots.append(p)
    p = _safe_plot(plot_splits, summary, root / "splits.png")
    if p:
        plots.append(p)

    grid = {}
    if (root / "grid.json").is_file():
        try:
            grid = json.loads((root / "grid.json").read_text()).get("spec", {})
        except (json.JSONDecodeError, OSError):
            grid = {}
    pending_errors = _errors_pending(root, set(frame["job_id"]))
    md = _render(root, frame, summary, gains, averages, keys, setting_cols, grid, read.notes,
                 pending_errors, plots)  # fmt: skip
    report_md = root / "report.md"
    atomic_write_text(report_md, md)
    return ReportFiles(summary_csv, report_md, plots, summary, gains)


def _render(root, frame, summary, gains, averages, keys, setting_cols, grid, read_notes,
            pending_errors, plots) -> str:  # fmt: skip
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    seeds = sorted(frame["seed"].astype(int).unique())
    lines = ["# molpt benchmark report", "", f"`{root}` · generated {now}", ""]
    methods = list(dict.fromkeys(frame["method"]))
    arch = []
    for m in methods:
        r = frame[frame["method"] == m].iloc[0]
        src = "random init" if m == NONE_METHOD else f"checkpoint `{r['checkpoint']}`"
        arch.append(f"`{m}` ({r['encoder']} {int(r['num_layers'])}×{int(r['hidden_dim'])}, {src})")
    seed_txt = f"{len(seeds)} ({seeds[0]}–{seeds[-1]})" if len(seeds) > 1 else str(seeds[0])
    lines += [
        "## What was run",
        "",
        f"- profile: {grid.get('profile', '–')}; {len(frame)} finished jobs"
        + (f", {len(pending_errors)} failed (see errors.jsonl)" if pending_errors else ""),
        f"- datasets: {_uniq(frame, 'dataset')}",
        f"- splits: {_uniq(frame, 'split')} · featurizers: {_uniq(frame, 'featurizer')} · "
        f"strategies: {_uniq(frame, 'strategy')}",
        f"- methods: {'; '.join(arch)}",
        f"- run seeds: {seed_txt} (seeded splits use the run seed; scaffold is deterministic)",
        f"- fine-tuning: {_uniq(frame, 'epochs')} epochs, batch {_uniq(frame, 'batch_size')}, "
        f"Adam lr {_uniq(frame, 'lr')}, dropout {_uniq(frame, 'dropout')}"
        + (f", first {_uniq(frame, 'limit')} molecules only" if frame["limit"].notna().any()
           else ""),  # fmt: skip
        f"- device: {_uniq(frame, 'device')} · molpt {_uniq(frame, 'molpt_version')} · "
        f"commit {', '.join(c[:10] for c in frame['git_commit'].astype(str).unique())}",
        f"- compute: {pd.to_numeric(frame['seconds'], errors='coerce').sum() / 60:.1f} "
        "min of fine-tuning in total",
        "",
    ]

    # ---- main table ---------------------------------------------------------------------
    lines += ["## Test metric at the best-validation epoch", "",
              "Mean ± std over seeds (n = number of seeds). ROC-AUC in %, higher is better; "
              "RMSE lower is better. `avg` is the mean over the datasets of that metric.",
              ""]  # fmt: skip
    datasets = list(dict.fromkeys(summary["dataset"]))
    for k, sg in summary.groupby(setting_cols, sort=False, dropna=False):
        rec = dict(zip(setting_cols, k if isinstance(k, tuple) else (k,), strict=True))
        label = _setting_label({**rec, "dataset": ""}, keys)
        ds = [d for d in datasets if d in set(sg["dataset"])]
        for col_m, col_s, title in (
            ("test_mean", "test_std", "at best valid"),
            ("last_mean", "last_std", "at the last epoch"),
        ):
            header = ["method"] + [
                f"{d} ({_metric_name(str(sg[sg.dataset == d]['metric'].iloc[0]))})" for d in ds
            ]
            metrics_here = list(dict.fromkeys(sg["metric"]))
            if len(metrics_here) == 1:
                header.append("avg")
            rows = []
            for m in dict.fromkeys(sg["method"]):
                mg = sg[sg["method"] == m].set_index("dataset")
                row = [f"`{m}`"]
                for d in ds:
                    if d in mg.index:
                        r = mg.loc[d]
                        row.append(f"{_pm(r[col_m], r[col_s], r['metric'])} (n={r['n_seeds']})")
                    else:
                        row.append("–")
                if len(metrics_here) == 1:
                    avg = mg[col_m].mean() if len(mg) == len(ds) else float("nan")
                    row.append(_fmt(avg, metrics_here[0]))
                rows.append(row)
            lines += [f"**{label}** — test {title}", "", _table(header, rows), ""]

    # ---- gains --------------------------------------------------------------------------
    lines += ["## Gain over no pretraining", ""]
    if gains.empty:
        lines += ["No pretrained method in these results (only `none`): nothing to compare.", ""]
    else:
        lines += [
            "Gain = method − `none` on the test metric at best valid, paired by seed (for "
            "RMSE, `none` − method, so positive is always better); ROC-AUC in points. 95% CI "
            "from the t distribution. Wilcoxon signed-rank p (exact for small n), Holm-"
            f"corrected across datasets within each setting; verdict at α = {ALPHA} on the "
            "Holm-corrected Wilcoxon p. The paired t-test p is shown for reference.",
            "",
        ]
        rows = []
        for r in gains.to_dict("records"):
            scale = 100 if r["metric"] in PERCENT_METRICS else 1
            ci = (f"[{r['ci_low'] * scale:+.2f}, {r['ci_high'] * scale:+.2f}]"
                  if not math.isnan(r["ci_low"]) else "–")  # fmt: skip
            rows.append([
                _setting_label(r, keys), r["dataset"], f"`{r['method']}`", str(r["n_pairs"]),
                f"{r['gain'] * scale:+.2f} {ci}", f"{r['last_gain'] * scale:+.2f}",
                _p(r["p_wilcoxon"]), _p(r["p_wilcoxon_holm"]), _p(r["p_ttest"]),
                f"**{r['verdict']}**" if r["verdict"].startswith("significant") else r["verdict"],
            ])  # fmt: skip
        lines += [
            _table(["setting", "dataset", "method", "n", "gain [95% CI]", "gain (last epoch)",
                    "Wilcoxon p", "Holm p", "t-test p", "verdict"], rows),  # fmt: skip
            "",
        ]
        avg_rows = []
        for r in averages[averages["method"] != NONE_METHOD].to_dict("records"):
            base = averages[(averages["method"] == NONE_METHOD)
                            & (averages["metric"] == r["metric"])]  # fmt: skip
            for c in setting_cols:
                base = base[base[c].astype(str) == str(r[c])]
            if base.empty:
                continue
            b = base.iloc[0]
            scale = 100 if r["metric"] in PERCENT_METRICS else 1
            sign = 1 if HIGHER_IS_BETTER.get(r["metric"], True) else -1
            avg_rows.append([
                _setting_label({**r, "dataset": ""}, keys), f"`{r['method']}`",
                _metric_name(r["metric"]), str(r["n_datasets"]),
                _fmt(b["test_mean"], r["metric"]), _fmt(r["test_mean"], r["metric"]),
                f"{sign * (r['test_mean'] - b['test_mean']) * scale:+.2f}",
            ])  # fmt: skip
        if avg_rows:
            lines += ["Average over datasets:", "",
                      _table(["setting", "method", "metric", "datasets", "none", "method",
                              "gain"], avg_rows), ""]  # fmt: skip

    # ---- published ----------------------------------------------------------------------
    lines += ["## Beside the published numbers", ""]
    ref_rows = []
    for r in summary.to_dict("records"):
        if r["strategy"] != "full" or r["metric"] != "roc_auc":
            continue
        for ref, val in lookup(str(r["method"]), r["featurizer"], r["split"], r["dataset"]):
            ref_rows.append([
                r["dataset"], f"{r['split']}, {r['featurizer']}", f"`{r['method']}`",
                f"{_pm(r['test_mean'], r['test_std'], 'roc_auc')} (n={r['n_seeds']}, "
                f"{int(r['epochs'])} ep)",
                f"{val:.1f}" + ("" if ref.verified else " (unverified)"),
                f"{100 * r['test_mean'] - val:+.1f}", ref.source,
            ])  # fmt: skip
    if ref_rows:
        lines += [
            "Published values are means over 10 seeds with 100 fine-tuning epochs (Hu et al.: "
            "pretrained on ZINC15 2M for 100 epochs). They are comparable only when this run "
            "used the same protocol.",
            "",
            _table(["dataset", "split, features", "method", "molpt", "published", "Δ",
                    "source"], ref_rows),  # fmt: skip
            "",
        ]
    else:
        lines += ["No run here matches a published setting (full fine-tuning, ROC-AUC, "
                  "scaffold/balanced_scaffold, basic/rich, `none`/attrmask/contextpred).", ""]

    # ---- notes --------------------------------------------------------------------------
    notes = []
    n_min = int(summary["n_seeds"].min())
    if n_min < 6:
        notes.append(
            f"Only {n_min} seed(s) per cell: the exact two-sided Wilcoxon signed-rank test "
            f"cannot reach p < 0.05 with fewer than 6 pairs (smallest possible p with "
            f"{n_min} is {min_wilcoxon_p(n_min):.3f}), so no verdict can be 'significant'. "
            "Use --seeds 0-9 for a real test."
        )
    ep = pd.to_numeric(frame["epochs"], errors="coerce")
    if (ep < 100).any() or frame["limit"].notna().any() or len(seeds) < 10:
        notes.append(
            "Fewer epochs, seeds or molecules than the papers' protocol (100 epochs, 10 "
            "seeds, full datasets): these numbers are a smoke test and NOT comparable to "
            "the published ones."
        )
    if grid.get("pretrain"):
        p = grid["pretrain"]
        notes.append(
            f"The pretrained checkpoint was made by this run: {p.get('objective')} on "
            f"{p.get('limit') or 'all'} molecules of {p.get('data')} for {p.get('epochs')} "
            "epoch(s), far less than Hu et al.'s 2M ZINC molecules x 100 epochs."
        )
    skipped = summary[summary["tasks_skipped"] > 0]
    for r in skipped.drop_duplicates(["dataset", "split"]).to_dict("records"):
        notes.append(
            f"{r['dataset']} / {r['split']}: on average {r['tasks_skipped']:.1f} task(s) were "
            "not scored on the test part (only one class present)."
        )
    if "scaffold" in set(frame["split"]) and "balanced_scaffold" in set(frame["split"]):
        notes.append(
            "Balanced scaffold splits are typically several points easier than the "
            "deterministic scaffold split (Sun et al. 2022): compare methods within a split."
        )
    notes += read_notes
    for e in pending_errors[:10]:
        notes.append(f"failed: {e.get('job')} — {e.get('error')}")
    lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    if plots:
        lines += ["## Figures", ""]
        for p in plots:
            lines += [f"![{p.stem}]({p.name})", ""]
    lines += ["Files: `results.csv` (one row per job), `summary.csv` (this table with p-values), "
              "`jobs/<job_id>/metrics.json` and `predictions.csv`.", ""]  # fmt: skip
    return "\n".join(lines)


__all__ = ["ReportFiles", "dataset_averages", "group_keys", "summarise", "write_report"]
