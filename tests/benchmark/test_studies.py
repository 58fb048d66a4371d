"""Studies as files: the shipped study grids, loading errors, CLI option merging, merging
results from several machines, and one tiny real study run end to end through the CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from molpt.benchmark.grid import job_id
from molpt.benchmark.store import ResultsStore
from molpt.benchmark.studies import (
    STUDIES_DIR,
    StudyError,
    list_studies,
    load_study,
    merge_results,
    parse_study,
)
from molpt.cli import app
from molpt.train.device import cpu_model

SLICE1 = ["bbbp", "bace", "clintox", "sider"]
HU8 = ["bbbp", "tox21", "toxcast", "sider", "clintox", "muv", "hiv", "bace"]


def test_shipped_studies_are_valid_and_follow_hu_settings():
    names = list_studies()
    for n in ("hu2020_gin_none", "hu2020_gcn", "hu2020_gin_none_8sets", "hu2020_gcn_8sets",
              "hu2020_sage_8sets", "hu2020_gat_8sets", "hu2020_gin_moses"):  # fmt: skip
        assert n in names
    for n in names:
        st = load_study(n)
        assert st.name == n and st.path.parent == STUDIES_DIR
        # the papers ran fp32; a *_bf16 study is the precision twin of the study it names
        assert st.seeds() == list(range(10))
        assert st.precision == ("bf16" if n.endswith("_bf16") else "fp32")
        assert st.planned("splits") == ["scaffold"] and st.planned("featurizers") == ["basic"]
        g = st.grid
        assert (g["num_layers"], g["hidden_dim"], g["epochs"], g["batch_size"]) == (5, 300, 100,
                                                                                   32)
        assert (g["lr"], g["dropout"]) == (0.001, 0.5)
        assert st.results_dir == STUDIES_DIR.parent / "results" / n
        assert st.command == f"molpt benchmark --study {n}"
        assert st.known_difference("bbbp")  # every study says what may differ
        assert sorted(st.planned("datasets")) == sorted(SLICE1 if st.slice == "1" else HU8)
    gcn = load_study("hu2020_gcn")
    assert gcn.grid["encoder"] == "gcn"
    assert gcn.checkpoints == ["hu2020/gcn_supervised_contextpred", "hu2020/gcn_contextpred",
                               "hu2020/gcn_supervised"]  # passed through as given
    assert load_study("hu2020_gin_none").checkpoints == []
    twin, fp32 = load_study("hu2020_gin_none_bf16"), load_study("hu2020_gin_none")
    assert twin.grid == fp32.grid and twin.profile == fp32.profile  # only precision differs
    moses = load_study("hu2020_gin_moses")  # NAME=molpt/<record>: a record name, kept
    assert moses.checkpoints[0] == "attrmask_moses=molpt/gin5x300_attrmask_moses"


def test_study_errors(tmp_path):
    with pytest.raises(StudyError, match="unknown study 'nope'.*hu2020_gin_none"):
        load_study("nope")
    with pytest.raises(StudyError, match="no such study file"):
        load_study(tmp_path / "missing.toml")
    p = tmp_path / "s.toml"
    with pytest.raises(StudyError, match="not valid TOML"):
        parse_study("name = ", p)
    with pytest.raises(StudyError, match="unknown key.*colour"):
        parse_study('name = "x"\ncolour = 1\n', p)
    with pytest.raises(StudyError, match=r"unknown \[grid\] key.*epoch\b"):
        parse_study('[grid]\nepoch = 3\n', p)
    with pytest.raises(StudyError, match="list of strings"):
        parse_study('[grid]\ndatasets = "bbbp"\n', p)
    with pytest.raises(StudyError, match="precision"):
        parse_study('precision = "fp16"\n', p)
    with pytest.raises(StudyError, match="unknown profile"):
        parse_study('profile = "nope"\n', p)
    with pytest.raises(StudyError, match="seeds"):
        parse_study('[grid]\nseeds = "a-b"\n', p)
    st = parse_study('[grid]\ndatasets = ["bbbp"]\n', p)
    assert st.name == "s" and st.seeds() == list(range(10))  # the hu2020 profile's
    assert st.results_dir == tmp_path.parent / "results" / "s"


def test_cli_options_user_values_win(tmp_path):
    p = tmp_path / "studies" / "t.toml"
    p.parent.mkdir()
    p.write_text('[grid]\ndatasets = ["bbbp", "bace"]\nseeds = "0-9"\nepochs = 100\n'
                 'checkpoints = ["hu2020/gcn_contextpred", "mine=ck/a.pt"]\n')  # fmt: skip
    st = load_study(p)
    o = st.cli_options()
    assert o["datasets"] == "bbbp,bace" and o["seeds"] == ",".join(map(str, range(10)))
    assert o["epochs"] == 100 and o["profile"] == "hu2020" and o["limit"] is None
    assert o["checkpoint"] == ["hu2020/gcn_contextpred", f"mine={tmp_path / 'studies' / 'ck/a.pt'}"]
    o = st.cli_options(datasets="bbbp", seeds="0-2", epochs=3, checkpoint=[])
    assert (o["datasets"], o["seeds"], o["epochs"]) == ("bbbp", "0-2", 3)
    assert len(o["checkpoint"]) == 2  # not given: the study's
    assert st.command == f"molpt benchmark --study {p}"


def _row(seed: int, device: str, commit: str, dataset: str = "bbbp") -> dict:
    cfg = dict(dataset=dataset, split="scaffold", split_seed=0, seed=seed, method="none",
               featurizer="basic", strategy="full", epochs=100, batch_size=32, lr=0.001,
               dropout=0.5, limit=None, encoder="gin", num_layers=5, hidden_dim=300,
               checkpoint=None)  # fmt: skip
    return {**cfg, "metric": "roc_auc", "test_at_best_valid": 0.6 + seed / 100,
            "last_test": 0.6, "best_valid": 0.8, "best_epoch": 10, "tasks_scored": 1,
            "tasks_skipped": 0, "seconds": 60.0, "device": device, "molpt_version": "0.1.0",
            "git_commit": commit, "timestamp": f"2026-11-29T0{seed}:00:00",
            "job_id": job_id(cfg)}  # fmt: skip


def test_merge_results_from_another_machine(tmp_path):
    a, b = ResultsStore(tmp_path / "cpu"), ResultsStore(tmp_path / "gpu")
    for s in range(3):
        a.append(_row(s, "cpu", "a" * 40))
    for s in range(2, 6):  # seed 2 ran on both machines: kept once
        b.append(_row(s, "cuda:NVIDIA H200", "b" * 40))
    (b.job_dir(_row(4, "", "")["job_id"])).mkdir(parents=True)
    (b.job_dir(_row(4, "", "")["job_id"]) / "metrics.json").write_text("{}")
    (tmp_path / "gpu" / "study.toml").write_text('name = "cpu"\n')  # folder = study name
    assert merge_results(tmp_path / "gpu", tmp_path / "cpu") == (3, 1)
    assert merge_results(tmp_path / "gpu", tmp_path / "cpu") == (0, 4)  # idempotent
    f = a.read().frame
    assert sorted(f["seed"]) == list(range(6)) and f["job_id"].is_unique
    assert f.groupby("device").size().to_dict() == {"cpu": 3, "cuda:NVIDIA H200": 3}
    assert (a.job_dir(_row(4, "", "")["job_id"]) / "metrics.json").is_file()
    assert (tmp_path / "cpu" / "study.toml").is_file()
    assert pd.isna(f["limit"]).all()  # empty cells stay empty
    with pytest.raises(FileNotFoundError):
        merge_results(tmp_path / "nothing", tmp_path / "cpu")
    # another study's rows (slice 1 into slice 2): the target keeps its own plan
    assert merge_results(tmp_path / "gpu", tmp_path / "other")[0] == 4
    assert not (tmp_path / "other" / "study.toml").exists()


def test_benchmark_cli_study_errors(tmp_path):
    r = CliRunner().invoke(app, ["benchmark", "--study", "nope"])
    assert r.exit_code == 2 and "unknown study 'nope'" in r.output
    r = CliRunner().invoke(app, ["benchmark"])
    assert r.exit_code == 2 and "--out" in r.output and "--study" in r.output


TINY_STUDY = """
name = "tiny"
title = "a test-only study: GIN without pretraining on 300 BBBP and SIDER molecules"
slice = 1
profile = "hu2020"
precision = "fp32"
results = "../out/tiny"

[grid]
datasets = ["bbbp", "sider"]
splits = ["scaffold"]
seeds = "0-1"
epochs = 1
batch_size = 64
limit = 300
encoder = "gin"
num_layers = 2
hidden_dim = 16

[known_differences]
"*" = "test-only study: 300 molecules, 1 epoch"
"""


def test_tiny_study_end_to_end_through_the_cli(data_dir, tmp_cache, tmp_path):
    """A real (tiny) study via `molpt benchmark --study FILE`: first only BBBP (a partial
    study), then the rest; the report sets molpt beside Hu et al. with the partial-average
    wording and says which device made the rows."""
    p = tmp_path / "studies" / "tiny.toml"
    p.parent.mkdir()
    p.write_text(TINY_STUDY)
    out = tmp_path / "out" / "tiny"
    base = ["benchmark", "--study", str(p), "--device", "cpu", "--workers", "1",
            "--data-dir", str(data_dir), "--no-progress"]  # fmt: skip
    r = CliRunner().invoke(app, [*base, "--datasets", "bbbp"])
    assert r.exit_code == 0, r.output
    assert f"results: {out / 'results.csv'}" in r.output
    rows = ResultsStore(out).read().frame
    assert len(rows) == 2 and set(rows["dataset"]) == {"bbbp"}
    assert set(rows["limit"]) == {300} and set(rows["hidden_dim"]) == {16}
    assert (out / "study.toml").read_text() == f"# source: {p}\n{TINY_STUDY}"
    md = (out / "report.md").read_text()
    assert "study `tiny`" in md and f"molpt benchmark --study {p}" in md
    assert "PARTIAL: 2 of 4 planned jobs finished" in md
    assert "## Against the paper" in md and "Hu et al. 2020, Table 1" in md
    assert "| bbbp | 2/2 |" in md and "65.8" in md
    assert "**avg over this 1 set** (bbbp)" in md
    assert "published avg over this 1 set; the paper's 8-set avg is 67.0" in md
    assert "| `none` | 2/2 | 0/2 (running or to do) |" in md  # progress: sider not started
    # each row names the hardware, not only "cpu": fp32 numbers reproduce per machine
    assert set(rows["device_name"]) == {cpu_model()}
    assert "## Where the rows came from" in md and f"| cpu on {cpu_model()} | 2 |" in md
    assert "instead of the study's" not in md  # the rows follow the study's settings
    # the second sitting finishes the study; nothing is rerun
    r = CliRunner().invoke(app, base)
    assert r.exit_code == 0, r.output
    assert "2 already done" in r.output
    md = (out / "report.md").read_text()
    assert "Complete: all 4 planned jobs finished." in md
    assert "**avg over these 2 sets** (bbbp, sider)" in md
    paper = pd.read_csv(out / "paper.csv")
    avg = paper[(paper["kind"] == "average") & (paper["source"] == "Hu et al. 2020, Table 1")]
    assert avg["dataset"].tolist() == ["bbbp+sider"]
    assert avg["published"].iloc[0] == pytest.approx((65.8 + 57.3) / 2)
    summary = pd.read_csv(out / "summary.csv")
    assert {"n_planned", "complete", "published", "test_ci_low", "baseline"} <= set(summary)
    assert summary["complete"].all()
    assert (out / "published.png").stat().st_size > 1000


def test_planned_jobs_count_checkpoints_not_run_yet(tmp_path):
    """A study's plan includes every checkpoint it names, before any of their rows exist:
    the repo's hu2020_gcn with only no-pretraining rows is 10 of 160 jobs, not 10 of 40."""
    from molpt.benchmark.report import planned_seeds

    study = load_study("hu2020_gcn")
    frame = pd.DataFrame(
        [dict(dataset="clintox", split="scaffold", featurizer="basic", strategy="full",
              method="none", seed=s) for s in range(10)]
    )  # fmt: skip
    plan = planned_seeds(tmp_path, frame, study)
    methods = {k[4] for k in plan}
    assert methods == {"none", "hu2020/gcn_supervised_contextpred", "hu2020/gcn_contextpred",
                       "hu2020/gcn_supervised"}  # fmt: skip
    assert sum(len(v) for v in plan.values()) == 4 * 4 * 10


def test_results_folder_by_path_or_study_name(tmp_path):
    from molpt.benchmark.studies import results_folder

    assert results_folder(tmp_path) == tmp_path  # an existing folder as given
    assert results_folder("hu2020_gcn") == load_study("hu2020_gcn").results_dir
    assert results_folder("not_a_study") == STUDIES_DIR.parent / "results" / "not_a_study"
    assert results_folder("some/where") == Path("some/where")  # a path, even if absent


def test_study_checkpoints_keep_record_and_catalogue_names(tmp_path):
    """``NAME=molpt/<record>`` and ``NAME=<catalogue name>`` stay names; ``NAME=PATH`` is made
    absolute against the study's base folder."""
    p = tmp_path / "s.toml"
    text = ('[grid]\ncheckpoints = ["a=molpt/gin_e1", "b=hu2020/gcn_supervised", '
            '"c=runs/x.pt"]\n')  # fmt: skip
    st = parse_study(text, p)
    assert st.checkpoints[:2] == ["a=molpt/gin_e1", "b=hu2020/gcn_supervised"]
    assert st.checkpoints[2] == f"c={tmp_path / 'runs/x.pt'}"
