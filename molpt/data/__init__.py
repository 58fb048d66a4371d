"""Datasets: catalogue, download, loading of catalogue and custom files, splits."""

from molpt.data.catalogue import (
    DATASETS,
    PAPER_ORDER,
    DatasetSpec,
    benchmark_names,
    corpus_names,
    in_paper_order,
    paper_order_key,
)
from molpt.data.download import (
    DatasetUnavailableError,
    data_root,
    download,
    fetch,
    local_path,
    target_path,
)
from molpt.data.loaders import MolDataset, load_dataset, read_table, resolve_dataset
from molpt.data.splits import (
    SCAFFOLD_METHODS,
    SPLITS,
    make_split,
    scaffold_of,
    scaffold_overlap,
    split,
)

__all__ = [
    "DATASETS",
    "PAPER_ORDER",
    "SCAFFOLD_METHODS",
    "SPLITS",
    "DatasetSpec",
    "DatasetUnavailableError",
    "MolDataset",
    "benchmark_names",
    "corpus_names",
    "data_root",
    "download",
    "fetch",
    "in_paper_order",
    "load_dataset",
    "local_path",
    "make_split",
    "paper_order_key",
    "read_table",
    "resolve_dataset",
    "scaffold_of",
    "scaffold_overlap",
    "split",
    "target_path",
]
