"""Fixtures for the objective tests: small featurized BBBP slices for every featurizer."""

from __future__ import annotations

import pandas as pd
import pytest

from molpt.featurize import GraphSet, featurize_many


@pytest.fixture(scope="session")
def bbbp_smiles(data_dir) -> list[str]:
    """The first 48 BBBP SMILES (real drug-like molecules, a few with stereo and salts)."""
    return pd.read_csv(data_dir / "BBBP.csv", nrows=48)["smiles"].tolist()


@pytest.fixture(scope="session")
def bbbp_graphs(bbbp_smiles) -> dict[str, GraphSet]:
    """{featurizer: GraphSet} of ``bbbp_smiles`` for basic, ogb and rich."""
    return {f: featurize_many(bbbp_smiles, f)[0] for f in ("basic", "ogb", "rich")}
