"""`molpt datasets`, `molpt featurize`, `molpt split` through Typer's CliRunner."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from molpt.cli import app
from molpt.featurize import GraphSet


@pytest.fixture()
def run(tmp_cache, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def _run(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return _run


def _all_output(result) -> str:
    err = getattr(result, "stderr", "") if result.stderr_bytes is not None else ""
    return result.output + (err if err not in result.output else "")


def _assert_one_line_error(result):
    assert result.exit_code != 0
    text = _all_output(result)
    assert "Traceback" not in text
    errors = [ln for ln in text.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, text
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_datasets_table(run, data_dir):
    r = run("datasets", "--data-dir", data_dir)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split()[:4] == ["name", "kind", "tasks", "rows"]
    names = [ln.split()[0] for ln in lines[1:]]
    assert names[:11] == ["bbbp", "tox21", "toxcast", "sider", "clintox", "muv", "hiv", "bace",
                          "esol", "freesolv", "lipo"]  # fmt: skip
    assert "moses" in names and "zinc2m" in names
    bbbp = lines[1].split()
    assert bbbp[2:7] == ["1", "2039", "classification", "roc_auc", "yes"]
    zinc = next(ln for ln in lines if ln.startswith("zinc2m")).split()
    assert zinc[6] == "no"
    assert "617" in next(ln for ln in lines if ln.startswith("toxcast"))


def test_datasets_json(run, tmp_path):
    r = run("datasets", "--data-dir", tmp_path / "empty", "--json")
    doc = json.loads(r.output)
    assert {d["local"] for d in doc["datasets"]} == {"no"}


def test_featurize_catalogue_dataset(run, data_dir, tmp_path):
    r = run("featurize", "bbbp", "--featurizer", "ogb", "--data-dir", data_dir, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output.strip().splitlines()[-1])
    assert doc["valid"] == 2039 and doc["invalid"] == 0 and doc["invalid_report"] is None
    graphs, meta = GraphSet.load(tmp_path / "bbbp.ogb.pt")
    assert len(graphs) == 2039 and graphs.featurizer == "ogb" and graphs.y.shape == (2039, 1)
    assert meta["task_names"] == ["p_np"]


def test_featurize_custom_file_with_invalid_row(run, tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("Compound,SMILES,pIC50\na,CCO,5.1\nb,C1CC,6.0\nc,[Na+].[Cl-],7.2\n")
    out = tmp_path / "out" / "mine.pt"
    r = run("featurize", p, "--featurizer", "rich", "--out", out)
    assert r.exit_code == 2 and "column 'Compound'" in r.output  # not numeric: no label
    r = run("featurize", p, "--featurizer", "rich", "--out", out, "--tasks", "pIC50")
    assert r.exit_code == 0, r.output
    assert "2 valid, 1 invalid of 3" in r.output
    report = tmp_path / "out" / "mine.pt.invalid.csv"
    assert str(report) in r.output
    rep = pd.read_csv(report)
    assert list(rep.columns) == ["row", "smiles", "reason"]
    assert rep[["row", "smiles"]].values.tolist() == [[1, "C1CC"]]
    graphs, _ = GraphSet.load(out)
    assert graphs.smiles == ["CCO", "[Na+].[Cl-]"] and graphs.task_names == ["pIC50"]


def test_featurize_smiles_column_option(run, tmp_path):
    p = tmp_path / "two.csv"
    p.write_text("a,b\nCCO,CCN\nC,N\n")
    r = run("featurize", p, "--smiles-col", "b", "--tasks", "", "--json", "--limit", "1")
    doc = json.loads(r.output)
    assert doc["valid"] == 1 and doc["total"] == 1
    assert GraphSet.load(tmp_path / "two.basic.pt")[0].smiles == ["CCN"]


def test_featurize_missing_file(run, tmp_path):
    _assert_one_line_error(run("featurize", tmp_path / "nope.csv"))


def test_featurize_missing_column(run, tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("smiles,y\nCCO,1\n")
    r = run("featurize", p, "--smiles-col", "SMILES")
    _assert_one_line_error(r)
    assert "available columns: smiles, y" in _all_output(r)


def test_featurize_empty_file(run, tmp_path):
    p = tmp_path / "empty.smi"
    p.write_text("")
    r = run("featurize", p)
    _assert_one_line_error(r)
    assert "empty" in _all_output(r)


def test_featurize_unknown_featurizer(run, data_dir):
    r = run("featurize", "bbbp", "--featurizer", "nope", "--data-dir", data_dir)
    _assert_one_line_error(r)
    assert "basic, ogb, rich" in _all_output(r)


@pytest.mark.parametrize("method", ["scaffold", "random"])
def test_split_writes_disjoint_parts(run, data_dir, tmp_path, method):
    out = tmp_path / "split.json"
    r = run("split", "bbbp", "--method", method, "--seed", 1, "--out", out, "--data-dir", data_dir)
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    tr, va, te = (set(doc[k]) for k in ("train", "valid", "test"))
    assert not (tr & va or tr & te or va & te)
    assert tr | va | te == set(range(2039))
    assert doc["method"] == method and doc["seed"] == 1
    assert "train 1631" in r.output
    if method == "scaffold":
        assert "scaffolds shared between parts: 0" in r.output


def test_split_json_and_bad_method(run, data_dir, tmp_path):
    r = run("split", "bace", "--method", "balanced_scaffold", "--data-dir", data_dir, "--json")
    doc = json.loads(r.output)
    assert doc["scaffold_overlap"] == 0 and doc["train"] + doc["valid"] + doc["test"] == 1513
    assert (tmp_path / "split.json").is_file()
    _assert_one_line_error(run("split", "bace", "--method", "nope", "--data-dir", data_dir))
