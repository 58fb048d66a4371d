"""Morgan fingerprints as packed bits and a vectorised nearest-neighbour Tanimoto search.

The applicability domain of a fine-tuned model (``molpt.predict.domain``) compares each
molecule it scores with the training molecules: Morgan fingerprints of radius 2 and 2048
bits, stored packed (``np.packbits``: (N, 256) uint8), compared 64 bits at a time with
numpy's popcount (``np.bitwise_count``) so a library is searched at array speed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from molpt.featurize.featurizers import parse_for_features, smiles_problem

#: Morgan radius and length of every fingerprint molpt stores
MORGAN_RADIUS = 2
MORGAN_BITS = 2048
#: bytes of one packed fingerprint
PACKED_BYTES = MORGAN_BITS // 8

_GENERATOR = None


def _generator():
    global _GENERATOR
    if _GENERATOR is None:
        from rdkit.Chem import rdFingerprintGenerator

        _GENERATOR = rdFingerprintGenerator.GetMorganGenerator(
            radius=MORGAN_RADIUS, fpSize=MORGAN_BITS
        )
    return _GENERATOR


def fingerprint_record() -> dict[str, object]:
    """What the stored fingerprints are (written into a model's manifest)."""
    return {"type": "morgan", "radius": MORGAN_RADIUS, "bits": MORGAN_BITS, "packing": "packbits"}


def morgan_packed(smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Packed Morgan fingerprints of ``smiles``: ((N, 256) uint8, (N,) bool parsed).

    A SMILES RDKit cannot parse gets an all-zero row and ``False``.  Parsing is the
    featurizers' (``parse_for_features``), so a molecule that featurizes has a fingerprint.
    """
    from rdkit import RDLogger

    gen = _generator()
    out = np.zeros((len(smiles), PACKED_BYTES), dtype=np.uint8)
    ok = np.zeros(len(smiles), dtype=bool)
    RDLogger.DisableLog("rdApp.*")
    try:
        for i, s in enumerate(smiles):
            s = s.strip() if isinstance(s, str) else s
            if smiles_problem(s) is not None:
                continue
            mol = parse_for_features(s)
            if mol is None or mol.GetNumAtoms() == 0:
                continue
            out[i] = np.packbits(gen.GetFingerprintAsNumPy(mol).astype(bool))
            ok[i] = True
    finally:
        RDLogger.EnableLog("rdApp.*")
    return out, ok


def _words(packed: np.ndarray) -> np.ndarray:
    """(N, 256) uint8 -> (N, 32) uint64 (a view when possible)."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    if packed.ndim != 2 or packed.shape[1] % 8:
        raise ValueError(f"packed fingerprints must be (N, 8*w) uint8, got {packed.shape}")
    return packed.view(np.uint64)


def nearest_tanimoto(
    query: np.ndarray,
    reference: np.ndarray,
    exclude: np.ndarray | None = None,
    budget: int = 1 << 22,
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's most similar reference fingerprint by Tanimoto similarity.

    Args:
        query: (Q, 256) uint8 packed fingerprints.
        reference: (R, 256) uint8 packed fingerprints (R >= 1).
        exclude: (Q,) int64 reference index each query must not match (itself, for a
            leave-one-out search), or -1 for none.
        budget: 64-bit words compared per block (bounds the temporary memory: 8 bytes each).

    Returns:
        (similarity (Q,) float32 in [0, 1], index (Q,) int64 of the nearest reference;
        the first one on ties).  Two empty fingerprints have similarity 0 (as RDKit).
    """
    q, r = _words(query), _words(reference)
    n_q, n_r = q.shape[0], r.shape[0]
    if n_r == 0:
        raise ValueError("no reference fingerprints to compare with")
    sim = np.zeros(n_q, dtype=np.float32)
    idx = np.zeros(n_q, dtype=np.int64)
    if n_q == 0:
        return sim, idx
    pop_q = np.bitwise_count(q).sum(1, dtype=np.int64)
    pop_r = np.bitwise_count(r).sum(1, dtype=np.int64)
    step = max(1, budget // max(1, n_r * q.shape[1]))
    for a in range(0, n_q, step):
        b = min(n_q, a + step)
        inter = np.bitwise_count(q[a:b, None, :] & r[None, :, :]).sum(2, dtype=np.int64)
        union = pop_q[a:b, None] + pop_r[None, :] - inter
        s = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
        if exclude is not None:
            ex = exclude[a:b]
            rows = np.nonzero(ex >= 0)[0]
            s[rows, ex[rows]] = -1.0
        best = s.argmax(1)
        idx[a:b] = best
        sim[a:b] = np.maximum(s[np.arange(b - a), best], 0.0)
    return sim, idx


def loo_threshold(
    fps: np.ndarray, quantile: float = 0.05, max_molecules: int = 2000, seed: int = 0
) -> tuple[float, int]:
    """The ``quantile`` of the leave-one-out nearest-neighbour similarities in ``fps``.

    Each (of at most ``max_molecules``, sampled with ``seed``) training molecule's highest
    Tanimoto similarity to any *other* training molecule; returns (threshold, molecules
    used).  A molecule whose nearest training neighbour is at least this similar is as
    close to the training data as 95% (for 0.05) of the training molecules are to each
    other.  With fewer than two molecules the threshold is 0.
    """
    n = fps.shape[0]
    if n < 2:
        return 0.0, n
    pick = np.arange(n)
    if n > max_molecules:
        pick = np.sort(np.random.default_rng(seed).choice(n, max_molecules, replace=False))
    sim, _ = nearest_tanimoto(fps[pick], fps, exclude=pick.astype(np.int64))
    return float(np.quantile(sim.astype(np.float64), quantile)), int(pick.size)


__all__ = [
    "MORGAN_BITS",
    "MORGAN_RADIUS",
    "PACKED_BYTES",
    "fingerprint_record",
    "loo_threshold",
    "morgan_packed",
    "nearest_tanimoto",
]
