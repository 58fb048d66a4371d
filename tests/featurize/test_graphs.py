"""GraphSet: batching equals PyG, subset, persistence, corruption detection."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from molpt.featurize import CorruptCacheError, GraphSet, featurize, featurize_many


@pytest.fixture()
def graphs(fixture_smiles) -> GraphSet:
    g, _ = featurize_many(fixture_smiles, "ogb")
    y = torch.arange(len(g) * 2, dtype=torch.float32).reshape(-1, 2)
    y[0, 1] = float("nan")
    return g.with_labels(y, ["a", "b"])


def test_batch_equals_pyg(graphs):
    idx = [3, 0, 9, 8, 12]  # includes a bond-less salt and a single atom
    ours = graphs.batch(idx)
    ref = Batch.from_data_list([graphs[i] for i in idx])
    assert torch.equal(ours.x, ref.x)
    assert torch.equal(ours.edge_index, ref.edge_index)
    assert torch.equal(ours.edge_attr, ref.edge_attr)
    assert torch.equal(ours.batch, ref.batch)
    assert torch.equal(ours.ptr, ref.ptr)
    assert torch.allclose(ours.y, graphs.y[idx], equal_nan=True)


def test_getitem_matches_featurize(graphs, fixture_smiles):
    d = featurize(graphs.smiles[4], "ogb")
    assert torch.equal(graphs[4].x, d.x)
    assert torch.equal(graphs[4].edge_index, d.edge_index)
    assert torch.equal(graphs[4].edge_attr, d.edge_attr)


def test_subset(graphs):
    idx = [7, 2, 5]
    sub = graphs.subset(idx)
    assert len(sub) == 3
    assert sub.smiles == [graphs.smiles[i] for i in idx]
    assert sub.rows.tolist() == graphs.rows[idx].tolist()
    for k, i in enumerate(idx):
        assert torch.equal(sub[k].x, graphs[i].x)
        assert torch.equal(sub[k].edge_index, graphs[i].edge_index)
        assert torch.equal(sub[k].edge_attr, graphs[i].edge_attr)
    assert torch.allclose(sub.y, graphs.y[idx], equal_nan=True)


def test_save_load_round_trip(graphs, tmp_path):
    p = tmp_path / "g.pt"
    graphs.save(p, {"hello": "world", "failed": [(1, "x", "y")]})
    back, meta = GraphSet.load(p)
    assert meta["hello"] == "world"
    assert back.smiles == graphs.smiles and back.task_names == ["a", "b"]
    for attr in ("x", "edge_index", "edge_attr", "node_ptr", "edge_ptr", "rows"):
        assert torch.equal(getattr(back, attr), getattr(graphs, attr))
    assert torch.allclose(back.y, graphs.y, equal_nan=True)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temp file


def test_truncated_file_is_detected(graphs, tmp_path):
    p = tmp_path / "g.pt"
    graphs.save(p)
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptCacheError):
        GraphSet.load(p)
    p.write_bytes(b"garbage")
    with pytest.raises(CorruptCacheError):
        GraphSet.load(p)
