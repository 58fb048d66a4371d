"""Evaluation metrics for fine-tuning.

Classification (Hu et al. 2020 / OGB protocol): ROC-AUC per task on the present labels,
only for tasks that have both classes in the part being scored; unweighted mean over the
scored tasks; the number of skipped tasks is reported.  PR-AUC (average precision, as in
scikit-learn) is computed the same way.  Regression: RMSE and MAE per task on present
labels (in the units of the values given), averaged over tasks.

All functions take ``y_true`` (N, T) float with NaN for a missing label and ``y_pred`` (N, T)
scores/values (any monotone score for ROC-AUC; probabilities for PR-AUC), as numpy arrays
or tensors.  The implementations are vectorised numpy (rank statistics), exact matches of
``sklearn.metrics.roc_auc_score`` / ``average_precision_score`` without their per-call
overhead, which matters when ToxCast's 617 tasks are scored twice per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import rankdata

#: metric name -> True when larger is better
HIGHER_IS_BETTER = {"roc_auc": True, "pr_auc": True, "rmse": False, "mae": False}


@dataclass
class TaskScores:
    """Per-task values of one metric on one part.

    Attributes:
        name: metric name (``roc_auc``, ``pr_auc``, ``rmse``, ``mae``).
        mean: unweighted mean over scored tasks (NaN if none).
        per_task: value per task, NaN for a skipped task (length T).
        scored: number of tasks that were scored.
        skipped: number of tasks skipped (no labels, or a single class present).
    """

    name: str
    mean: float
    per_task: list[float] = field(default_factory=list)
    scored: int = 0
    skipped: int = 0

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "mean": self.mean,
            "per_task": self.per_task,
            "scored": self.scored,
            "skipped": self.skipped,
        }


def _as_2d(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().float().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"expected a (N, T) array, got shape {a.shape}")
    return a


def _check(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    yt, yp = _as_2d(y_true), _as_2d(y_pred)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true {yt.shape} and y_pred {yp.shape} differ in shape")
    if np.isnan(yp[~np.isnan(yt)]).any():
        raise ValueError("y_pred has NaN where a label is present")
    return yt, yp


def binary_roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC-AUC of one task (labels 0/1, no NaN) = Mann-Whitney U / (n_pos n_neg); ties 1/2."""
    pos = y == 1
    n_pos = int(pos.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision of one task, as ``sklearn.metrics.average_precision_score``."""
    n_pos = int((y == 1).sum())
    if n_pos == 0 or n_pos == y.size:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # last position of every distinct score (thresholds)
    distinct = np.flatnonzero(np.diff(s_sorted)) if s_sorted.size > 1 else np.array([], int)
    ends = np.r_[distinct, y_sorted.size - 1]
    tp = np.cumsum(y_sorted)[ends]
    fp = (ends + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - prev) * precision))


def _per_task(name: str, y_true, y_pred, fn, need_both_classes: bool) -> TaskScores:
    yt, yp = _check(y_true, y_pred)
    values: list[float] = []
    for t in range(yt.shape[1]):
        present = ~np.isnan(yt[:, t])
        y, s = yt[present, t], yp[present, t]
        if y.size == 0:
            values.append(float("nan"))
            continue
        if need_both_classes:
            n_pos = int((y == 1).sum())
            if n_pos == 0 or n_pos == y.size:
                values.append(float("nan"))
                continue
        values.append(fn(y, s))
    arr = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(arr)
    mean = float(arr[ok].mean()) if ok.any() else float("nan")
    return TaskScores(name, mean, values, int(ok.sum()), int((~ok).sum()))


def roc_auc(y_true, y_pred) -> TaskScores:
    """Mean ROC-AUC over tasks with both classes present (OGB / Hu et al. protocol)."""
    return _per_task("roc_auc", y_true, y_pred, binary_roc_auc, True)


def pr_auc(y_true, y_pred) -> TaskScores:
    """Mean average precision over tasks with both classes present."""
    return _per_task("pr_auc", y_true, y_pred, binary_average_precision, True)


def rmse(y_true, y_pred) -> TaskScores:
    """Mean over tasks of the RMSE on present labels."""
    return _per_task(
        "rmse", y_true, y_pred, lambda y, s: float(np.sqrt(np.mean((y - s) ** 2))), False
    )


def mae(y_true, y_pred) -> TaskScores:
    """Mean over tasks of the MAE on present labels."""
    return _per_task("mae", y_true, y_pred, lambda y, s: float(np.mean(np.abs(y - s))), False)


METRICS = {"roc_auc": roc_auc, "pr_auc": pr_auc, "rmse": rmse, "mae": mae}


def evaluate(task_type: str, y_true, y_pred) -> dict[str, TaskScores]:
    """All metrics of a task type: classification -> roc_auc, pr_auc; regression -> rmse, mae.

    ``y_pred`` is a probability (classification) or a value in original units (regression).
    """
    if task_type == "classification":
        return {"roc_auc": roc_auc(y_true, y_pred), "pr_auc": pr_auc(y_true, y_pred)}
    if task_type == "regression":
        return {"rmse": rmse(y_true, y_pred), "mae": mae(y_true, y_pred)}
    raise ValueError(f"task_type must be classification or regression, got {task_type!r}")


def is_better(metric: str, new: float, old: float) -> bool:
    """Whether ``new`` improves on ``old`` for ``metric`` (NaN never improves)."""
    if np.isnan(new):
        return False
    if np.isnan(old):
        return True
    return new > old if HIGHER_IS_BETTER[metric] else new < old


__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "TaskScores",
    "binary_average_precision",
    "binary_roc_auc",
    "evaluate",
    "is_better",
    "mae",
    "pr_auc",
    "rmse",
    "roc_auc",
]
