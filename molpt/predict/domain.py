"""Applicability domain: how close each scored molecule is to a model's training molecules.

Per molecule: ``nn_similarity``, the highest Tanimoto similarity (Morgan radius 2, 2048
bits) to any training molecule; ``nn_train_row`` and ``nn_train_smiles``, that nearest
training molecule (its data row in the training file and its SMILES); ``in_domain``,
whether ``nn_similarity`` reaches the model's threshold.  The threshold is fixed at
training time (``manifest["domain"]``): the 5th percentile of the training molecules'
leave-one-out nearest-neighbour similarities, so a molecule in domain is at least as close
to the training data as 95% of the training molecules are to one another.

An ensemble whose members were trained on different molecules searches the union of their
training parts and uses the lowest of their thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from molpt.featurize.fingerprints import nearest_tanimoto
from molpt.predict.model import ModelFolder


@dataclass
class Domain:
    """Training fingerprints (N, 256) uint8, their rows and SMILES, and the threshold."""

    fingerprints: np.ndarray
    rows: np.ndarray
    smiles: list[str]
    threshold: float

    @classmethod
    def of_members(cls, members: list[ModelFolder]) -> Domain:
        """The domain of an ensemble: its members' training molecules, each row once."""
        seen: dict[tuple[str, int], int] = {}
        fps, rows, smiles = [], [], []
        for m in members:
            source = str(m.manifest.get("training", {}).get("source_sha256", m.path))
            for i, r in enumerate(m.train_rows.tolist()):
                key = (source, int(r))
                if key in seen:
                    continue
                seen[key] = len(rows)
                fps.append(m.fingerprints[i])
                rows.append(int(r))
                smiles.append(m.train_smiles[i])
        threshold = min(float(m.manifest["domain"]["threshold"]) for m in members)
        arr = np.stack(fps) if fps else np.zeros((0, 256), dtype=np.uint8)
        return cls(arr, np.asarray(rows, dtype=np.int64), smiles, threshold)

    def query(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(similarity (Q,) float32, nearest training index (Q,), in_domain (Q,) bool)."""
        if self.fingerprints.shape[0] == 0:
            q = packed.shape[0]
            return np.zeros(q, np.float32), np.zeros(q, np.int64), np.zeros(q, bool)
        sim, idx = nearest_tanimoto(packed, self.fingerprints)
        return sim, idx, sim >= np.float32(self.threshold)


__all__ = ["Domain"]
