"""`molpt predict`: streaming, formats, stdin/stdout, resume after kill -9, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from molpt.cli import app
from molpt.predict import load_model
from molpt.predict.stream import read_output

REPO = Path(__file__).resolve().parents[2]


def _close(a, b) -> None:
    """Equal to the 6 significant digits the CSV output keeps (NaN where NaN)."""
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=5e-6)


@pytest.fixture()
def runner():
    return CliRunner()


@pytest.fixture()
def library(tmp_path, data_dir) -> Path:
    """60 ESOL rows with an id column and three bad SMILES among them."""
    src = pd.read_csv(data_dir / "delaney-processed.csv").head(57)
    df = pd.DataFrame({"id": [f"m{i:03d}" for i in range(57)], "SMILES": src["smiles"]})
    bad = pd.DataFrame({"id": ["bad1", "bad2", "bad3"], "SMILES": ["C1CC", "", "xyz"]})
    df = pd.concat([df.iloc[:10], bad.iloc[:1], df.iloc[10:30], bad.iloc[1:],
                    df.iloc[30:]], ignore_index=True)  # fmt: skip
    path = tmp_path / "lib.csv"
    df.to_csv(path, index=False)
    return path


def _one_line_error(r) -> str:
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.output
    return lines[0]


def test_stream_chunks_align_rows_and_match_api(runner, library, esol_models, tmp_path):
    out = tmp_path / "o.csv"
    args = ["predict", str(library), "--model", str(esol_models[0]), "--model",
            str(esol_models[1]), "--out", str(out), "--chunk-size", "7", "--no-progress",
            "--interval", "0.9"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "predicted 60 molecules with 2 models" in r.stdout and "3 invalid" in r.stdout
    got = read_output(out)
    lib = pd.read_csv(library, keep_default_na=False)
    assert list(got["id"]) == list(lib["id"]) and list(got.columns[:2]) == ["id", "SMILES"]
    assert (got["status"] != "ok").sum() == 3 and got.loc[10, "status"] != "ok"
    api = load_model(esol_models).predict(lib["SMILES"].tolist(), interval=0.9)
    t = api.columns[1]
    _close(got[t], api[t])
    assert not list(out.parent.glob("o.csv.*"))  # no sidecar left
    # skip: invalid rows dropped, order kept; workers: the same numbers
    r = runner.invoke(app, [*args[:6], "--out", str(tmp_path / "s.csv"), "--chunk-size", "7",
                            "--on-invalid", "skip", "--workers", "2", "--no-progress"])
    assert r.exit_code == 0, r.output
    s = read_output(tmp_path / "s.csv")
    assert list(s["id"]) == [i for i in lib["id"] if not i.startswith("bad")]
    _close(s[t], got.loc[got["status"] == "ok", t])
    r = runner.invoke(app, [*args[:6], "--out", str(tmp_path / "f.csv"), "--on-invalid", "fail",
                            "--chunk-size", "7", "--no-progress"])  # fmt: skip
    assert "row 10" in _one_line_error(r) and not list(tmp_path.glob("f.csv*"))


def test_formats_smi_gz_parquet_stdin_stdout(runner, library, esol_models, tmp_path):
    m = ["--model", str(esol_models[0]), "--no-progress", "--chunk-size", "16"]
    lib = pd.read_csv(library, keep_default_na=False)
    ref = tmp_path / "ref.csv"
    assert runner.invoke(app, ["predict", str(library), "--out", str(ref), *m]).exit_code == 0
    want = read_output(ref)
    t = want.columns[2]
    smi = tmp_path / "lib.smi"
    smi.write_text("".join(f"{s or '-'} {i}\n" for s, i in zip(lib["SMILES"], lib["id"],
                                                              strict=True)))  # fmt: skip
    pq_in = tmp_path / "lib.parquet"
    lib.to_parquet(pq_in, index=False)
    for src, dst in ((smi, "a.csv.gz"), (pq_in, "b.parquet"), (library, "c.smi")):
        r = runner.invoke(app, ["predict", str(src), "--out", str(tmp_path / dst), *m])
        assert r.exit_code == 0, r.output
        got = read_output(tmp_path / dst)
        assert len(got) == 60, dst
        ok = want["status"] == "ok"
        if src != smi:  # the .smi copy wrote '-' for the empty SMILES
            assert (got["status"] == "ok").tolist() == ok.tolist()
        _close(got.loc[ok, t], want.loc[ok, t])
    assert list(read_output(tmp_path / "a.csv.gz")["name"]) == list(lib["id"])
    r = runner.invoke(app, ["predict", "-", "--out", "-", *m], input=library.read_text())
    assert r.exit_code == 0, r.output
    from io import StringIO

    out = pd.read_csv(StringIO(r.stdout), keep_default_na=False, na_values=[""])
    assert list(out["id"]) == list(lib["id"])
    _close(out[t], want[t])


def test_results_folder_cell(esol_models, tmp_path):
    from molpt.predict import resolve_model_dirs

    root = tmp_path / "results"
    jobs = []
    for seed, d in enumerate(esol_models):
        jid = f"job{seed}"
        shutil.copytree(d, root / "jobs" / jid)
        jobs.append({"job_id": jid, "dataset": "esol", "method": "none", "seed": seed,
                     "split": "scaffold"})  # fmt: skip
    jobs.append({"job_id": "x", "dataset": "esol", "method": "none", "seed": 0,
                 "split": "random"})  # fmt: skip
    (root / "grid.json").write_text(json.dumps({"jobs": jobs}))
    with pytest.raises(ValueError, match="differ in split"):
        resolve_model_dirs(root, "esol", "none")
    dirs = resolve_model_dirs(root, "esol", "none", {"split": "scaffold"})
    assert [d.name for d in dirs] == ["job0", "job1"]
    with pytest.raises(ValueError, match="no job of dataset"):
        resolve_model_dirs(root, "bbbp", "none")


def test_bad_inputs_one_line_exit_2(runner, library, esol_models, bbbp_model, tmp_path):
    def run(*args, model=(esol_models[0],), src=library, out=tmp_path / "o.csv"):
        ms = [a for d in model for a in ("--model", str(d))]
        return runner.invoke(app, ["predict", str(src), *ms, "--out", str(out),
                                   "--no-progress", *args])  # fmt: skip

    assert "no such model folder" in _one_line_error(run(model=[tmp_path / "none"]))
    (tmp_path / "empty").mkdir()
    assert "no model.json" in _one_line_error(run(model=[tmp_path / "empty"]))
    assert "differ in task type" in _one_line_error(run(model=[esol_models[0], bbbp_model]))
    other = tmp_path / "ogb"
    shutil.copytree(esol_models[1], other)
    from molpt.train.checkpoint import featurizer_record

    man = json.loads((other / "model.json").read_text())
    man["featurizer"] = featurizer_record("ogb")
    (other / "model.json").write_text(json.dumps(man))
    assert "differ in featurizer" in _one_line_error(run(model=[esol_models[0], other]))
    cut = tmp_path / "cut"
    shutil.copytree(esol_models[0], cut)
    (cut / "weights.pt").write_bytes((cut / "weights.pt").read_bytes()[:1000])
    assert "damaged" in _one_line_error(run(model=[cut]))
    nosmi = tmp_path / "nosmi.csv"
    nosmi.write_text("id,value\na,1\nb,2\n")
    assert "no SMILES column" in _one_line_error(run(src=nosmi))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty" in _one_line_error(run(src=empty))
    header_only = tmp_path / "header.csv"
    header_only.write_text("smiles,id\n")
    assert "empty" in _one_line_error(run(src=header_only))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "file" in _one_line_error(run(out=blocker / "o.csv"))
    assert "between 0 and 1" in _one_line_error(run("--interval", "90"))
    assert "regression" in _one_line_error(run("--interval", "0.9", model=[bbbp_model]))
    assert not (tmp_path / "o.csv").exists() and not list(tmp_path.glob("o.csv.*"))


def test_kill_9_then_resume_loses_and_repeats_nothing(esol_models, tmp_path, data_dir):
    src = pd.read_csv(data_dir / "delaney-processed.csv")[["smiles"]]
    lib = src.copy()  # 1,128 molecules, 23 chunks
    lib.insert(0, "id", [f"r{i}" for i in range(len(lib))])
    lib.loc[17, "smiles"] = "not-a-smiles"
    path = tmp_path / "big.csv"
    lib.to_csv(path, index=False)
    ref = tmp_path / "ref.csv"
    model = load_model(esol_models)
    model.predict_file(path, ref, chunk_size=50, progress=False)

    out = tmp_path / "out.csv.gz"
    progress = tmp_path / "out.csv.gz.progress.json"
    cmd = [sys.executable, "-m", "molpt", "predict", str(path), "--model", str(esol_models[0]),
           "--model", str(esol_models[1]), "--out", str(out), "--chunk-size", "50",
           "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if progress.is_file():
            try:
                if json.loads(progress.read_text())["chunks"] >= 1:
                    break
            except (ValueError, KeyError):
                pass
        time.sleep(0.02)
    assert proc.poll() is None, f"finished before the kill: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(progress.read_text())["rows_done"]
    assert 0 < done < len(lib) and not out.exists()
    r = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"resumed after {done} rows" in r.stdout
    got = read_output(out)
    want = read_output(ref)
    assert list(got["id"]) == list(lib["id"])  # every row once, in order
    pd.testing.assert_frame_equal(got, want)
    assert not progress.exists() and not (tmp_path / "out.csv.gz.partial").exists()
    r = CliRunner().invoke(app, [*cmd[3:], "--resume"])
    assert r.exit_code == 0 and "already complete" in r.stdout


def test_benchmark_keep_models_then_predict_a_cell(tmp_path, data_dir, session_cache):
    from molpt.benchmark.grid import resolve_grid
    from molpt.benchmark.runner import run_benchmark

    spec = resolve_grid("quick", datasets=["bbbp"], splits=["scaffold"], seeds=[0, 1],
                        num_layers=2, hidden_dim=16, epochs=1, limit=150, batch_size=64)
    spec.pretrain = None
    root = tmp_path / "res"
    s = run_benchmark(spec, root, workers=1, data_dir=str(data_dir), device="cpu",
                      progress=False, report=False, keep_models=True)  # fmt: skip
    assert s.failed == 0
    method = json.loads((root / "grid.json").read_text())["jobs"][0]["method"]
    r = CliRunner().invoke(app, ["predict", str(data_dir / "BBBP.csv"), "--model", str(root),
                                 "--dataset", "bbbp", "--method", method, "--individual",
                                 "--out", str(tmp_path / "p.parquet"), "--no-progress",
                                 "--chunk-size", "500"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "with 2 models" in r.stdout
    got = read_output(tmp_path / "p.parquet")
    assert len(got) == len(pd.read_csv(data_dir / "BBBP.csv"))
    ok = got["status"] == "ok"
    assert got["p_np_input"].notna().all() and got.loc[ok, "p_np"].between(0, 1).all()
    assert got.loc[~ok, "p_np"].isna().all() and (~ok).sum() < 20
    assert (got["p_np_std"] > 0).any()
