"""Several model folders scored as one: stacked members, mean / std, intervals, domain.

Members that share an architecture run as one ``StackedModel`` (the fused model training
uses), through the evaluation training uses (``molpt.train.group.predict_parts``) and the
same output transform (sigmoid, or ``raw * std + mean``), so on a CPU a member predicts a
molecule bit-identically to the epoch its weights come from.  Members must agree on task
names, task type and featurizer (one line says which differs).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from molpt.featurize.graphs import GraphSet
from molpt.nn.stacked import StackedModel
from molpt.predict.conformal import conformal_halfwidth
from molpt.predict.domain import Domain
from molpt.predict.model import ModelFolder
from molpt.train.device import resolve_device
from molpt.train.finetune import batched_matmul
from molpt.train.group import predict_parts

log = logging.getLogger(__name__)

#: the columns every prediction table ends with (before ``status``)
DOMAIN_COLUMNS = ("nn_similarity", "nn_train_row", "nn_train_smiles", "in_domain")


class MembersDisagree(ValueError):
    """Model folders that cannot form one ensemble (one-line message)."""


def _show(v: Any) -> str:
    if isinstance(v, dict):  # a featurizer record
        return f"{v.get('name')} (version {v.get('version')})"
    return ", ".join(map(str, v)) if isinstance(v, list) else str(v)


def check_members(members: Sequence[ModelFolder]) -> None:
    """Raise :class:`MembersDisagree` naming what differs between two members."""
    if not members:
        raise MembersDisagree("no model folders given")
    a = members[0]
    for b in members[1:]:
        for what, fa, fb in (
            ("task type", a.task_type, b.task_type),
            ("tasks", a.task_names, b.task_names),
            ("featurizer", a.manifest["featurizer"], b.manifest["featurizer"]),
        ):
            if fa != fb:
                raise MembersDisagree(
                    f"the models differ in {what}: {a.path} has {_show(fa)}, {b.path} has "
                    f"{_show(fb)}; an ensemble needs the same {what}"
                )


def member_labels(members: Sequence[ModelFolder]) -> list[str]:
    """Short distinct names for the members (their folder names, numbered on clashes)."""
    names = [m.name or str(i) for i, m in enumerate(members)]
    if len(set(names)) == len(names):
        return names
    return [f"m{i}" for i in range(len(members))]


class Ensemble:
    """Model folders as one predictor (a single folder is an ensemble of one).

    Attributes:
        members: the model folders.
        task_names, task_type, featurizer: shared by every member.
        domain: the union of the members' training molecules (``molpt.predict.domain``).
    """

    def __init__(self, members: Sequence[ModelFolder], device: str = "cpu",
                 eval_batch_size: int = 2048) -> None:  # fmt: skip
        members = list(members)
        check_members(members)
        self.members = members
        self.labels = member_labels(members)
        self.task_names = members[0].task_names
        self.task_type = members[0].task_type
        self.featurizer = members[0].featurizer
        self.device = resolve_device(device)
        self.eval_batch_size = eval_batch_size
        self.domain = Domain.of_members(members)
        # members of one architecture and precision run as one stacked model
        groups: dict[tuple[str, bool], list[int]] = {}
        for i, m in enumerate(members):
            key = (json.dumps(m.manifest["model"], sort_keys=True), m.bf16)
            groups.setdefault(key, []).append(i)
        self._stacks: list[tuple[list[int], StackedModel, bool]] = []
        for (_, bf16), idx in groups.items():
            stacked = StackedModel.from_models([members[i].build() for i in idx])
            stacked.set_matmul(batched_matmul("auto", self.device, bf16))
            self._stacks.append((idx, stacked.to(self.device).eval(), bf16))
        self._scale: list[tuple[torch.Tensor, torch.Tensor] | None] = []
        for m in members:
            sc = m.manifest.get("target_scaling")
            if self.task_type == "regression" and sc:
                self._scale.append((torch.tensor(sc["mean"], dtype=torch.float32),
                                    torch.tensor(sc["std"], dtype=torch.float32)))  # fmt: skip
            else:
                self._scale.append(None)

    def __len__(self) -> int:
        return len(self.members)

    def _to_output(self, k: int, raw: torch.Tensor) -> np.ndarray:
        """Fine-tuning's transform (``_Run.to_output``): probabilities or original units."""
        raw = raw.float()
        if self.task_type == "classification":
            return torch.sigmoid(raw).cpu().numpy()
        sc = self._scale[k]
        if sc is None:
            return raw.cpu().numpy()
        mean, std = sc
        return (raw * std.to(raw.device) + mean.to(raw.device)).cpu().numpy()

    @torch.no_grad()
    def predict_graphs(self, graphs: GraphSet) -> np.ndarray:
        """Every member's outputs for every graph: (M, G, T) float32."""
        M, G, T = len(self.members), len(graphs), len(self.task_names)
        out = np.full((M, G, T), np.nan, dtype=np.float32)
        if G == 0:
            return out
        g = graphs.to(self.device)
        every = torch.arange(G, device=self.device)
        for idx, stacked, bf16 in self._stacks:
            raws = predict_parts(stacked, g, [every] * len(idx), self.eval_batch_size, bf16)
            for k, raw in zip(idx, raws, strict=True):
                out[k] = self._to_output(k, raw)
        return out

    def halfwidths(self, level: float) -> np.ndarray:
        """Split-conformal half-widths (M, T) at ``level`` (regression only)."""
        if self.task_type != "regression":
            raise ValueError("prediction intervals are for regression models; these models "
                             "are classifiers (their outputs are probabilities)")  # fmt: skip
        out = np.full((len(self.members), len(self.task_names)), np.inf)
        for k, m in enumerate(self.members):
            res = (m.manifest.get("conformal") or {}).get("residuals") or {}
            for t, name in enumerate(self.task_names):
                out[k, t] = conformal_halfwidth(res.get(name, []), level)
        return out

    def output_columns(self, interval: float | None, individual: bool) -> list[str]:
        """The prediction columns in output order (before the domain columns)."""
        cols: list[str] = []
        for t in self.task_names:
            cols += [t, f"{t}_std"]
            if interval is not None:
                cols += [f"{t}_lower", f"{t}_upper"]
            if individual:
                cols += [f"{t}@{lab}" for lab in self.labels]
        return cols + list(DOMAIN_COLUMNS)

    def table(
        self,
        n_rows: int,
        graphs: GraphSet,
        fingerprints: np.ndarray,
        failed: dict[int, str],
        interval: float | None = None,
        individual: bool = False,
    ) -> pd.DataFrame:
        """The prediction columns plus ``status`` for ``n_rows`` input rows (index 0..n-1).

        Args:
            graphs: the rows that featurized (``graphs.rows``: their positions in 0..n-1).
            fingerprints: (G, 256) packed fingerprints of those graphs, in graph order.
            failed: position -> reason for the rows that did not featurize.
            interval: conformal level (regression), or None.
            individual: add each member's column ``<task>@<member>``.

        The ensemble value of a task is the members' mean; ``<task>_std`` their standard
        deviation (ddof 0: 0 for one member); the interval is the mean ± the members'
        mean conformal half-width (split-conformal exactly for one member).
        """
        preds = self.predict_graphs(graphs)  # (M, G, T)
        pos = graphs.rows.cpu().numpy()
        cols: dict[str, Any] = {}
        T = len(self.task_names)
        mean = preds.astype(np.float64).mean(0) if len(graphs) else np.zeros((0, T))
        std = preds.astype(np.float64).std(0) if len(graphs) else np.zeros((0, T))
        half = self.halfwidths(interval).mean(0) if interval is not None else None

        def full(values: np.ndarray) -> np.ndarray:
            col = np.full(n_rows, np.nan)
            col[pos] = values
            return col

        for t, name in enumerate(self.task_names):
            cols[name] = full(mean[:, t])
            cols[f"{name}_std"] = full(std[:, t])
            if half is not None:
                cols[f"{name}_lower"] = full(mean[:, t] - half[t])
                cols[f"{name}_upper"] = full(mean[:, t] + half[t])
            if individual:
                for k, lab in enumerate(self.labels):
                    cols[f"{name}@{lab}"] = full(preds[k, :, t].astype(np.float64))
        sim, nn, ok = self.domain.query(fingerprints)
        sim_col = np.full(n_rows, np.nan)
        sim_col[pos] = sim
        cols["nn_similarity"] = sim_col
        rows = pd.array([pd.NA] * n_rows, dtype="Int64")
        smi = np.full(n_rows, None, dtype=object)
        dom = pd.array([pd.NA] * n_rows, dtype="boolean")
        if len(pos) and len(self.domain.rows):
            rows[pos] = self.domain.rows[nn]
            smi[pos] = [self.domain.smiles[i] for i in nn.tolist()]
            dom[pos] = ok
        cols["nn_train_row"] = rows
        cols["nn_train_smiles"] = smi
        cols["in_domain"] = dom
        status = np.full(n_rows, "ok", dtype=object)
        for p, reason in failed.items():
            status[p] = reason
        cols["status"] = status
        return pd.DataFrame(cols)


__all__ = ["DOMAIN_COLUMNS", "Ensemble", "MembersDisagree", "check_members", "member_labels"]
