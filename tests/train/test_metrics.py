"""Metrics against scikit-learn and OGB's evaluator on the same arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from molpt.train.metrics import (
    binary_average_precision,
    evaluate,
    is_better,
    mae,
    pr_auc,
    rmse,
    roc_auc,
)


def _multitask(seed: int = 0, n: int = 200, t: int = 6):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, t)) < 0.3).astype(np.float64)
    y[rng.random((n, t)) < 0.25] = np.nan
    y[:, 4] = np.where(np.isnan(y[:, 4]), np.nan, 0.0)  # one class only -> skipped
    y[:, 5] = np.nan  # no label at all -> skipped
    s = rng.random((n, t))
    s[:50] = np.round(s[:50], 1)  # ties
    return y, s


def test_roc_auc_matches_ogb_evaluator_and_sklearn():
    from ogb.graphproppred import Evaluator

    y, s = _multitask()
    y12 = np.concatenate([y, y], axis=1)
    s12 = np.concatenate([s, s[::-1]], axis=1)
    ours = roc_auc(y12, s12)
    ref = Evaluator("ogbg-moltox21").eval({"y_true": y12, "y_pred": s12})["rocauc"]
    assert ours.mean == pytest.approx(ref, abs=1e-12)
    assert ours.scored == 8 and ours.skipped == 4
    for t in range(12):
        m = ~np.isnan(y12[:, t])
        if t % 6 < 4:
            assert ours.per_task[t] == pytest.approx(roc_auc_score(y12[m, t], s12[m, t]))
        else:
            assert np.isnan(ours.per_task[t])


def test_roc_auc_single_task_molhiv_style():
    from ogb.graphproppred import Evaluator

    rng = np.random.default_rng(1)
    y = (rng.random((300, 1)) < 0.1).astype(float)
    s = rng.normal(size=(300, 1)) + y
    ref = Evaluator("ogbg-molhiv").eval({"y_true": y, "y_pred": s})["rocauc"]
    assert roc_auc(y, s).mean == pytest.approx(ref)


def test_pr_auc_matches_sklearn():
    y, s = _multitask(3)
    ours = pr_auc(y, s)
    for t in range(4):
        m = ~np.isnan(y[:, t])
        assert ours.per_task[t] == pytest.approx(average_precision_score(y[m, t], s[m, t]))
    assert ours.scored == 4 and ours.skipped == 2
    # ties everywhere
    yy = np.array([0, 1, 1, 0, 1, 0, 0.0])
    ss = np.array([0.5, 0.5, 0.9, 0.1, 0.5, 0.9, 0.1])
    assert binary_average_precision(yy, ss) == pytest.approx(average_precision_score(yy, ss))


def test_regression_metrics():
    y = np.array([[1.0, np.nan], [2.0, 4.0], [3.0, 6.0]])
    p = np.array([[1.5, 0.0], [2.0, 5.0], [2.0, 6.0]])
    r = rmse(y, p)
    assert r.per_task[0] == pytest.approx(np.sqrt((0.25 + 0 + 1) / 3))
    assert r.per_task[1] == pytest.approx(np.sqrt(0.5))
    assert r.mean == pytest.approx((r.per_task[0] + r.per_task[1]) / 2)
    assert mae(y, p).per_task[0] == pytest.approx(0.5)
    assert set(evaluate("regression", y, p)) == {"rmse", "mae"}


def test_errors_and_comparisons():
    with pytest.raises(ValueError, match="shape"):
        roc_auc(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="task_type"):
        evaluate("ranking", np.zeros((3, 1)), np.zeros((3, 1)))
    assert np.isnan(roc_auc(np.array([[np.nan]]), np.array([[0.3]])).mean)
    assert is_better("roc_auc", 0.7, 0.6) and not is_better("rmse", 0.7, 0.6)
    assert is_better("rmse", 0.5, float("nan")) and not is_better("rmse", float("nan"), 1.0)
