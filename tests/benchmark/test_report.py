"""Report on a crafted results table with known statistics."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from molpt.benchmark.grid import job_id
from molpt.benchmark.report import summarise, write_report
from molpt.benchmark.store import ResultsStore


def _rows():
    rows = []
    base = {"bbbp": 0.70, "bace": 0.75}
    gain = {"bbbp": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06], "bace": [0.0] * 6}
    for ds in ("bbbp", "bace"):
        for seed in range(6):
            for method, val in (("none", base[ds] + seed / 1000),
                                ("attrmask", base[ds] + seed / 1000 + gain[ds][seed])):
                cfg = dict(dataset=ds, split="scaffold", split_seed=0, seed=seed, method=method,
                           featurizer="basic", strategy="full", epochs=100, batch_size=32,
                           lr=0.001, dropout=0.5, limit=None, encoder="gin", num_layers=5,
                           hidden_dim=300, checkpoint=None if method == "none" else "/a.pt")
                rows.append({**cfg, "metric": "roc_auc", "test_at_best_valid": val,
                             "last_test": val - 0.01, "best_valid": val, "best_epoch": 50,
                             "tasks_scored": 1, "tasks_skipped": 0, "pr_auc": 0.5,
                             "seconds": 1.0, "device": "cpu", "molpt_version": "0.1.0",
                             "git_commit": "unknown", "timestamp": "t",
                             "job_id": job_id(cfg)})  # fmt: skip
    # a regression set: lower RMSE is better
    for seed in range(6):
        for method, val in (("none", 1.0 + seed / 100), ("attrmask", 0.9 + seed / 100)):
            cfg = dict(dataset="esol", split="scaffold", split_seed=0, seed=seed, method=method,
                       featurizer="basic", strategy="full", epochs=100, batch_size=32, lr=0.001,
                       dropout=0.5, limit=None, encoder="gin", num_layers=5, hidden_dim=300,
                       checkpoint=None)
            rows.append({**cfg, "metric": "rmse", "test_at_best_valid": val, "last_test": val,
                         "best_valid": val, "best_epoch": 9, "tasks_scored": 1,
                         "tasks_skipped": 0, "seconds": 1.0, "device": "cpu",
                         "molpt_version": "0.1.0", "git_commit": "unknown", "timestamp": "t",
                         "job_id": job_id(cfg)})  # fmt: skip
    return rows


def test_summary_gains_holm_and_verdicts(tmp_path):
    store = ResultsStore(tmp_path)
    for r in _rows():
        store.append(r)
    files = write_report(tmp_path)
    g = files.gains.set_index("dataset")
    assert g.loc["bbbp", "p_wilcoxon"] == pytest.approx(0.03125)
    assert g.loc["bbbp", "gain"] == pytest.approx(0.035)
    a = [0.70 + s / 1000 + 0.01 * (s + 1) for s in range(6)]
    b = [0.70 + s / 1000 for s in range(6)]
    assert g.loc["bbbp", "p_ttest"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert g.loc["bace", "p_wilcoxon"] == 1.0 and g.loc["bace", "gain"] == pytest.approx(0)
    # family = (scaffold, basic, full, attrmask) across bbbp, bace, esol: m = 3
    assert g.loc["bbbp", "p_wilcoxon_holm"] == pytest.approx(min(1, 3 * 0.03125))
    assert g.loc["esol", "gain"] == pytest.approx(0.1)  # none - method for RMSE
    assert g.loc["bbbp", "verdict"] == "no significant difference"  # Holm: 0.094
    s = files.summary.set_index(["dataset", "method"])
    assert s.loc[("bbbp", "none"), "n_seeds"] == 6
    assert s.loc[("bbbp", "none"), "test_mean"] == pytest.approx(0.7025)
    assert s.loc[("bbbp", "none"), "last_mean"] == pytest.approx(0.6925)
    # files
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert {"n_seeds", "test_mean", "test_std", "last_mean", "p_wilcoxon_holm",
            "verdict"} <= set(summary.columns)
    md = (tmp_path / "report.md").read_text()
    for needle in ("## What was run", "## Gain over no pretraining", "Hu et al. 2020",
                   "Sun et al. 2022", "| `attrmask` |", "## Notes"):
        assert needle in md
    assert "cannot reach p < 0.05" not in md  # 6 seeds
    for p in ("gains.png", "splits.png"):
        assert (tmp_path / p).stat().st_size > 1000


def test_significant_verdict_single_dataset(tmp_path):
    rows = [r for r in _rows() if r["dataset"] == "bbbp"]
    summary, gains, _ = summarise(pd.DataFrame(rows))
    assert gains.loc[0, "p_wilcoxon_holm"] == pytest.approx(0.03125)
    assert gains.loc[0, "verdict"] == "significant gain"


def test_few_seeds_note_and_errors(tmp_path):
    store = ResultsStore(tmp_path)
    for r in _rows():
        if r["seed"] < 3:
            store.append(r)
    write_report(tmp_path)
    assert "cannot reach p < 0.05" in (tmp_path / "report.md").read_text()
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no finished job"):
        write_report(tmp_path / "empty")


def test_methods_line_names_checkpoints_portably(tmp_path):
    """A machine-local absolute checkpoint path never reaches the committed report: it
    becomes the file's hash (or name); a project-relative path stays as written."""
    from molpt.benchmark.report.render import _checkpoint_text

    store = ResultsStore(tmp_path)
    for r in _rows():
        store.append(r)
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "checkpoint `a.pt`" in md and "`/a.pt`" not in md
    cache = "/home/u/.cache/molpt/published/hu2020-gcn-49cf/checkpoint.pt"
    assert _checkpoint_text(pd.Series({"checkpoint": cache, "checkpoint_sha256": "6288e0a1"})) \
        == "checkpoint sha256 `6288e0a1`"
    rel = pd.Series({"checkpoint": "checkpoints/molpt/gin.pt", "checkpoint_sha256": "ab12"})
    assert _checkpoint_text(rel) == "checkpoint `checkpoints/molpt/gin.pt` (sha256 `ab12`)"
    assert _checkpoint_text(pd.Series({"checkpoint": "c.pt", "checkpoint_sha256": float("nan")})) \
        == "checkpoint `c.pt`"


def test_datasets_in_the_papers_order_everywhere(tmp_path):
    """Rows written esol, bace, bbbp come out bbbp, bace, esol (the papers' order) in
    summary.csv, the gains, report.md's tables and the README section, even from a
    summary.csv written in another order."""
    from molpt.benchmark.readme import render_section

    root = tmp_path / "results" / "order"
    store = ResultsStore(root)
    for r in _rows()[::-1]:
        store.append(r)
    files = write_report(root)
    order = ["bbbp", "bace", "esol"]
    assert list(dict.fromkeys(pd.read_csv(files.summary_csv)["dataset"])) == order
    assert list(files.gains["dataset"]) == order
    md = files.report_md.read_text()
    assert "| method | bbbp (ROC-AUC (%)) | bace (ROC-AUC (%)) | esol (RMSE) |" in md
    cells = [line.split(" | ")[1] for line in md.splitlines() if line.startswith("| scaffold")]
    assert [c for c in cells if not c.startswith("`")] == order  # the gains table's rows
    summary = pd.read_csv(files.summary_csv)
    summary.iloc[::-1].to_csv(files.summary_csv, index=False)  # an older file's order
    sec = render_section(tmp_path / "results", tmp_path, tmp_path / "no_studies")
    assert "| method | bbbp | bace | esol |" in sec


def test_gains_across_devices_are_named(tmp_path):
    """A method fine-tuned on a GPU against a baseline fine-tuned on the CPU is named."""
    store = ResultsStore(tmp_path)
    for r in _rows():
        if r["dataset"] == "bbbp" and r["method"] == "attrmask":
            r = {**r, "device": "cuda:0", "device_name": "NVIDIA H200"}
        store.append(r)
    md = (write_report(tmp_path).report_md).read_text()
    assert "Across devices: bbbp `attrmask` (cuda) vs `none` (cpu)." in md
    assert "bace `attrmask`" not in md.split("Across devices:")[1].split("\n")[0]
    # one device throughout: no such note
    other = tmp_path / "cpu_only"
    store = ResultsStore(other)
    for r in _rows():
        store.append(r)
    assert "Across devices" not in (write_report(other).report_md).read_text()
