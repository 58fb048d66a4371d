"""Paired statistics for pretrained-vs-baseline comparisons across seeds.

* ``paired_test``: Wilcoxon signed-rank (``scipy.stats.wilcoxon``, exact for small n) and
  the paired t-test (``scipy.stats.ttest_rel``) on per-seed differences, plus a t-based 95 %
  confidence interval of the mean difference.  Degenerate inputs do not raise: fewer than two
  pairs give NaN p-values, all-zero differences give p = 1, each with a note.
* ``holm``: Holm-Bonferroni step-down adjustment of a family of p-values (NaN ignored).
* ``min_wilcoxon_p``: the smallest two-sided exact Wilcoxon p-value n pairs can reach
  (2 / 2^n), which is above 0.05 for n < 6.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class PairedResult:
    """Summary of differences d_i = method_i - baseline_i over paired seeds."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    p_wilcoxon: float
    p_ttest: float
    note: str = ""


def min_wilcoxon_p(n: int) -> float:
    """Smallest two-sided exact Wilcoxon signed-rank p-value with ``n`` non-zero pairs."""
    return min(1.0, 2.0 / 2**n) if n > 0 else 1.0


def t_interval(d: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Two-sided t-based confidence interval of the mean of ``d`` (NaN for n < 2)."""
    n = d.size
    if n < 2:
        return float("nan"), float("nan")
    m, s = float(d.mean()), float(d.std(ddof=1))
    h = float(stats.t.ppf(0.5 + level / 2, n - 1)) * s / math.sqrt(n)
    return m - h, m + h


def paired_test(method: Sequence[float], baseline: Sequence[float]) -> PairedResult:
    """Wilcoxon signed-rank and paired t-test of ``method`` against ``baseline`` (same seeds)."""
    a = np.asarray(method, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.size} vs {b.size}")
    keep = ~(np.isnan(a) | np.isnan(b))
    d = a[keep] - b[keep]
    n = d.size
    mean = float(d.mean()) if n else float("nan")
    std = float(d.std(ddof=1)) if n > 1 else float("nan")
    lo, hi = t_interval(d)
    if n < 2:
        return PairedResult(n, mean, std, lo, hi, float("nan"), float("nan"),
                            "fewer than 2 paired seeds: no test")  # fmt: skip
    if np.all(d == 0):
        return PairedResult(n, mean, std, lo, hi, 1.0, 1.0, "all differences are zero")
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_w = float(stats.wilcoxon(d).pvalue)
        if np.all(d == d[0]):  # no variance: the t statistic is infinite
            p_t = 0.0
            notes.append("identical non-zero differences: t-test p set to 0")
        else:
            p_t = float(stats.ttest_rel(a[keep], b[keep]).pvalue)
    nz = int(np.count_nonzero(d))
    if min_wilcoxon_p(nz) > 0.05:
        notes.append(f"{nz} non-zero pairs: Wilcoxon p cannot go below {min_wilcoxon_p(nz):.3g}")
    return PairedResult(n, mean, std, lo, hi, p_w, p_t, "; ".join(notes))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order; NaN stays NaN and is not counted).

    Sort the m valid p-values ascending: p_(i) -> max_{j<=i} min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out.tolist()
    order = ok[np.argsort(p[ok], kind="mergesort")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def verdict(gain: float, p_adjusted: float, alpha: float = 0.05) -> str:
    """``significant gain`` / ``significant loss`` / ``no significant difference``."""
    if p_adjusted != p_adjusted:  # NaN
        return "not testable"
    if p_adjusted < alpha and gain > 0:
        return "significant gain"
    if p_adjusted < alpha and gain < 0:
        return "significant loss"
    return "no significant difference"


__all__ = ["PairedResult", "holm", "min_wilcoxon_p", "paired_test", "t_interval", "verdict"]
