"""On-disk cache of featurized molecules.

``cached_featurize`` featurizes a list of SMILES once and stores the resulting ``GraphSet``
(plus the failure report) under a key derived from the input content, the featurizer and
its spec version.  A second call with the same input is a file load.  A corrupt or
truncated cache file is detected, reported with a warning and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from molpt.featurize.api import FailedRow, FeaturizeReport, featurize_many
from molpt.featurize.featurizers import Featurizer, get_featurizer
from molpt.featurize.graphs import GraphSet
from molpt.utils import cache_dir as default_cache_dir

log = logging.getLogger(__name__)

CACHE_FORMAT = "1"  # bump when the cache layout (not the features) changes


def smiles_sha256(smiles: Sequence[object]) -> str:
    """Content hash of a SMILES list (order-sensitive; missing entries hash distinctly)."""
    h = hashlib.sha256()
    for s in smiles:
        h.update(b"\x00" if not isinstance(s, str) else s.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def cache_key(
    smiles: Sequence[object], featurizer: str | Featurizer, key_parts: dict | None = None
) -> str:
    """sha256 over the SMILES content, the featurizer name and spec version and ``key_parts``.

    ``key_parts`` may hold anything JSON-serialisable that identifies the input (source file
    hash, SMILES column, row limit); it is hashed in sorted-key order.
    """
    f = get_featurizer(featurizer)
    payload = {
        "format": CACHE_FORMAT,
        "smiles_sha256": smiles_sha256(smiles),
        "featurizer": f.name,
        "spec_version": f.spec.version,
        "key_parts": key_parts or {},
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def cache_path_for(key: str, featurizer: str, cache_dir: str | Path | None = None) -> Path:
    """Where the cache file for ``key`` lives."""
    root = Path(cache_dir) if cache_dir is not None else _env_cache_dir()
    return root / f"graphs-{featurizer}-{key[:24]}.pt"


def _env_cache_dir() -> Path:
    return default_cache_dir()


def cached_featurize(
    smiles: Sequence[str],
    featurizer: str | Featurizer,
    key_parts: dict | None = None,
    workers: int = 1,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> tuple[GraphSet, FeaturizeReport]:
    """``featurize_many`` with an on-disk cache.

    Args:
        smiles: SMILES strings, one per input row.
        featurizer: featurizer name or instance.
        key_parts: extra identifying parts of the cache key (e.g. source file sha256,
            SMILES column, limit).  The SMILES content is always part of the key.
        workers: processes for featurization on a cache miss (does not affect the key).
        cache_dir: cache folder; default ``MOLPT_CACHE`` or ``data/cache``.
        progress: progress bar on stderr while featurizing.

    Returns:
        ``(graphs, report)`` exactly as ``featurize_many`` returns them; on a cache hit the
        report (total and every failed row) is restored from the cache file.
    """
    f = get_featurizer(featurizer)
    smiles = list(smiles)
    key = cache_key(smiles, f, key_parts)
    path = cache_path_for(key, f.name, cache_dir)
    if path.exists():
        try:
            graphs, meta = GraphSet.load(path)
            if meta.get("key") != key:
                raise ValueError(f"{path}: cache key mismatch")
            report = FeaturizeReport(
                total=int(meta["total"]), failed=[FailedRow(*r) for r in meta["failed"]]
            )
            if len(graphs) + len(report.failed) != report.total:
                raise ValueError(f"{path}: inconsistent graph and failure counts")
            log.info("cache hit: %s (%d graphs)", path, len(graphs))
            return graphs, report
        except Exception as exc:  # corrupt, truncated, foreign or stale: rebuild
            msg = f"ignoring unreadable cache file {path} ({exc}); rebuilding it"
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            log.warning(msg)
            try:
                os.remove(path)
            except OSError:
                pass
    graphs, report = featurize_many(smiles, f, workers=workers, progress=progress)
    meta = {
        "key": key,
        "featurizer": f.name,
        "spec_version": f.spec.version,
        "key_parts": json.loads(json.dumps(key_parts or {}, default=str)),
        "total": report.total,
        "failed": [(r.row, r.smiles, r.reason) for r in report.failed],
    }
    try:
        graphs.save(path, meta)
        log.info("cached %d graphs at %s", len(graphs), path)
    except OSError as exc:  # a read-only cache must not break featurization
        log.warning("could not write cache file %s: %s", path, exc)
    return graphs, report


__all__ = ["cache_key", "cache_path_for", "cached_featurize", "smiles_sha256"]
