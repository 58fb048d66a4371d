"""How the report writes a number: metric values (ROC-AUC in %), mean ± std, p-values, seed
lists, markdown tables and setting labels."""

from __future__ import annotations

import math
from typing import Any

from molpt.benchmark.report.tables import MAYBE_KEYS

#: metrics shown in percent
PERCENT_METRICS = ("roc_auc", "pr_auc")


def fmt(v: float, metric: str, digits: int | None = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if metric in PERCENT_METRICS:
        return f"{100 * v:.{1 if digits is None else digits}f}"
    return f"{v:.{3 if digits is None else digits}f}"


def pm(mean: float, std: float, metric: str) -> str:
    s = fmt(mean, metric)
    if s != "–" and not (std is None or math.isnan(std)):
        s += f" ± {fmt(std, metric)}"
    return s


def p_value(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.3f}" if v >= 0.001 else f"{v:.1e}"


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def setting_label(rec: dict[str, Any], keys: list[str]) -> str:
    parts = [f"{rec[k]}" for k in keys if k != "dataset"]
    return ", ".join(f"{k}={v}" if k in MAYBE_KEYS else v for k, v in
                     zip([k for k in keys if k != "dataset"], parts, strict=True))  # fmt: skip


def metric_name(metric: str) -> str:
    return {"roc_auc": "ROC-AUC (%)", "rmse": "RMSE", "mae": "MAE", "pr_auc": "PR-AUC (%)"}.get(
        metric, metric
    )


def seed_text(seeds: list[int]) -> str:
    if not seeds:
        return "–"
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1:
        return f"{seeds[0]}–{seeds[-1]} ({len(seeds)})"
    return ",".join(str(s) for s in seeds)


def these(n: int) -> str:
    return "this 1 set" if n == 1 else f"these {n} sets"


def num(v) -> float | None:
    """A float, or None for None / NaN / non-numbers."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def yes_no(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "– (n < 2)"
    return "yes" if bool(v) else "**no**"
