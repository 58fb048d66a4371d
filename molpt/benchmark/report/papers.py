"""molpt beside the papers: each matching published row per dataset and on the average over
exactly the datasets covered so far (``paper.csv``), and a method's published gain over its
baseline on the same datasets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from molpt.benchmark.published import references_for
from molpt.benchmark.report.format import num
from molpt.benchmark.report.progress import CELL
from molpt.benchmark.stats import t_interval
from molpt.data.catalogue import in_paper_order


def setting_filter(frame: pd.DataFrame, rec: dict[str, Any], cols: list[str]) -> pd.DataFrame:
    """The rows of ``frame`` whose columns ``cols`` equal ``rec``'s (compared as text)."""
    f = frame
    for c in cols:
        f = f[f[c].astype(str) == str(rec[c])]
    return f


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
        fm = setting_filter(f, rec, setting_cols)
        fm = fm[fm["method"].astype(str) == method]
        by_ds = sg.set_index("dataset")
        planned_ds = in_paper_order(
            [c[0] for c in prog if c[1:] == (str(rec["split"]), str(rec["featurizer"]),
                                                 str(rec["strategy"]), method)])  # fmt: skip
        for ref in refs:
            covered = [d for d in in_paper_order(by_ds.index)
                       if (d in ref.values or d in ref.average_over)
                       and num(by_ds.loc[d, "test_mean"]) is not None]  # fmt: skip
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


def published_gain(r: dict[str, Any], baseline: str, summary: pd.DataFrame,
                   setting_cols: list[str]) -> str:  # fmt: skip
    """Published method − baseline over exactly the datasets molpt has for the method (``r``:
    a row of the dataset averages), as report text: ``+2.1 (Hu et al. 2020)`` or ``–``."""
    if r["metric"] != "roc_auc" or r.get("strategy") != "full":
        return "–"
    sm = setting_filter(summary, r, setting_cols)
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
