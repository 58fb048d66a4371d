"""Dataset catalogue: one ``DatasetSpec`` per known dataset, in the ``DATASETS`` registry.

The eleven MoleculeNet benchmark sets of Hu et al. (2020) and Sun et al. (2022), plus two
SMILES-only pretraining corpora (``moses``, the local stand-in, and ``zinc2m``, Hu et al.'s
ZINC15 2M ``zinc_standard_agent``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from molpt.registry import Registry

MOLECULENET_URL = "https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/{}"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives and how to read it.

    Attributes:
        name: catalogue name (``bbbp``) or, for a custom file, its stem.
        file_name: canonical file name under the dataset root.
        url: download location (None: the file must be provided by hand).
        smiles_col: SMILES column name (None for a header-less SMILES-only file).
        task_cols: label columns; None = every column except the SMILES column; ``[]`` for
            SMILES-only corpora.
        task_type: ``classification``, ``regression`` or None (no labels).
        metric: ``roc_auc``, ``rmse`` or None.
        rows: number of data rows of the canonical local copy (0 if unknown).
        description: one line for ``molpt datasets``.
        kind: ``benchmark`` (labelled), ``pretrain`` (SMILES-only corpus) or ``custom``.
        header: whether the file has a header line.
        download_name: name of the downloaded file when it differs from ``file_name``
            (an archive); ``archive_member`` is then the member to extract.
        archive_member: path of the data file inside the downloaded archive.
    """

    name: str
    file_name: str
    url: str | None
    smiles_col: str | None
    task_cols: list[str] | None
    task_type: str | None
    metric: str | None
    rows: int = 0
    description: str = ""
    kind: str = "benchmark"
    header: bool = True
    download_name: str | None = None
    archive_member: str | None = None
    notes: dict = field(default_factory=dict)

    @property
    def is_pretrain(self) -> bool:
        return self.kind == "pretrain"

    @property
    def num_tasks(self) -> int | None:
        """Number of tasks when the spec lists them, else None (decided by the file)."""
        return None if self.task_cols is None else len(self.task_cols)


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def _add(spec: DatasetSpec) -> DatasetSpec:
    DATASETS.register(spec.name)(spec)
    return spec


def _mnet(name, file_name, smiles_col, task_cols, task_type, rows, description) -> DatasetSpec:
    metric = "roc_auc" if task_type == "classification" else "rmse"
    return _add(
        DatasetSpec(
            name=name,
            file_name=file_name,
            url=MOLECULENET_URL.format(file_name),
            smiles_col=smiles_col,
            task_cols=task_cols,
            task_type=task_type,
            metric=metric,
            rows=rows,
            description=description,
        )
    )


_TOX21 = [
    "NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD", "NR-PPAR-gamma",
    "SR-ARE", "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53",
]  # fmt: skip
_MUV = [
    "MUV-466", "MUV-548", "MUV-600", "MUV-644", "MUV-652", "MUV-689", "MUV-692", "MUV-712",
    "MUV-713", "MUV-733", "MUV-737", "MUV-810", "MUV-832", "MUV-846", "MUV-852", "MUV-858",
    "MUV-859",
]  # fmt: skip

C, R = "classification", "regression"
_mnet("bbbp", "BBBP.csv", "smiles", ["p_np"], C, 2039, "blood-brain barrier penetration")
_mnet("tox21", "tox21.csv.gz", "smiles", _TOX21, C, 7831, "Tox21 toxicity, 12 assays")
_mnet("toxcast", "toxcast_data.csv.gz", "smiles", None, C, 8576, "ToxCast, 617 assays")
_mnet("sider", "sider.csv.gz", "smiles", None, C, 1427, "side effects, 27 organ classes")
_mnet("clintox", "clintox.csv.gz", "smiles", ["FDA_APPROVED", "CT_TOX"], C, 1478,
      "FDA approval and clinical-trial toxicity")  # fmt: skip
_mnet("muv", "muv.csv.gz", "smiles", _MUV, C, 93087, "maximum unbiased validation, 17 assays")
_mnet("hiv", "HIV.csv", "smiles", ["HIV_active"], C, 41127, "HIV replication inhibition")
_mnet("bace", "bace.csv", "mol", ["Class"], C, 1513, "BACE-1 inhibition")
_mnet("esol", "delaney-processed.csv", "smiles", ["measured log solubility in mols per litre"],
      R, 1128, "aqueous solubility (log mol/L)")  # fmt: skip
_mnet("freesolv", "SAMPL.csv", "smiles", ["expt"], R, 642, "hydration free energy (kcal/mol)")
_mnet("lipo", "Lipophilicity.csv", "smiles", ["exp"], R, 4200, "octanol/water logD at pH 7.4")

_add(
    DatasetSpec(
        name="moses",
        file_name="moses_train.csv.gz",
        url=None,
        smiles_col="SMILES",
        task_cols=[],
        task_type=None,
        metric=None,
        rows=1584663,
        description="MOSES train split (ZINC Clean Leads); local stand-in for zinc2m",
        kind="pretrain",
        notes={
            "manual": "the file ships in the molsets 0.3.1 wheel on PyPI as "
            "moses/dataset/data/train.csv.gz; copy it to this name"
        },
    )
)
_add(
    DatasetSpec(
        name="zinc2m",
        file_name="zinc_standard_agent.smiles.csv",
        url="https://snap.stanford.edu/gnn-pretrain/data/chem_dataset.zip",
        smiles_col=None,
        task_cols=[],
        task_type=None,
        metric=None,
        rows=2000000,
        description="ZINC15 2M (Hu et al. zinc_standard_agent), SMILES only",
        kind="pretrain",
        header=False,
        download_name="chem_dataset.zip",
        archive_member="dataset/zinc_standard_agent/processed/smiles.csv",
    )
)


#: the benchmark sets in the papers' order (Hu et al. 2020, Table 1; Sun et al. 2022): the
#: eight classification sets, then the regression sets.  Every table and figure lists datasets
#: in this order (:func:`in_paper_order`).
PAPER_ORDER: tuple[str, ...] = ("bbbp", "tox21", "toxcast", "sider", "clintox", "muv", "hiv",
                                "bace", "esol", "freesolv", "lipo")  # fmt: skip


def paper_order_key(name: str) -> tuple[int, str]:
    """Sort key of a dataset name: its place in :data:`PAPER_ORDER` (case-insensitive), other
    datasets (custom files) after them by name."""
    low = str(name).lower()
    return (PAPER_ORDER.index(low), "") if low in PAPER_ORDER else (len(PAPER_ORDER), low)


def in_paper_order(names) -> list[str]:
    """The distinct dataset names of ``names`` (any iterable), in the papers' order."""
    return sorted(dict.fromkeys(names), key=paper_order_key)


def benchmark_names() -> list[str]:
    """The labelled benchmark datasets, in catalogue order."""
    return [n for n, s in DATASETS._items.items() if s.kind == "benchmark"]


def corpus_names() -> list[str]:
    """The SMILES-only pretraining corpora, in catalogue order."""
    return [n for n, s in DATASETS._items.items() if s.kind == "pretrain"]


__all__ = [
    "DATASETS",
    "MOLECULENET_URL",
    "PAPER_ORDER",
    "DatasetSpec",
    "benchmark_names",
    "corpus_names",
    "in_paper_order",
    "paper_order_key",
]
