"""Compact storage of many molecular graphs and vectorised batching.

A ``GraphSet`` holds a whole featurized dataset as a handful of concatenated tensors
(node features, local edge indices, edge features, per-graph offsets, labels) instead of a
Python list of ``Data`` objects.  Batches are cut out of it by index arithmetic, on the
CPU or directly on the GPU when the tensors live there.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from molpt.featurize.vocab import FeatureSpec, get_spec


@dataclass
class GraphBatch:
    """A batch of graphs in PyG layout.

    Attributes:
        x: (N, F_atom) long atom features.
        edge_index: (2, E) long, global node indices within the batch.
        edge_attr: (E, F_bond) long bond features.
        batch: (N,) long graph id of each node.
        ptr: (B+1,) long node offsets of each graph.
        y: (B, T) float labels with NaN for missing, or None.
        idx: (B,) long row of each graph in its GraphSet.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    batch: torch.Tensor
    ptr: torch.Tensor
    y: torch.Tensor | None = None
    idx: torch.Tensor | None = None

    @property
    def num_graphs(self) -> int:
        return self.ptr.numel() - 1

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> GraphBatch:
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v.to(device, non_blocking=non_blocking) if v is not None else None
        return GraphBatch(**kw)


@dataclass
class GraphSet:
    """Many graphs as concatenated tensors.

    Attributes:
        featurizer: name of the featurizer that made the tensors.
        x: (N_total, F_atom) integer atom features (dtype from the FeatureSpec).
        edge_index: (2, E_total) local node indices (0-based within each graph), int16/int32.
        edge_attr: (E_total, F_bond) integer bond features.
        node_ptr: (G+1,) int64 node offsets.
        edge_ptr: (G+1,) int64 edge offsets.
        y: (G, T) float32 labels (NaN = missing) or None.
        rows: (G,) int64 row number of each graph in the source file.
        smiles: the SMILES of each graph.
    """

    featurizer: str
    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    node_ptr: torch.Tensor
    edge_ptr: torch.Tensor
    rows: torch.Tensor
    smiles: list[str]
    y: torch.Tensor | None = None
    task_names: list[str] = field(default_factory=list)

    # ---- basics ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.node_ptr.numel() - 1

    @property
    def spec(self) -> FeatureSpec:
        return get_spec(self.featurizer)

    @property
    def num_nodes(self) -> torch.Tensor:
        return self.node_ptr[1:] - self.node_ptr[:-1]

    @property
    def num_edges(self) -> torch.Tensor:
        return self.edge_ptr[1:] - self.edge_ptr[:-1]

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device: torch.device | str) -> GraphSet:
        """Move every tensor (e.g. to keep a whole dataset resident on the GPU)."""
        return self._replace(
            x=self.x.to(device),
            edge_index=self.edge_index.to(device),
            edge_attr=self.edge_attr.to(device),
            node_ptr=self.node_ptr.to(device),
            edge_ptr=self.edge_ptr.to(device),
            rows=self.rows.to(device),
            y=self.y.to(device) if self.y is not None else None,
        )

    def _replace(self, **kw) -> GraphSet:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(kw)
        return GraphSet(**d)

    def with_labels(self, y: torch.Tensor | None, task_names: Sequence[str]) -> GraphSet:
        if y is not None and y.shape[0] != len(self):
            raise ValueError(f"labels have {y.shape[0]} rows, graphs {len(self)}")
        return self._replace(y=y, task_names=list(task_names))

    def nbytes(self) -> int:
        ts = [self.x, self.edge_index, self.edge_attr, self.node_ptr, self.edge_ptr, self.rows]
        if self.y is not None:
            ts.append(self.y)
        return sum(t.numel() * t.element_size() for t in ts)

    # ---- selection and batching -------------------------------------------------------
    def _gather(self, idx: torch.Tensor):
        """Node and edge positions of graphs ``idx`` plus new offsets (all vectorised)."""
        idx = idx.to(self.node_ptr.device, torch.long)
        n_start = self.node_ptr[idx]
        n_count = self.node_ptr[idx + 1] - n_start
        e_start = self.edge_ptr[idx]
        e_count = self.edge_ptr[idx + 1] - e_start
        new_nptr = torch.zeros(idx.numel() + 1, dtype=torch.long, device=idx.device)
        torch.cumsum(n_count, 0, out=new_nptr[1:])
        new_eptr = torch.zeros_like(new_nptr)
        torch.cumsum(e_count, 0, out=new_eptr[1:])
        n_tot = int(new_nptr[-1])
        e_tot = int(new_eptr[-1])
        node_pos = torch.arange(n_tot, device=idx.device) + torch.repeat_interleave(
            n_start - new_nptr[:-1], n_count, output_size=n_tot
        )
        edge_pos = torch.arange(e_tot, device=idx.device) + torch.repeat_interleave(
            e_start - new_eptr[:-1], e_count, output_size=e_tot
        )
        return node_pos, edge_pos, n_count, e_count, new_nptr, new_eptr

    def batch(self, idx: torch.Tensor | Sequence[int]) -> GraphBatch:
        """Assemble graphs ``idx`` into one GraphBatch (global edge indices, batch vector)."""
        idx = torch.as_tensor(idx, dtype=torch.long, device=self.node_ptr.device)
        node_pos, edge_pos, n_count, e_count, new_nptr, _ = self._gather(idx)
        b = idx.numel()
        graph_of_node = torch.repeat_interleave(
            torch.arange(b, device=idx.device), n_count, output_size=node_pos.numel()
        )
        graph_of_edge = torch.repeat_interleave(
            torch.arange(b, device=idx.device), e_count, output_size=edge_pos.numel()
        )
        edge_index = self.edge_index[:, edge_pos].long() + new_nptr[graph_of_edge]
        return GraphBatch(
            x=self.x[node_pos].long(),
            edge_index=edge_index,
            edge_attr=self.edge_attr[edge_pos].long(),
            batch=graph_of_node,
            ptr=new_nptr,
            y=self.y[idx] if self.y is not None else None,
            idx=idx,
        )

    def subset(self, idx: torch.Tensor | Sequence[int] | np.ndarray) -> GraphSet:
        """A new GraphSet with graphs ``idx`` (copies; local edge indices stay valid)."""
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        node_pos, edge_pos, _, _, new_nptr, new_eptr = self._gather(idx)
        il = idx.tolist()
        return self._replace(
            x=self.x[node_pos],
            edge_index=self.edge_index[:, edge_pos],
            edge_attr=self.edge_attr[edge_pos],
            node_ptr=new_nptr,
            edge_ptr=new_eptr,
            rows=self.rows[idx],
            smiles=[self.smiles[i] for i in il],
            y=self.y[idx] if self.y is not None else None,
        )

    def __getitem__(self, i: int) -> Data:
        """Graph ``i`` as a PyG ``Data`` (x, edge_index, edge_attr long; y if labelled)."""
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i = i % len(self)
        n0, n1 = int(self.node_ptr[i]), int(self.node_ptr[i + 1])
        e0, e1 = int(self.edge_ptr[i]), int(self.edge_ptr[i + 1])
        d = Data(
            x=self.x[n0:n1].long(),
            edge_index=self.edge_index[:, e0:e1].long(),
            edge_attr=self.edge_attr[e0:e1].long(),
            smiles=self.smiles[i],
        )
        if self.y is not None:
            d.y = self.y[i : i + 1]
        return d

    def iter_batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        indices: torch.Tensor | None = None,
    ) -> Iterator[GraphBatch]:
        """Yield batches; with ``shuffle`` the order comes from ``generator`` (reproducible)."""
        order = indices if indices is not None else torch.arange(len(self))
        if shuffle:
            order = order[torch.randperm(order.numel(), generator=generator)]
        order = order.to(self.node_ptr.device)
        stop = order.numel() - (order.numel() % batch_size if drop_last else 0)
        for s in range(0, stop, batch_size):
            yield self.batch(order[s : s + batch_size])

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def concat(cls, parts: Sequence[GraphSet]) -> GraphSet:
        if not parts:
            raise ValueError("nothing to concatenate")
        f0 = parts[0].featurizer
        if any(p.featurizer != f0 for p in parts):
            raise ValueError("cannot concatenate graphs from different featurizers")
        nptr = [torch.zeros(1, dtype=torch.long)]
        eptr = [torch.zeros(1, dtype=torch.long)]
        n_off = e_off = 0
        for p in parts:
            nptr.append(p.node_ptr[1:] + n_off)
            eptr.append(p.edge_ptr[1:] + e_off)
            n_off += int(p.node_ptr[-1])
            e_off += int(p.edge_ptr[-1])
        ys = [p.y for p in parts]
        y = torch.cat(ys) if all(t is not None for t in ys) else None
        return cls(
            featurizer=f0,
            x=torch.cat([p.x for p in parts]),
            edge_index=torch.cat([p.edge_index for p in parts], dim=1),
            edge_attr=torch.cat([p.edge_attr for p in parts]),
            node_ptr=torch.cat(nptr),
            edge_ptr=torch.cat(eptr),
            rows=torch.cat([p.rows for p in parts]),
            smiles=[s for p in parts for s in p.smiles],
            y=y,
            task_names=parts[0].task_names,
        )

    @classmethod
    def from_arrays(
        cls,
        featurizer: str,
        x: np.ndarray,
        edge_index: np.ndarray,
        edge_attr: np.ndarray,
        num_nodes: np.ndarray,
        num_edges: np.ndarray,
        rows: np.ndarray,
        smiles: list[str],
    ) -> GraphSet:
        spec = get_spec(featurizer)
        nptr = np.zeros(len(num_nodes) + 1, dtype=np.int64)
        np.cumsum(num_nodes, out=nptr[1:])
        eptr = np.zeros(len(num_edges) + 1, dtype=np.int64)
        np.cumsum(num_edges, out=eptr[1:])
        max_nodes = int(num_nodes.max()) if len(num_nodes) else 0
        ei_dtype = torch.int16 if max_nodes < 2**15 else torch.int32
        return cls(
            featurizer=featurizer,
            x=torch.from_numpy(np.ascontiguousarray(x)).to(spec.storage_dtype),
            edge_index=torch.from_numpy(np.ascontiguousarray(edge_index)).to(ei_dtype),
            edge_attr=torch.from_numpy(np.ascontiguousarray(edge_attr)).to(spec.storage_dtype),
            node_ptr=torch.from_numpy(nptr),
            edge_ptr=torch.from_numpy(eptr),
            rows=torch.from_numpy(np.asarray(rows, dtype=np.int64)),
            smiles=list(smiles),
        )

    @classmethod
    def empty(cls, featurizer: str) -> GraphSet:
        spec = get_spec(featurizer)
        return cls.from_arrays(
            featurizer,
            np.zeros((0, spec.num_atom_features), np.int64),
            np.zeros((2, 0), np.int64),
            np.zeros((0, spec.num_bond_features), np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            [],
        )

    # ---- persistence ------------------------------------------------------------------
    def state(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def save(self, path: str | Path, meta: dict | None = None) -> None:
        """Atomic save with a content checksum so truncation/corruption is detected."""
        from molpt.utils import atomic_write_bytes  # removes its temp file on any failure

        buf = io.BytesIO()
        torch.save({"graphs": self.state(), "meta": meta or {}}, buf)
        payload = buf.getvalue()
        digest = hashlib.sha256(payload).hexdigest().encode()
        atomic_write_bytes(path, _MAGIC + digest + b"\n" + payload)

    @classmethod
    def load(cls, path: str | Path) -> tuple[GraphSet, dict]:
        """Load a file written by ``save``; raise CorruptCacheError if it does not verify."""
        raw = Path(path).read_bytes()
        head = len(_MAGIC) + 64 + 1
        if not raw.startswith(_MAGIC) or len(raw) < head:
            raise CorruptCacheError(f"{path}: not a molpt graph file (bad header)")
        digest = raw[len(_MAGIC) : head - 1].decode(errors="replace")
        payload = raw[head:]
        if hashlib.sha256(payload).hexdigest() != digest:
            raise CorruptCacheError(f"{path}: checksum mismatch (truncated or corrupt)")
        obj = torch.load(io.BytesIO(payload), weights_only=True)
        return cls(**obj["graphs"]), obj["meta"]


_MAGIC = b"MOLPTGS1"


class CorruptCacheError(RuntimeError):
    """A cache file that is truncated, corrupt or not a molpt file."""
