"""The catalogue of published pretrained encoders: data, not code paths.

Each entry says what a released file is (format, encoder and its size, objective, corpus,
paper, licence), where it comes from (``url``), where it lives under the checkpoint root
(``file``, relative) and its sha256 when known (``None`` = unverified).  One importer per
``format`` (:mod:`molpt.published.importers`) turns the file into an ordinary molpt
checkpoint; nothing else in molpt knows about published encoders.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from molpt.registry import Registry

HU2020_PAPER = "Hu et al. 2020, Strategies for Pre-training Graph Neural Networks (ICLR 2020)"
HU2020_LICENCE = "MIT (c) 2020 snap-stanford"
HU2020_RAW = "https://github.com/snap-stanford/pretrain-gnns/raw/master/chem"
ZINC2M = "ZINC15, 2M molecules"
CHEMBL = "ChEMBL, 456k molecules, 1,310 assays"


@dataclass(frozen=True)
class PublishedEncoder:
    """One released encoder file.

    Attributes:
        name: catalogue name, ``<source>/<encoder>_<objective>``.
        format: importer name (``hu2020``).
        encoder: molpt conv name (``gin``, ``gcn``, ``sage``, ``gat``).
        num_layers, hidden_dim: encoder size (checked again against the file on import).
        objective, corpus, paper, licence: provenance shown by ``molpt checkpoints``.
        url: where the file is downloaded from.
        file: path of the file relative to the checkpoint root.
        sha256: hex digest of the file, or None when no checksum is known (unverified).
    """

    name: str
    format: str
    encoder: str
    num_layers: int
    hidden_dim: int
    objective: str
    corpus: str
    paper: str
    licence: str
    url: str
    file: str
    sha256: str | None = None

    @property
    def size(self) -> str:
        return f"{self.num_layers}x{self.hidden_dim}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CATALOGUE: Registry[PublishedEncoder] = Registry("published encoder")


def register(entry: PublishedEncoder) -> PublishedEncoder:
    CATALOGUE.register(entry.name)(entry)
    return entry


# --- Hu et al. 2020: GCN / GraphSAGE / GAT (chem/model_architecture/, sha256 known) -------
_HU_ARCH_SHA256 = {
    "gat_contextpred": "de030068b3cb8b5d2d4da09fd377fac0a111f401904d3806104874e058bc4af8",
    "gat_supervised": "62edee2aaf82c82e24236fe0124d93d975c4cb7b5e01280bc63050c606f64541",
    "gat_supervised_contextpred":
        "ad433c867915b166fbc98154d763eaa83fa53cd60bf3a3b0c2086a0ef7dc684e",
    "gcn_contextpred": "ff1d9c5e5c198b8faf8af576c303808853e3f55a52aed7ae27964e3c8635a81a",
    "gcn_supervised": "8fb73bcce4991d6778e7309474505fcf2e5ff69f5debf166a5e6b91edf3f1493",
    "gcn_supervised_contextpred":
        "49cf0465e623c14fc802cdc67b47cbb78326f43fc7991afe6a14e1ff471755d5",
    "graphsage_contextpred": "63976e7795ae3ab46fc97c40a047ce1c4b13e243c2f8ef9125e78c7fabee9279",
    "graphsage_supervised": "9e2572f66e4e3c6a21b1e897c642b545abc8c6cbab1d56888c37f963b0c6da4b",
    "graphsage_supervised_contextpred":
        "aca7caa7c15a0e478b57d5d2cca84d8bda6d4500614bd96486b84739bff3929b",
}  # fmt: skip
_HU_OBJECTIVES = {
    "contextpred": ("context prediction", ZINC2M),
    "edgepred": ("edge prediction", ZINC2M),
    "infomax": ("infomax", ZINC2M),
    "masking": ("attribute masking", ZINC2M),
    "supervised": ("supervised multi-task", CHEMBL),
    "supervised_contextpred": ("context prediction, then supervised", f"{ZINC2M}; {CHEMBL}"),
    "supervised_edgepred": ("edge prediction, then supervised", f"{ZINC2M}; {CHEMBL}"),
    "supervised_infomax": ("infomax, then supervised", f"{ZINC2M}; {CHEMBL}"),
    "supervised_masking": ("attribute masking, then supervised", f"{ZINC2M}; {CHEMBL}"),
}
_HU_FILE_PREFIX = {"gcn": "gcn", "sage": "graphsage", "gat": "gat"}

for _enc in ("gcn", "sage", "gat"):
    for _obj in ("contextpred", "supervised", "supervised_contextpred"):
        _stem = f"{_HU_FILE_PREFIX[_enc]}_{_obj}"
        register(
            PublishedEncoder(
                name=f"hu2020/{_stem}",
                format="hu2020",
                encoder=_enc,
                num_layers=5,
                hidden_dim=300,
                objective=_HU_OBJECTIVES[_obj][0],
                corpus=_HU_OBJECTIVES[_obj][1],
                paper=HU2020_PAPER,
                licence=HU2020_LICENCE,
                url=f"{HU2020_RAW}/model_architecture/{_stem}.pth",
                file=f"hu2020/{_stem}.pth",
                sha256=_HU_ARCH_SHA256[_stem],
            )
        )

# --- Hu et al. 2020: GIN (chem/model_gin/, the encoders behind Table 1; no checksum) -------
for _obj in _HU_OBJECTIVES:
    register(
        PublishedEncoder(
            name=f"hu2020/gin_{_obj}",
            format="hu2020",
            encoder="gin",
            num_layers=5,
            hidden_dim=300,
            objective=_HU_OBJECTIVES[_obj][0],
            corpus=_HU_OBJECTIVES[_obj][1],
            paper=HU2020_PAPER,
            licence=HU2020_LICENCE,
            url=f"{HU2020_RAW}/model_gin/{_obj}.pth",
            file=f"hu2020/gin_{_obj}.pth",
        )
    )

# --- GraphMAE (Hou et al. 2022), chemistry GIN in Hu's layout -----------------------------
register(
    PublishedEncoder(
        name="graphmae2022/gin_graphmae",
        format="hu2020",
        encoder="gin",
        num_layers=5,
        hidden_dim=300,
        objective="masked graph autoencoder (GraphMAE)",
        corpus=ZINC2M,
        paper="Hou et al. 2022, GraphMAE: Self-Supervised Masked Graph Autoencoders (KDD 2022)",
        licence="MIT (c) 2022 THUDM",
        url="https://github.com/THUDM/GraphMAE/raw/main/chem/init_weights/pretrained.pth",
        file="graphmae2022/gin_graphmae.pth",
    )
)


def get_entry(name: str) -> PublishedEncoder:
    """The catalogue entry ``name`` (KeyError listing the choices)."""
    return CATALOGUE.get(name)


def entries() -> list[PublishedEncoder]:
    return [CATALOGUE.get(n) for n in CATALOGUE.choices()]


__all__ = ["CATALOGUE", "PublishedEncoder", "entries", "get_entry", "register"]
