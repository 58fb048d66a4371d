"""release_host_memory: freed heap blocks go back to the OS (opt-in, MOLPT_HEAP_TRIM_EVERY);
benchmarks/host_memory.py runs a real group under each allocator."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from molpt.allocator import find_library, loaded_allocator
from molpt.train.device import _malloc_trim, release_host_memory

REPO = Path(__file__).resolve().parents[2]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux") or _malloc_trim() is None
                    or loaded_allocator() != "system",
                    reason="glibc malloc_trim is Linux/glibc only")  # fmt: skip
def test_freed_mixed_size_blocks_are_returned():
    # a freed 20 MB block raises glibc's dynamic mmap threshold: later blocks of a few MB come
    # from the heap, as activations of changing batch sizes do in a long fine-tuning run
    big = torch.empty(5_000_000)
    big.fill_(1.0)
    del big
    keep, blocks = [], []
    for i in range(300):
        t = torch.empty(250_000 + 1_000 * (i % 37))  # ~1-1.1 MB, mixed sizes
        t.fill_(float(i))  # touch every page
        (keep if i % 50 == 49 else blocks).append(t)  # a few survivors pin the heap
    del blocks
    before = _rss_mb()
    assert release_host_memory(torch.device("cpu")) is True
    after = _rss_mb()
    assert before - after > 100, (before, after)  # ~290 MB of freed blocks
    assert len(keep) == 6
    # nothing to do on CUDA (its caching allocator is separate)
    assert release_host_memory(torch.device("cuda")) is False
    assert ctypes.CDLL(None).malloc_trim(0) in (0, 1)


def test_trim_is_opt_in(monkeypatch):
    from molpt.train.group import heap_trim_every

    monkeypatch.delenv("MOLPT_HEAP_TRIM_EVERY", raising=False)
    assert heap_trim_every() == 0  # off by default: it costs time (RESULTS.md)
    monkeypatch.setenv("MOLPT_HEAP_TRIM_EVERY", "8")
    assert heap_trim_every() == 8
    monkeypatch.setenv("MOLPT_HEAP_TRIM_EVERY", "often")
    with pytest.raises(ValueError, match="MOLPT_HEAP_TRIM_EVERY must be a whole number"):
        heap_trim_every()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="allocators are preloaded")
def test_host_memory_script_runs_each_allocator(data_dir, tmp_cache, tmp_path):
    """One real BBBP run per contender, each in its own process under the allocator it names
    (the script refuses a contender that ran under another one), recorded as a table."""
    names = ["glibc", next((n for n in ("jemalloc", "tcmalloc") if find_library(n)), "trim")]
    record = tmp_path / "RESULTS.md"
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "host_memory.py"), "--dataset", "bbbp",
         "--k", "2", "--epochs", "1", "--contenders", ",".join(names), "--parallel",
         "--record", str(record)],
        capture_output=True, text=True, timeout=600, env={**env, "MOLPT_CACHE": str(tmp_cache)},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    text = record.read_text()
    assert "bbbp, K = 2 GIN 5x300 runs" in text and "all at the same time" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| 1 | ")  # the epoch row, after the header
    for n in names:
        row = next(line for line in rows if line.startswith(f"| {n} | "))
        peak = float(row.split("|")[2])
        assert 0.05 < peak < 20, row
    assert "| glibc | " in text and "1.00x" in text
