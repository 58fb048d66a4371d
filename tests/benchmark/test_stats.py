"""Paired tests and Holm against known values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from molpt.benchmark.stats import holm, min_wilcoxon_p, paired_test, t_interval, verdict


def test_wilcoxon_exact_all_positive_n6():
    r = paired_test([0.71, 0.72, 0.73, 0.74, 0.75, 0.76], [0.70] * 6)
    assert r.p_wilcoxon == pytest.approx(0.03125)  # 2 / 2**6
    assert r.n == 6 and r.mean == pytest.approx(0.035)
    a = np.array([0.71, 0.72, 0.73, 0.74, 0.75, 0.76])
    assert r.p_ttest == pytest.approx(stats.ttest_rel(a, np.full(6, 0.7)).pvalue)


def test_ttest_and_ci_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.7, 0.02, 10), rng.normal(0.69, 0.02, 10)
    r = paired_test(a, b)
    assert r.p_ttest == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert r.p_wilcoxon == pytest.approx(stats.wilcoxon(a - b).pvalue)
    lo, hi = stats.t.interval(0.95, 9, loc=(a - b).mean(), scale=stats.sem(a - b))
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi))
    assert t_interval(np.array([1.0]))[0] != t_interval(np.array([1.0]))[0]  # NaN


def test_degenerate_inputs():
    r = paired_test([0.7, 0.8], [0.7, 0.8])
    assert r.p_wilcoxon == 1.0 and "zero" in r.note
    r = paired_test([0.7], [0.6])
    assert math.isnan(r.p_wilcoxon) and math.isnan(r.p_ttest) and "fewer than 2" in r.note
    r = paired_test([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])  # identical differences
    assert r.p_ttest == 0.0 and r.p_wilcoxon == pytest.approx(0.25)
    assert "cannot go below" in r.note
    r = paired_test([0.8, float("nan"), 0.9], [0.7, 0.8, 0.7])
    assert r.n == 2
    with pytest.raises(ValueError):
        paired_test([1, 2], [1])
    assert min_wilcoxon_p(5) == pytest.approx(0.0625) and min_wilcoxon_p(6) < 0.05


def test_holm_hand_computed():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # NaN ignored (m = 3): 0.01*3, 0.2*2, max(0.4, 0.5*1)
    out = holm([0.5, float("nan"), 0.2, 0.01])
    assert out[0] == pytest.approx(0.5) and math.isnan(out[1])
    assert out[2] == pytest.approx(0.4) and out[3] == pytest.approx(0.03)
    assert holm([0.3, 0.4]) == pytest.approx([0.6, 0.6])  # capped by monotonicity
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == [] and holm([0.04]) == [0.04]


def test_verdict():
    assert verdict(0.02, 0.01) == "significant gain"
    assert verdict(-0.02, 0.01) == "significant loss"
    assert verdict(0.02, 0.2) == "no significant difference"
    assert verdict(0.02, float("nan")) == "not testable"
