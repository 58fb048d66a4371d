"""Featurizers: SMILES -> PyTorch Geometric graphs (basic, ogb, rich)."""

from molpt.featurize.api import (
    FailedRow,
    FeaturizeReport,
    featurize,
    featurize_many,
)
from molpt.featurize.featurizers import (
    FEATURIZERS,
    Featurizer,
    InvalidSmilesError,
    get_featurizer,
    parse_smiles,
)
from molpt.featurize.graphs import CorruptCacheError, GraphBatch, GraphSet
from molpt.featurize.vocab import FeatureSpec, get_spec

__all__ = [
    "FEATURIZERS",
    "CorruptCacheError",
    "FailedRow",
    "FeatureSpec",
    "FeaturizeReport",
    "Featurizer",
    "GraphBatch",
    "GraphSet",
    "InvalidSmilesError",
    "featurize",
    "featurize_many",
    "get_featurizer",
    "get_spec",
    "parse_smiles",
]
