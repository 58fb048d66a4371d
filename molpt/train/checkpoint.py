"""Self-describing checkpoints: one file holds configs, featurizer, weights and state.

Loaded with ``torch.load(weights_only=True)``: only tensors, dicts, lists and plain values
are accepted, so an untrusted file cannot run code.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from molpt._version import __version__
from molpt.featurize.vocab import get_spec
from molpt.nn.encoder import Encoder
from molpt.utils import atomic_write_bytes

#: a pretraining run folder: the running checkpoint and the folder of kept budget points
CHECKPOINT_NAME = "checkpoint.pt"
KEPT_DIR = "epochs"
#: the state of an unfinished epoch (written every few minutes and on SIGINT/SIGTERM)
PARTIAL_NAME = "partial.pt"

FORMAT = "molpt-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a usable molpt checkpoint (one-line message)."""


def featurizer_record(name: str) -> dict[str, Any]:
    return get_spec(name).to_dict()


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus format markers) atomically to ``path``.

    Required keys: ``encoder_config`` (Encoder kwargs) and ``encoder_state``.
    """
    for key in ("encoder_config", "encoder_state"):
        if key not in payload:
            raise ValueError(f"checkpoint payload lacks {key!r}")
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "molpt_version": __version__,
        "featurizer": featurizer_record(payload["encoder_config"]["featurizer"]),
        **payload,
    }
    buf = io.BytesIO()
    torch.save(full, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a molpt checkpoint (safe ``weights_only`` loading).

    Raises:
        CheckpointError: missing file, not a molpt checkpoint, or written by an
            incompatible featurizer version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # arbitrary files fail in many ways inside the unpickler
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is not a molpt checkpoint ({first[:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a molpt checkpoint (no molpt format marker)")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer molpt (format {ckpt['format_version']})"
        )
    feat = ckpt.get("featurizer")
    if not isinstance(feat, dict) or not isinstance(feat.get("name"), str):
        raise CheckpointError(
            f"{path} is an incomplete molpt checkpoint: it has no featurizer record "
            "(key 'featurizer' with a name), so its encoder's inputs are unknown"
        )
    for key in ("encoder_config", "encoder_state"):
        if not isinstance(ckpt.get(key), dict):
            raise CheckpointError(f"{path} is an incomplete molpt checkpoint: no {key!r}")
    try:
        current = get_spec(feat["name"])
    except KeyError:
        raise CheckpointError(
            f"{path} uses featurizer {feat['name']!r}, which this molpt does not know"
        ) from None
    if feat.get("version") != current.version:
        raise CheckpointError(
            f"{path} used featurizer {feat['name']} version {feat.get('version')}, "
            f"this molpt has version {current.version}"
        )
    return ckpt


def check_featurizer(ckpt: dict[str, Any], featurizer: str | None, path: str | Path = "") -> str:
    """Return the checkpoint's featurizer; error if the caller asked for a different one."""
    name = ckpt["featurizer"]["name"]
    if featurizer is not None and featurizer != name:
        raise CheckpointError(
            f"checkpoint {path} was pretrained with featurizer {name!r}, "
            f"not {featurizer!r}; use --featurizer {name}"
        )
    return name


def load_encoder(
    path: str | Path, featurizer: str | None = None, map_location: str | torch.device = "cpu"
) -> tuple[Encoder, dict[str, Any]]:
    """Rebuild the checkpoint's encoder with its weights; returns (encoder, checkpoint)."""
    ckpt = load_checkpoint(path, map_location)
    check_featurizer(ckpt, featurizer, path)
    enc = Encoder(**ckpt["encoder_config"])
    enc.load_state_dict(ckpt["encoder_state"])
    return enc, ckpt
