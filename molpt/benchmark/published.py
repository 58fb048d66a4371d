"""Published reference numbers (test ROC-AUC, %, mean over seeds) to set beside molpt's.

Sources (transcribed in the project's PROTOCOL.md; rows marked unverified there come from
secondary sources and are targets to check, not ground truth):

* ``HU2020``: Hu et al. 2020, "Strategies for Pre-training Graph Neural Networks", Table 1:
  GIN 5x300, scaffold split, basic features, full fine-tuning 100 epochs, 10 seeds; and
  Table 2 (GCN / GraphSAGE / GAT, not pretrained vs Supervised + ContextPred): only the
  average over the eight chemistry sets is published there (``average`` without ``values``).
* ``SUN2022``: Sun, Dai, Yu 2022, "Does GNN Pretraining Help Molecular Representation?",
  no-pretraining row per feature set and split (GIN, 100 epochs).

Method names are matched by *family* and *architecture*: ``none``, ``none-gcn5x300``,
``attrmask``, ``hu2020/gcn_supervised_contextpred``, ``gin_contextpred`` ... (see
``parse_method``).  Hu's other GIN rows (Infomax, EdgePred, Supervised, and Supervised + each
self-supervised objective) are not transcribed in PROTOCOL.md and are therefore not listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from molpt.data.catalogue import PAPER_ORDER

#: the eight chemistry sets of Hu et al.'s Table 1, in the paper's column order
HU_DATASETS: tuple[str, ...] = PAPER_ORDER[:8]


@dataclass(frozen=True)
class Reference:
    """One published row.

    ``values``: dataset -> ROC-AUC % (may be empty when only an average is published).
    ``average``: the published average over ``average_over`` (as printed in the paper).
    """

    source: str
    method: str  # family: none, attrmask, contextpred, supervised, supervised_contextpred
    featurizer: str
    split: str
    values: dict[str, float] = field(default_factory=dict)
    verified: bool = True
    encoder: str = "gin"
    average: float | None = None
    average_over: tuple[str, ...] = ()

    def average_of(self, datasets: list[str] | tuple[str, ...]) -> float | None:
        """Mean of the per-dataset values over exactly ``datasets``; None if one is unknown.

        The printed average is returned when ``datasets`` is exactly ``average_over``.
        """
        ds = tuple(datasets)
        if not ds:
            return None
        if self.average is not None and set(ds) == set(self.average_over):
            return self.average
        if all(d in self.values for d in ds):
            return round(sum(self.values[d] for d in ds) / len(ds), 3)
        return None

    @property
    def label(self) -> str:
        return f"{self.source} ({self.encoder}, {self.method.replace('_', ' + ')})"


_HU = "Hu et al. 2020, Table 1"
_HU2 = "Hu et al. 2020, Table 2"
_SUN = "Sun et al. 2022"

HU2020 = [
    Reference(_HU, "none", "basic", "scaffold",
              dict(bbbp=65.8, tox21=74.0, toxcast=63.4, sider=57.3, clintox=58.0, muv=71.8,
                   hiv=75.3, bace=70.1), verified=False, average=67.0,
              average_over=HU_DATASETS),
    Reference(_HU, "attrmask", "basic", "scaffold",
              dict(bbbp=64.3, tox21=76.7, toxcast=64.2, sider=61.0, clintox=71.8, muv=74.7,
                   hiv=77.2, bace=79.3), average=71.1, average_over=HU_DATASETS),
    Reference(_HU, "contextpred", "basic", "scaffold",
              dict(bbbp=68.0, tox21=75.7, toxcast=63.9, sider=60.9, clintox=65.9, muv=75.8,
                   hiv=77.3, bace=79.6), verified=False, average=70.9,
              average_over=HU_DATASETS),
    Reference(_HU, "supervised_contextpred", "basic", "scaffold",
              dict(bbbp=68.7, tox21=78.1, toxcast=65.7, sider=62.7, clintox=72.6, muv=81.3,
                   hiv=79.9, bace=84.5), average=74.2, average_over=HU_DATASETS),
    # Table 2: other encoders, 8-set averages only; decimals unverified (PROTOCOL.md)
    Reference(_HU2, "none", "basic", "scaffold", encoder="gcn", average=68.9,
              average_over=HU_DATASETS, verified=False),
    Reference(_HU2, "supervised_contextpred", "basic", "scaffold", encoder="gcn",
              average=72.2, average_over=HU_DATASETS, verified=False),
    Reference(_HU2, "none", "basic", "scaffold", encoder="sage", average=68.3,
              average_over=HU_DATASETS, verified=False),
    Reference(_HU2, "supervised_contextpred", "basic", "scaffold", encoder="sage",
              average=70.3, average_over=HU_DATASETS, verified=False),
    Reference(_HU2, "none", "basic", "scaffold", encoder="gat", average=66.8,
              average_over=HU_DATASETS, verified=False),
    Reference(_HU2, "supervised_contextpred", "basic", "scaffold", encoder="gat",
              average=60.3, average_over=HU_DATASETS, verified=False),
]  # fmt: skip

SUN2022 = [
    Reference(_SUN, "none", "basic", "scaffold",
              dict(bbbp=69.62, bace=75.77, tox21=75.52, toxcast=63.67, sider=59.07)),
    Reference(_SUN, "none", "basic", "balanced_scaffold",
              dict(bbbp=91.46, bace=84.29, tox21=78.35, toxcast=68.31, sider=61.15)),
    Reference(_SUN, "none", "rich", "scaffold",
              dict(bbbp=74.83, bace=80.10, tox21=75.86, toxcast=65.95, sider=62.30)),
    Reference(_SUN, "none", "rich", "balanced_scaffold",
              dict(bbbp=92.23, bace=87.43, tox21=79.20, toxcast=69.13, sider=61.92)),
]  # fmt: skip

REFERENCES = HU2020 + SUN2022

_ARCH_ALIASES = {"gin": "gin", "gcn": "gcn", "sage": "sage", "graphsage": "sage", "gat": "gat"}
# checked in this order: the combined supervised + X names before their parts
_FAMILIES = [
    ("supervised_contextpred", ("supervisedcontextpred", "supcontextpred", "supervisedcp")),
    ("supervised_attrmask", ("supervisedattrmask", "supervisedmasking")),
    ("supervised_infomax", ("supervisedinfomax",)),
    ("supervised_edgepred", ("supervisededgepred",)),
    ("attrmask", ("attrmask", "attrmasking", "masking")),
    ("contextpred", ("contextpred",)),
    ("infomax", ("infomax",)),
    ("edgepred", ("edgepred",)),
    ("supervised", ("supervised",)),
]


def normalise_encoder(name: str | None) -> str | None:
    """``graphsage`` -> ``sage``; unknown names are returned lower-cased."""
    if name is None or name != name:  # None or NaN
        return None
    n = str(name).lower()
    return _ARCH_ALIASES.get(n, n)


def parse_method(method: str, encoder: str | None = None) -> tuple[str | None, str | None]:
    """(family, architecture) of a molpt method name, or (None, encoder) when unknown.

    Handles catalogue names (``hu2020/gcn_supervised_contextpred``: the part before ``/`` is
    the source), random-init twins (``none``, ``none-gcn5x300``, ``none_sage``) and plain
    objective names (``attrmask``, ``contextpred_moses``).  The architecture comes from the
    name when it says one, else from ``encoder`` (the row's encoder column).
    """
    m = str(method).strip().lower()
    base = m.rsplit("/", 1)[-1]
    arch = normalise_encoder(encoder)
    twin = re.fullmatch(r"none(?:[-_]([a-z]+?)(?:\d+x\d+)?)?", base)
    if twin:
        if twin.group(1):
            arch = normalise_encoder(twin.group(1))
        return "none", arch
    tokens = re.split(r"[-_.+]", base)
    if tokens and tokens[0] in _ARCH_ALIASES:
        arch = _ARCH_ALIASES[tokens[0]]
        tokens = tokens[1:]
    squashed = "".join(tokens)
    for fam, needles in _FAMILIES:
        if any(n in squashed for n in needles):
            return fam, arch
    return None, arch


def method_family(method: str) -> str | None:
    """Published row family of a method name (see ``parse_method``)."""
    return parse_method(method)[0]


def references_for(method: str, featurizer: str, split: str,
                   encoder: str | None = "gin") -> list[Reference]:  # fmt: skip
    """Published rows for a molpt setting (full fine-tuning assumed by the caller)."""
    fam, arch = parse_method(method, encoder)
    if fam is None:
        return []
    arch = arch or "gin"
    return [r for r in REFERENCES
            if r.method == fam and r.encoder == arch and r.featurizer == featurizer
            and r.split == split]  # fmt: skip


def lookup(method: str, featurizer: str, split: str, dataset: str,
           encoder: str | None = "gin") -> list[tuple[Reference, float]]:  # fmt: skip
    """Published per-dataset values matching a molpt setting."""
    return [(r, r.values[dataset]) for r in references_for(method, featurizer, split, encoder)
            if dataset in r.values]  # fmt: skip


__all__ = [
    "HU2020",
    "HU_DATASETS",
    "REFERENCES",
    "SUN2022",
    "Reference",
    "lookup",
    "method_family",
    "normalise_encoder",
    "parse_method",
    "references_for",
]
