"""Custom files: CSV/TSV/SMI/gz, column selection, clear errors, invalid-row reports."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pandas as pd
import pytest

from molpt.data import load_dataset

CSV = (
    "name,smiles,activity,score\n"
    "ethanol,CCO,1,0.5\n"
    "bad,C1CC,0,1.5\n"
    "benzene,c1ccccc1,,2.5\n"
    "acid,CC(=O)O,0,\n"
)


def test_csv_with_extra_columns(tmp_path, tmp_cache):
    p = tmp_path / "mols.csv"
    p.write_text(CSV)
    # 'name' is not numeric: an error naming it (never a silently dropped column) ...
    with pytest.raises(ValueError, match="column 'name'.*'ethanol'.*--tasks"):
        load_dataset(p, report_dir=tmp_path)
    # ... and the label columns are chosen by name
    ds = load_dataset(p, task_cols=["activity", "score"], report_dir=tmp_path)
    assert ds.task_names == ["activity", "score"] and ds.task_type == "regression"
    assert len(ds) == 3 and ds.graphs.rows.tolist() == [0, 2, 3]
    y = ds.y.numpy()
    assert y[0].tolist() == [1.0, 0.5]
    assert math.isnan(y[1, 0]) and y[1, 1] == 2.5 and math.isnan(y[2, 1])
    assert ds.report.num_invalid == 1 and ds.report.failed[0].row == 1
    rep = pd.read_csv(ds.report_path)
    assert rep.to_dict("records") == [
        {"row": 1, "smiles": "C1CC", "reason": ds.report.failed[0].reason}
    ]
    assert ds.spec.kind == "custom" and ds.name == "mols"


def test_select_tasks_and_infer_classification(tmp_path, tmp_cache):
    p = tmp_path / "mols.csv"
    p.write_text(CSV)
    ds = load_dataset(p, task_cols=["activity"])
    assert ds.task_names == ["activity"] and ds.task_type == "classification"
    ds = load_dataset(p, task_cols=["activity"], task_type="regression")
    assert ds.task_type == "regression"


def test_report_next_to_cache_by_default(tmp_path, tmp_cache):
    p = tmp_path / "mols.csv"
    p.write_text(CSV)
    ds = load_dataset(p, task_cols=["activity"])
    assert ds.report_path.parent == tmp_cache and ds.report_path.is_file()


def test_tsv_and_gzip(tmp_path, tmp_cache):
    tsv = tmp_path / "mols.tsv.gz"
    with gzip.open(tsv, "wt") as fh:
        fh.write(CSV.replace(",", "\t"))
    ds = load_dataset(tsv, smiles_col="smiles", task_cols=["score"])
    assert len(ds) == 3 and ds.y[:, 0].tolist()[:2] == [0.5, 2.5] and ds.name == "mols"
    gz = tmp_path / "m.csv.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(CSV)
    assert len(load_dataset(gz, task_cols=["activity"])) == 3


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("suffix", [".smi", ".txt", ".smi.gz"])
def test_smiles_files(tmp_path, tmp_cache, header, suffix):
    text = ("SMILES Name\n" if header else "") + "CCO ethanol\nC1CC broken\n\nc1ccccc1\tbenzene x\n"
    p = tmp_path / f"mols{suffix}"
    if suffix.endswith(".gz"):
        with gzip.open(p, "wt") as fh:
            fh.write(text)
    else:
        p.write_text(text)
    ds = load_dataset(p)
    assert ds.graphs.smiles == ["CCO", "c1ccccc1"] and ds.y is None and ds.task_type is None
    assert [(f.row, f.smiles) for f in ds.report.failed] == [(1, "C1CC")]


def test_limit(tmp_path, tmp_cache):
    p = tmp_path / "mols.csv"
    p.write_text(CSV)
    ds = load_dataset(p, limit=2, task_cols=[])
    assert ds.report.total == 2 and len(ds) == 1


def test_missing_task_column_lists_available(tmp_path, tmp_cache):
    p = tmp_path / "mols.csv"
    p.write_text(CSV)
    with pytest.raises(ValueError, match="missing task column.*'nope'.*available columns: name, "):
        load_dataset(p, task_cols=["nope"])
    with pytest.raises(ValueError, match="no SMILES column 'smi'.*available columns"):
        load_dataset(p, smiles_col="smi")


def test_catalogue_file_with_extra_columns(tmp_path, data_dir, tmp_cache):
    """A canonical download has extra columns; selection by name still works."""
    df = pd.read_csv(data_dir / "BBBP.csv").head(50)
    df.insert(0, "num", np.arange(len(df)))
    df.insert(1, "name", [f"mol{i}" for i in range(len(df))])
    df.to_csv(tmp_path / "BBBP.csv", index=False)
    ds = load_dataset("bbbp", data_dir=tmp_path)
    assert ds.task_names == ["p_np"] and len(ds) == 50


def test_non_numeric_label_is_a_clear_error(tmp_path, tmp_cache):
    p = tmp_path / "mols.csv"
    p.write_text("smiles,y\nCCO,1\nCC,active\n")
    with pytest.raises(ValueError, match="column 'y'.*'active'"):
        load_dataset(p, task_cols=["y"])


@pytest.mark.parametrize("content", ["", "smiles,y\n", "\n\n"])
def test_empty_file_is_a_clear_error(tmp_path, tmp_cache, content):
    p = tmp_path / "empty.csv"
    p.write_text(content)
    with pytest.raises(ValueError, match="empty|no data rows"):
        load_dataset(p)


def test_all_invalid_is_a_clear_error(tmp_path, tmp_cache):
    p = tmp_path / "bad.smi"
    p.write_text("C1CC\nnot_a_smiles\n")
    with pytest.raises(ValueError, match="no valid molecule among 2 rows"):
        load_dataset(p)


def test_unknown_name_or_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file: .*missing.csv"):
        load_dataset(tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError, match="catalogue: bace, bbbp"):
        load_dataset("bbbq")


def test_second_load_uses_cache(tmp_path, tmp_cache, monkeypatch):
    p = tmp_path / "mols.csv"
    p.write_text(CSV)
    first = load_dataset(p, featurizer="ogb", task_cols=["score"])
    from molpt.featurize import cache

    monkeypatch.setattr(cache, "featurize_many", lambda *a, **k: pytest.fail("not cached"))
    second = load_dataset(p, featurizer="ogb", task_cols=["score"])
    assert second.graphs.smiles == first.graphs.smiles
    assert second.report.num_invalid == 1 and second.report_path.is_file()
