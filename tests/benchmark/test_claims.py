"""Job claims: exclusive, released, taken over from dead owners (same host: pid gone; other
host: stale heartbeat), never from live ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from molpt.benchmark.claims import ClaimBoard, pid_alive, pid_start_time

A, B, C = "a" * 16, "b" * 16, "c" * 16


def _foreign(board: ClaimBoard, job_id: str, **fields) -> None:
    """Write a claim as another process would have."""
    board.dir.mkdir(parents=True, exist_ok=True)
    rec = {"job_id": job_id, "host": board.host, "pid": 1, "pid_start": None, "token": "x"}
    rec.update(fields)
    board.path(job_id).write_text(json.dumps(rec))


def test_claim_release_and_live_owner(tmp_path):
    board = ClaimBoard(tmp_path)
    assert board.claim([A, B]) == [A, B]
    assert board.claim([A]) == [A]  # already ours
    rec = json.loads(board.path(A).read_text())
    assert rec["pid"] == os.getpid() and rec["host"] == board.host and rec["pid_start"]
    board.release([A])
    assert not board.path(A).exists() and board.path(B).exists()
    # a live process on this host holds C: not taken
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _foreign(board, C, pid=sleeper.pid, pid_start=pid_start_time(sleeper.pid))
        assert board.claim([C]) == [] and board.claimed_by_others([A, B, C]) == [C]
    finally:
        sleeper.kill()
        sleeper.wait()
    # ... and once it died, C is taken over
    assert not pid_alive(sleeper.pid, pid_start_time(sleeper.pid))
    assert board.claim([C]) == [C] and board.taken_over == 1
    assert json.loads(board.path(C).read_text())["pid"] == os.getpid()
    board.release_all()
    assert not list(board.dir.glob("*.claim"))


def test_reused_pid_and_other_host(tmp_path):
    board = ClaimBoard(tmp_path, timeout_s=60)
    # same host, a pid that is alive but started at another time: a reused pid, dead owner
    _foreign(board, A, pid=os.getppid(), pid_start="1")
    assert board.claim([A]) == [A]
    # another host: judged by the heartbeat (the file's mtime)
    _foreign(board, B, host="elsewhere", pid=os.getpid())
    assert board.claim([B]) == []
    old = time.time() - 120
    os.utime(board.path(B), (old, old))
    assert board.claim([B]) == [B]
    # a claim torn by a crash (empty file) is judged by its age too
    board.path(C).write_text("")
    assert board.claim([C]) == []
    os.utime(board.path(C), (old, old))
    assert board.claim([C]) == [C]


def test_heartbeat_refreshes_and_notices_a_takeover(tmp_path):
    board = ClaimBoard(tmp_path, heartbeat_s=0.05)
    board.claim([A, B])
    old = time.time() - 1000
    os.utime(board.path(A), (old, old))
    with board:
        deadline = time.time() + 10
        while board.path(A).stat().st_mtime < old + 500 and time.time() < deadline:
            time.sleep(0.02)
        assert board.path(A).stat().st_mtime > old + 500
        _foreign(board, B, host="elsewhere", token="theirs")  # B was taken from us
        deadline = time.time() + 10
        while B in board.held and time.time() < deadline:
            time.sleep(0.02)
        assert B not in board.held
    # leaving the board released A but left the other process's claim on B alone
    assert not board.path(A).exists()
    assert json.loads(board.path(B).read_text())["token"] == "theirs"
