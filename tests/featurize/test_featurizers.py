"""Featurizers: exact values (basic, rich), identity with OGB, failure reporting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import rdchem

from molpt.featurize import (
    InvalidSmilesError,
    featurize,
    featurize_many,
    get_featurizer,
    get_spec,
)

# ---- basic --------------------------------------------------------------------------------


def test_basic_alanine_exact():
    d = featurize("C[C@H](N)C(=O)O", "basic")
    # [Z-1, chirality]; [C@H] is CHI_TETRAHEDRAL_CCW -> 2
    assert d.x.tolist() == [[5, 0], [5, 2], [6, 0], [5, 0], [7, 0], [7, 0]]
    # bonds in RDKit order 0-1, 1-2, 1-3, 3-4 (double), 3-5; each i->j then j->i
    assert d.edge_index.tolist() == [[0, 1, 1, 2, 1, 3, 3, 4, 3, 5], [1, 0, 2, 1, 3, 1, 4, 3, 5, 3]]
    assert d.edge_attr.tolist() == [[0, 0]] * 6 + [[1, 0], [1, 0]] + [[0, 0]] * 2
    assert d.x.dtype == d.edge_index.dtype == d.edge_attr.dtype == torch.long


def test_basic_bond_direction_and_aromatic():
    up = featurize("F/C=C/F", "basic")  # '/' = ENDUPRIGHT (1)
    assert up.edge_attr.tolist() == [[0, 1], [0, 1], [1, 0], [1, 0], [0, 1], [0, 1]]
    down = featurize("F\\C=C/F", "basic")  # '\' = ENDDOWNRIGHT (2)
    assert down.edge_attr[:2].tolist() == [[0, 2], [0, 2]]
    benzene = featurize("c1ccccc1", "basic")
    assert benzene.edge_attr[:, 0].tolist() == [3] * 12  # aromatic
    assert benzene.edge_index[:, -2:].tolist() == [[5, 0], [0, 5]]  # ring closure bond last


@pytest.mark.parametrize("smiles", ["C", "[13CH4]", "[Na+].[Cl-]"])
def test_basic_no_bonds_shapes(smiles):
    d = featurize(smiles, "basic")
    assert d.edge_index.shape == (2, 0)
    assert d.edge_attr.shape == (0, 2)
    assert d.x.shape[1] == 2


def test_basic_single_atom_and_salt_values():
    assert featurize("C", "basic").x.tolist() == [[5, 0]]
    assert featurize("[13CH4]", "basic").x.tolist() == [[5, 0]]  # isotope ignored
    assert featurize("[Na+].[Cl-]", "basic").x.tolist() == [[10, 0], [16, 0]]


def test_basic_dummy_atom_is_unknown_type():
    assert featurize("*C", "basic").x.tolist() == [[118, 0], [5, 0]]


def test_basic_other_chirality_tags_map_to_chi_other():
    # square planar (a tag newer than Hu et al.'s list) -> CHI_OTHER (3)
    assert featurize("F[Pt@SP1](F)(Cl)Cl", "basic").x[1].tolist() == [77, 3]
    # allene chirality set by hand
    mol = Chem.RWMol(Chem.MolFromSmiles("CC=C=CC"))
    tag = getattr(rdchem.ChiralType, "CHI_ALLENE", rdchem.ChiralType.CHI_OTHER)
    mol.GetAtomWithIdx(2).SetChiralTag(tag)
    enc = get_featurizer("basic").encode_mols([mol])
    assert enc.x[2].tolist() == [5, 3]
    mol.GetAtomWithIdx(2).SetChiralTag(rdchem.ChiralType.CHI_OTHER)
    assert get_featurizer("basic").encode_mols([mol]).x[2].tolist() == [5, 3]


# ---- ogb ----------------------------------------------------------------------------------


def _ogb_molecules(data_dir) -> list[str]:
    bbbp = pd.read_csv(data_dir / "BBBP.csv")["smiles"].tolist()[:1000]
    tox21 = pd.read_csv(data_dir / "tox21.csv.gz")["smiles"].tolist()[:1000]
    clintox = pd.read_csv(data_dir / "clintox.csv.gz")["smiles"].tolist()[:300]
    # every HIV molecule with a metal or an explicit dative bond: RDKit turns some bonds to
    # metals into dative bonds, the case the bond-order shortcut must hand to the exact path
    hiv = pd.read_csv(data_dir / "HIV.csv")["smiles"].tolist()
    metal = [s for s in hiv if any(m in s for m in ("Fe", "Cu", "Co", "Pt", "Sn", "->", "<-"))]
    return bbbp + tox21 + clintox + metal[:300] + TRICKY


#: molecules that probe the featurizers' shortcuts (parse, bond orders, aromatic flags)
TRICKY = [
    "C->[Fe]",
    "N->B",
    "[NH3]->[Cu+2]",
    "CN(=O)=O",  # sanitization rewrites the nitro group with charges
    "O=N(=O)c1ccccc1",
    "C1=CC=CC=C1",  # Kekule input, aromatic output
    "c1ccccc1-c1ccccc1",  # a single bond between aromatic atoms
    "[nH]1cccc1",
    "c1ccc2c(c1)[nH]c1ccccc12",
    "C1CC2=CC=CC=C2C1",
    "[CH2]C",  # radical
    "C#N",
    "[2H]C([2H])([2H])O",
]


def test_ogb_identical_to_smiles2graph(data_dir):
    from ogb.utils import smiles2graph

    smiles = _ogb_molecules(data_dir)
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    expected, usable = [], []
    for s in smiles:
        try:
            g = smiles2graph(s)
        except Exception:  # OGB itself cannot featurize it (invalid SMILES, unknown tags)
            continue
        expected.append(g)
        usable.append(s)
    RDLogger.EnableLog("rdApp.*")
    assert len(usable) >= 2000
    graphs, report = featurize_many(usable, "ogb")
    assert report.num_invalid == 0 and len(graphs) == len(usable)
    for i, g in enumerate(expected):
        d = graphs[i]
        assert np.array_equal(d.x.numpy(), g["node_feat"]), usable[i]
        assert np.array_equal(d.edge_index.numpy(), g["edge_index"]), usable[i]
        assert np.array_equal(d.edge_attr.numpy(), g["edge_feat"]), usable[i]
        assert d.edge_attr.shape == g["edge_feat"].shape


def test_ogb_fixture_molecules_match(fixture_smiles, fixture_valid):
    from ogb.utils import smiles2graph

    for s, ok in zip(fixture_smiles, fixture_valid, strict=True):
        if not ok:
            continue
        g, d = smiles2graph(s), featurize(s, "ogb")
        assert np.array_equal(d.x.numpy(), g["node_feat"]), s
        assert np.array_equal(d.edge_index.numpy(), g["edge_index"]), s
        assert np.array_equal(d.edge_attr.numpy(), g["edge_feat"]), s


# ---- rich ---------------------------------------------------------------------------------
# column offsets of the 151-dim expansion
AROMATIC, MASS, DONOR, ACIDIC, ACCEPTOR, RING5, RING6 = 131, 132, 142, 143, 141, 147, 148


def test_rich_dims_and_acetic_acid():
    d = featurize("CC(=O)O", "rich")
    assert d.x.shape == (4, 151) and d.edge_attr.shape == (6, 14)
    assert d.x.dtype == torch.float32
    x = d.x
    assert x[:, ACIDIC].tolist() == [0, 1, 0, 0]  # carboxyl carbon
    assert x[:, DONOR].tolist() == [0, 0, 0, 1]  # hydroxyl O
    assert x[2, ACCEPTOR] == 1  # carbonyl O
    assert x[0, MASS].item() == pytest.approx(12.011 * 0.01, abs=1e-5)
    assert x[2, MASS].item() == pytest.approx(15.999 * 0.01, abs=1e-5)
    assert x[0, 5].item() == 1 and x[0].sum() > 0  # Z=6 -> one-hot position 5
    # bond block: [none, single, double, triple, aromatic, conj, ring, stereo x7]
    assert d.edge_attr[0, :5].tolist() == [0, 1, 0, 0, 0]
    assert d.edge_attr[2, :5].tolist() == [0, 0, 1, 0, 0]


def test_rich_benzene_ring_flags():
    x = featurize("c1ccccc1", "rich").x
    assert x[:, AROMATIC].tolist() == [1] * 6
    assert x[:, RING6].tolist() == [1] * 6
    assert x[:, RING5].tolist() == [0] * 6
    assert x[:, MASS].tolist() == pytest.approx([0.12011] * 6, abs=1e-5)
    assert get_spec("rich").atom_dense_dim == 151 and get_spec("rich").bond_dense_dim == 14


# ---- failures -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["C1CC", "C(C)(C)(C)(C)C", "not a smiles", "", "   "])
def test_featurize_raises_with_reason(bad):
    with pytest.raises(InvalidSmilesError) as err:
        featurize(bad, "basic")
    assert err.value.reason
    assert err.value.smiles == bad


def test_valence_reason_mentions_valence():
    with pytest.raises(InvalidSmilesError, match="[Vv]alence"):
        featurize("C(C)(C)(C)(C)C")


@pytest.mark.parametrize("name", ["basic", "ogb", "rich"])
def test_featurize_many_reports_every_failure(name, fixture_smiles, fixture_valid):
    graphs, report = featurize_many(fixture_smiles, name)
    bad_rows = [i for i, ok in enumerate(fixture_valid) if not ok]
    assert [f.row for f in report.failed] == bad_rows
    assert [f.smiles for f in report.failed] == [fixture_smiles[i] for i in bad_rows]
    assert all(f.reason for f in report.failed)
    assert len(graphs) + len(report.failed) == report.total == len(fixture_smiles)
    assert graphs.rows.tolist() == [i for i, ok in enumerate(fixture_valid) if ok]
    assert graphs.smiles == [s for s, ok in zip(fixture_smiles, fixture_valid, strict=True) if ok]


def test_featurize_many_missing_values_reported():
    graphs, report = featurize_many(["CCO", None, float("nan"), "C"], "basic")
    assert len(graphs) == 2 and [f.row for f in report.failed] == [1, 2]


def test_workers_give_identical_tensors(data_dir):
    from molpt.featurize import api

    smiles = pd.read_csv(data_dir / "BBBP.csv")["smiles"].tolist()[:700]
    smiles[5] = "C1CC"
    old = api.CHUNK
    api.CHUNK = 128  # several chunks so two workers really split the work
    try:
        g1, r1 = featurize_many(smiles, "ogb", workers=1)
        g2, r2 = featurize_many(smiles, "ogb", workers=2)
    finally:
        api.CHUNK = old
    for attr in ("x", "edge_index", "edge_attr", "node_ptr", "edge_ptr", "rows"):
        assert torch.equal(getattr(g1, attr), getattr(g2, attr)), attr
    assert g1.smiles == g2.smiles
    assert [(f.row, f.smiles) for f in r1.failed] == [(f.row, f.smiles) for f in r2.failed]


@pytest.mark.parametrize("name", ["basic", "ogb", "rich"])
def test_smiles_shortcuts_equal_full_path(name, data_dir):
    """collect() skips getters whose value the SMILES syntax rules out; same output as full."""
    from rdkit import RDLogger

    from molpt.data import DATASETS, local_path, read_table

    smiles = pd.read_csv(data_dir / "tox21.csv.gz")["smiles"].tolist()[:1500]
    smiles += pd.read_csv(data_dir / "clintox.csv.gz")["smiles"].tolist()[:500]
    moses = local_path(DATASETS.get("moses"), data_dir)
    if moses is not None:
        smiles += read_table(moses, limit=500)[0]
    smiles += ["F/C=C/F", "C[C@H](N)C(=O)O", "[CH3]", "[O]", "C[N+](C)(C)C", "CN(=O)=O"]
    smiles += TRICKY
    if name == "rich":
        smiles = smiles[::4]
    RDLogger.DisableLog("rdApp.*")
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    RDLogger.EnableLog("rdApp.*")
    keep = [i for i, m in enumerate(mols) if m is not None]
    f = get_featurizer(name)
    full = f.encode_mols([mols[i] for i in keep])
    fast, report = featurize_many([smiles[i] for i in keep], name)
    assert report.num_invalid == 0
    assert np.array_equal(fast.x.numpy(), full.x)
    assert np.array_equal(fast.edge_index.numpy(), full.edge_index)
    assert np.array_equal(fast.edge_attr.numpy(), full.edge_attr)
    radicals = sum(a.GetNumRadicalElectrons() > 0 for i in keep for a in mols[i].GetAtoms())
    assert name != "ogb" or radicals > 0  # the radical column is really exercised
