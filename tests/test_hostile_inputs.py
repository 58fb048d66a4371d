"""Hostile inputs and failing disks (issue 11): one test per case found by an adversarial user.

Each case is a way to get a wrong answer, a stall or a traceback without being told.  Every
test here failed on the code before the fix.  Failing disks are simulated by fault
injection (the tests run as root, so permissions would not stop a write): ``os.fsync`` or
``tempfile.mkstemp`` raising ENOSPC / EROFS, a file where a folder belongs (ENOTDIR), a
folder where a file belongs (EISDIR).
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold
from typer.testing import CliRunner

from molpt.cli import app
from molpt.data import load_dataset, read_table, scaffold_of
from molpt.featurize import featurize_many
from molpt.train.checkpoint import load_checkpoint

TINY = ["--num-layers", "1", "--hidden-dim", "16", "--batch-size", "64", "--device", "cpu"]


def _output(result) -> str:
    err = result.stderr if result.stderr_bytes is not None else ""
    return result.output + (err if err not in result.output else "")


def _one_line_error(result, *needles: str) -> str:
    """Exit 2, no traceback, exactly one ``error:`` line holding every needle."""
    text = _output(result)
    assert result.exit_code == 2, text
    assert "Traceback" not in text
    assert result.exception is None or isinstance(result.exception, SystemExit), text
    errors = [ln for ln in text.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, text
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


@pytest.fixture()
def run(tmp_cache, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, data_dir) -> Path:
    """A tiny pretrained checkpoint (attrmask, 1 epoch, 60 BBBP molecules)."""
    root = tmp_path_factory.mktemp("ckpt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOLPT_CACHE", str(root / "cache"))
        r = CliRunner().invoke(app, [
            "pretrain", "--objective", "attrmask", "--data", "bbbp", "--limit", "60",
            "--epochs", "1", "--out", str(root / "run"), "--no-progress", *TINY,
        ])  # fmt: skip
    assert r.exit_code == 0, r.output
    return root / "run" / "checkpoint.pt"


# ---- 1. a stall: scaffolds of a huge molecule ---------------------------------------------
def _big_smiles(min_chars: int = 10_000) -> str:
    unit = "CC(C)C(=O)Nc1ccc(cc1)"
    s = "c1ccccc1" + unit * (min_chars // len(unit) + 1) + "C"
    assert len(s) >= min_chars
    return s


def test_split_with_a_10000_character_smiles_takes_seconds(tmp_path, data_dir, tmp_cache):
    """RDKit's Murcko step took ~18 minutes on this row; the whole `molpt split` run
    (interpreter start, featurization, scaffolds twice) now takes seconds.  The timeout is a
    hang guard with room for a loaded machine, not a speed assertion."""
    df = pd.read_csv(data_dir / "BBBP.csv").head(300)
    big = _big_smiles()
    df = pd.concat([df, pd.DataFrame({"smiles": [big], "p_np": [1]})], ignore_index=True)
    csv = tmp_path / "with_big.csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "split.json"
    env = {**os.environ, "MOLPT_CACHE": str(tmp_cache), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "molpt", "split", str(csv), "--out", str(out), "--json"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["num_molecules"] == 301
    assert 300 in doc["train_rows"] + doc["valid_rows"] + doc["test_rows"]


def test_scaffolds_identical_to_rdkit_on_real_molecules(data_dir):
    """A few thousand real molecules (BBBP and SIDER's large ones), with and without
    chirality; the full proof is benchmarks/scaffold_equivalence.py."""
    smiles = pd.read_csv(data_dir / "BBBP.csv")["smiles"].tolist()
    smiles += pd.read_csv(data_dir / "sider.csv.gz")["smiles"].tolist()[:700]
    checked = 0
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        for chir in (True, False):
            want = MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=chir)
            assert scaffold_of(s, chir) == want, (s, chir)
        checked += 1
    assert checked > 2700


def test_oversized_smiles_is_reported_not_waited_on():
    huge = "C" * 25_000
    graphs, report = featurize_many(["CCO", huge])
    assert len(graphs) == 1 and report.failed[0].row == 1
    assert "25,000 characters" in report.failed[0].reason


def test_a_scaffold_rdkit_cannot_write_is_reported_and_kept_apart(monkeypatch, caplog):
    """RDKit's writer raises (e.g. "Too many rings open at once") on some huge scaffolds:
    the molecule is logged and forms its own scaffold set; the split still finishes."""
    from molpt.data import splits

    real = Chem.MolToSmiles
    splits.scaffold_of.cache_clear()

    def flaky(mol, *a, **k):
        if mol.GetNumAtoms() > 12:
            raise RuntimeError("Too many rings open at once. SMILES cannot be generated.")
        return real(mol, *a, **k)

    monkeypatch.setattr(splits.Chem, "MolToSmiles", flaky)
    big = "c1ccccc1CCc1ccccc1CCc1ccccc1"
    smiles = ["c1ccccc1C", "c1ccccc1CC", big, "c1ccccc1O"]
    with caplog.at_level("WARNING"):
        sets = splits.scaffold_sets(smiles)
    splits.scaffold_of.cache_clear()
    assert sorted(sets.values()) == [[0, 1, 3], [2]]
    assert "without a computable scaffold" in caplog.text and "Too many rings" in caplog.text


# ---- 2. silently truncated molecules and labels -------------------------------------------
def test_whitespace_inside_a_smiles_cell_is_an_invalid_row(tmp_path, tmp_cache):
    p = tmp_path / "ws.csv"
    p.write_text("smiles,y\nCCO c1ccccc1,1\n  CCN  ,0\nCCC,1\n")
    ds = load_dataset(p, report_dir=tmp_path)
    assert ds.graphs.smiles == ["CCN", "CCC"]  # surrounding whitespace stripped
    assert [(f.row, f.smiles) for f in ds.report.failed] == [(0, "CCO c1ccccc1")]
    assert "whitespace" in ds.report.failed[0].reason
    assert len(ds) + ds.report.num_invalid == 3


def test_tab_separated_file_named_csv_keeps_its_labels(tmp_path, tmp_cache):
    p = tmp_path / "tabs.csv"
    p.write_text("smiles\tlabel\nCCO\t1\nc1ccccc1\t0\nCCN\t1\n")
    ds = load_dataset(p)
    assert ds.graphs.smiles == ["CCO", "c1ccccc1", "CCN"]
    assert ds.task_names == ["label"] and ds.y[:, 0].tolist() == [1.0, 0.0, 1.0]
    semi = tmp_path / "semi.csv"
    semi.write_text("smiles;label\nCCO;1\nCCN;0\n")
    assert load_dataset(semi).y[:, 0].tolist() == [1.0, 0.0]
    both = tmp_path / "both.csv"
    both.write_text("smiles\tlabel;x\nCCO\t1;2\n")
    with pytest.raises(ValueError, match="tabs and semicolons"):
        read_table(both)


@pytest.mark.parametrize("suffix", [".smi", ".csv", ".smi.gz"])
def test_bom_is_removed_for_every_format(tmp_path, suffix):
    text = "\ufeffsmiles\nCCO\nc1ccccc1\n"
    p = tmp_path / f"bom{suffix}"
    data = text.encode("utf-8")
    p.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    smiles, _, col, _ = read_table(p, task_cols=[] if suffix == ".csv" else None)
    assert smiles == ["CCO", "c1ccccc1"] and col == "smiles"


def test_bom_smi_embeds_row_for_row(run, tmp_path, ckpt):
    p = tmp_path / "bom.smi"
    p.write_bytes("\ufeffSMILES\nCCO\nc1ccccc1\n".encode())
    r = run("embed", p, "--checkpoint", ckpt, "--out", tmp_path / "z.npy", "--json")
    assert r.exit_code == 0, r.output
    z = np.load(tmp_path / "z.npy")
    assert z.shape[0] == 2 and not np.isnan(z).any()  # the header is not a molecule


def test_duplicate_column_names_are_an_error(tmp_path, tmp_cache):
    p = tmp_path / "dup.csv"
    p.write_text("smiles,label,label\nCCO,1,0\n")
    with pytest.raises(ValueError, match="duplicate column name.*'label'"):
        load_dataset(p)


def test_ragged_rows_are_an_error_naming_the_row(tmp_path, tmp_cache):
    short = tmp_path / "short.csv"
    short.write_text("smiles,a,b\nCCO,1,0\nCCN,1\n")
    msg = r"data row 1 \(line 3\) has 2 field\(s\), the header has 3"
    with pytest.raises(ValueError, match=msg):
        load_dataset(short)
    long = tmp_path / "long.csv"
    long.write_text("smiles,a\nCCO,1\nCCN,1,5\n")
    with pytest.raises(ValueError, match="data row 1"):
        load_dataset(long)


def test_string_labels_are_an_error_naming_column_and_value(run, tmp_path):
    p = tmp_path / "str.csv"
    p.write_text("smiles,activity\nCCO,active\nCCN,inactive\n")
    _one_line_error(run("featurize", p), "'activity'", "'active'")


def test_rows_are_all_accounted_for(tmp_path, tmp_cache):
    p = tmp_path / "mixed.csv"
    p.write_text("smiles,y\nCCO,1\n,0\nC1CC,1\nCC O,0\n\nc1ccccc1,\n")
    ds = load_dataset(p, report_dir=tmp_path)
    assert ds.report.total == 5 and len(ds) + ds.report.num_invalid == 5
    assert [f.row for f in ds.report.failed] == [1, 2, 3]


# ---- 3. resume that changes history -------------------------------------------------------
def _pretrain_args(out: Path, data: str = "bbbp", *extra: str) -> list[str]:
    return ["pretrain", "--objective", "attrmask", "--data", data, "--limit", "60",
            "--out", out, "--no-progress", *TINY, *extra]  # fmt: skip


def test_resume_on_other_data_is_refused_and_history_kept(run, tmp_path, data_dir):
    out = tmp_path / "run"
    assert run(*_pretrain_args(out, "bbbp", "--epochs", "1")).exit_code == 0
    before = load_checkpoint(out / "checkpoint.pt")
    r = run(*_pretrain_args(out, "bace", "--epochs", "2", "--resume"))
    _one_line_error(r, "--resume", "name='bbbp'", "name='bace'")
    after = load_checkpoint(out / "checkpoint.pt")
    assert after["data"] == before["data"] and after["epoch"] == 1
    r = run(*_pretrain_args(out, "bbbp", "--epochs", "2", "--resume"))
    assert r.exit_code == 0, r.output
    done = load_checkpoint(out / "checkpoint.pt")
    assert done["data"] == before["data"] and [s["from_epoch"] for s in done["sessions"]] == [0, 1]


@pytest.mark.parametrize(
    "extra, field",
    [(["--hidden-dim", "32"], "hidden_dim"), (["--lr", "0.01"], "lr"),
     (["--batch-size", "32"], "batch_size"), (["-o", "mask_rate=0.3"], "options")],
)  # fmt: skip
def test_resume_with_other_options_is_refused(run, tmp_path, data_dir, extra, field):
    out = tmp_path / "run"
    assert run(*_pretrain_args(out, "bbbp", "--epochs", "1")).exit_code == 0
    r = run(*_pretrain_args(out, "bbbp", "--epochs", "2", "--resume", *extra))
    _one_line_error(r, f"{field}=")


# ---- 4. disks and outputs -----------------------------------------------------------------
def test_out_that_is_a_file_fails_before_work(run, tmp_path, monkeypatch):
    import molpt.train.pretrain as pre

    monkeypatch.setattr(pre, "prepare_data", lambda *a, **k: pytest.fail("did work"))
    f = tmp_path / "afile"
    f.write_text("x")
    _one_line_error(run(*_pretrain_args(f, "bbbp", "--epochs", "1")), str(f), "ENOTDIR")
    _one_line_error(run(*_pretrain_args(f / "sub", "bbbp", "--epochs", "1")), "ENOTDIR")


def test_out_that_is_a_folder_where_a_file_belongs(run, tmp_path, ckpt):
    d = tmp_path / "adir.npy"
    d.mkdir()
    smi = tmp_path / "m.smi"
    smi.write_text("CCO\n")
    _one_line_error(run("embed", smi, "--checkpoint", ckpt, "--out", d), str(d), "EISDIR")
    d2 = tmp_path / "split.json"
    d2.mkdir()
    _one_line_error(run("split", "bbbp", "--out", d2), "EISDIR")


def test_read_only_disk_fails_before_work(run, tmp_path, monkeypatch):
    import tempfile

    import molpt.train.pretrain as pre

    monkeypatch.setattr(pre, "prepare_data", lambda *a, **k: pytest.fail("did work"))

    def erofs(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(k.get("dir", "")))

    monkeypatch.setattr(tempfile, "mkstemp", erofs)
    out = tmp_path / "ro"
    _one_line_error(
        run(*_pretrain_args(out, "bbbp", "--epochs", "1")), str(out), "Read-only", "EROFS"
    )


def test_full_disk_leaves_no_temp_file_and_resume_still_works(run, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert run(*_pretrain_args(out, "bbbp", "--epochs", "1")).exit_code == 0
    good = (out / "checkpoint.pt").read_bytes()
    real_fsync = os.fsync
    import molpt.utils as utils

    def enospc(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(utils.os, "fsync", enospc)
    r = run(*_pretrain_args(out, "bbbp", "--epochs", "2", "--resume"))
    _one_line_error(r, str(out), "No space left", "ENOSPC")  # found before any work
    import molpt.train.pretrain as pre

    monkeypatch.setattr(pre, "check_output_dir", lambda *a, **k: None)  # fills up later
    r = run(*_pretrain_args(out, "bbbp", "--epochs", "2", "--resume"))
    _one_line_error(r, "checkpoint.pt", "No space left", "ENOSPC")
    assert [p.name for p in out.iterdir() if ".tmp" in p.name] == []
    assert (out / "checkpoint.pt").read_bytes() == good  # earlier results intact
    monkeypatch.setattr(utils.os, "fsync", real_fsync)
    r = run(*_pretrain_args(out, "bbbp", "--epochs", "2", "--resume"))
    assert r.exit_code == 0, r.output
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2


def test_benchmark_error_log_degrades_to_stderr(tmp_path, monkeypatch, capsys):
    import builtins

    from molpt.benchmark.store import ResultsStore

    store = ResultsStore(tmp_path / "res")
    real_open = builtins.open

    def full_disk(file, mode="r", *a, **k):
        if str(file).endswith("errors.jsonl"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr(builtins, "open", full_disk)
    store.record_error("0123456789abcdef", "bbbp/scaffold/0", "the job's own error")
    err = capsys.readouterr().err
    assert "errors.jsonl" in err and "No space left" in err and "the job's own error" in err


def test_finetune_refuses_existing_out_unless_overwrite(run, tmp_path, monkeypatch):
    import molpt.train.finetune as ft

    out = tmp_path / "ft"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    monkeypatch.setattr(ft, "finetune", lambda *a, **k: pytest.fail("did work"))
    args = ["finetune", "--dataset", "bbbp", "--out", out, "--epochs", "1", "--no-progress"]
    _one_line_error(run(*args), str(out), "--overwrite")
    assert (out / "metrics.json").read_text() == "{}"


# ---- 5. unclear one-liners ----------------------------------------------------------------
def test_truncated_gzip_names_the_file(run, tmp_path):
    full = gzip.compress(("smiles\n" + "CCO\n" * 5000).encode())
    p = tmp_path / "cut.csv.gz"
    p.write_bytes(full[: len(full) // 2])
    _one_line_error(run("featurize", p), str(p), "truncated")


def test_embed_reads_smi_gz(run, tmp_path, ckpt):
    p = tmp_path / "m.smi.gz"
    p.write_bytes(gzip.compress(b"CCO ethanol\nC1CC broken\nc1ccccc1\n"))
    r = run("embed", p, "--checkpoint", ckpt, "--out", tmp_path / "z.npy", "--json")
    assert r.exit_code == 0, r.output
    z = np.load(tmp_path / "z.npy")
    assert z.shape[0] == 3 and np.isnan(z[1]).all() and not np.isnan(z[[0, 2]]).any()


def test_truncated_graph_file_as_data_is_not_read_as_csv(run, tmp_path, data_dir):
    r = run("featurize", "bbbp", "--limit", "50", "--out", tmp_path / "g.pt")
    assert r.exit_code == 0, r.output
    raw = (tmp_path / "g.pt").read_bytes()
    (tmp_path / "g.pt").write_bytes(raw[: len(raw) // 2])
    line = _one_line_error(
        run(*_pretrain_args(tmp_path / "run", str(tmp_path / "g.pt"), "--epochs", "1")),
        "g.pt", "graph file",
    )  # fmt: skip
    assert "truncated" in line


def test_checkpoint_without_featurizer_key(run, tmp_path, ckpt):
    c = torch.load(ckpt, weights_only=True)
    del c["featurizer"]
    bad = tmp_path / "nofeat.pt"
    torch.save(c, bad)
    smi = tmp_path / "m.smi"
    smi.write_text("CCO\n")
    _one_line_error(
        run("embed", smi, "--checkpoint", bad, "--out", tmp_path / "z.npy"),
        "nofeat.pt", "no featurizer record",
    )  # fmt: skip


def test_bad_objective_option_names_option_and_choices(run, tmp_path, monkeypatch):
    import molpt.train.pretrain as pre

    monkeypatch.setattr(pre, "prepare_data", lambda *a, **k: pytest.fail("did work"))
    r = run(*_pretrain_args(tmp_path / "r", "bbbp", "--epochs", "1", "-o", "mask_ratio=0.3"))
    _one_line_error(r, "'mask_ratio'", "mask_rate=0.15", "mask_edges=False")
    r = run(*_pretrain_args(tmp_path / "r", "bbbp", "--epochs", "1", "-o", "mask_rate=abc"))
    _one_line_error(r, "'mask_rate'", "float")


def test_zero_epochs_and_batch_size_are_refused(run, tmp_path, ckpt):
    r = run(*_pretrain_args(tmp_path / "r", "bbbp", "--epochs", "0"))
    assert r.exit_code == 2 and not (tmp_path / "r" / "checkpoint.pt").exists()
    smi = tmp_path / "m.smi"
    smi.write_text("CCO\n")
    r = run("embed", smi, "--checkpoint", ckpt, "--out", tmp_path / "z.npy", "--batch-size", "0")
    _one_line_error(r, "--batch-size")
    for cmd in (["finetune", "--dataset", "bbbp", "--out", tmp_path / "f"],
                ["benchmark", "--out", tmp_path / "b", "--datasets", "bbbp"]):  # fmt: skip
        for opt in ("--epochs", "--batch-size"):
            r = run(*cmd, opt, "0")
            assert r.exit_code == 2 and "Traceback" not in _output(r), (cmd, opt)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_device_cuda_without_gpu_is_one_error_before_any_job(run, tmp_path, monkeypatch):
    import molpt.benchmark.runner as runner

    monkeypatch.setattr(runner, "run_benchmark", lambda *a, **k: pytest.fail("jobs started"))
    out = tmp_path / "bench"
    r = run("benchmark", "--out", out, "--datasets", "bbbp", "--seeds", "0", "--limit", "50",
            "--device", "cuda", "--no-progress")  # fmt: skip
    _one_line_error(r, "cuda")
    assert not (out / "results.csv").exists()
