"""Report figures (matplotlib, Agg backend, PNG; the set-up is :mod:`molpt.plotting`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from molpt.plotting import pyplot


def plot_gains(gains: pd.DataFrame, path: str | Path) -> Path | None:
    """Mean gain over each method's baseline (its random-init twin) with its t-based 95 %
    CI, one panel row per setting.

    ``gains`` columns: dataset, method, setting, gain, ci_low, ci_high (and ``baseline``,
    ``none`` when absent).
    """
    if gains.empty:
        return None
    plt = pyplot()
    settings = list(dict.fromkeys(gains["setting"]))
    rows = [len(gains[gains["setting"] == s]) for s in settings]
    height = max(2.5, sum(0.35 * r + 0.9 for r in rows))
    fig, axes = plt.subplots(
        len(settings), 1, figsize=(7.5, height), squeeze=False,
        gridspec_kw={"height_ratios": [r + 1.5 for r in rows]},
    )  # fmt: skip
    for ax, setting in zip(axes[:, 0], settings, strict=True):
        g = gains[gains["setting"] == setting].reset_index(drop=True)
        base = g["baseline"] if "baseline" in g else ["none"] * len(g)
        labels = [f"{d} · {m}" + ("" if b == "none" else f" − {b}")
                  for d, m, b in zip(g["dataset"], g["method"], base, strict=True)]  # fmt: skip
        y = np.arange(len(g))[::-1]
        lo = (g["gain"] - g["ci_low"]).clip(lower=0).fillna(0)
        hi = (g["ci_high"] - g["gain"]).clip(lower=0).fillna(0)
        colors = ["tab:green" if v > 0 else "tab:red" for v in g["gain"]]
        ax.errorbar(g["gain"], y, xerr=[lo, hi], fmt="none", ecolor="grey", capsize=3)
        ax.scatter(g["gain"], y, c=colors, zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, labels)
        ax.set_title(setting, fontsize=9)
        ax.set_xlabel("gain over the random-init twin (metric points, 95% CI)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_splits(summary: pd.DataFrame, path: str | Path) -> Path | None:
    """Mean ± std of test_at_best_valid: one panel per dataset, bars per method x split."""
    if summary.empty:
        return None
    plt = pyplot()
    datasets = list(dict.fromkeys(summary["dataset"]))
    splits = list(dict.fromkeys(summary["split"]))
    methods = list(dict.fromkeys(summary["method"]))
    width = 0.8 / max(1, len(splits))
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(max(4.0, 2.2 * len(datasets) + 1.5), 3.6), squeeze=False
    )
    for ax, d in zip(axes[0], datasets, strict=True):
        sd = summary[summary["dataset"] == d]
        metric = str(sd["metric"].iloc[0])
        x = np.arange(len(methods))
        for k, sp in enumerate(splits):
            sub = sd[sd["split"] == sp].groupby("method")[["test_mean", "test_std"]].mean()
            means = [sub["test_mean"].get(m, np.nan) for m in methods]
            stds = np.nan_to_num([sub["test_std"].get(m, np.nan) for m in methods])
            ax.bar(x + (k - (len(splits) - 1) / 2) * width, means, width, yerr=stds, capsize=2,
                   label=sp)  # fmt: skip
        ax.set_xticks(x, methods, rotation=30 if len(methods) > 3 else 0, fontsize=8)
        lo_hi = np.r_[sd["test_mean"] - sd["test_std"].fillna(0),
                      sd["test_mean"] + sd["test_std"].fillna(0)]  # fmt: skip
        lo_hi = lo_hi[np.isfinite(lo_hi)]
        if lo_hi.size:
            lo, hi = float(lo_hi.min()), float(lo_hi.max())
            pad = 0.1 * max(hi - lo, 1e-3)
            ax.set_ylim(max(0.0, lo - pad), hi + pad)
        ax.set_title(f"{d} ({metric})", fontsize=9)
    axes[0][0].set_ylabel("test at best valid (mean ± std)")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle("split methods side by side", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_published(paper: pd.DataFrame, path: str | Path) -> Path | None:
    """molpt's mean with its 95 % CI beside the published value, one panel per method and
    reference; the covered average is the last row of each panel.

    ``paper``: ``molpt.benchmark.report.paper_comparison`` (values in %).
    """
    if paper.empty:
        return None
    plt = pyplot()
    groups = list(paper.groupby(["method", "reference"], sort=False))
    n_rows = [len(g) for _, g in groups]
    height = max(2.5, sum(0.32 * r + 1.0 for r in n_rows))
    fig, axes = plt.subplots(len(groups), 1, figsize=(7.5, height), squeeze=False,
                             gridspec_kw={"height_ratios": [r + 1.5 for r in n_rows]})  # fmt: skip
    for ax, ((method, ref), g) in zip(axes[:, 0], groups, strict=True):
        g = g.reset_index(drop=True)
        y = np.arange(len(g))[::-1]
        labels = [(d if k == "dataset" else f"avg ({len(d.split('+'))} sets)")
                  + ("" if c else f" {a}/{b}")
                  for d, k, c, a, b in zip(g["dataset"], g["kind"], g["complete"], g["n_done"],
                                           g["n_planned"], strict=True)]  # fmt: skip
        lo = (g["molpt_mean"] - g["ci_low"]).clip(lower=0).fillna(0)
        hi = (g["ci_high"] - g["molpt_mean"]).clip(lower=0).fillna(0)
        ax.errorbar(g["molpt_mean"], y, xerr=[lo, hi], fmt="o", color="tab:blue",
                    ecolor="grey", capsize=3, label="molpt (95% CI)")  # fmt: skip
        pub = pd.to_numeric(g["published"], errors="coerce")
        ax.scatter(pub, y, marker="x", color="tab:red", zorder=3, label="published")
        span = np.r_[g["ci_low"], g["ci_high"], g["molpt_mean"], pub].astype(float)
        span = np.clip(span[np.isfinite(span)], 0.0, 100.0)
        if span.size:  # ROC-AUC lives in [0, 100]: a 2-seed CI must not squash the panel
            ax.set_xlim(max(0.0, span.min() - 2.0), min(100.0, span.max() + 2.0))
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_title(f"{method} vs {ref}", fontsize=9)
        ax.set_xlabel("test ROC-AUC (%)")
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


__all__ = ["plot_gains", "plot_published", "plot_splits"]
