"""Job claims: several ``molpt benchmark`` processes on one results folder split the grid.

Before a process runs a job it claims it: ``RESULTS_DIR/claims/<job_id>.claim`` is created
atomically and exclusively (a complete temporary file hard-linked to that name, which fails
when the name exists, like ``O_CREAT | O_EXCL``) and holds the owner's host, pid, the pid's
start time (so a reused pid is not mistaken for the owner), a random token and the start
time.  The owner refreshes the file's modification time (its heartbeat) every
``heartbeat_s`` seconds while it holds the claim, and deletes the file once the job's row is
in ``results.csv`` (or the job failed).

A claim whose owner died is taken over:

* same host: the owner's pid is no longer alive (or is another process now);
* other host: the heartbeat is older than ``timeout_s`` seconds.

Every claim, take-over and release happens under an exclusive ``flock`` on
``claims/.lock`` (the results store already relies on ``flock`` for concurrent appends, also
across machines sharing a file system), so two processes never both take over one stale
claim.  Exactly-once rows follow from the order of operations: a runner appends a job's row
*before* it releases the claim, and a claimer re-reads the finished ``job_id``s *after* it
got the claim and skips those.

Timings come from ``MOLPT_CLAIM_HEARTBEAT_S`` (default 30) and ``MOLPT_CLAIM_TIMEOUT_S``
(default 300) when not passed explicitly.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from molpt.utils import create_exclusive, pid_alive, pid_start_time

log = logging.getLogger(__name__)

CLAIMS_DIR = "claims"
SUFFIX = ".claim"


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class ClaimBoard:
    """The claims of one results folder, as seen by this process.

    ``claim(ids)`` returns the ids this process now owns; ``release(ids)`` gives them back;
    a daemon thread refreshes the heartbeat of every held claim (``start()``/``stop()``, or
    use the board as a context manager).
    """

    def __init__(
        self,
        root: str | Path,
        heartbeat_s: float | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.dir = Path(root) / CLAIMS_DIR
        self.heartbeat_s = heartbeat_s or _env_float("MOLPT_CLAIM_HEARTBEAT_S", 30.0)
        self.timeout_s = timeout_s or _env_float("MOLPT_CLAIM_TIMEOUT_S", 300.0)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.pid_start = pid_start_time(self.pid)
        self.held: dict[str, str] = {}  # job_id -> token
        self.taken_over = 0
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- files ------------------------------------------------------------------------
    def path(self, job_id: str) -> Path:
        return self.dir / f"{job_id}{SUFFIX}"

    @contextmanager
    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _record(self, job_id: str, token: str) -> dict[str, Any]:
        return {
            "job_id": job_id,
            "host": self.host,
            "pid": self.pid,
            "pid_start": self.pid_start,
            "token": token,
            "started": time.time(),
        }

    def read(self, job_id: str) -> dict[str, Any] | None:
        """The claim record of ``job_id`` (None: unclaimed; {} : unreadable)."""
        try:
            text = self.path(job_id).read_text()
        except FileNotFoundError:
            return None
        except OSError:
            return {}
        try:
            rec = json.loads(text)
        except ValueError:
            return {}  # torn by a crash between create and write: judged by its age
        return rec if isinstance(rec, dict) else {}

    def is_stale(self, job_id: str, rec: dict[str, Any] | None = None) -> bool:
        """Whether the current claim of ``job_id`` belongs to a process that is gone."""
        rec = self.read(job_id) if rec is None else rec
        if rec is None:
            return True
        try:
            age = time.time() - self.path(job_id).stat().st_mtime
        except FileNotFoundError:
            return True
        if rec.get("host") == self.host and isinstance(rec.get("pid"), int):
            if rec["pid"] == self.pid and rec.get("pid_start") == self.pid_start:
                return rec.get("token") not in self.held.values()
            return not pid_alive(rec["pid"], rec.get("pid_start"))
        return age > self.timeout_s

    def _write_new(self, job_id: str, token: str) -> bool:
        """Create the claim file, complete or not at all: the record is written to a private
        temporary file that is then hard-linked to the claim's name (``link`` fails when the
        name exists, like ``O_CREAT | O_EXCL``, also on NFS), so a kill -9 never leaves a
        claim without its owner's pid."""
        record = json.dumps(self._record(job_id, token)).encode()
        return create_exclusive(self.path(job_id), record)

    # ---- claim / release ----------------------------------------------------------------
    def claim(self, job_ids: list[str]) -> list[str]:
        """Claim as many of ``job_ids`` as are free (or held by a dead process)."""
        got: list[str] = []
        with self._mutex, self._locked():
            for jid in job_ids:
                if jid in self.held:
                    got.append(jid)
                    continue
                token = uuid.uuid4().hex
                if self._write_new(jid, token):
                    self.held[jid] = token
                    got.append(jid)
                    continue
                rec = self.read(jid)
                if not self.is_stale(jid, rec):
                    continue
                owner = (rec or {}).get("host", "?"), (rec or {}).get("pid", "?")
                log.info("taking over job %s from dead process %s pid %s", jid, *owner)
                try:
                    self.path(jid).unlink()
                except FileNotFoundError:
                    pass
                if self._write_new(jid, token):
                    self.held[jid] = token
                    self.taken_over += 1
                    got.append(jid)
        return got

    def release(self, job_ids: list[str]) -> None:
        """Give back claims (only files that still carry this process's token are removed)."""
        with self._mutex, self._locked():
            for jid in job_ids:
                token = self.held.pop(jid, None)
                if token is None:
                    continue
                rec = self.read(jid)
                if rec and rec.get("token") == token:
                    try:
                        self.path(jid).unlink()
                    except FileNotFoundError:
                        pass

    def release_all(self) -> None:
        self.release(list(self.held))

    def claimed_by_others(self, job_ids: list[str]) -> list[str]:
        """Those of ``job_ids`` that another live process holds now."""
        return [j for j in job_ids if j not in self.held and self.read(j) is not None
                and not self.is_stale(j)]  # fmt: skip

    def beat(self) -> None:
        """Refresh the heartbeat of every held claim; forget claims taken over by others."""
        with self._mutex, self._locked():
            for jid, token in list(self.held.items()):
                rec = self.read(jid)
                if not rec or rec.get("token") != token:
                    log.warning("claim on job %s was taken over by another process", jid)
                    self.held.pop(jid, None)
                    continue
                try:
                    os.utime(self.path(jid))
                except OSError as exc:
                    log.warning("cannot refresh claim %s: %s", self.path(jid), exc)

    # ---- heartbeat thread -----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.beat()
            except OSError as exc:  # a full or read-only disk must not kill the run
                log.warning("claim heartbeat failed: %s", exc)

    def start(self) -> ClaimBoard:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="molpt-claims", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ClaimBoard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        try:
            self.release_all()
        except OSError as e:
            log.warning("cannot release claims in %s: %s", self.dir, e)


__all__ = ["ClaimBoard", "pid_alive", "pid_start_time"]
