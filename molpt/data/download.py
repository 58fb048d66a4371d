"""Dataset root, local lookup and download of catalogue files.

The dataset root is the explicit ``data_dir`` argument, else the ``MOLPT_DATA`` environment
variable, else ``./data``.  A file present under its canonical name is used as is; otherwise
it is downloaded to a temporary name (progress bar on stderr) and renamed when complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from molpt.data.catalogue import DatasetSpec

log = logging.getLogger(__name__)


class DownloadError(FileNotFoundError):
    """A file that could not be downloaded; ``reason`` is the network or OS cause."""

    reason: str = ""


class DatasetUnavailableError(DownloadError):
    """A dataset file that is not present locally and could not be downloaded."""


class DownloadChecksumError(ValueError):
    """Downloaded bytes whose sha256 is not the expected one (nothing was saved)."""

    def __init__(self, url: str, got: str, expected: str) -> None:
        super().__init__(f"downloaded {url} has sha256 {got}, expected {expected}: refused "
                         "(not saved)")  # fmt: skip
        self.url, self.got, self.expected = url, got, expected


def data_root(data_dir: str | Path | None = None) -> Path:
    """``data_dir``, else ``$MOLPT_DATA``, else ``./data``."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("MOLPT_DATA")
    return Path(env) if env else Path("data")


def search_dirs(spec: DatasetSpec, data_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for ``spec.file_name``, first match wins.

    Benchmarks: the root.  Pretraining corpora: ``<root>/pretrain``, then ``<root>/../pretrain``
    (``MOLPT_DATA`` usually points at ``.../data/moleculenet``, beside ``.../data/pretrain``),
    then the root itself.
    """
    root = data_root(data_dir)
    if spec.is_pretrain:
        return [root / "pretrain", root.parent / "pretrain", root]
    return [root]


def local_path(spec: DatasetSpec, data_dir: str | Path | None = None) -> Path | None:
    """The existing local file of ``spec``, or None."""
    for d in search_dirs(spec, data_dir):
        p = d / spec.file_name
        if p.is_file():
            return p
    return None


def target_path(spec: DatasetSpec, data_dir: str | Path | None = None) -> Path:
    """Where a downloaded file is put (and where a user can put it by hand)."""
    return search_dirs(spec, data_dir)[0] / spec.file_name


def download(
    url: str,
    dest: str | Path,
    progress: bool = True,
    timeout: float = 60.0,
    sha256: str | None = None,
) -> Path:
    """Download ``url`` to ``dest`` via a temporary file renamed on completion (and, with
    ``sha256``, only when the bytes have that digest).

    Raises:
        DatasetUnavailableError: one line naming the URL and ``dest`` (``reason``: the cause).
        DownloadChecksumError: the bytes are not the expected file (the temporary file is
            deleted, nothing is saved).
    """
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    log.info("downloading %s -> %s", url, dest)
    digest = hashlib.sha256()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as fh:
            total = int(resp.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(
                    total=total, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr,
                    leave=False,
                )  # fmt: skip
            try:
                while block := resp.read(1 << 16):
                    fh.write(block)
                    digest.update(block)
                    if bar is not None:
                        bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
            fh.flush()
            os.fsync(fh.fileno())
            if total is not None and fh.tell() != total:
                raise OSError(f"incomplete download ({fh.tell()} of {total} bytes)")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        err = DatasetUnavailableError(
            f"could not download {url} ({reason}); download it yourself and put it at {dest}"
        )
        err.reason = str(reason)
        raise err from None
    got = digest.hexdigest()
    if sha256 is not None and got != sha256:
        tmp.unlink(missing_ok=True)
        raise DownloadChecksumError(url, got, sha256)
    os.replace(tmp, dest)
    return dest


def extract_member(archive: Path, member: str, dest: Path) -> Path:
    """Extract one member of a zip archive to ``dest`` (atomically)."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, dest)
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise DatasetUnavailableError(
            f"could not extract {member} from {archive} ({exc}); delete the archive to "
            f"download it again, or put the file at {dest}"
        ) from None
    return dest


def fetch(spec: DatasetSpec, data_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Path of ``spec``'s data file, downloading (and extracting) it when absent."""
    found = local_path(spec, data_dir)
    if found is not None:
        return found
    dest = target_path(spec, data_dir)
    if spec.url is None:
        how = spec.notes.get("manual", "obtain it")
        raise DatasetUnavailableError(
            f"{spec.name}: {spec.file_name} not found in "
            f"{', '.join(str(d) for d in search_dirs(spec, data_dir))}; {how} and put it at {dest}"
        )
    if spec.archive_member:
        archive = dest.with_name(spec.download_name or Path(spec.url).name)
        if not archive.is_file():
            download(spec.url, archive, progress=progress)
        return extract_member(archive, spec.archive_member, dest)
    return download(spec.url, dest, progress=progress)


__all__ = [
    "DatasetUnavailableError",
    "data_root",
    "download",
    "extract_member",
    "fetch",
    "local_path",
    "search_dirs",
    "target_path",
]
