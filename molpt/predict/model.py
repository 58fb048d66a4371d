"""Reading a model folder (written by ``molpt.train.model_folder``) safely and strictly.

Every problem is a :class:`ModelFolderError` with one line naming the folder: no such
folder, no manifest, a manifest of a newer or unknown format version, a tensor file whose
sha256 differs from the manifest's (truncated or altered), a featurizer this molpt does not
have in that version.  Tensor files are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molpt.featurize.vocab import get_spec
from molpt.nn.model import GraphModel
from molpt.train.model_folder import DOMAIN, FORMAT, FORMAT_VERSION, MANIFEST, WEIGHTS


class ModelFolderError(ValueError):
    """A folder that is not a usable molpt model (one-line message)."""


@dataclass
class ModelFolder:
    """One fine-tuned model read from its folder.

    Attributes:
        path: the folder.
        manifest: the parsed ``model.json``.
        state: the ``GraphModel`` state dict (CPU tensors).
        fingerprints: (N, 256) uint8 packed Morgan fingerprints of the training part.
        train_rows: (N,) int64 data rows of the training molecules in their source file.
        train_smiles: the N training SMILES.
    """

    path: Path
    manifest: dict[str, Any]
    state: dict[str, torch.Tensor] = field(repr=False)
    fingerprints: np.ndarray = field(repr=False)
    train_rows: np.ndarray = field(repr=False)
    train_smiles: list[str] = field(repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def task_names(self) -> list[str]:
        return [t["name"] for t in self.manifest["tasks"]]

    @property
    def task_type(self) -> str:
        return self.manifest["task_type"]

    @property
    def featurizer(self) -> str:
        return self.manifest["featurizer"]["name"]

    @property
    def bf16(self) -> bool:
        return self.manifest.get("precision") == "bf16"

    def build(self) -> GraphModel:
        """The ``GraphModel`` with its best-valid weights (eval mode, CPU)."""
        model = GraphModel.from_config(self.manifest["model"])
        model.load_state_dict(self.state)
        return model.eval()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _load_tensors(path: Path, expected_sha: str | None, what: str) -> Any:
    if not path.is_file():
        raise ModelFolderError(f"{path.parent}: the model folder lacks {path.name} ({what})")
    if expected_sha is not None and _sha256(path) != expected_sha:
        raise ModelFolderError(
            f"{path} is damaged: its sha256 differs from the one in {MANIFEST} (truncated or "
            "altered; copy the model folder again)"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler fails in many ways
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFolderError(f"{path} cannot be read ({first[:160]})") from None


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The checked manifest of the model folder ``path``."""
    path = Path(path)
    if not path.exists():
        raise ModelFolderError(f"no such model folder: {path}")
    if not path.is_dir():
        raise ModelFolderError(f"{path} is a file; --model takes a model folder")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise ModelFolderError(
            f"{path} is not a model folder: it has no {MANIFEST} (models are written by "
            "`molpt finetune --out DIR` or `molpt benchmark --keep-models`)"
        )
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{mpath} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFolderError(f"{mpath} is not a molpt model manifest (no format marker)")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1 or version > FORMAT_VERSION:
        raise ModelFolderError(
            f"{path} has model format version {version!r}; this molpt reads format "
            f"version {FORMAT_VERSION} (written by a newer molpt? upgrade molpt)"
        )
    for key in ("featurizer", "model", "tasks", "task_type", "domain", "files"):
        if key not in manifest:
            raise ModelFolderError(f"{mpath} is incomplete: no {key!r}")
    feat = manifest["featurizer"]
    try:
        spec = get_spec(feat.get("name"))
    except KeyError:
        raise ModelFolderError(
            f"{path} uses featurizer {feat.get('name')!r}, which this molpt does not know"
        ) from None
    if str(feat.get("version")) != str(spec.version):
        raise ModelFolderError(
            f"{path} used featurizer {feat.get('name')} version {feat.get('version')}; this "
            f"molpt has version {spec.version}"
        )
    return manifest


def read_model_folder(path: str | Path) -> ModelFolder:
    """Read and verify a model folder (manifest, weights, training fingerprints)."""
    path = Path(path)
    manifest = read_manifest(path)
    files = manifest["files"]
    state = _load_tensors(path / WEIGHTS, files.get(WEIGHTS), "the weights")
    dom = _load_tensors(path / DOMAIN, files.get(DOMAIN), "the training fingerprints")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFolderError(f"{path / WEIGHTS} is not a state dict of tensors")
    if not isinstance(dom, dict) or not {"fingerprints", "rows", "smiles"} <= set(dom):
        raise ModelFolderError(f"{path / DOMAIN} lacks fingerprints, rows or smiles")
    folder = ModelFolder(
        path=path,
        manifest=manifest,
        state=state,
        fingerprints=dom["fingerprints"].numpy(),
        train_rows=dom["rows"].numpy(),
        train_smiles=list(dom["smiles"]),
    )
    try:
        folder.build()
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelFolderError(f"{path}: the weights do not fit the manifest's model "
                               f"({first[:160]})") from None  # fmt: skip
    return folder


__all__ = ["ModelFolder", "ModelFolderError", "read_manifest", "read_model_folder"]
