"""Append-only results store: ``RESULTS_DIR/results.csv``, one row per finished job.

Each row is written with a single ``write`` on a file opened for appending, flushed and
fsynced, under an exclusive ``fcntl`` lock, so concurrent writers never interleave and a
killed process loses at most the jobs that were still running.  ``job_id`` is the last
column: a line torn by a crash lacks its full 16-hex ``job_id`` (or its field count is
wrong) and is ignored and reported when reading.  The next append starts on a fresh line.

Per-job outputs (``metrics.json``, ``predictions.csv``) live in ``RESULTS_DIR/jobs/<job_id>/``.
"""

from __future__ import annotations

import csv
import fcntl
import io
import logging
import os
import re
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd

from molpt.benchmark.grid import NONE_METHOD
from molpt.utils import create_exclusive

log = logging.getLogger(__name__)

RESULTS_NAME = "results.csv"
ERRORS_NAME = "errors.jsonl"

CONFIG_COLUMNS = [
    "dataset", "split", "split_seed", "seed", "method", "featurizer", "strategy", "epochs",
    "batch_size", "lr", "dropout", "encoder", "num_layers", "hidden_dim", "limit",
    "checkpoint", "checkpoint_sha256", "baseline",
]  # fmt: skip
METRIC_COLUMNS = [
    "metric", "test_at_best_valid", "last_test", "best_valid", "best_epoch", "tasks_scored",
    "tasks_skipped", "pr_auc", "last_pr_auc", "n_train", "n_valid", "n_test",
]  # fmt: skip
RUN_COLUMNS = [
    "seconds", "device", "molpt_version", "git_commit", "timestamp", "precision", "group_size",
    "device_name",
]  # fmt: skip
COLUMNS = CONFIG_COLUMNS + METRIC_COLUMNS + RUN_COLUMNS + ["job_id"]

_JOB_ID = re.compile(r"[0-9a-f]{16}")


def git_commit() -> str:
    """``git rev-parse HEAD`` of the molpt source tree, best effort (else ``unknown``)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", sha) else "unknown"


@dataclass
class ReadResult:
    """The store's valid rows plus what was ignored."""

    frame: pd.DataFrame
    torn: int = 0
    duplicates: int = 0
    notes: list[str] = field(default_factory=list)


class ResultsStore:
    """``RESULTS_DIR/results.csv`` (header + one row per finished job)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / RESULTS_NAME
        self.errors_path = self.root / ERRORS_NAME

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    @contextmanager
    def _locked(self, mode: str = "a+b"):
        self.root.mkdir(parents=True, exist_ok=True)
        if "a" in mode and not self.path.exists():
            # born with its header: a reader never finds an empty results.csv
            create_exclusive(self.path, _csv_line(COLUMNS))
        with open(self.path, mode) as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield fh
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def append(self, row: dict[str, Any]) -> None:
        """Append one row (header first if the file is new), flush and fsync."""
        if not _JOB_ID.fullmatch(str(row.get("job_id", ""))):
            raise ValueError(f"row has no valid job_id: {row.get('job_id')!r}")
        with self._locked() as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            prefix = b""
            if size == 0:
                header = COLUMNS
                prefix = _csv_line(header)
            else:
                header = self._header(fh)
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":  # a torn line from a crash: start a fresh line
                    prefix = b"\n"
            extra = [k for k in row if k not in header]
            if extra:
                log.debug("results.csv has no column(s) %s; not stored", extra)
            if "baseline" not in header and row.get("baseline") not in (None, NONE_METHOD):
                log.warning(
                    "%s predates the baseline column: row %s (baseline %s) will read as "
                    "compared with 'none'; use a new results folder for grids with several "
                    "architectures", self.path, row.get("job_id"), row.get("baseline"),
                )  # fmt: skip
            data = prefix + _csv_line([_cell(row.get(c)) for c in header])
            fh.seek(0, os.SEEK_END)
            try:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:  # a full disk: name the file (a torn line is ignored)
                if exc.filename is not None or exc.errno is None:
                    raise
                raise OSError(exc.errno, exc.strerror, str(self.path)) from exc

    @staticmethod
    def _header(fh) -> list[str]:
        fh.seek(0)
        first = fh.readline().decode("utf-8").rstrip("\r\n")
        cols = next(csv.reader([first]))
        if "job_id" not in cols:
            raise ValueError("results.csv has no job_id column; is it a molpt results file?")
        return cols

    def read(self) -> ReadResult:
        """Valid rows as a DataFrame (typed); torn/duplicate lines are dropped and counted."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return ReadResult(pd.DataFrame(columns=COLUMNS))
        with self._locked("rb") as fh:
            raw = fh.read().decode("utf-8", errors="replace")
        lines = raw.splitlines()
        header = next(csv.reader([lines[0]]))
        good: list[list[str]] = []
        torn = 0
        seen: set[str] = set()
        dups = 0
        for line in lines[1:]:
            if not line.strip():
                continue
            try:
                cells = next(csv.reader([line]))
            except csv.Error:
                torn += 1
                continue
            rec = dict(zip(header, cells, strict=False))
            if len(cells) != len(header) or not _JOB_ID.fullmatch(rec.get("job_id", "")):
                torn += 1
                continue
            if rec["job_id"] in seen:
                dups += 1
                continue
            seen.add(rec["job_id"])
            good.append(cells)
        text = _csv_line(header).decode() + "".join(_csv_line(c).decode() for c in good)
        frame = pd.read_csv(io.StringIO(text), dtype={"job_id": str, "checkpoint_sha256": str})
        if "baseline" not in frame.columns:  # written before per-architecture twins
            frame["baseline"] = NONE_METHOD
        notes = []
        if torn:
            notes.append(
                f"{torn} incomplete line(s) in {self.path} ignored (a run was interrupted "
                "while writing); those jobs will be rerun"
            )
        if dups:
            notes.append(f"{dups} duplicate job row(s) in {self.path} ignored")
        for n in notes:
            log.warning(n)
        return ReadResult(frame, torn, dups, notes)

    def done_ids(self) -> set[str]:
        """``job_id``s of the valid rows (a quick scan: no DataFrame, no log messages)."""
        if not self.path.is_file():
            return set()
        with self._locked("rb") as fh:
            raw = fh.read().decode("utf-8", errors="replace")
        lines = raw.splitlines()
        if not lines:
            return set()
        header = next(csv.reader([lines[0]]))
        if "job_id" not in header:
            return set()
        width, at = len(header), header.index("job_id")
        ids = set()
        for line in lines[1:]:
            try:
                cells = next(csv.reader([line]))
            except (csv.Error, StopIteration):
                continue
            if len(cells) == width and _JOB_ID.fullmatch(cells[at]):
                ids.add(cells[at])
        return ids

    def record_error(self, job_id: str, label: str, message: str) -> None:
        """Append a failed job to ``errors.jsonl`` (the job is retried on the next run).

        When that file cannot be written (full or read-only disk), the record goes to
        stderr as one line instead; this never raises an OSError.
        """
        import json
        from datetime import datetime

        rec = {
            "job_id": job_id,
            "job": label,
            "error": message,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        line = json.dumps(rec) + "\n"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.errors_path, "ab") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                fh.write(line.encode())
                fh.flush()
                os.fsync(fh.fileno())
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        except OSError as exc:
            # a full or read-only disk must not hide the job's own error behind ours
            import sys

            sys.stderr.write(
                f"molpt: cannot write {self.errors_path} ({exc.strerror or exc}); "
                f"failed job: {line}"
            )
            sys.stderr.flush()


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if v != v else repr(float(v))
    return str(v)


def _csv_line(cells: list[Any]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue().encode("utf-8")


__all__ = ["COLUMNS", "ReadResult", "ResultsStore", "git_commit"]
