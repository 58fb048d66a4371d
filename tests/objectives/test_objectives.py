"""Every objective x featurizer trains on real molecules; objective-specific invariants."""

from __future__ import annotations

import pytest
import torch

from molpt.featurize import featurize_many
from molpt.nn import Encoder
from molpt.objectives import OBJECTIVES, build_objective
from molpt.objectives.attrmask import mask_atoms_hu
from molpt.objectives.contextpred import context_sets
from molpt.objectives.edgepred import sample_non_edges
from molpt.objectives.graphcl import augment
from molpt.objectives.ops import hop_distances, random_rank

FEATURIZERS = ("basic", "ogb", "rich")


def _objective(name: str, graphs, featurizer: str, hidden: int = 32, layers: int = 3):
    torch.manual_seed(0)
    enc = Encoder(featurizer, num_layers=layers, hidden_dim=hidden)
    cls = OBJECTIVES.get(name)
    task_type = "classification" if graphs.y is not None else None
    return cls(enc, **cls.data_options(graphs, task_type, {}))


@pytest.mark.parametrize("featurizer", FEATURIZERS)
@pytest.mark.parametrize("name", OBJECTIVES.choices())
def test_objective_loss_falls(name, featurizer, bbbp_graphs, data_dir):
    graphs = bbbp_graphs[featurizer]
    if name == "supervised":
        import pandas as pd

        y = pd.read_csv(data_dir / "BBBP.csv", nrows=48)["p_np"].to_numpy()
        graphs = graphs.with_labels(torch.tensor(y[graphs.rows.numpy()]).float()[:, None], ["p_np"])
    layers = 5 if name == "contextpred" else 3
    obj = _objective(name, graphs, featurizer, layers=layers)
    opt = torch.optim.Adam(obj.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    batch = graphs.batch(torch.arange(len(graphs)))
    losses = []
    for _ in range(16):
        loss, metrics = obj.loss(batch, gen)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert obj.metric in metrics
    assert all(v.dim() == 0 for v in metrics.values())
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first, (name, featurizer, losses)


@pytest.mark.parametrize("name", OBJECTIVES.choices())
def test_objective_handles_awkward_molecules(name, fixture_smiles):
    """Single atoms, salts without bonds, charged and isotopic atoms: one finite step."""
    graphs, _ = featurize_many(fixture_smiles, "basic")
    if name == "supervised":
        y = torch.tensor([[float(i % 2)] for i in range(len(graphs))])
        y[0, 0] = float("nan")
        graphs = graphs.with_labels(y, ["t"])
    obj = _objective(name, graphs, "basic")
    loss, _ = obj.loss(graphs.batch(torch.arange(len(graphs))), torch.Generator().manual_seed(1))
    assert torch.isfinite(loss)
    loss.backward()


def test_objective_rebuilds_from_config(bbbp_graphs):
    obj = _objective("attrmask", bbbp_graphs["basic"], "basic")
    obj2 = build_objective("attrmask", Encoder(**obj.encoder.config), obj.config)
    obj2.load_head_state(obj.head_state())
    for (k, a), (_, b) in zip(obj.state_dict().items(), obj2.state_dict().items(), strict=True):
        if not k.startswith("encoder."):
            assert torch.equal(a, b)


def test_attrmask_masks_hu_count_per_molecule(bbbp_graphs):
    batch = bbbp_graphs["basic"].batch(torch.arange(48))
    n = (batch.ptr[1:] - batch.ptr[:-1]).tolist()
    for seed in range(3):
        mask = mask_atoms_hu(batch, 0.15, torch.Generator().manual_seed(seed))
        per_graph = torch.bincount(batch.batch[mask], minlength=batch.num_graphs).tolist()
        assert per_graph == [min(int(k * 0.15 + 1), k) for k in n]


def test_attrmask_masked_atoms_get_the_mask_token(bbbp_graphs):
    from molpt.objectives.attrmask import apply_atom_mask

    for f, graphs in bbbp_graphs.items():
        spec = graphs.spec
        batch = graphs.batch(torch.arange(8))
        mask = mask_atoms_hu(batch, 0.15, torch.Generator().manual_seed(0))
        x = apply_atom_mask(batch.x, mask, spec.token("atom_mask"))
        assert (x[mask, 0] == spec.atom_dims[0]).all(), f
        assert (x[mask, 1:] == 0).all()
        assert torch.equal(x[~mask], batch.x[~mask])


def test_random_rank_is_a_permutation_per_group():
    group = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    rank = random_rank(group, 3, torch.Generator().manual_seed(0))
    for g, size in [(0, 3), (1, 2), (2, 4)]:
        assert sorted(rank[group == g].tolist()) == list(range(size))


def test_hop_distances_on_a_ring_with_a_tail():
    # CCC1CCCCC1 : 0-1-2, ring 2..7
    g, _ = featurize_many(["CCC1CCCCC1"], "basic")
    b = g.batch([0])
    d = hop_distances(b.edge_index, b.num_nodes, torch.tensor([0]), 10)
    assert d.tolist() == [0, 1, 2, 3, 4, 5, 4, 3]


def test_contextpred_sets_on_a_chain():
    """Dodecane with centre atom 0: substructure d<=5, context 5..7, anchor d==5."""
    g, _ = featurize_many(["CCCCCCCCCCCC", "CCC"], "basic")
    b = g.batch([0, 1])
    centre = torch.tensor([0, 12])  # atom 0 of each molecule
    s = context_sets(b.edge_index, b.batch, centre, k=5, r1=4, r2=7)
    idx = lambda m: torch.nonzero(m).view(-1).tolist()  # noqa: E731
    assert idx(s.substruct) == [0, 1, 2, 3, 4, 5, 12, 13, 14]
    assert idx(s.context) == [5, 6, 7]
    assert idx(s.anchor) == [5]
    assert s.valid.tolist() == [True, False]  # propane has no atom farther than 4 hops
    # centre atom 6: atoms 0 (d=6), 1 and 11 (d=5) are context; 1 and 11 anchors
    s = context_sets(b.edge_index, b.batch, torch.tensor([6, 12]), k=5, r1=4, r2=7)
    assert idx(s.context) == [0, 1, 11]
    assert idx(s.anchor) == [1, 11]
    s = context_sets(b.edge_index, b.batch, torch.tensor([5, 12]), k=5, r1=4, r2=7)
    assert idx(s.context) == [0, 10, 11]
    assert idx(s.anchor) == [0, 10]


def test_edgepred_negatives_are_non_bonded_pairs_in_the_same_molecule(bbbp_graphs):
    batch = bbbp_graphs["basic"].batch(torch.arange(16))
    ei = batch.edge_index
    pos = ei[:, ei[0] < ei[1]]
    neg, valid = sample_non_edges(batch, pos, torch.Generator().manual_seed(0))
    assert valid.float().mean() > 0.95
    neg = neg[:, valid]
    bonded = set(map(tuple, ei.t().tolist()))
    assert all((u, v) not in bonded and u != v for u, v in neg.t().tolist())
    assert torch.equal(batch.batch[neg[0]], batch.batch[neg[1]])


@pytest.mark.parametrize("kind", ["dropN", "subgraph", "permE", "maskN", "none"])
def test_graphcl_augmentations_keep_every_molecule(kind, bbbp_graphs):
    batch = bbbp_graphs["basic"].batch(torch.arange(16))
    token = batch.x.new_tensor([119, 0])
    x, ei, ea, bvec = augment(batch, kind, 0.2, torch.Generator().manual_seed(0), token)
    n = torch.bincount(batch.batch, minlength=16)
    n2 = torch.bincount(bvec, minlength=16)
    assert (n2 >= 1).all()
    assert ei.shape[1] == ea.shape[0]
    assert ei.numel() == 0 or int(ei.max()) < x.shape[0]
    if kind == "dropN":
        assert n2.tolist() == [k - int(k * 0.2) for k in n.tolist()]
    if kind == "subgraph":
        assert (n2 <= n).all()
    if kind == "permE":
        assert ei.shape[1] < batch.edge_index.shape[1]
    if kind == "maskN":
        assert int((x[:, 0] == 119).sum()) == sum(int(k * 0.2) for k in n.tolist())
