"""A fine-tuned model as a folder: ``model.json`` (manifest) + ``weights.pt`` + ``domain.pt``.

Written by fine-tuning (``molpt finetune``, ``molpt benchmark --keep-models``) beside
``metrics.json`` and ``predictions.csv``; read by ``molpt.predict`` (``molpt predict``,
``molpt.load_model``).  No pickled classes: both tensor files load with
``torch.load(..., weights_only=True)``.

* ``weights.pt``: the best-valid ``GraphModel`` state dict (name -> tensor), exactly what
  ``GraphModel.from_config(manifest["model"]).load_state_dict`` takes.
* ``domain.pt``: the training part for the applicability domain: ``fingerprints``
  (N, 256) uint8 packed Morgan bits (radius 2, 2048 bits), ``rows`` (N,) int64 data rows
  of the training file, ``smiles`` (N strings).
* ``model.json``: see :func:`write_model_folder` for its keys.

The manifest is written last (and removed first when a folder is rewritten), so a folder
with a manifest is complete; the manifest records each tensor file's sha256, so a
truncated or altered file is detected before it is used.
"""

from __future__ import annotations

import io
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molpt._version import __version__
from molpt.featurize.fingerprints import fingerprint_record, loo_threshold, morgan_packed
from molpt.train.checkpoint import featurizer_record
from molpt.utils import atomic_write_bytes, atomic_write_json

FORMAT = "molpt-model"
FORMAT_VERSION = 1
MANIFEST = "model.json"
WEIGHTS = "weights.pt"
DOMAIN = "domain.pt"
#: the files of a model folder
MODEL_FILES = (MANIFEST, WEIGHTS, DOMAIN)
#: the applicability-domain threshold: this quantile of the training molecules'
#: leave-one-out nearest-neighbour similarities
DOMAIN_QUANTILE = 0.05
#: at most this many training molecules (sampled, seed 0) enter the threshold
DOMAIN_SAMPLE = 2000

DOMAIN_RULE = (
    "in_domain = nn_similarity >= threshold, where threshold is the 5th percentile of the "
    "leave-one-out nearest-neighbour Tanimoto similarities (Morgan radius 2, 2048 bits) of "
    "the training molecules (at most 2000, sampled with seed 0) to the rest of the "
    "training part: a molecule in domain is at least as close to the training data as 95% "
    "of the training molecules are to each other"
)


def versions() -> dict[str, str]:
    """Versions of what made (and reads) a model: molpt, torch, RDKit, numpy, Python."""
    import rdkit

    return {
        "molpt": __version__,
        "torch": torch.__version__,
        "rdkit": rdkit.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _tensor_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def domain_arrays(smiles: list[str]) -> tuple[np.ndarray, float, int]:
    """Packed fingerprints of the training molecules and their domain threshold.

    Returns ((N, 256) uint8, threshold, molecules that entered the threshold).
    """
    fps, _ = morgan_packed(smiles)
    thr, used = loo_threshold(fps, DOMAIN_QUANTILE, DOMAIN_SAMPLE, seed=0)
    return fps, thr, used


def conformal_residuals(
    y_true: np.ndarray, y_pred: np.ndarray, task_names: list[str]
) -> dict[str, list[float]]:
    """Per task, the sorted absolute residuals |y - ŷ| of the labelled validation rows.

    ``y_true`` and ``y_pred`` are (n_valid, T) in original units (NaN = no label).
    """
    out: dict[str, list[float]] = {}
    for i, t in enumerate(task_names):
        keep = ~np.isnan(y_true[:, i])
        res = np.abs(y_true[keep, i].astype(np.float64) - y_pred[keep, i].astype(np.float64))
        out[t] = [float(v) for v in np.sort(res)]
    return out


def write_model_folder(
    out: str | Path,
    *,
    state: dict[str, torch.Tensor],
    model_config: dict[str, Any],
    featurizer: str,
    task_names: list[str],
    task_type: str,
    target_mean: np.ndarray | None,
    target_std: np.ndarray | None,
    precision: str,
    training: dict[str, Any],
    metrics: dict[str, Any],
    valid_true: np.ndarray,
    valid_pred: np.ndarray,
    train_smiles: list[str],
    train_rows: np.ndarray,
    domain: tuple[np.ndarray, float, int] | None = None,
) -> list[Path]:
    """Write a model folder into ``out``; returns the files written.

    Manifest keys: ``format`` ("molpt-model"), ``format_version``, ``created``,
    ``versions`` (molpt, torch, rdkit, numpy, python), ``featurizer`` (the featurizer
    record: name, version, feature sizes), ``model`` (``GraphModel`` config: encoder
    config, pooling, out_dim, head_dropout), ``precision`` (fp32 / bf16), ``task_type``,
    ``tasks`` ([{name, type}]), ``target_scaling`` (regression: per-task training ``mean``
    and ``std``, outputs are ``raw * std + mean``; else null), ``output`` (what predictions
    are), ``conformal`` (regression: split-conformal ``residuals`` per task, sorted
    absolute validation residuals at the best-valid epoch; else null), ``domain``
    (fingerprint record, ``threshold``, ``rule``, ``n_train``, ``n_threshold``),
    ``training`` (dataset, source, source_sha256, split, split_seed, seed, strategy,
    epochs, best_epoch, checkpoint, sizes, the full config), ``metrics`` (test metric at
    the best valid epoch, ...) and ``files`` (sha256 of ``weights.pt`` and ``domain.pt``).

    Args:
        state: the best-valid ``GraphModel`` state dict (CPU tensors).
        valid_true, valid_pred: (n_valid, T) labels and predictions (original units) of
            the validation part at the best-valid epoch (regression: the conformal
            residuals).
        train_smiles, train_rows: the training part's SMILES and data rows.
        domain: precomputed ``domain_arrays(train_smiles)`` (runs sharing a split share it).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # an incomplete folder is never a model
    weights = _tensor_bytes({k: v.detach().cpu().contiguous() for k, v in state.items()})
    fps, thr, used = domain if domain is not None else domain_arrays(train_smiles)
    dom = _tensor_bytes({
        "fingerprints": torch.from_numpy(np.ascontiguousarray(fps, dtype=np.uint8)),
        "rows": torch.as_tensor(np.asarray(train_rows, dtype=np.int64)),
        "smiles": list(train_smiles),
    })  # fmt: skip
    atomic_write_bytes(out / WEIGHTS, weights)
    atomic_write_bytes(out / DOMAIN, dom)
    scaling = None
    if task_type == "regression" and target_mean is not None and target_std is not None:
        scaling = {
            "mean": [float(v) for v in np.asarray(target_mean, dtype=np.float32)],
            "std": [float(v) for v in np.asarray(target_std, dtype=np.float32)],
        }
    conformal = None
    if task_type == "regression":
        conformal = {
            "method": "split-conformal",
            "part": "valid",
            "residuals": conformal_residuals(valid_true, valid_pred, task_names),
            "rule": "interval at level L: prediction ± the ceil((n + 1) L)-th smallest of the "
            "n absolute validation residuals (unbounded when that exceeds n)",
        }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "featurizer": featurizer_record(featurizer),
        "model": model_config,
        "precision": precision,
        "task_type": task_type,
        "tasks": [{"name": t, "type": task_type} for t in task_names],
        "target_scaling": scaling,
        "output": "probability of class 1" if task_type == "classification"
        else "value in the training labels' units",
        "conformal": conformal,
        "domain": {
            "fingerprint": fingerprint_record(),
            "threshold": thr,
            "quantile": DOMAIN_QUANTILE,
            "n_train": int(fps.shape[0]),
            "n_threshold": used,
            "rule": DOMAIN_RULE,
        },
        "training": training,
        "metrics": metrics,
        "files": {WEIGHTS: _sha256(weights), DOMAIN: _sha256(dom)},
    }  # fmt: skip
    atomic_write_json(out / MANIFEST, manifest)
    return [out / MANIFEST, out / WEIGHTS, out / DOMAIN]


__all__ = [
    "DOMAIN",
    "DOMAIN_RULE",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "MODEL_FILES",
    "WEIGHTS",
    "conformal_residuals",
    "domain_arrays",
    "versions",
    "write_model_folder",
]
