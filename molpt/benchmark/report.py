"""``molpt report RESULTS_DIR``: summary.csv, report.md and figures from results.csv.

Per dataset x split x featurizer x strategy x method: number of seeds (done / planned), mean
± std and t-based 95 % CI of the test metric at the best-validation epoch and at the last
epoch.  Gains are computed against each row's ``baseline`` (the random-init twin of the same
architecture; ``none`` in files without that column), paired by seed within the same
dataset/split/featurizer/strategy, and tested with the Wilcoxon signed-rank test
(Holm-corrected across datasets) and the paired t-test.  For metrics where lower is better
(RMSE) the gain is ``baseline - method``, so a positive gain is always an improvement.

When the folder holds a study (``study.toml``, see ``molpt.benchmark.studies``) or matches a
published setting, ``report.md`` sets molpt beside the paper per dataset and on the average
over exactly the datasets covered so far, and ``paper.csv`` holds that comparison.
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
from molpt.benchmark.published import HU_DATASETS, references_for
from molpt.benchmark.stats import holm, min_wilcoxon_p, paired_test, t_interval, verdict
from molpt.benchmark.store import ResultsStore
from molpt.train.device import device_label
from molpt.train.metrics import HIGHER_IS_BETTER
from molpt.utils import atomic_write_text, is_blank

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
    paper: pd.DataFrame | None = None
    progress: pd.DataFrame | None = None


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


def with_baselines(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with a filled ``baseline`` column and ``is_baseline`` flags.

    ``baseline`` names the random-init twin a row's gain is measured against (``none`` when
    the column is absent or empty, as in files written before it existed).  A row is itself a
    baseline when its method is some row's baseline or starts with ``none``; its ``baseline``
    is then its own method.
    """
    f = frame.copy()
    if "baseline" not in f:
        f["baseline"] = NONE_METHOD
    f["baseline"] = [
        NONE_METHOD if (b is None or (isinstance(b, float) and b != b) or str(b).strip() == "")
        else str(b) for b in f["baseline"]
    ]  # fmt: skip
    f["method"] = f["method"].astype(str)
    names = set(f["baseline"]) | {NONE_METHOD}
    f["is_baseline"] = [m in names or m.startswith(NONE_METHOD) for m in f["method"]]
    f.loc[f["is_baseline"], "baseline"] = f.loc[f["is_baseline"], "method"]
    return f


def summarise(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(summary per cell and method, gains over each method's baseline, grouping keys)."""
    keys = group_keys(frame)
    f = with_baselines(frame)
    for c in ("test_at_best_valid", "last_test", "best_valid", "pr_auc", "best_epoch",
              "tasks_scored", "tasks_skipped", "seconds"):  # fmt: skip
        if c not in f:
            f[c] = np.nan
        f[c] = pd.to_numeric(f[c], errors="coerce")
    rows = []
    for k, g in f.groupby(keys + ["method"], sort=False, dropna=False):
        rec = dict(zip(keys + ["method"], k, strict=True))
        lo, hi = t_interval(g["test_at_best_valid"].dropna().to_numpy(float))
        rec.update(
            baseline=g["baseline"].iloc[0],
            metric=g["metric"].iloc[0],
            encoder=g["encoder"].iloc[0] if "encoder" in g else None,
            n_seeds=int(g["seed"].nunique()),
            seeds=",".join(str(s) for s in sorted(g["seed"].astype(int))),
            test_mean=g["test_at_best_valid"].mean(),
            test_std=g["test_at_best_valid"].std(ddof=1) if len(g) > 1 else float("nan"),
            test_ci_low=lo,
            test_ci_high=hi,
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
        for (m, b), gm in g[~g["is_baseline"]].groupby(["method", "baseline"], sort=False):
            base = g[g["method"] == b].drop_duplicates("seed", keep="last").set_index("seed")
            if base.empty:
                continue
            gm = gm.drop_duplicates("seed", keep="last").set_index("seed")
            seeds = sorted(set(gm.index) & set(base.index))
            metric = str(gm["metric"].iloc[0])
            sign = 1.0 if HIGHER_IS_BETTER.get(metric, True) else -1.0
            a = sign * gm.loc[seeds, "test_at_best_valid"].to_numpy(float)
            bv = sign * base.loc[seeds, "test_at_best_valid"].to_numpy(float)
            res = paired_test(a, bv)
            la = sign * gm.loc[seeds, "last_test"].to_numpy(float)
            lb = sign * base.loc[seeds, "last_test"].to_numpy(float)
            rec = dict(zip(keys, k if isinstance(k, tuple) else (k,), strict=True))
            rec.update(
                method=m,
                baseline=b,
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
        family = [c for c in keys if c != "dataset"] + ["method", "baseline"]
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
            gains_df[keys + ["method", "gain", "ci_low", "ci_high", "last_gain", "p_wilcoxon",
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
            n_datasets=int(g.loc[g["test_mean"].notna(), "dataset"].nunique()),
            test_mean=g["test_mean"].mean(),
            last_mean=g["last_mean"].mean(),
        )
        rows.append(rec)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# progress (planned vs finished), devices, the paper
# ------------------------------------------------------------------------------------------
CELL = ["dataset", "split", "featurizer", "strategy", "method"]


def planned_seeds(root: Path, frame: pd.DataFrame, study=None) -> dict[tuple, set[int]]:
    """Planned run seeds per (dataset, split, featurizer, strategy, method) cell.

    The union of the finished rows, the jobs of the last run (``grid.json``) and, for a
    study, every planned dataset x split x featurizer x strategy x seed for each method seen.
    """
    plan: dict[tuple, set[int]] = {}

    def add(rec: dict[str, Any]) -> None:
        plan.setdefault(tuple(str(rec[c]) for c in CELL), set()).add(int(rec["seed"]))

    for rec in frame[CELL + ["seed"]].to_dict("records"):
        add(rec)
    grid_path = root / "grid.json"
    if grid_path.is_file():
        try:
            for job in json.loads(grid_path.read_text()).get("jobs", []):
                if all(c in job for c in CELL + ["seed"]):
                    add(job)
        except (json.JSONDecodeError, OSError, TypeError, ValueError):
            pass
    if study is not None:
        # every method seen, and every checkpoint the study plans (its method name is the
        # part before "=" or the published name itself), run yet or not
        planned_ckpts = [c.partition("=")[0].strip() for c in study.grid.get("checkpoints", [])]
        methods = list(dict.fromkeys([k[4] for k in plan] + planned_ckpts))
        for ds in study.planned("datasets"):
            for sp in study.planned("splits"):
                for ft in study.planned("featurizers"):
                    for st in study.planned("strategies"):
                        for m in methods:
                            for seed in study.seeds():
                                add(dict(dataset=ds, split=sp, featurizer=ft, strategy=st,
                                         method=m, seed=seed))  # fmt: skip
    return plan


def progress_frame(frame: pd.DataFrame, plan: dict[tuple, set[int]]) -> pd.DataFrame:
    """One row per planned cell: done / planned seeds and whether it is complete."""
    done: dict[tuple, set[int]] = {}
    for rec in frame[CELL + ["seed"]].to_dict("records"):
        done.setdefault(tuple(str(rec[c]) for c in CELL), set()).add(int(rec["seed"]))
    rows = []
    for cell, seeds in plan.items():
        d = done.get(cell, set())
        rows.append({**dict(zip(CELL, cell, strict=True)), "n_done": len(d & seeds),
                     "n_planned": len(seeds), "complete": seeds <= d,
                     "missing_seeds": ",".join(str(s) for s in sorted(seeds - d))})  # fmt: skip
    return pd.DataFrame(rows, columns=CELL + ["n_done", "n_planned", "complete",
                                              "missing_seeds"])  # fmt: skip


def device_labels(frame: pd.DataFrame) -> list[str]:
    """Each row's device (``cpu``, ``cuda:0``) with the hardware's name where the row records
    it (``cuda:0 on NVIDIA H200``); rows from before the ``device_name`` column keep the bare
    device."""
    devs = frame["device"] if "device" in frame else [None] * len(frame)
    names = frame["device_name"] if "device_name" in frame else [None] * len(frame)
    return [device_label(d, n) for d, n in zip(devs, names, strict=True)]


def device_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Which device produced which rows: count, commits, molpt versions, compute."""
    out = []
    f = frame.copy()
    f["device"] = device_labels(frame)
    for c in ("git_commit", "molpt_version", "timestamp", "precision"):
        missing = "fp32" if c == "precision" else "unknown"
        f[c] = [missing if is_blank(v) else str(v) for v in f[c]] if c in f else missing
    for dev, g in f.groupby("device", sort=False):
        out.append(dict(
            device=dev, rows=len(g),
            commits=sorted({c[:10] for c in g["git_commit"]}),
            versions=sorted(set(g["molpt_version"])),
            precisions=sorted(set(g["precision"])),
            minutes=pd.to_numeric(g.get("seconds"), errors="coerce").sum() / 60,
            methods=list(dict.fromkeys(g["method"].astype(str))),
            first=min(g["timestamp"]), last=max(g["timestamp"]),
        ))  # fmt: skip
    return out


def _setting_filter(frame: pd.DataFrame, rec: dict[str, Any], cols: list[str]) -> pd.DataFrame:
    f = frame
    for c in cols:
        f = f[f[c].astype(str) == str(rec[c])]
    return f


def _order_datasets(ds) -> list[str]:
    ds = list(dict.fromkeys(ds))
    return [d for d in HU_DATASETS if d in ds] + [d for d in ds if d not in HU_DATASETS]


def paper_comparison(frame: pd.DataFrame, summary: pd.DataFrame, keys: list[str],
                     progress: pd.DataFrame, study=None) -> pd.DataFrame:  # fmt: skip
    """molpt beside each matching published row, per dataset and on the covered average.

    Values in % (ROC-AUC).  ``kind`` is ``dataset`` or ``average``; for the average,
    ``datasets`` lists exactly the datasets it covers and ``published`` is the paper's values
    averaged over those (None when the paper publishes only an average over other sets).
    """
    setting_cols = [c for c in keys if c != "dataset"]
    f = frame.copy()
    f["test_at_best_valid"] = pd.to_numeric(f["test_at_best_valid"], errors="coerce")
    prog = {tuple(str(r[c]) for c in CELL): r for r in progress.to_dict("records")}
    rows: list[dict[str, Any]] = []
    sub = summary[(summary["strategy"] == "full") & (summary["metric"] == "roc_auc")]
    for k, sg in sub.groupby(setting_cols + ["method"], sort=False, dropna=False):
        rec = dict(zip(setting_cols + ["method"], k, strict=True))
        method = str(rec["method"])
        encoder = sg["encoder"].iloc[0] if "encoder" in sg else "gin"
        refs = references_for(method, str(rec["featurizer"]), str(rec["split"]), encoder)
        if study is not None and study.compare_with:
            refs = [r for r in refs if any(r.source.startswith(c) for c in study.compare_with)]
        if not refs:
            continue
        fm = _setting_filter(f, rec, setting_cols)
        fm = fm[fm["method"].astype(str) == method]
        by_ds = sg.set_index("dataset")
        planned_ds = _order_datasets(
            [c[0] for c in prog if c[1:] == (str(rec["split"]), str(rec["featurizer"]),
                                                 str(rec["strategy"]), method)])  # fmt: skip
        for ref in refs:
            covered = [d for d in _order_datasets(by_ds.index)
                       if (d in ref.values or d in ref.average_over)
                       and _num(by_ds.loc[d, "test_mean"]) is not None]  # fmt: skip
            if not covered:
                continue
            base = {**{c: rec[c] for c in setting_cols}, "method": method,
                    "baseline": sg["baseline"].iloc[0], "encoder": encoder,
                    "source": ref.source, "reference": ref.label,
                    "verified": ref.verified}  # fmt: skip
            for d in covered:
                r = by_ds.loc[d]
                pr = prog.get((d, str(rec["split"]), str(rec["featurizer"]),
                               str(rec["strategy"]), method), {})  # fmt: skip
                pub = ref.values.get(d)
                rows.append(_compare_row(
                    base, "dataset", d, 100 * r["test_mean"], 100 * r["test_std"],
                    100 * r["test_ci_low"], 100 * r["test_ci_high"], pub,
                    int(pr.get("n_done", r["n_seeds"])), int(pr.get("n_planned", r["n_seeds"])),
                    study.known_difference(d) if study is not None else "",
                ))  # fmt: skip
            # the average over exactly the covered datasets
            means = [100 * float(by_ds.loc[d, "test_mean"]) for d in covered]
            piv = fm[fm["dataset"].isin(covered)].pivot_table(
                index="seed", columns="dataset", values="test_at_best_valid", aggfunc="mean")
            piv = piv.dropna()
            per_seed = 100 * piv.mean(axis=1).to_numpy(float) if piv.shape[1] == len(
                covered) else np.array([])  # fmt: skip
            lo, hi = t_interval(per_seed)
            done = [rows[-len(covered) + i] for i in range(len(covered))]
            pub_avg = ref.average_of(covered)
            row = _compare_row(
                base, "average", "+".join(covered), float(np.mean(means)),
                float(per_seed.std(ddof=1)) if per_seed.size > 1 else float("nan"), lo, hi,
                pub_avg, sum(x["n_done"] for x in done), sum(x["n_planned"] for x in done),
                "",
            )  # fmt: skip
            row["n_sets"] = len(covered)
            row["n_sets_planned"] = len([d for d in planned_ds if d in ref.values
                                         or d in ref.average_over])  # fmt: skip
            row["paper_average"] = ref.average
            row["paper_average_over"] = len(ref.average_over)
            row["common_seeds"] = int(per_seed.size)
            rows.append(row)
    return pd.DataFrame(rows)


def _compare_row(base: dict[str, Any], kind: str, dataset: str, mean: float, std: float,
                 lo: float, hi: float, published: float | None, n_done: int, n_planned: int,
                 known: str) -> dict[str, Any]:  # fmt: skip
    inside: bool | None = None
    if published is not None and not (math.isnan(lo) or math.isnan(hi)):
        inside = bool(lo <= published <= hi)
    return {
        **base, "kind": kind, "dataset": dataset, "n_done": n_done, "n_planned": n_planned,
        "complete": n_done >= n_planned, "molpt_mean": mean, "molpt_std": std,
        "ci_low": lo, "ci_high": hi, "published": published,
        "delta": mean - published if published is not None else float("nan"),
        "inside_ci": inside, "known_difference": known,
    }  # fmt: skip


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


def _annotate_summary(summary: pd.DataFrame, progress: pd.DataFrame,
                      paper: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """Add n_planned / complete and the first matching published value to the summary."""
    prog = {tuple(str(r[c]) for c in CELL): r for r in progress.to_dict("records")}
    cells = [tuple(str(r[c]) for c in CELL) for r in summary.to_dict("records")]
    summary["n_planned"] = [int(prog[c]["n_planned"]) if c in prog else n
                            for c, n in zip(cells, summary["n_seeds"], strict=True)]  # fmt: skip
    summary["complete"] = summary["n_seeds"] >= summary["n_planned"]
    for c in ("published", "published_source", "published_delta", "published_in_ci"):
        summary[c] = None
    if paper.empty:
        return summary
    per_ds = paper[paper["kind"] == "dataset"]
    for i, r in summary.iterrows():
        hit = per_ds[(per_ds["dataset"] == r["dataset"]) & (per_ds["method"] == r["method"])
                     & (per_ds["split"] == r["split"])
                     & (per_ds["featurizer"] == r["featurizer"])
                     & per_ds["published"].notna()]  # fmt: skip
        if hit.empty:
            continue
        h = hit.iloc[0]
        summary.at[i, "published"] = h["published"]
        summary.at[i, "published_source"] = h["source"]
        summary.at[i, "published_delta"] = h["delta"]
        summary.at[i, "published_in_ci"] = h["inside_ci"]
    return summary


def write_report(results_dir: str | Path) -> ReportFiles:
    """Write ``summary.csv``, ``report.md``, ``paper.csv`` (when a published setting
    matches) and the figures.

    Raises:
        FileNotFoundError: no such folder.
        ValueError: no finished job in ``results.csv``.
    """
    from molpt.benchmark.plots import plot_gains, plot_published, plot_splits
    from molpt.benchmark.studies import study_of_results

    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no such results folder: {root}")
    store = ResultsStore(root)
    read = store.read()
    frame = read.frame
    if frame.empty:
        raise ValueError(f"{root}: no finished job in {store.path.name} yet")
    frame["seed"] = frame["seed"].astype(int)
    frame["method"] = frame["method"].astype(str)
    study = study_of_results(root)
    summary, gains, keys = summarise(frame)
    averages = dataset_averages(summary, keys)
    progress = progress_frame(frame, planned_seeds(root, frame, study))
    paper = paper_comparison(frame, summary, keys, progress, study)
    summary = _annotate_summary(summary, progress, paper)
    summary_csv = root / "summary.csv"
    atomic_write_text(summary_csv, summary.to_csv(index=False, float_format="%.6g"))
    if not paper.empty:
        atomic_write_text(root / "paper.csv", paper.to_csv(index=False, float_format="%.6g"))

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
    if not paper.empty:
        p = _safe_plot(plot_published, paper, root / "published.png")
        if p:
            plots.append(p)

    grid = {}
    if (root / "grid.json").is_file():
        try:
            grid = json.loads((root / "grid.json").read_text()).get("spec", {})
        except (json.JSONDecodeError, OSError):
            grid = {}
    pending_errors = _errors_pending(root, set(frame["job_id"]))
    ctx = _Context(root, frame, summary, gains, averages, keys, setting_cols, grid,
                   read.notes, pending_errors, plots, progress, paper, study)  # fmt: skip
    report_md = root / "report.md"
    atomic_write_text(report_md, _render(ctx))
    return ReportFiles(summary_csv, report_md, plots, summary, gains, paper, progress)


@dataclass
class _Context:
    root: Path
    frame: pd.DataFrame
    summary: pd.DataFrame
    gains: pd.DataFrame
    averages: pd.DataFrame
    keys: list[str]
    setting_cols: list[str]
    grid: dict[str, Any]
    read_notes: list[str]
    pending_errors: list[dict]
    plots: list[Path]
    progress: pd.DataFrame
    paper: pd.DataFrame
    study: Any = None


def _render(c: _Context) -> str:
    frame = c.frame
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    seeds = sorted(frame["seed"].astype(int).unique())
    title = f"# molpt benchmark report: study `{c.study.name}`" if c.study else \
        "# molpt benchmark report"
    lines = [title, "", f"`{c.root}` · generated {now}", ""]
    n_planned = int(c.progress["n_planned"].sum())
    n_done = int(c.progress["n_done"].sum())
    partial = n_done < n_planned
    if c.study is not None:
        st = c.study
        lines += ([f"**{st.title}**", ""] if st.title else []) + [
            f"- command: `{st.command}` (rerun it to continue; finished jobs are skipped)",
            f"- slice: {st.slice or '–'} · precision: {st.precision} · "
            f"planned: {', '.join(st.planned('datasets'))} × seeds "
            f"{_seed_text(st.seeds())}",
        ]
        if st.description:
            lines.append(f"- {st.description}")
    status = (f"**PARTIAL: {n_done} of {n_planned} planned jobs finished** "
              f"({n_planned - n_done} still to run); means over fewer seeds than planned are "
              "marked *partial* and are not final." if partial
              else f"Complete: all {n_planned} planned jobs finished.")  # fmt: skip
    lines += [f"- status: {status}", ""]
    lines += _what_was_run(c, seeds)
    lines += _main_tables(c)
    lines += _gains_section(c)
    lines += _paper_section(c)
    lines += _progress_section(c)
    lines += _devices_section(c)
    lines += _notes_section(c, seeds)
    if c.plots:
        lines += ["## Figures", ""]
        for p in c.plots:
            lines += [f"![{p.stem}]({p.name})", ""]
    lines += ["Files: `results.csv` (one row per job), `summary.csv` (this table with p-values, "
              "planned seeds and the published value), `paper.csv` (molpt beside the paper), "
              "`jobs/<job_id>/metrics.json` and `predictions.csv`.", ""]  # fmt: skip
    return "\n".join(lines)


def _seed_text(seeds: list[int]) -> str:
    if not seeds:
        return "–"
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1:
        return f"{seeds[0]}–{seeds[-1]} ({len(seeds)})"
    return ",".join(str(s) for s in seeds)


def _checkpoint_text(row: pd.Series) -> str:
    """A method's starting weights as a reader can trace them: a path relative to the
    project as written; a machine-local absolute path (the published-encoder cache, a
    scratch folder) by its file name and content hash instead, which is what identifies it
    on another machine."""
    path = str(row.get("checkpoint", "") or "")
    sha = row.get("checkpoint_sha256", "")
    sha = "" if pd.isna(sha) else str(sha)
    if path and not Path(path).is_absolute():
        return f"checkpoint `{path}`" + (f" (sha256 `{sha}`)" if sha else "")
    return f"checkpoint sha256 `{sha}`" if sha else f"checkpoint `{Path(path).name or '?'}`"


def _what_was_run(c: _Context, seeds: list[int]) -> list[str]:
    frame = c.frame
    methods = list(dict.fromkeys(frame["method"]))
    arch = []
    bl = with_baselines(frame)
    for m in methods:
        r = bl[bl["method"] == m].iloc[0]
        src = "random init" if r["is_baseline"] else _checkpoint_text(r)
        vs = "" if r["is_baseline"] else f", against `{r['baseline']}`"
        arch.append(f"`{m}` ({r['encoder']} {int(r['num_layers'])}×{int(r['hidden_dim'])}, "
                    f"{src}{vs})")  # fmt: skip
    devs = "; ".join(f"{d['device']} ({d['rows']} rows)" for d in device_rows(frame))
    return [
        "## What was run",
        "",
        f"- profile: {c.grid.get('profile', '–')}; {len(frame)} finished jobs"
        + (f", {len(c.pending_errors)} failed (see errors.jsonl)" if c.pending_errors else ""),
        f"- datasets: {_uniq(frame, 'dataset')}",
        f"- splits: {_uniq(frame, 'split')} · featurizers: {_uniq(frame, 'featurizer')} · "
        f"strategies: {_uniq(frame, 'strategy')}",
        f"- methods: {'; '.join(arch)}",
        f"- run seeds finished: {_seed_text(seeds)} (seeded splits use the run seed; scaffold "
        "is deterministic)",
        f"- fine-tuning: {_uniq(frame, 'epochs')} epochs, batch {_uniq(frame, 'batch_size')}, "
        f"Adam lr {_uniq(frame, 'lr')}, dropout {_uniq(frame, 'dropout')}"
        + (f", first {_uniq(frame, 'limit')} molecules only" if frame["limit"].notna().any()
           else ""),  # fmt: skip
        f"- device: {devs} · molpt "
        f"{_uniq(frame, 'molpt_version')} · commit "
        f"{', '.join(c[:10] for c in frame['git_commit'].astype(str).unique())}",
        f"- compute: {pd.to_numeric(frame['seconds'], errors='coerce').sum() / 60:.1f} "
        "min of fine-tuning in total",
        "",
    ]


def _cell_n(r: dict[str, Any]) -> str:
    n, p = int(r["n_seeds"]), int(r.get("n_planned", r["n_seeds"]))
    return f"n={n}" if n >= p else f"n={n}/{p}, *partial*"


def _main_tables(c: _Context) -> list[str]:
    summary, keys = c.summary, c.keys
    lines = ["## Test metric at the best-validation epoch", "",
             "Mean ± std over seeds (n = finished seeds; n=7/10 means 7 of 10 planned seeds, "
             "a *partial* mean that is not final). ROC-AUC in %, higher is better; RMSE lower "
             "is better. `avg` is the mean over the datasets of that metric.",
             ""]  # fmt: skip
    datasets = list(dict.fromkeys(summary["dataset"]))
    for k, sg in summary.groupby(c.setting_cols, sort=False, dropna=False):
        rec = dict(zip(c.setting_cols, k if isinstance(k, tuple) else (k,), strict=True))
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
                header.append(f"avg ({len(ds)} sets)")
            rows = []
            for m in dict.fromkeys(sg["method"]):
                mg = sg[sg["method"] == m].set_index("dataset")
                row = [f"`{m}`"]
                for d in ds:
                    if d in mg.index:
                        r = mg.loc[d]
                        row.append(f"{_pm(r[col_m], r[col_s], r['metric'])} "
                                   f"({_cell_n(r.to_dict())})")  # fmt: skip
                    else:
                        row.append("–")
                if len(metrics_here) == 1:
                    avg = mg[col_m].mean(skipna=False) if len(mg) == len(ds) else float("nan")
                    txt = _fmt(avg, metrics_here[0])
                    if txt != "–" and not bool(mg["complete"].all()):
                        txt += " (*partial*)"
                    row.append(txt)
                rows.append(row)
            lines += [f"**{label}** — test {title}", "", _table(header, rows), ""]
    return lines


def _gains_section(c: _Context) -> list[str]:
    gains, keys, averages = c.gains, c.keys, c.averages
    lines = ["## Gain over no pretraining", ""]
    if gains.empty:
        return lines + ["No pretrained method in these results (only random-init baselines): "
                        "nothing to compare.", ""]  # fmt: skip
    lines += [
        "Gain = method − its baseline (the random-init twin of the same architecture, named "
        "in the `vs` column) on the test metric at best valid, paired by seed (for RMSE, "
        "baseline − method, so positive is always better); ROC-AUC in points. 95% CI from the "
        "t distribution. Wilcoxon signed-rank p (exact for small n), Holm-corrected across "
        f"datasets within each setting; verdict at α = {ALPHA} on the Holm-corrected Wilcoxon "
        "p. The paired t-test p is shown for reference.",
        "",
    ]
    prog = {tuple(str(r[k]) for k in CELL): r for r in c.progress.to_dict("records")}

    def n_text(r: dict[str, Any]) -> str:
        """Pairs, with '/planned, partial' while either side still has seeds to run."""
        planned = [prog.get((str(r["dataset"]), str(r["split"]), str(r["featurizer"]),
                             str(r["strategy"]), str(m))) for m in (r["method"], r["baseline"])]
        p = max([int(x["n_planned"]) for x in planned if x is not None] or [r["n_pairs"]])
        return str(r["n_pairs"]) if r["n_pairs"] >= p else f"{r['n_pairs']}/{p} *partial*"

    rows = []
    for r in gains.to_dict("records"):
        scale = 100 if r["metric"] in PERCENT_METRICS else 1
        ci = (f"[{r['ci_low'] * scale:+.2f}, {r['ci_high'] * scale:+.2f}]"
              if not math.isnan(r["ci_low"]) else "–")  # fmt: skip
        gain = "–" if _num(r["gain"]) is None else f"{r['gain'] * scale:+.2f} {ci}"
        last = "–" if _num(r["last_gain"]) is None else f"{r['last_gain'] * scale:+.2f}"
        rows.append([
            _setting_label(r, keys), r["dataset"], f"`{r['method']}`", f"`{r['baseline']}`",
            n_text(r), gain, last,
            _p(r["p_wilcoxon"]), _p(r["p_wilcoxon_holm"]), _p(r["p_ttest"]),
            f"**{r['verdict']}**" if r["verdict"].startswith("significant") else r["verdict"],
        ])  # fmt: skip
    lines += [
        _table(["setting", "dataset", "method", "vs", "n", "gain [95% CI]",
                "gain (last epoch)", "Wilcoxon p", "Holm p", "t-test p", "verdict"], rows),
        "",
    ]  # fmt: skip
    base_of = {r["method"]: r["baseline"] for r in gains.to_dict("records")}
    avg_rows = []
    for r in averages.to_dict("records"):
        b_name = base_of.get(r["method"])
        if b_name is None:
            continue
        base = averages[(averages["method"] == b_name) & (averages["metric"] == r["metric"])]
        for col in c.setting_cols:
            base = base[base[col].astype(str) == str(r[col])]
        if base.empty:
            continue
        b = base.iloc[0]
        scale = 100 if r["metric"] in PERCENT_METRICS else 1
        sign = 1 if HIGHER_IS_BETTER.get(r["metric"], True) else -1
        same = r["n_datasets"] == b["n_datasets"]
        avg_rows.append([
            _setting_label({**r, "dataset": ""}, keys), f"`{r['method']}`", f"`{b_name}`",
            _metric_name(r["metric"]), str(r["n_datasets"]) + ("" if same else
                                                               f" vs {b['n_datasets']}"),
            _fmt(b["test_mean"], r["metric"]), _fmt(r["test_mean"], r["metric"]),
            f"{sign * (r['test_mean'] - b['test_mean']) * scale:+.2f}",
            _published_gain(r, b_name, c),
        ])  # fmt: skip
    if avg_rows:
        lines += ["Average over datasets (each method over the datasets it has finished "
                  "rows on):", "",
                  _table(["setting", "method", "vs", "metric", "datasets", "baseline",
                          "method", "gain", "published gain (same sets)"], avg_rows),
                  ""]  # fmt: skip
    return lines


def _published_gain(r: dict[str, Any], baseline: str, c: _Context) -> str:
    """Published method − baseline over exactly the datasets molpt has for the method."""
    if r["metric"] != "roc_auc" or r.get("strategy") != "full":
        return "–"
    s = c.summary
    sm = _setting_filter(s, r, c.setting_cols)
    enc = sm[sm["method"] == r["method"]]["encoder"]
    enc_b = sm[sm["method"] == baseline]["encoder"]
    ds = list(sm[(sm["method"] == r["method"]) & (sm["metric"] == "roc_auc")]["dataset"])
    rm = references_for(r["method"], r["featurizer"], r["split"],
                        enc.iloc[0] if len(enc) else "gin")  # fmt: skip
    rb = references_for(baseline, r["featurizer"], r["split"],
                        enc_b.iloc[0] if len(enc_b) else "gin")  # fmt: skip
    for a in rm:
        for b in rb:
            if a.source.split(",")[0] != b.source.split(",")[0]:
                continue
            va, vb = a.average_of(ds), b.average_of(ds)
            if va is not None and vb is not None:
                return f"{va - vb:+.1f} ({a.source.split(',')[0]})"
            if a.average is not None and b.average is not None:
                return (f"{a.average - b.average:+.1f} over the paper's "
                        f"{len(a.average_over)} sets; not comparable with {len(ds)} set(s)")
    return "–"


def _these(n: int) -> str:
    return "this 1 set" if n == 1 else f"these {n} sets"


def _num(v) -> float | None:
    """A float, or None for None / NaN / non-numbers."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _yes_no(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "– (n < 2)"
    return "yes" if bool(v) else "**no**"


def _paper_section(c: _Context) -> list[str]:
    paper = c.paper
    lines = ["## Against the paper", ""]
    if paper.empty:
        return lines + ["No run here matches a published setting (full fine-tuning, ROC-AUC, "
                        "scaffold/balanced_scaffold, basic/rich, a method family with a "
                        "published row: `none`, attrmask, contextpred, supervised_contextpred).",
                        ""]  # fmt: skip
    lines += [
        "molpt's mean ± std over finished seeds, its t-based 95% CI over seeds, and the "
        "published mean (10 seeds, 100 epochs; Hu et al. pretrained on ZINC15 2M). "
        "Δ = molpt − published. The `avg` row covers exactly the datasets listed in it and "
        "sets them beside the paper's values averaged over the *same* datasets; the paper's own "
        "8-set average is quoted separately and is only compared once all 8 sets are covered. "
        "Rows with fewer seeds than planned are *partial*.",
        "",
    ]
    groups = paper.groupby(c.setting_cols + ["method", "reference"], sort=False, dropna=False)
    outside = []
    for _, g in groups:
        r0 = g.iloc[0]
        label = _setting_label({**r0.to_dict(), "dataset": ""}, c.keys)
        rows = []
        for r in g.to_dict("records"):
            n = f"{r['n_done']}/{r['n_planned']}" + ("" if r["complete"] else " *partial*")
            if r["kind"] == "dataset":
                name = r["dataset"]
                pub = (f"{r['published']:.1f}" if r["published"] is not None
                       and r["published"] == r["published"] else  # noqa: PLR0124
                       "– (only an average is published)")  # fmt: skip
            else:
                ds = r["dataset"].split("+")
                p_avg = _num(r.get("paper_average"))
                p_over = int(_num(r.get("paper_average_over")) or 0)
                name = (f"**avg over the paper's {len(ds)} sets**"
                        if p_avg is not None and len(ds) == p_over
                        else f"**avg over {_these(len(ds))}** ({', '.join(ds)})")  # fmt: skip
                if _num(r["published"]) is not None:
                    pub = f"{r['published']:.1f}"
                    if p_avg is not None and len(ds) != p_over:
                        pub += (f" (published avg over {_these(len(ds))}; the paper's "
                                f"{p_over}-set avg is {p_avg:.1f})")  # fmt: skip
                elif p_avg is not None:
                    pub = (f"– (the paper publishes only its {p_over}-set avg, {p_avg:.1f}: "
                           f"not comparable until all {p_over} sets are covered)")  # fmt: skip
                else:
                    pub = "–"
                if (_num(r.get("n_sets_planned")) or 0) > len(ds):
                    n += f"; {len(ds)} of {int(r['n_sets_planned'])} planned sets"
            ci = (f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
                  if not math.isnan(r["ci_low"]) else "–")  # fmt: skip
            delta = f"{r['delta']:+.1f}" if r["delta"] == r["delta"] else "–"
            inside = _yes_no(r["inside_ci"]) if r["delta"] == r["delta"] else "–"
            mean = f"{r['molpt_mean']:.1f}" + (f" ± {r['molpt_std']:.1f}"
                                                if r["molpt_std"] == r["molpt_std"] else "")
            rows.append([name, n, mean, ci, pub, delta, inside])
            if r["inside_ci"] is False:
                outside.append(r)
        ver = "" if r0["verified"] else " — published values unverified (PROTOCOL.md)"
        lines += [f"**{label}, `{r0['method']}`** vs {r0['reference']}{ver}", "",
                  _table(["dataset", "seeds done", "molpt mean ± std", "molpt 95% CI",
                          "published", "Δ", "published inside CI?"], rows), ""]  # fmt: skip
    if outside:
        lines += ["What is known to differ where the published value lies outside molpt's CI:",
                  ""]  # fmt: skip
        for r in outside:
            why = r.get("known_difference") or (
                "not yet explained (the study file's [known_differences] can say what differs: "
                "data files, RDKit version, feature details)")
            if r["kind"] == "average":
                why = "see the per-dataset lines"
            part = "" if r["complete"] else f" (partial: {r['n_done']}/{r['n_planned']} seeds)"
            lines.append(f"- {r['dataset']} · `{r['method']}` vs {r['source']}: published "
                         f"{r['published']:.1f} outside [{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
                         f"{part}: {why}")  # fmt: skip
        lines.append("")
    return lines


def _progress_section(c: _Context) -> list[str]:
    p = c.progress
    if p.empty:
        return []
    lines = ["## Progress (finished / planned seeds per cell)", ""]
    for k, g in p.groupby(["split", "featurizer", "strategy"], sort=False):
        ds = _order_datasets(g["dataset"])
        rows = []
        for m in dict.fromkeys(g["method"]):
            gm = g[g["method"] == m].set_index("dataset")
            cells = []
            for d in ds:
                if d not in gm.index:
                    cells.append("–")
                    continue
                r = gm.loc[d]
                cells.append(f"{r['n_done']}/{r['n_planned']}"
                             + ("" if r["complete"] else " (running or to do)"))  # fmt: skip
            rows.append([f"`{m}`"] + cells)
        lines += [f"**{', '.join(map(str, k))}**", "", _table(["method"] + ds, rows), ""]
    todo = int((p["n_planned"] - p["n_done"]).sum())
    lines += [(f"{todo} planned job(s) not finished yet." if todo else
               "Every planned job is finished."), ""]  # fmt: skip
    return lines


def _devices_section(c: _Context) -> list[str]:
    rows = [[d["device"], str(d["rows"]), ", ".join(d["commits"]), ", ".join(d["versions"]),
             ", ".join(d["precisions"]), f"{d['minutes']:.1f}",
             ", ".join(f"`{m}`" for m in d["methods"]),
             f"{d['first']} … {d['last']}"] for d in device_rows(c.frame)]  # fmt: skip
    return ["## Where the rows came from", "",
            "Rows from several machines merge into one `results.csv`; each row keeps the device "
            "and the git commit that produced it.", "",
            _table(["device", "rows", "commit(s)", "molpt", "precision", "fine-tuning min",
                    "methods", "time range"], rows), ""]  # fmt: skip


def _off_study_notes(frame: pd.DataFrame, study) -> list[str]:
    """Rows whose training settings differ from the study's (e.g. a smoke run with
    ``--epochs 1`` into the same folder): they count as done but are not the study's."""
    from molpt.benchmark.grid import get_profile

    profile = get_profile(study.profile)
    out = []
    for key in ("epochs", "batch_size", "lr", "dropout", "limit", "num_layers", "hidden_dim"):
        if key not in frame:
            continue
        want = study.grid.get(key, getattr(profile, key))
        if key in ("num_layers", "hidden_dim") and study.checkpoints:
            continue  # the checkpoints' architecture decides
        got = pd.to_numeric(frame[key], errors="coerce")
        off = got.notna() if want is None else ~np.isclose(got.fillna(-1.0), float(want))
        if off.any():
            vals = ", ".join(str(v) for v in dict.fromkeys(frame.loc[off, key].tolist()))
            out.append(f"{int(off.sum())} row(s) have {key} = {vals} instead of the study's "
                       f"{'all molecules' if want is None else want}: they are counted as "
                       "done here but are not the study's protocol.")  # fmt: skip
    return out


def _notes_section(c: _Context, seeds: list[int]) -> list[str]:
    frame, summary = c.frame, c.summary
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
    if c.grid.get("pretrain"):
        p = c.grid["pretrain"]
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
    if c.study is not None:
        notes += _off_study_notes(frame, c.study)
        notes += c.study.notes
    notes += c.read_notes
    for e in c.pending_errors[:10]:
        notes.append(f"failed: {e.get('job')} — {e.get('error')}")
    return ["## Notes", ""] + [f"- {n}" for n in notes] + [""]


__all__ = [
    "ReportFiles",
    "dataset_averages",
    "device_rows",
    "group_keys",
    "paper_comparison",
    "planned_seeds",
    "progress_frame",
    "summarise",
    "with_baselines",
    "write_report",
]
