"""Encoders x featurizers; the direct self-loop GIN equals an explicit-self-loop reference."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch_geometric.utils import add_self_loops, scatter

from molpt.featurize import featurize_many
from molpt.nn import ENCODERS, JK_MODES, Encoder
from molpt.nn.embeddings import prepare_bonds, self_loop_input

FEATURIZERS = ("basic", "ogb", "rich")


@pytest.fixture(scope="module")
def graphs(data_dir):
    smiles = pd.read_csv(data_dir / "BBBP.csv", nrows=24)["smiles"].tolist()
    return {f: featurize_many(smiles, f)[0] for f in FEATURIZERS}


@pytest.mark.parametrize("featurizer", FEATURIZERS)
@pytest.mark.parametrize("conv", ENCODERS.choices())
def test_encoder_shapes_and_finite(conv, featurizer, graphs):
    torch.manual_seed(0)
    enc = Encoder(featurizer, conv, num_layers=3, hidden_dim=24)
    batch = graphs[featurizer].batch(torch.arange(24))
    h = enc(batch)
    assert h.shape == (batch.num_nodes, 24)
    assert torch.isfinite(h).all()
    h.sum().backward()
    assert all(p.grad is not None for p in enc.parameters() if p.requires_grad)


@pytest.mark.parametrize("jk", JK_MODES)
def test_encoder_jk_out_dim(jk, graphs):
    enc = Encoder("basic", "gin", num_layers=2, hidden_dim=16, jk=jk)
    batch = graphs["basic"].batch(torch.arange(4))
    assert enc(batch).shape == (batch.num_nodes, enc.out_dim)


@pytest.mark.parametrize("featurizer", FEATURIZERS)
def test_gin_direct_self_loop_equals_explicit_self_loops(featurizer, graphs):
    """Hu et al.'s GIN concatenates self-loop edges with the self-loop bond token."""
    torch.manual_seed(0)
    enc = Encoder(featurizer, "gin", num_layers=2, hidden_dim=16).eval()
    spec = enc.spec
    batch = graphs[featurizer].batch(torch.arange(12))
    h = enc.atom_emb(batch.x)
    conv = enc.convs[0]
    direct = conv(
        h, batch.edge_index, prepare_bonds(spec, batch.edge_attr), self_loop_input(spec, h.device)
    )
    n = h.shape[0]
    ei, _ = add_self_loops(batch.edge_index, num_nodes=n)
    loop_attr = spec.token("bond_self_loop").unsqueeze(0).expand(n, -1)
    ea = torch.cat([batch.edge_attr, loop_attr])
    e = conv.bond_emb(prepare_bonds(spec, ea))
    agg = scatter(h[ei[0]] + e, ei[1], dim=0, dim_size=n, reduce="sum")
    reference = conv.mlp(agg)
    torch.testing.assert_close(direct, reference, rtol=1e-5, atol=1e-5)


def test_encoder_deterministic_in_eval(graphs):
    torch.manual_seed(0)
    enc = Encoder("basic", "gin", num_layers=2, hidden_dim=16, dropout=0.5).eval()
    batch = graphs["basic"].batch(torch.arange(6))
    assert torch.equal(enc(batch), enc(batch))
