"""Small shared helpers: atomic file writes, hashing, seeding, paths."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch


def _tmp_name(path: Path) -> Path:
    # keep the suffix: np.save / to_parquet / torch.save care about it
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


def pid_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None if unknown/dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether ``pid`` runs on this host (and, when ``start`` is given, is the same process)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if start is not None:
        now = pid_start_time(pid)
        if now is not None and now != start:
            return False  # the pid was reused by another process
        if now is not None:
            try:  # a zombie (killed, not yet reaped) is dead for our purposes
                state = Path(f"/proc/{pid}/stat").read_text()
                if state[state.rfind(")") + 2 :].split()[0] in ("Z", "X"):
                    return False
            except OSError:
                return False
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temporary files of ``path`` left by writers that died (``kill -9``).

    ``atomic_output`` names its temporary file after the writing process's pid; a file
    whose pid is no longer alive on this host can never be renamed into place.  Returns
    the files removed.
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp{path.suffix}"):
        pid = tmp.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` if the block succeeds.

    On any failure (a full or read-only disk, an exception, Ctrl-C) the temporary file is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # e.g. ENOSPC from write()/fsync(): name the file the user asked for
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def create_exclusive(path: str | Path, data: bytes) -> bool:
    """Create ``path`` holding ``data``, complete or not at all, only if it does not exist.

    ``data`` goes to a private temporary file (named after this host and pid) that is then
    hard-linked to ``path``: ``link`` fails when the name exists, like ``O_CREAT | O_EXCL``
    (also on NFS), so no reader ever sees ``path`` empty or half-written and no existing
    file is replaced.  Returns whether this call created it.
    """
    import socket

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError as exc:  # a file system without hard links: O_EXCL, written in place
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return True


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, then rename over ``path``.

    The temporary file never outlives a failure (see ``atomic_output``).
    """
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, torch.Tensor):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def is_blank(v: object) -> bool:
    """A cell with nothing in it: None, NaN (pandas' empty CSV cell) or only whitespace."""
    return v is None or (isinstance(v, float) and v != v) or str(v).strip() == ""


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; return a torch.Generator seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def cache_dir() -> Path:
    """``MOLPT_CACHE`` or ``data/cache`` (relative to the working directory)."""
    return Path(os.environ.get("MOLPT_CACHE", "data/cache"))


# ------------------------------------------------------------------------------------------
# output paths: checked before any work
# ------------------------------------------------------------------------------------------
def _os_error(err: int, path: Path, why: str | None = None) -> OSError:
    return OSError(err, why or os.strerror(err), str(path))


def check_output_dir(path: str | Path, what: str = "--out") -> Path:
    """Make sure ``path`` is (or can become) a writable folder; create it.

    Raises:
        OSError: with the path and the cause (ENOTDIR when it or a parent is a file,
            EROFS / ENOSPC / EACCES from a probe write), before any work is done.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise _os_error(errno.ENOTDIR, path, f"{what} is a file, not a folder")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise _os_error(errno.ENOTDIR, parent, f"a parent of {what} {path} is a file")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".molpt-write-check.", dir=path)
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(probe)
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:  # name the folder
            raise _os_error(exc.errno, path, exc.strerror) from exc
        raise
    return path


def check_output_file(path: str | Path, what: str = "--out") -> Path:
    """Make sure a file can be written at ``path`` (its folder is created and probed).

    Raises:
        OSError: EISDIR when ``path`` is a folder; otherwise as ``check_output_dir``.
    """
    path = Path(path)
    if path.is_dir():
        raise _os_error(errno.EISDIR, path, f"{what} is a folder, not a file")
    check_output_dir(path.parent if str(path.parent) else Path("."), f"the folder of {what}")
    return path


def check_fresh_output_dir(
    path: str | Path,
    overwrite: bool = False,
    what: str = "--out",
    markers: tuple[str, ...] | None = None,
) -> Path:
    """``check_output_dir`` plus: refuse a folder that already holds results.

    A folder holding any of ``markers`` (without markers: anything at all) is refused
    unless ``overwrite``.

    Raises:
        FileExistsError: naming the folder and ``--overwrite``.
    """
    path = Path(path)
    if path.is_dir() and not overwrite:
        held = any((path / m).exists() for m in markers) if markers else any(path.iterdir())
        if held:
            raise FileExistsError(
                f"{what} {path} already holds results; pass --overwrite to replace them or "
                "choose another folder"
            )
    return check_output_dir(path, what)


#: what ``molpt finetune`` writes into its --out folder
FINETUNE_OUTPUTS = ("metrics.json", "predictions.csv", "model.json")


def check_finetune_out(path: str | Path, overwrite: bool = False) -> Path:
    """The fine-tuning output check (CLI and Python API): a writable folder that does not
    already hold ``metrics.json`` / ``predictions.csv`` unless ``overwrite``."""
    return check_fresh_output_dir(path, overwrite, "--out", FINETUNE_OUTPUTS)
