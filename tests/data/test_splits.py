"""Splits: partition properties, seeds, and Hu et al.'s scaffold split reproduced exactly."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit.Chem.Scaffolds import MurckoScaffold

from molpt.data import SPLITS, make_split, scaffold_of, scaffold_overlap, split

METHODS = ["scaffold", "random_scaffold", "balanced_scaffold", "random"]
SEEDED = ["random_scaffold", "balanced_scaffold", "random"]


@pytest.mark.parametrize("method", METHODS)
def test_partition_and_sizes(bbbp, method):
    train, valid, test = make_split(bbbp, method, seed=0)
    n = len(bbbp)
    allidx = np.concatenate([train, valid, test])
    assert len(allidx) == n and np.array_equal(np.sort(allidx), np.arange(n))  # disjoint, cover
    for part in (train, valid, test):
        assert part.dtype == np.int64 and np.all(np.diff(part) > 0)
    assert abs(len(train) / n - 0.8) < 0.03
    assert abs(len(valid) / n - 0.1) < 0.03 and abs(len(test) / n - 0.1) < 0.03
    if method != "random":
        assert scaffold_overlap(bbbp.smiles, (train, valid, test)) == 0
        nochiral = scaffold_overlap(bbbp.smiles, (train, valid, test), include_chirality=False)
        assert method != "balanced_scaffold" or nochiral == 0


@pytest.mark.parametrize("method", SEEDED)
def test_seeds(bbbp, method):
    a = make_split(bbbp, method, seed=1)
    b = make_split(bbbp, method, seed=1)
    c = make_split(bbbp, method, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_scaffold_ignores_seed(bbbp):
    a, b = make_split(bbbp, "scaffold", 0), make_split(bbbp, "scaffold", 5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_random_split_leaks_scaffolds(bbbp):
    assert scaffold_overlap(bbbp.smiles, make_split(bbbp, "random", 0)) > 0


def _reference_scaffold_split(smiles: list[str]):
    """PROTOCOL.md, step by step, written independently of molpt."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(smiles):
        sc = MurckoScaffold.MurckoScaffoldSmiles(smiles=s, includeChirality=True)
        groups.setdefault(sc, []).append(i)
    sets = sorted(groups.values(), key=lambda g: (len(g), g[0]), reverse=True)
    n = len(smiles)
    train, valid, test = [], [], []
    for g in sets:
        if len(train) + len(g) <= 0.8 * n:
            train += g
        elif len(train) + len(valid) + len(g) <= 0.9 * n:
            valid += g
        else:
            test += g
    return sorted(train), sorted(valid), sorted(test)


def test_scaffold_matches_protocol_reference(bbbp):
    ours = split(bbbp.smiles, "scaffold")
    ref = _reference_scaffold_split(bbbp.smiles)
    for a, b in zip(ours, ref, strict=True):
        assert a.tolist() == b
    assert [len(p) for p in ours] == [1631, 204, 204]


def test_acyclic_molecules_share_the_empty_scaffold():
    assert scaffold_of("CCO") == "" == scaffold_of("CCCCN")
    assert scaffold_of("Cc1ccccc1") == "c1ccccc1"
    smiles = ["CCO", "CCN", "CCC", "c1ccccc1C", "c1ccccc1O", "C1CC1", "C1CCC1", "CC1CC1",
              "OC1CCC1", "c1ccncc1"]  # fmt: skip
    tr, va, te = split(smiles, "scaffold")
    assert set(tr) >= {0, 1, 2}  # the biggest set (acyclic) goes first into train


def test_tiny_random_split_and_bad_inputs():
    smiles = ["C"] * 10
    tr, va, te = split(smiles, "random", seed=3)
    assert (len(tr), len(va), len(te)) == (8, 1, 1)
    with pytest.raises(KeyError, match="choose one of"):
        split(smiles, "nope")
    with pytest.raises(ValueError, match="fractions"):
        split(smiles, "random", frac=(0.5, 0.1, 0.1))
    with pytest.raises(ValueError, match="invalid SMILES"):
        split(["C1CC"], "scaffold")
    assert set(SPLITS.choices()) == set(METHODS)


@pytest.mark.parametrize("method", sorted(SPLITS.choices()))
def test_zero_test_share_leaves_no_test_part(method):
    """(0.9, 0.1, 0): what rounding would leave in test joins train (sklearn's fit split)."""
    smiles = ["c1ccccc1" + "C" * (i % 7) + "O" * (i % 3) for i in range(23)] + ["CCO", "CC"]
    tr, va, te = split(smiles, method, seed=1, frac=(0.9, 0.1, 0.0))
    assert len(te) == 0
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(25))


def test_finetune_config_checks_split_frac():
    from molpt.train.finetune import FinetuneConfig

    FinetuneConfig(dataset="bbbp", split_frac=(0.9, 0.1, 0.0)).validate()
    for bad in [(0.9, 0.0, 0.1), (0.5, 0.1, 0.1), (1.0, 0.1, -0.1)]:
        with pytest.raises(ValueError, match="split_frac"):
            FinetuneConfig(dataset="bbbp", split_frac=bad).validate()
