"""fp32 runs beside their bf16 twins: does bf16 autocast move fine-tuning results?

A bf16 run is paired with the fp32 run of the same dataset, split, featurizer, strategy,
method, seed and training settings (its twin); only complete pairs count.  Per dataset and
method, and over the datasets both sides cover, :func:`compare` gives the fp32 and bf16
means, their difference (bf16 - fp32, in points: ROC-AUC x 100), the paired 95% CI of that
difference and the Wilcoxon p, and two answers to "do the means move by less than
``threshold`` points?": whether the observed difference is smaller, and whether the CI lies
inside +-threshold (only then do the seeds show it; with a seed-to-seed spread of a few
points, 10 seeds rarely can).  ``benchmarks/precision_check.py`` is the command.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from molpt.benchmark.report.format import PERCENT_METRICS
from molpt.benchmark.stats import paired_test
from molpt.data.catalogue import in_paper_order, paper_order_key

#: what makes two runs twins: everything a job's config sets, except the precision
PAIR_KEYS = ["dataset", "split", "split_seed", "featurizer", "strategy", "method", "seed",
             "encoder", "num_layers", "hidden_dim", "epochs", "batch_size", "lr", "dropout",
             "limit"]  # fmt: skip
SCORE = "test_at_best_valid"
#: issue 9's question: do the means move by less than this many points?
THRESHOLD = 0.5


def load(folder: Path, precision: str) -> pd.DataFrame:
    """The rows of ``folder``'s results.csv made at ``precision`` (rows written before the
    column existed were fp32)."""
    f = folder / "results.csv"
    if not f.is_file():
        raise FileNotFoundError(2, f"no results.csv in {folder}", str(folder))
    frame = pd.read_csv(f)
    prec = frame["precision"].fillna("fp32") if "precision" in frame else "fp32"
    frame = frame.assign(precision=prec)
    frame = frame[frame["precision"] == precision]
    if frame.empty:
        raise ValueError(f"{f} has no {precision} rows")
    return frame


def pair(fp32: pd.DataFrame, bf16: pd.DataFrame) -> pd.DataFrame:
    """One row per twin pair: the keys, ``fp32`` and ``bf16`` scores, metric."""
    keys = [k for k in PAIR_KEYS if k in fp32 and k in bf16]
    a = fp32[keys + ["metric", SCORE]].rename(columns={SCORE: "fp32"})
    b = bf16[keys + [SCORE]].rename(columns={SCORE: "bf16"})
    # NaN keys (limit = none) must match each other: compare them as text
    a = a.assign(**{k: a[k].astype(str) for k in keys})
    b = b.assign(**{k: b[k].astype(str) for k in keys})
    both = a.merge(b, on=keys, how="inner", validate="one_to_one")
    return both.dropna(subset=["fp32", "bf16"])


def _stats(label: str, method: str, metric: str, fp32, bf16) -> dict:
    """fp32 and bf16 means and the paired difference of one set of seed pairs (in points)."""
    scale = 100.0 if metric in PERCENT_METRICS else 1.0
    a, b = np.asarray(fp32, dtype=float) * scale, np.asarray(bf16, dtype=float) * scale
    r = paired_test(b, a)
    return dict(dataset=label, method=method, metric=metric, n=r.n, fp32=float(a.mean()),
                bf16=float(b.mean()), diff=r.mean, ci_low=r.ci_low, ci_high=r.ci_high,
                p_wilcoxon=r.p_wilcoxon)  # fmt: skip


def compare(pairs: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """One row per (dataset, method), then per method the average over the datasets both
    sides cover (the difference of per-seed averages, over the seeds present on every one
    of those sets, so its CI keeps the seed pairing); with the two verdicts."""
    pairs = pairs.sort_values("dataset", key=lambda s: s.map(paper_order_key), kind="stable")
    rows = [_stats(ds, m, g["metric"].iloc[0], g["fp32"], g["bf16"])
            for (ds, m), g in pairs.groupby(["dataset", "method"], sort=False)]  # fmt: skip
    for method, g in pairs.groupby("method", sort=False):
        covered = in_paper_order(g["dataset"])
        if len(covered) < 2 or g["metric"].nunique() != 1:
            continue
        per_set = g.groupby("seed")["dataset"].nunique()
        full = per_set[per_set == len(covered)].index  # seeds present on every covered set
        per_seed = g[g["seed"].isin(full)].groupby("seed")[["fp32", "bf16"]].mean()
        label = f"avg of {len(covered)} ({', '.join(covered)})"
        rows.append(_stats(label, method, g["metric"].iloc[0], per_seed["fp32"],
                           per_seed["bf16"]))  # fmt: skip
    out = pd.DataFrame(rows)
    if not out.empty:
        out["moved_less"] = out["diff"].abs() < threshold
        out["ci_inside"] = (out["ci_low"] > -threshold) & (out["ci_high"] < threshold)
    return out


def _num(v: float, digits: int = 2, sign: bool = False) -> str:
    return "–" if v != v else f"{v:{'+' if sign else ''}.{digits}f}"


def _where(frame: pd.DataFrame) -> str:
    """'N rows on DEVICE (commit C)' for one side."""
    devs = ", ".join(sorted(set(frame["device"].astype(str)))) if "device" in frame else "?"
    commits = (", ".join(sorted({c[:7] for c in frame["git_commit"].astype(str)}))
               if "git_commit" in frame else "?")  # fmt: skip
    return f"{len(frame)} rows on {devs} (commit {commits})"


def markdown(table: pd.DataFrame, threshold: float, names: tuple[str, str],
             sides: dict[str, pd.DataFrame]) -> str:  # fmt: skip
    """The comparison as a RESULTS.md section (``names``: the fp32 and bf16 folders)."""
    unit = "ROC-AUC x 100" if table["metric"].isin(PERCENT_METRICS).all() else "the metric"
    lines = [
        f"### fp32 vs bf16 fine-tuning, {datetime.now(UTC):%Y-%m-%d}",
        "",
        f"fp32: `{names[0]}`, {_where(sides['fp32'])}; bf16: `{names[1]}`, "
        f"{_where(sides['bf16'])}. Score: test {unit} at the best valid epoch; "
        f"diff = bf16 - fp32 over seed pairs; threshold {threshold} points.",
        "",
        "| dataset | method | seeds | fp32 | bf16 | diff | 95% CI of diff | Wilcoxon p "
        f"| \\|diff\\| < {threshold} | CI inside ±{threshold} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.dataset} | `{r.method}` | {r.n} | {_num(r.fp32)} | {_num(r.bf16)} | "
            f"{_num(r.diff, sign=True)} | [{_num(r.ci_low, sign=True)}, "
            f"{_num(r.ci_high, sign=True)}] | {_num(r.p_wilcoxon, 3)} | "
            f"{'yes' if r.moved_less else 'no'} | {'yes' if r.ci_inside else 'no'} |"
        )
    return "\n".join(lines) + "\n"
