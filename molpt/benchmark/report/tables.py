"""The report's tables from ``results.csv`` rows: per dataset x split x featurizer x strategy x
method the number of seeds, mean ± std and t-based 95 % CI of the test metric at the
best-validation epoch and at the last epoch, joined with each method's gain and verdict
(:mod:`molpt.benchmark.report.verdicts`); and the mean over datasets.  Rows come in the
papers' dataset order (:data:`molpt.data.catalogue.PAPER_ORDER`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molpt.benchmark.grid import NONE_METHOD
from molpt.benchmark.report.verdicts import GAIN_COLUMNS, gains_table
from molpt.benchmark.stats import t_interval
from molpt.data.catalogue import paper_order_key

BASE_KEYS = ["dataset", "split", "featurizer", "strategy"]
MAYBE_KEYS = ["epochs", "batch_size", "lr", "dropout", "limit"]


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


def rows_in_paper_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s rows with the datasets in the papers' order (a stable sort: within one
    dataset the rows keep their order)."""
    if frame.empty or "dataset" not in frame:
        return frame
    return frame.sort_values("dataset", key=lambda s: s.map(paper_order_key), kind="stable",
                             ignore_index=True)  # fmt: skip


def summary_table(f: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per cell (``keys``) and method: seeds and the test metric's statistics.

    ``f``: rows from :func:`with_baselines` with numeric score columns.
    """
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
    return pd.DataFrame(rows)


def summarise(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(summary per cell and method, gains over each method's baseline, grouping keys), both
    tables in the papers' dataset order."""
    keys = group_keys(frame)
    f = with_baselines(frame)
    for c in ("test_at_best_valid", "last_test", "best_valid", "pr_auc", "best_epoch",
              "tasks_scored", "tasks_skipped", "seconds"):  # fmt: skip
        if c not in f:
            f[c] = np.nan
        f[c] = pd.to_numeric(f[c], errors="coerce")
    summary = summary_table(f, keys)
    gains = gains_table(f, keys)
    if not gains.empty:
        summary = summary.merge(gains[keys + ["method"] + GAIN_COLUMNS],
                                on=keys + ["method"], how="left")  # fmt: skip
    return rows_in_paper_order(summary), rows_in_paper_order(gains), keys


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


__all__ = [
    "BASE_KEYS",
    "MAYBE_KEYS",
    "dataset_averages",
    "group_keys",
    "rows_in_paper_order",
    "summarise",
    "summary_table",
    "with_baselines",
]
