"""Gains and verdicts: each pretrained method against its baseline (the random-init twin),
paired by seed, tested with the Wilcoxon signed-rank test (Holm-corrected across datasets) and
the paired t-test, and called a significant gain, a significant loss or no difference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molpt.benchmark.stats import holm, paired_test, verdict
from molpt.train.metrics import HIGHER_IS_BETTER

#: significance level of the verdicts (on the Holm-corrected Wilcoxon p)
ALPHA = 0.05
#: the gain columns a summary row carries
GAIN_COLUMNS = ["gain", "ci_low", "ci_high", "last_gain", "p_wilcoxon", "p_wilcoxon_holm",
                "p_ttest", "p_ttest_holm", "verdict"]  # fmt: skip


def _nanmean(values: np.ndarray) -> float:
    """Mean over the finite entries; NaN (without a warning) when there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def gains_table(f: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per cell (``keys``) and non-baseline method: the gain over its baseline with its
    CI, p-values (raw and Holm-corrected across datasets) and verdict.

    ``f``: results rows with ``baseline`` and ``is_baseline`` filled
    (:func:`molpt.benchmark.report.tables.with_baselines`) and numeric score columns.  For
    metrics where lower is better (RMSE) the gain is ``baseline - method``, so a positive gain
    is always an improvement.
    """
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
    if gains_df.empty:
        return gains_df
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
    return gains_df


__all__ = ["ALPHA", "GAIN_COLUMNS", "gains_table"]
