"""Every catalogue dataset loads from the shared copies with the right tasks and labels."""

from __future__ import annotations

import numpy as np
import pytest

from molpt.data import DATASETS, benchmark_names, corpus_names, load_dataset

EXPECTED = {  # name: (tasks, rows, task type, limit used in the test)
    "bbbp": (1, 2039, "classification", None),
    "tox21": (12, 7831, "classification", None),
    "toxcast": (617, 8576, "classification", 1500),
    "sider": (27, 1427, "classification", None),
    "clintox": (2, 1478, "classification", None),
    "muv": (17, 93087, "classification", 3000),
    "hiv": (1, 41127, "classification", 2000),
    "bace": (1, 1513, "classification", None),
    "esol": (1, 1128, "regression", None),
    "freesolv": (1, 642, "regression", None),
    "lipo": (1, 4200, "regression", None),
}


def test_catalogue_names_and_urls():
    assert benchmark_names() == list(EXPECTED)
    assert corpus_names() == ["moses", "zinc2m"]
    for name in EXPECTED:
        spec = DATASETS.get(name)
        assert spec.url == (
            f"https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/{spec.file_name}"
        )
        assert spec.metric == ("roc_auc" if spec.task_type == "classification" else "rmse")
    assert DATASETS.get("bace").smiles_col == "mol" and DATASETS.get("bace").task_cols == ["Class"]
    assert DATASETS.get("zinc2m").archive_member == (
        "dataset/zinc_standard_agent/processed/smiles.csv"
    )
    with pytest.raises(KeyError, match="choose one of"):
        DATASETS.get("nope")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_dataset_loads(name, data_dir, tmp_cache):
    tasks, rows, ttype, limit = EXPECTED[name]
    ds = load_dataset(name, data_dir=data_dir, limit=limit)
    assert ds.num_tasks == tasks == len(ds.spec.task_cols)
    assert ds.task_type == ttype
    assert ds.y.shape == (len(ds), tasks) and str(ds.y.dtype) == "torch.float32"
    assert len(ds) + ds.report.num_invalid == (limit or rows)
    assert ds.graphs.task_names == ds.task_names
    y = ds.y.numpy()
    if ttype == "classification":
        assert set(np.unique(y[~np.isnan(y)])) <= {0.0, 1.0}
    assert ds.source.name == DATASETS.get(name).file_name and len(ds.source_sha256) == 64


def test_missing_labels_are_nan(data_dir, tmp_cache):
    ds = load_dataset("tox21", data_dir=data_dir, limit=5)
    # first row: smiles,0,0,1,,,0,0,1,0,0,0,0
    row0 = ds.y[0].tolist()
    assert row0[:3] == [0, 0, 1] and np.isnan(row0[3]) and np.isnan(row0[4])
    assert row0[5:] == [0, 0, 1, 0, 0, 0, 0]
    muv = load_dataset("muv", data_dir=data_dir, limit=200)
    assert np.isnan(muv.y.numpy()).mean() > 0.5  # MUV is mostly missing


def test_tox21_reports_its_eight_unparseable_smiles(data_dir, tmp_cache, tmp_path):
    ds = load_dataset("tox21", data_dir=data_dir, report_dir=tmp_path)
    assert ds.report.num_invalid == 8 and len(ds) == 7823
    assert ds.report_path == tmp_path / "tox21.basic.invalid.csv"
    import pandas as pd

    rep = pd.read_csv(ds.report_path)
    assert list(rep.columns) == ["row", "smiles", "reason"] and len(rep) == 8
    # the failed rows are exactly the ones missing from graphs.rows
    missing = sorted(set(range(7831)) - set(ds.graphs.rows.tolist()))
    assert missing == rep["row"].tolist()


def test_hiv_first_rows_report_invalid_smiles(data_dir, tmp_cache):
    ds = load_dataset("hiv", data_dir=data_dir, limit=1000)
    assert [f.row for f in ds.report.failed] == [137, 987]
    assert 137 not in ds.graphs.rows.tolist() and len(ds) == 998


@pytest.mark.slow  # ~15 s on 2 cores: the whole of HIV, once
def test_hiv_reports_its_seven_unparseable_smiles(data_dir, session_cache):
    ds = load_dataset("hiv", data_dir=data_dir, cache_dir=session_cache)
    assert ds.report.num_invalid == 7 and len(ds) == 41127 - 7
    assert all("alence" in f.reason for f in ds.report.failed)
    assert ds.report_path is not None and ds.report_path.is_file()


def test_moses_corpus_found_beside_moleculenet(data_dir, tmp_cache):
    ds = load_dataset("moses", data_dir=data_dir, limit=300)
    assert ds.y is None and ds.task_names == [] and ds.task_type is None
    assert len(ds) + ds.report.num_invalid == 300
    assert ds.source.parent.name == "pretrain"


def test_one_dataset_order_the_papers():
    """BBBP, Tox21, ToxCast, SIDER, ClinTox, MUV, HIV, BACE, then the regression sets: the
    catalogue lists them so, and every table sorts by the same key."""
    from molpt.data import PAPER_ORDER, in_paper_order, paper_order_key

    assert PAPER_ORDER == ("bbbp", "tox21", "toxcast", "sider", "clintox", "muv", "hiv",
                           "bace", "esol", "freesolv", "lipo")  # fmt: skip
    assert tuple(benchmark_names()) == PAPER_ORDER
    assert in_paper_order(["lipo", "mine", "bace", "BBBP", "bace", "clintox", "a_custom"]) == [
        "BBBP", "clintox", "bace", "lipo", "a_custom", "mine"]  # fmt: skip
    assert sorted(PAPER_ORDER[::-1], key=paper_order_key) == list(PAPER_ORDER)
