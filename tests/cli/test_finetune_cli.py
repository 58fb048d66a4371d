"""`molpt finetune / benchmark / report` from the command line."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from molpt.cli import app

TINY = ["--num-layers", "2", "--hidden-dim", "16", "--batch-size", "64", "--device", "cpu"]


@pytest.fixture()
def runner():
    return CliRunner()


def test_finetune_dataset_summary_and_json(runner, data_dir, tmp_cache, tmp_path):
    args = ["finetune", "--dataset", "bbbp", "--limit", "200", "--epochs", "2",
            "--data-dir", str(data_dir), "--out", str(tmp_path / "a"), "--no-progress", *TINY]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "test roc_auc at best valid" in r.output and "tasks scored 1, skipped 0" in r.output
    assert "predictions.csv" in r.output
    r = runner.invoke(app, [*args[:-len(TINY) - 3], "--out", str(tmp_path / "b"), "--json", *TINY])
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout.strip().splitlines()[-1])
    assert obj["metric"] == "roc_auc" and obj["best_epoch"] >= 1 and "history" not in obj


def test_finetune_custom_csv(runner, data_dir, tmp_cache, tmp_path):
    f = pd.read_csv(data_dir / "BBBP.csv").head(150).rename(columns={"p_np": "active"})
    f["logp"] = range(len(f))
    path = tmp_path / "mine.csv"
    f.to_csv(path, index=False)
    base = ["finetune", "--csv", str(path), "--smiles-col", "smiles", "--epochs", "1",
            "--out", str(tmp_path / "o"), "--no-progress", *TINY]
    r = runner.invoke(app, [*base, "--tasks", "active", "--task-type", "classification",
                            "--strategy", "two-stage"])
    assert r.exit_code == 0, r.output
    cols = pd.read_csv(tmp_path / "o" / "predictions.csv").columns.tolist()
    assert cols == ["smiles", "active_true", "active_pred"]
    r = runner.invoke(app, [*base, "--tasks", "logp", "--task-type", "regression"])
    assert r.exit_code == 2 and "--overwrite" in r.output  # never silently replaced
    r = runner.invoke(app, [*base, "--tasks", "logp", "--task-type", "regression",
                            "--overwrite"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "rmse" in r.output


@pytest.mark.parametrize(
    "extra, needle",
    [
        ([], "either --dataset"),
        (["--dataset", "bbbp", "--csv", "x.csv"], "either --dataset"),
        (["--dataset", "nope"], "nope"),
        (["--dataset", "bbbp", "--strategy", "lora"], "strategy"),
        (["--dataset", "bbbp", "--checkpoint", "missing.pt"], "checkpoint not found"),
        (["--csv", "missing.csv"], "no such file"),
    ],
)
def test_finetune_user_errors(runner, data_dir, tmp_cache, tmp_path, extra, needle):
    r = runner.invoke(app, ["finetune", *extra, "--data-dir", str(data_dir), "--epochs", "1",
                            "--out", str(tmp_path / "o"), "--no-progress", *TINY])
    assert r.exit_code != 0
    assert needle in r.output and "Traceback" not in r.output
    assert r.output.strip().splitlines()[-1].startswith("error: ")


def test_finetune_csv_missing_column_one_line(runner, data_dir, tmp_cache, tmp_path):
    path = tmp_path / "m.csv"
    pd.read_csv(data_dir / "BBBP.csv").head(50).to_csv(path, index=False)
    r = runner.invoke(app, ["finetune", "--csv", str(path), "--smiles-col", "smiles",
                            "--tasks", "activity", "--out", str(tmp_path / "o"), *TINY])
    assert r.exit_code == 2 and "missing task column(s) 'activity'" in r.output


def test_benchmark_and_report_cli(runner, data_dir, tmp_cache, tmp_path):
    out = tmp_path / "res"
    args = ["benchmark", "--datasets", "bbbp", "--splits", "scaffold", "--seeds", "0",
            "--epochs", "1", "--limit", "120", "--data-dir", str(data_dir), "--no-progress",
            "--workers", "1", "--out", str(out), "--checkpoint", "x=/no/such.pt", *TINY]
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "error: checkpoint x: file not found" in r.output
    for bad, needle in ((["--seeds", "a-b"], "--seeds"), (["--executor", "spark"], "executor"),
                        (["--profile", "big"], "profile")):  # fmt: skip
        r = runner.invoke(app, ["benchmark", *bad, "--out", str(out)])
        assert r.exit_code == 2 and needle in r.output, r.output
    ok = [a for a in args if a not in ("--checkpoint", "x=/no/such.pt")]
    r = runner.invoke(app, ok)
    assert r.exit_code == 0, r.output
    # no --checkpoint: the quick profile pretrains attrmask first, then compares it to none
    assert "2 jobs: 2 run now" in r.output and (out / "report.md").is_file()
    assert (out / "pretrain" / "attrmask" / "checkpoint.pt").is_file()
    r = runner.invoke(app, ok)  # rerun: pretraining and both jobs are reused
    assert r.exit_code == 0 and "0 run now, 2 already done" in r.output, r.output
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0 and "summary.csv" in r.output
    r = runner.invoke(app, ["report", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "error: no such results folder" in r.output
