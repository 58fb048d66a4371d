"""Public featurization API: one SMILES -> ``Data``; many SMILES -> ``GraphSet`` + report."""

from __future__ import annotations

import gc
import logging
import multiprocessing as mp
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from rdkit import RDLogger
from torch_geometric.data import Data

from molpt.featurize.featurizers import (
    Featurizer,
    InvalidSmilesError,
    explain_invalid,
    get_featurizer,
    parse_for_features,
    parse_smiles,
    smiles_problem,
)
from molpt.featurize.graphs import GraphSet

log = logging.getLogger(__name__)

CHUNK = 2048  # molecules per bulk encoding pass / per worker task


@dataclass
class FailedRow:
    row: int
    smiles: str
    reason: str


@dataclass
class FeaturizeReport:
    """What happened to every input row: how many featurized, and each failure."""

    total: int = 0
    failed: list[FailedRow] = field(default_factory=list)

    @property
    def num_valid(self) -> int:
        return self.total - len(self.failed)

    @property
    def num_invalid(self) -> int:
        return len(self.failed)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            [(f.row, f.smiles, f.reason) for f in self.failed], columns=["row", "smiles", "reason"]
        )

    def write_csv(self, path) -> None:
        """Write the failures as CSV (columns row, smiles, reason), atomically."""
        from molpt.utils import atomic_write_text

        atomic_write_text(path, self.to_frame().to_csv(index=False))

    def summary(self) -> str:
        return f"{self.num_valid} valid, {self.num_invalid} invalid of {self.total} molecules"


def featurize(smiles: str, featurizer: str | Featurizer = "basic") -> Data:
    """Featurize one SMILES.

    Returns a ``Data`` with ``x`` (N, F_atom) long, ``edge_index`` (2, E) long (each bond
    twice, i->j then j->i, in RDKit bond order) and ``edge_attr`` (E, F_bond) long.  For the
    dense ``rich`` featurizer ``x`` is (N, 151) float and ``edge_attr`` (E, 14) float.

    Raises:
        InvalidSmilesError: with RDKit's reason, for unparseable or empty input.
    """
    f = get_featurizer(featurizer)
    with _quiet_rdkit():
        mol = parse_smiles(smiles)
    enc = f.encode_mols([mol])
    x = torch.from_numpy(enc.x)
    ea = torch.from_numpy(enc.edge_attr)
    if f.spec.dense:
        x, ea = f.spec.expand_atoms(x), f.spec.expand_bonds(ea)
    return Data(x=x, edge_index=torch.from_numpy(enc.edge_index), edge_attr=ea, smiles=smiles)


def _featurize_chunk(args: tuple[str, int, list]) -> tuple[dict, list[tuple[int, str, str]]]:
    """Worker: featurize a chunk; returns compact arrays and failures (row, smiles, reason)."""
    name, start, smiles = args
    f = get_featurizer(name)

    acc = f.new_accumulator()
    rows, good_smiles, failed = [], [], []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the loop allocates many small objects and no cycles
    try:
        with _quiet_rdkit():
            for k, s in enumerate(smiles):
                row = start + k
                if isinstance(s, str):
                    s = s.strip()
                problem = smiles_problem(s)
                if problem is not None:
                    failed.append((row, "" if s is None else str(s), problem))
                    continue
                mol = parse_for_features(s)
                if mol is None:
                    failed.append((row, s, explain_invalid(s)))
                elif mol.GetNumAtoms() == 0:
                    failed.append((row, s, "molecule has no atoms"))
                else:
                    f.collect(mol, acc, s)
                    rows.append(row)
                    good_smiles.append(s)
        enc = f.finish(acc)
    finally:
        if gc_was_enabled:
            gc.enable()
    arrays = {
        "x": enc.x,
        "edge_index": enc.edge_index,
        "edge_attr": enc.edge_attr,
        "num_nodes": enc.num_nodes,
        "num_edges": enc.num_edges,
        "rows": np.asarray(rows, dtype=np.int64),
        "smiles": good_smiles,
    }
    return arrays, failed


def featurize_many(
    smiles_list: Sequence[str],
    featurizer: str | Featurizer = "basic",
    workers: int = 1,
    progress: bool = False,
) -> tuple[GraphSet, FeaturizeReport]:
    """Featurize many SMILES into a compact ``GraphSet``.

    Never raises for bad molecules: every row that fails is listed in the report with its
    row number (0-based position in ``smiles_list``), SMILES and RDKit's reason, and the
    GraphSet's ``rows`` tensor maps each graph back to its input row.  Surrounding
    whitespace is stripped; whitespace inside a SMILES, or a SMILES longer than
    ``MAX_SMILES_CHARS``, makes the row invalid with that reason.

    Args:
        smiles_list: SMILES strings (``None``/NaN entries are reported as missing).
        featurizer: ``basic``, ``ogb``, ``rich`` or a Featurizer instance.
        workers: parallel processes (1 = in this process).
        progress: show a progress bar on stderr.
    """
    f = get_featurizer(featurizer)
    name = f.name
    smiles_list = list(smiles_list)
    tasks = [(name, s, smiles_list[s : s + CHUNK]) for s in range(0, len(smiles_list), CHUNK)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(smiles_list), desc=f"featurize ({name})", unit="mol", leave=False)
    results = []
    if workers > 1 and len(tasks) > 1:
        fork = "fork" in mp.get_all_start_methods()  # workers inherit the loaded RDKit
        ctx = mp.get_context("fork" if fork else None)
        with ctx.Pool(workers) as pool:
            for res in pool.imap(_featurize_chunk, tasks):
                results.append(res)
                if bar:
                    bar.update(res[0]["rows"].size + len(res[1]))
    else:
        for t in tasks:
            results.append(_featurize_chunk(t))
            if bar:
                bar.update(len(t[2]))
    if bar:
        bar.close()
    report = FeaturizeReport(total=len(smiles_list))
    parts = []
    for arrays, failed in results:
        report.failed.extend(FailedRow(*r) for r in failed)
        if len(arrays["rows"]):
            parts.append(GraphSet.from_arrays(name, **arrays))
    graphs = GraphSet.concat(parts) if parts else GraphSet.empty(name)
    if report.failed:
        log.warning("featurize: %s", report.summary())
    return graphs, report


class _quiet_rdkit:
    """Silence RDKit's C++ error log while we collect reasons ourselves."""

    def __enter__(self):
        RDLogger.DisableLog("rdApp.*")

    def __exit__(self, *exc):
        RDLogger.EnableLog("rdApp.*")
        return False


__all__ = [
    "featurize",
    "featurize_many",
    "FeaturizeReport",
    "FailedRow",
    "InvalidSmilesError",
]
