"""Published reference numbers (test ROC-AUC, %, mean over seeds) to set beside molpt's.

Sources (transcribed in the project's PROTOCOL.md; rows marked unverified there come from
secondary sources and are targets to check, not ground truth):

* ``HU2020``: Hu et al. 2020, "Strategies for Pre-training Graph Neural Networks", Table 1:
  GIN 5x300, scaffold split, basic features, full fine-tuning 100 epochs, 10 seeds.
* ``SUN2022``: Sun, Dai, Yu 2022, "Does GNN Pretraining Help Molecular Representation?",
  no-pretraining row per feature set and split (GIN, 100 epochs).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    source: str
    method: str  # molpt method family: none, attrmask, contextpred
    featurizer: str
    split: str
    values: dict[str, float]  # dataset -> ROC-AUC %
    verified: bool = True


_HU = "Hu et al. 2020, Table 1"
_SUN = "Sun et al. 2022"

HU2020 = [
    Reference(_HU, "none", "basic", "scaffold",
              dict(bbbp=65.8, tox21=74.0, toxcast=63.4, sider=57.3, clintox=58.0, muv=71.8,
                   hiv=75.3, bace=70.1), verified=False),
    Reference(_HU, "attrmask", "basic", "scaffold",
              dict(bbbp=64.3, tox21=76.7, toxcast=64.2, sider=61.0, clintox=71.8, muv=74.7,
                   hiv=77.2, bace=79.3)),
    Reference(_HU, "contextpred", "basic", "scaffold",
              dict(bbbp=68.0, tox21=75.7, toxcast=63.9, sider=60.9, clintox=65.9, muv=75.8,
                   hiv=77.3, bace=79.6), verified=False),
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


def method_family(method: str) -> str | None:
    """Map a molpt method (checkpoint) name to a published row family, if any."""
    m = method.lower()
    if m == "none":
        return "none"
    for fam in ("attrmask", "contextpred"):
        if fam in m.replace("_", "").replace("-", ""):
            return fam
    return None


def lookup(method: str, featurizer: str, split: str, dataset: str) -> list[tuple[Reference, float]]:
    """Published values matching a molpt setting (full fine-tuning assumed by the caller)."""
    fam = method_family(method)
    if fam is None:
        return []
    return [
        (r, r.values[dataset])
        for r in REFERENCES
        if r.method == fam and r.featurizer == featurizer and r.split == split
        and dataset in r.values
    ]  # fmt: skip


__all__ = ["HU2020", "REFERENCES", "SUN2022", "Reference", "lookup", "method_family"]
