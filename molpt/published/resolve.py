"""Catalogue names -> local molpt checkpoint files.

Wherever molpt takes a checkpoint it also takes a catalogue name such as
``hu2020/gcn_supervised_contextpred``.  :func:`resolve_checkpoint` turns it into the path of
an ordinary molpt checkpoint:

1. the published file is looked up under the checkpoint root (the explicit
   ``checkpoint_dir``, else ``$MOLPT_CHECKPOINTS``, else ``./checkpoints``) at the entry's
   ``file`` (e.g. ``<root>/hu2020/gcn_supervised_contextpred.pth``);
2. if absent it is downloaded to a temporary name beside it (progress bar on stderr),
   checked against the catalogue's sha256 and only then renamed;
3. a file whose sha256 differs from the catalogue's is refused;
4. it is imported once: the molpt checkpoint is cached under
   ``$MOLPT_CACHE/published/`` keyed by the file's sha256 (never written next to the
   published file, whose folder may be read-only).

Everything below the CLI / API / benchmark grid receives plain file paths.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from molpt.data.download import DownloadChecksumError, DownloadError, download
from molpt.published.catalogue import CATALOGUE, PublishedEncoder, entries
from molpt.published.importers import CHECKPOINT_NAME, IMPORTER_VERSION, import_checkpoint
from molpt.published.records import is_record_name, resolve_record
from molpt.utils import cache_dir, file_sha256

log = logging.getLogger(__name__)

ENV_CHECKPOINTS = "MOLPT_CHECKPOINTS"
DEFAULT_ROOT = "checkpoints"
UNVERIFIED = "unverified"


class CheckpointUnavailableError(FileNotFoundError):
    """A published file that is not present locally and could not be downloaded."""

    reason: str = ""


class ChecksumMismatchError(ValueError):
    """A published file whose sha256 is not the catalogue's: refused, never used."""


def checkpoint_root(checkpoint_dir: str | Path | None = None) -> Path:
    """``checkpoint_dir``, else ``$MOLPT_CHECKPOINTS``, else ``./checkpoints``."""
    if checkpoint_dir is not None and str(checkpoint_dir):
        return Path(checkpoint_dir)
    env = os.environ.get(ENV_CHECKPOINTS)
    return Path(env) if env else Path(DEFAULT_ROOT)


def local_file(entry: PublishedEncoder, checkpoint_dir: str | Path | None = None) -> Path:
    """Where the entry's file is (or is put when downloaded, or by hand)."""
    return checkpoint_root(checkpoint_dir) / entry.file


def is_published_name(ref: str | Path) -> bool:
    return isinstance(ref, str) and ref in CATALOGUE


def import_cache_path(entry: PublishedEncoder, sha256: str) -> Path:
    """The cached molpt checkpoint of a published file with this sha256."""
    key = f"{entry.format}-{entry.encoder}-{sha256[:32]}-v{IMPORTER_VERSION}"
    return cache_dir() / "published" / key / CHECKPOINT_NAME


# ------------------------------------------------------------------------------------------
# download
# ------------------------------------------------------------------------------------------
def download_verified(
    url: str,
    dest: str | Path,
    sha256: str | None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` through a temporary name; rename only if the sha256 fits
    (:func:`molpt.data.download.download`, with the checkpoint errors).

    Raises:
        CheckpointUnavailableError: network or file-system failure (one line naming the URL
            and ``dest``).
        ChecksumMismatchError: the downloaded bytes are not the expected file (the temporary
            file is deleted).
    """
    try:
        return download(url, dest, progress=progress, timeout=timeout, sha256=sha256)
    except DownloadError as exc:
        err = CheckpointUnavailableError(str(exc))
        err.reason = exc.reason
        raise err from None
    except DownloadChecksumError as exc:
        raise ChecksumMismatchError(
            f"downloaded {url} has sha256 {exc.got}, the catalogue says {sha256}: refused "
            "(not saved)"
        ) from None


# ------------------------------------------------------------------------------------------
# resolution
# ------------------------------------------------------------------------------------------
def fetch_published(
    name: str | PublishedEncoder,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> tuple[Path, str]:
    """The entry's verified local file and its sha256 (downloaded if absent).

    Raises:
        CheckpointUnavailableError: absent and not downloadable; names URL and location.
        ChecksumMismatchError: the file's sha256 differs from the catalogue's.
    """
    entry = name if isinstance(name, PublishedEncoder) else CATALOGUE.get(name)
    path = local_file(entry, checkpoint_dir)
    if not path.is_file():
        try:
            download_verified(entry.url, path, entry.sha256, progress=progress)
        except CheckpointUnavailableError as exc:
            raise CheckpointUnavailableError(
                f"{entry.name}: not found at {path}, and downloading {entry.url} failed "
                f"({exc.reason}); download it yourself and put it at {path} (checkpoint "
                f"root: --checkpoint-dir, else ${ENV_CHECKPOINTS}, else ./{DEFAULT_ROOT})"
            ) from None
    sha = file_sha256(path)
    if entry.sha256 is not None and sha != entry.sha256:
        raise ChecksumMismatchError(
            f"{path} has sha256 {sha}, but {entry.name} has sha256 {entry.sha256}: refused; "
            "delete it to download it again"
        )
    if entry.sha256 is None:
        log.warning("%s: no published checksum; using %s unverified (sha256 %s)",
                    entry.name, path, sha)  # fmt: skip
    return path, sha


def import_published(
    name: str | PublishedEncoder,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """The molpt checkpoint of a catalogue entry (imported on first use, then cached)."""
    entry = name if isinstance(name, PublishedEncoder) else CATALOGUE.get(name)
    src, sha = fetch_published(entry, checkpoint_dir, progress=progress)
    cached = import_cache_path(entry, sha)
    if cached.is_file():
        return cached
    prov = {"name": entry.name, "paper": entry.paper, "licence": entry.licence,
            "objective": entry.objective, "corpus": entry.corpus, "url": entry.url,
            "catalogue_sha256": entry.sha256 or UNVERIFIED}  # fmt: skip
    log.info("importing %s (first use) -> %s", entry.name, cached)
    return import_checkpoint(src, entry.format, entry.encoder, cached.parent,
                             provenance=prov, overwrite=True)  # fmt: skip


def _looks_like_a_name(ref: str) -> bool:
    sources = {n.split("/", 1)[0] for n in CATALOGUE.choices()}
    return ref.split("/", 1)[0] in sources and not Path(ref).suffix


def resolve_checkpoint(
    ref: str | Path,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """A checkpoint argument (file path or catalogue name) -> a molpt checkpoint path.

    An existing file is returned as is; ``molpt/<name>`` is a checkpoint of record (its
    sha256 checked against its model card); a catalogue name is fetched and imported (see
    the module docstring); a name under a catalogue source that is not in the catalogue is an
    error listing the names.  Anything else is returned as a path (the loader reports it).
    """
    s = str(ref)
    if Path(s).is_file():
        return Path(s)
    if is_record_name(s):  # molpt/<name>: a checkpoint of record (molpt.published.records)
        return resolve_record(s)
    if s in CATALOGUE:
        return import_published(s, checkpoint_dir, progress=progress)
    if _looks_like_a_name(s):
        CATALOGUE.get(s)  # KeyError listing the choices
    return Path(s)


def catalogue_status(checkpoint_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every catalogue entry with its local state (for ``molpt checkpoints``)."""
    rows = []
    for e in entries():
        path = local_file(e, checkpoint_dir)
        present = path.is_file()
        row = e.to_dict()
        row.update(
            size=e.size,
            sha256=e.sha256 or UNVERIFIED,
            local_path=str(path),
            present=present,
        )
        rows.append(row)
    return rows


__all__ = [
    "DEFAULT_ROOT",
    "ENV_CHECKPOINTS",
    "UNVERIFIED",
    "CheckpointUnavailableError",
    "ChecksumMismatchError",
    "catalogue_status",
    "checkpoint_root",
    "download_verified",
    "fetch_published",
    "import_cache_path",
    "import_published",
    "is_published_name",
    "local_file",
    "resolve_checkpoint",
]
