"""Train/valid/test splits as index arrays.

Every method takes the SMILES of the valid molecules (positions in the ``GraphSet``) and
returns three sorted int64 index arrays into that list.

* ``scaffold`` (Hu et al. 2020, deterministic): Bemis-Murcko scaffolds with chirality;
  scaffold sets sorted by (size, first index) descending; a set goes to train if train
  stays <= 0.8 N, else to valid if train+valid stays <= 0.9 N, else to test.
* ``random_scaffold`` (Hu et al., seeded): scaffold sets permuted with
  ``np.random.RandomState(seed)``; valid filled up to floor(0.1 N), then test up to
  floor(0.1 N), the rest is train.
* ``balanced_scaffold`` (chemprop / GROVER, seeded): scaffolds without chirality; sets larger
  than half the valid or half the test size are "big"; big and small lists are each shuffled
  with ``random.Random(seed)``, big first; a set goes to train if train stays <= 0.8 N, else
  valid if valid stays <= 0.1 N, else test.
* ``random`` (seeded): ``np.random.RandomState(seed).permutation``, then 80/10/10.

Acyclic molecules get the empty-string scaffold, as in Hu et al. and chemprop.

Scaffolds are RDKit's Bemis-Murcko scaffolds (``MurckoScaffold.MurckoScaffoldSmiles``),
computed in time about linear in the molecule's size: RDKit finds the linker atoms from an
all-pairs shortest-path matrix (cubic: 18 minutes for a 10,000-character SMILES), molpt
prunes non-ring atoms of degree <= 1 until only rings and linkers remain, which keeps the
same atoms (a linker atom lies on a shortest path between two rings exactly when it
separates two ring systems), then applies RDKit's own edits (exocyclic double-bonded atoms
kept, hydrogen / chirality fixes on the atoms that lost a neighbour) and canonicalises with
``Chem.MolToSmiles``.  ``benchmarks/scaffold_equivalence.py`` proves the result identical to
RDKit's on every molecule of the eleven MoleculeNet sets and 100k MOSES molecules.  A
molecule whose scaffold cannot be written (RDKit raises) is logged and forms its own set.
"""

from __future__ import annotations

import functools
import gc
import logging
import random as _random
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from rdkit import Chem, RDLogger

from molpt.registry import Registry

if TYPE_CHECKING:
    from molpt.data.loaders import MolDataset

log = logging.getLogger(__name__)

Split = tuple[np.ndarray, np.ndarray, np.ndarray]
SplitFn = Callable[[Sequence[str], int, tuple[float, float, float]], Split]

SPLITS: Registry[SplitFn] = Registry("split method")

#: methods whose parts never share a scaffold
SCAFFOLD_METHODS = ("scaffold", "random_scaffold", "balanced_scaffold")


class ScaffoldError(ValueError):
    """RDKit parsed the molecule but cannot write its scaffold."""


def _scaffold_atoms(mol: Chem.Mol) -> tuple[list[bool], list[list[int]]]:
    """(keep flag per atom, neighbour lists): ring atoms and linkers, in O(atoms + bonds).

    Non-ring atoms of degree <= 1 are removed until none is left; what remains are the ring
    atoms and the atoms on paths between ring systems, the set RDKit's ``MurckoDecompose``
    marks from its shortest-path matrix.
    """
    n = mol.GetNumAtoms()
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        nbrs[i].append(j)
        nbrs[j].append(i)
    ring = [False] * n
    for r in mol.GetRingInfo().AtomRings():
        for i in r:
            ring[i] = True
    deg = [len(x) for x in nbrs]
    keep = [True] * n
    queue = deque(i for i in range(n) if not ring[i] and deg[i] <= 1)
    while queue:
        i = queue.popleft()
        if not keep[i]:
            continue
        keep[i] = False
        for j in nbrs[i]:
            if keep[j]:
                deg[j] -= 1
                if deg[j] <= 1 and not ring[j]:
                    queue.append(j)
    return keep, nbrs


_DOUBLE = Chem.BondType.DOUBLE
_UNSPECIFIED = Chem.ChiralType.CHI_UNSPECIFIED


def murcko_scaffold_mol(mol: Chem.Mol) -> Chem.Mol:
    """The Bemis-Murcko scaffold of ``mol`` as RDKit's ``GetScaffoldForMol`` builds it.

    Same atoms and the same edits as RDKit's ``MurckoDecompose`` (atoms double-bonded to a
    kept atom stay; a kept aromatic heteroatom or aromatic carbocation that loses a
    neighbour gets one explicit H; a kept atom with no implicit Hs or a chiral tag that
    loses a neighbour gets implicit Hs back and loses the tag), but linear in the size.
    """
    res = Chem.RWMol(mol)
    n = res.GetNumAtoms()
    if not n:
        return res
    keep, nbrs = _scaffold_atoms(mol)
    res.BeginBatchEdit()
    for i in range(n):
        if keep[i]:
            continue
        remove = True
        for j in nbrs[i]:
            if not keep[j]:
                continue
            if res.GetBondBetweenAtoms(i, j).GetBondType() == _DOUBLE:
                remove = False
                break
            a = res.GetAtomWithIdx(j)
            if a.GetIsAromatic() and a.GetAtomicNum() != 6:
                a.SetNumExplicitHs(1)
            elif a.GetIsAromatic() and a.GetAtomicNum() == 6 and a.GetFormalCharge() == 1:
                a.SetNumExplicitHs(1)
            elif a.GetNoImplicit() or a.GetChiralTag() != _UNSPECIFIED:
                a.SetNoImplicit(False)
                a.SetNumExplicitHs(0)
                a.SetChiralTag(_UNSPECIFIED)
        if remove:
            res.RemoveAtom(i)
    res.CommitBatchEdit()
    res.ClearComputedProps()
    res.UpdatePropertyCache()
    Chem.GetSymmSSSR(res)
    return res


@functools.lru_cache(maxsize=1 << 17)  # a split, then its overlap check, share the work
def scaffold_of(smiles: str, include_chirality: bool = True) -> str:
    """Bemis-Murcko scaffold SMILES ('' for acyclic molecules).

    Identical to ``MurckoScaffold.MurckoScaffoldSmiles(mol=..., includeChirality=...)``
    but linear in the molecule's size.

    Raises:
        ValueError: for a SMILES that RDKit cannot parse; ``ScaffoldError`` (a ValueError)
            for a scaffold RDKit cannot write.
    """
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            raise ValueError(f"cannot compute the scaffold of invalid SMILES {smiles!r}")
        try:
            return Chem.MolToSmiles(murcko_scaffold_mol(mol), include_chirality)
        except (RuntimeError, ValueError) as exc:  # e.g. "Too many rings open at once"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ScaffoldError(
                f"cannot compute the scaffold of {_short(smiles)}: {first}"
            ) from None
    finally:
        RDLogger.EnableLog("rdApp.*")


def _short(smiles: str, n: int = 60) -> str:
    return repr(smiles) if len(smiles) <= n else f"{smiles[:n]!r}... ({len(smiles)} characters)"


def scaffold_sets(smiles: Sequence[str], include_chirality: bool = True) -> dict[str, list[int]]:
    """Scaffold -> ascending indices, in order of each scaffold's first occurrence.

    A molecule whose scaffold RDKit cannot compute (reported with a warning) forms a set of
    its own (identical SMILES share it).
    """
    sets: dict[str, list[int]] = {}
    failed: list[tuple[int, str]] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # many small acyclic lists: the cyclic GC would only slow the loop down
    try:
        for i, s in enumerate(smiles):
            try:
                key = scaffold_of(s, include_chirality)
            except ScaffoldError as exc:
                failed.append((i, str(exc)))
                key = f"\x00no-scaffold:{s}"
            sets.setdefault(key, []).append(i)
    finally:
        if gc_was_enabled:
            gc.enable()
    if failed:
        log.warning(
            "%d molecule(s) without a computable scaffold, each kept in a set of its own; "
            "first: position %d: %s", len(failed), failed[0][0], failed[0][1],
        )  # fmt: skip
    return sets


def _check_frac(frac: Sequence[float]) -> tuple[float, float, float]:
    if len(frac) != 3 or any(f < 0 for f in frac) or not np.isclose(sum(frac), 1.0):
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1: {frac}")
    return float(frac[0]), float(frac[1]), float(frac[2])


def _arrays(train: list[int], valid: list[int], test: list[int]) -> Split:
    return tuple(np.sort(np.asarray(p, dtype=np.int64)) for p in (train, valid, test))  # type: ignore[return-value]


@SPLITS.register("scaffold")
def scaffold_split(smiles: Sequence[str], seed: int = 0, frac=(0.8, 0.1, 0.1)) -> Split:
    """Hu et al.'s deterministic scaffold split (``seed`` is ignored)."""
    f_train, f_valid, _ = _check_frac(frac)
    n = len(smiles)
    sets = scaffold_sets(smiles, include_chirality=True)
    ordered = sorted(sets.values(), key=lambda s: (len(s), s[0]), reverse=True)
    train_cut, valid_cut = f_train * n, (f_train + f_valid) * n
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for s in ordered:
        if len(train) + len(s) > train_cut:
            if len(train) + len(valid) + len(s) > valid_cut:
                test.extend(s)
            else:
                valid.extend(s)
        else:
            train.extend(s)
    return _arrays(train, valid, test)


@SPLITS.register("random_scaffold")
def random_scaffold_split(smiles: Sequence[str], seed: int = 0, frac=(0.8, 0.1, 0.1)) -> Split:
    """Hu et al.'s random scaffold split."""
    _, f_valid, f_test = _check_frac(frac)
    n = len(smiles)
    sets = list(scaffold_sets(smiles, include_chirality=True).values())
    order = np.random.RandomState(seed).permutation(len(sets))
    n_valid, n_test = int(np.floor(f_valid * n)), int(np.floor(f_test * n))
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for k in order:
        s = sets[k]
        if len(valid) + len(s) <= n_valid:
            valid.extend(s)
        elif len(test) + len(s) <= n_test:
            test.extend(s)
        else:
            train.extend(s)
    return _arrays(train, valid, test)


@SPLITS.register("balanced_scaffold")
def balanced_scaffold_split(smiles: Sequence[str], seed: int = 0, frac=(0.8, 0.1, 0.1)) -> Split:
    """chemprop's balanced scaffold split (as used by GROVER)."""
    f_train, f_valid, f_test = _check_frac(frac)
    n = len(smiles)
    train_size, valid_size, test_size = f_train * n, f_valid * n, f_test * n
    sets = list(scaffold_sets(smiles, include_chirality=False).values())
    big = [s for s in sets if len(s) > valid_size / 2 or len(s) > test_size / 2]
    small = [s for s in sets if not (len(s) > valid_size / 2 or len(s) > test_size / 2)]
    rng = _random.Random(seed)
    rng.shuffle(big)
    rng.shuffle(small)
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for s in big + small:
        if len(train) + len(s) <= train_size:
            train.extend(s)
        elif len(valid) + len(s) <= valid_size:
            valid.extend(s)
        else:
            test.extend(s)
    return _arrays(train, valid, test)


@SPLITS.register("random")
def random_split(smiles: Sequence[str], seed: int = 0, frac=(0.8, 0.1, 0.1)) -> Split:
    """Seeded shuffle, then the first 80 % train, next 10 % valid, rest test."""
    f_train, f_valid, _ = _check_frac(frac)
    n = len(smiles)
    perm = np.random.RandomState(seed).permutation(n)
    n_train, n_valid = int(f_train * n), int(f_valid * n)
    return _arrays(
        perm[:n_train].tolist(),
        perm[n_train : n_train + n_valid].tolist(),
        perm[n_train + n_valid :].tolist(),
    )


def split(
    smiles: Sequence[str], method: str, seed: int = 0, frac=(0.8, 0.1, 0.1)
) -> Split:
    """Split ``smiles`` (valid molecules) with ``method``; returns (train, valid, test) indices.

    The three arrays are sorted, disjoint and together cover ``range(len(smiles))``.  With a
    test share of 0 the test part is empty: what a method's rounding would leave there
    (e.g. the last molecule of ``random``) joins the train part.
    """
    tr, va, te = SPLITS.get(method)(list(smiles), seed, tuple(frac))
    if len(te) and float(frac[2]) == 0:
        tr, te = np.sort(np.concatenate([tr, te])), te[:0]
    return tr, va, te


def scaffold_overlap(
    smiles: Sequence[str], parts: Sequence[Sequence[int]], include_chirality: bool = True
) -> int:
    """Number of scaffolds whose molecules appear in more than one of ``parts``."""
    seen: dict[str, int] = {}
    shared: set[str] = set()
    for p, idx in enumerate(parts):
        for i in np.asarray(idx, dtype=np.int64).tolist():
            try:
                sc = scaffold_of(smiles[i], include_chirality)
            except ScaffoldError:
                sc = f"\x00no-scaffold:{smiles[i]}"
            if seen.setdefault(sc, p) != p:
                shared.add(sc)
    return len(shared)


def make_split(
    dataset: MolDataset, method: str, seed: int = 0, frac=(0.8, 0.1, 0.1)
) -> Split:
    """Split a ``MolDataset``: indices into ``dataset.graphs`` (valid molecules only)."""
    return split(dataset.graphs.smiles, method, seed, frac)


__all__ = [
    "SCAFFOLD_METHODS",
    "SPLITS",
    "ScaffoldError",
    "make_split",
    "murcko_scaffold_mol",
    "scaffold_of",
    "scaffold_overlap",
    "scaffold_sets",
    "split",
]
