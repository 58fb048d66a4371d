"""The benchmark end to end on a tiny grid: resume after failures and after a real kill,
the process pool and the Ray executor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import molpt.benchmark.executors as ex
from molpt.benchmark.runner import run_benchmark
from molpt.benchmark.store import ResultsStore

REPO = Path(__file__).resolve().parents[2]


def _rows(root: Path) -> pd.DataFrame:
    return ResultsStore(root).read().frame


def test_failed_job_is_retried_and_nothing_duplicates(tiny_spec, data_dir, tmp_cache, tmp_path,
                                                      monkeypatch):  # fmt: skip
    real = ex.run_group
    calls = []

    def flaky(jobs, *a, **kw):
        calls.append([j.job_id for j in jobs])
        if any(j.config["seed"] == 1 for j in jobs):
            raise RuntimeError("simulated crash")
        return real(jobs, *a, **kw)

    monkeypatch.setattr(ex, "run_group", flaky)
    s = run_benchmark(tiny_spec, tmp_path, data_dir=str(data_dir), device="cpu", progress=False,
                      fuse=1)  # fmt: skip
    assert (s.total, s.ran, s.failed, s.remaining) == (2, 1, 1, 1)
    assert "simulated crash" in s.errors[0] and s.groups == 1
    assert len(_rows(tmp_path)) == 1 and (tmp_path / "errors.jsonl").is_file()
    assert "failed" in (tmp_path / "report.md").read_text()
    assert not list((tmp_path / "claims").glob("*.claim"))  # every claim released

    def spy(jobs, *a, **kw):
        calls.append([j.config["seed"] for j in jobs])
        return real(jobs, *a, **kw)

    monkeypatch.setattr(ex, "run_group", spy)
    calls.clear()
    s = run_benchmark(tiny_spec, tmp_path, data_dir=str(data_dir), device="cpu", progress=False)
    assert (s.already_done, s.ran, s.failed, s.remaining) == (1, 1, 0, 0)
    assert calls == [[1]]  # the default group of the cell holds only its unfinished run
    rows = _rows(tmp_path)
    assert sorted(rows["seed"]) == [0, 1] and rows["job_id"].is_unique
    job = rows["job_id"].iloc[0]
    assert (tmp_path / "jobs" / job / "metrics.json").is_file()
    assert (tmp_path / "jobs" / job / "predictions.csv").is_file()
    # a third run does nothing
    s = run_benchmark(tiny_spec, tmp_path, data_dir=str(data_dir), device="cpu", progress=False,
                      report=False)  # fmt: skip
    assert s.ran == 0 and s.already_done == 2 and len(_rows(tmp_path)) == 2


def _cli(out: Path, data_dir: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-c", "from molpt.cli import main; main()", "benchmark",
        "--datasets", "bbbp", "--splits", "scaffold", "--seeds", "0-3", "--epochs", "1",
        "--limit", "150", "--num-layers", "2", "--hidden-dim", "16", "--batch-size", "64",
        "--device", "cpu", "--data-dir", str(data_dir), "--no-progress",
        "--checkpoint", f"tiny={cache / 'tiny.pt'}", "--out", str(out),
        # one run per group, so the kill lands between groups (a fused group of all 8 would
        # append its rows at once)
        "--fuse", "1",
    ]  # fmt: skip


def test_real_kill_then_resume(data_dir, tmp_cache, tmp_path):
    from molpt.nn.encoder import Encoder
    from molpt.train.checkpoint import save_checkpoint

    tmp_cache.mkdir(parents=True, exist_ok=True)
    enc = Encoder("basic", num_layers=2, hidden_dim=16)
    save_checkpoint(tmp_cache / "tiny.pt",
                    {"encoder_config": enc.config, "encoder_state": enc.state_dict()})
    out = tmp_path / "res"
    env = {**os.environ, "MOLPT_CACHE": str(tmp_cache)}
    proc = subprocess.Popen(_cli(out, data_dir, tmp_cache), env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    results = out / "results.csv"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if results.is_file() and results.read_text().count("\n") >= 2:  # header + 1 row
            break
        time.sleep(0.05)
    assert proc.poll() is None, "benchmark finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(_rows(out))
    assert 1 <= n_before < 8
    done = subprocess.run(_cli(out, data_dir, tmp_cache), env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{n_before} already done" in done.stdout
    rows = _rows(out)
    assert len(rows) == 8 and rows["job_id"].is_unique  # 4 seeds x 2 methods
    assert ResultsStore(out).read().duplicates == 0
    assert (out / "report.md").is_file()


def test_process_pool(tiny_spec, data_dir, tmp_cache, tmp_path):
    s = run_benchmark(tiny_spec, tmp_path, workers=2, data_dir=str(data_dir), device="cpu",
                      progress=False, report=False)  # fmt: skip
    assert (s.ran, s.failed) == (2, 0), s.errors
    assert len(_rows(tmp_path)) == 2


@pytest.mark.timeout(240)
def test_ray_local(tiny_spec, data_dir, tmp_cache, tmp_path):
    pytest.importorskip("ray")
    s = run_benchmark(tiny_spec, tmp_path, executor="ray", workers=2, data_dir=str(data_dir),
                      device="cpu", progress=False, report=False)  # fmt: skip
    assert (s.ran, s.failed) == (2, 0), s.errors
    rows = _rows(tmp_path)
    assert len(rows) == 2 and rows["job_id"].is_unique
    for j in rows["job_id"]:  # files came back from the Ray workers
        assert (tmp_path / "jobs" / j / "predictions.csv").stat().st_size > 0
