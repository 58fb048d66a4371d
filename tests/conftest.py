"""Shared fixtures.

``data_dir``: the read-only shared MoleculeNet copies (``$MOLPT_DATA``, else
``<repo>/../shared/data/moleculenet``, since CI clones the repo beside ``shared/``).
``tmp_cache``: a per-test featurization cache (``$MOLPT_CACHE``).
``fixture_smiles``: ~20 SMILES covering the awkward cases.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (REPO / ".." / "shared" / "data" / "moleculenet").resolve()


def shared_data_dir() -> Path:
    return Path(os.environ.get("MOLPT_DATA") or DEFAULT_DATA)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder with the eleven MoleculeNet files (read-only: never write here)."""
    d = shared_data_dir()
    if not (d / "BBBP.csv").is_file():
        msg = f"shared MoleculeNet data not found at {d} (set MOLPT_DATA)"
        if os.environ.get("CI"):
            pytest.fail(msg)  # in CI a missing data folder is an error, not a skip
        pytest.skip(msg)
    return d


@pytest.fixture(autouse=True, scope="session")
def _molpt_data_env():
    """Every test (and every subprocess it starts) sees the shared data as MOLPT_DATA."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOLPT_DATA", str(shared_data_dir()))
        yield


@pytest.fixture()
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty featurization cache for this test (sets MOLPT_CACHE)."""
    d = tmp_path / "cache"
    monkeypatch.setenv("MOLPT_CACHE", str(d))
    return d


#: (SMILES, valid?) pairs; the invalid ones must be reported, never dropped silently
FIXTURE_SMILES: list[tuple[str, bool]] = [
    ("CCO", True),  # ethanol
    ("CC(=O)O", True),  # acetic acid
    ("c1ccccc1", True),  # benzene (aromatic)
    ("C[C@H](N)C(=O)O", True),  # L-alanine (tetrahedral stereo)
    ("F/C=C/F", True),  # trans double bond (bond directions)
    ("[NH4+]", True),  # charged cation
    ("CC(=O)[O-]", True),  # charged anion
    ("[13CH4]", True),  # isotope
    ("C", True),  # single atom
    ("[Na+].[Cl-]", True),  # disconnected salt, no bonds
    ("*C", True),  # dummy atom
    ("C1CC1", True),  # cyclopropane
    ("O=C1NC(=O)c2ccccc21", True),  # phthalimide
    ("CN1C=NC2=C1C(=O)N(C(=O)N2C)C", True),  # caffeine
    ("[2H]C([2H])([2H])O", True),  # deuterated methanol
    ("C1=CC=CN=C1.Cl", True),  # pyridine hydrochloride
    ("C1CC", False),  # unclosed ring (syntax)
    ("C(C)(C)(C)(C)C", False),  # pentavalent carbon (bad valence)
    ("not a smiles", False),  # garbage
    ("", False),  # empty string
]


@pytest.fixture()
def fixture_smiles() -> list[str]:
    """~20 SMILES: valid, charged, isotopic, single-atom, salt, stereo, dummy and invalid."""
    return [s for s, _ in FIXTURE_SMILES]


@pytest.fixture()
def fixture_valid() -> list[bool]:
    """Whether each ``fixture_smiles`` entry is a valid molecule."""
    return [v for _, v in FIXTURE_SMILES]
