"""Imported Hu et al. 2020 encoders compute what Hu's own layers compute.

The reference below is written from PROTOCOL.md and the checkpoint README, straight on Hu's
state-dict keys, with Hu's own mechanics (self-loops appended as edges with bond features
[4, 0]; PyG 1.0.3 direction: gather ``x_j`` from ``edge_index[1]``, aggregate at
``edge_index[0]``; GAT softmax grouped by the aggregating node).  It does not use molpt's
conv code.  Every shipped file (plus a GIN file this test writes in Hu's layout and legacy
pickle format) is imported and compared on 520 BBBP molecules.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from molpt.featurize import featurize_many
from molpt.nn.encoder import Encoder
from molpt.published import import_checkpoint
from molpt.train.checkpoint import load_encoder

SHIPPED = [
    f"{arch}_{obj}"
    for arch in ("gcn", "graphsage", "gat")
    for obj in ("contextpred", "supervised", "supervised_contextpred")
]
ENCODER_OF = {"gcn": "gcn", "graphsage": "sage", "gat": "gat"}
N_MOLECULES = 520


# ------------------------------------------------------------------------------------------
# the reference: Hu's GNN forward on Hu's keys
# ------------------------------------------------------------------------------------------
def _group_softmax(alpha: torch.Tensor, group: torch.Tensor, n: int) -> torch.Tensor:
    """softmax of alpha (E, H) over edges sharing ``group`` (E,)."""
    h = alpha.shape[1]
    idx = group.unsqueeze(1).expand(-1, h)
    mx = torch.full((n, h), float("-inf")).scatter_reduce(0, idx, alpha, "amax")
    ex = (alpha - mx[group]).exp()
    den = torch.zeros(n, h).index_add_(0, group, ex)
    return ex / den[group]


def hu_forward(
    sd: dict, gnn_type: str, x, edge_index, edge_attr, train: bool = False,
    calibrate: bool = False,
):
    """Node representations of Hu's ``GNN`` (JK last, dropout 0) from its state dict.

    ``calibrate``: first set each layer's BatchNorm running statistics to this batch's (to
    give a synthetic file realistic statistics).
    """
    n = x.shape[0]
    num_layers = len({k.split(".")[1] for k in sd if k.startswith("gnns.")})
    h = sd["x_embedding1.weight"][x[:, 0]] + sd["x_embedding2.weight"][x[:, 1]]
    loops = torch.arange(n)
    ei = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
    loop_attr = torch.zeros(n, 2, dtype=torch.long)
    loop_attr[:, 0] = 4
    ea = torch.cat([edge_attr, loop_attr], dim=0)
    agg_at, gather_from = ei[0], ei[1]  # PyG 1.0.3 direction
    for layer in range(num_layers):
        p = f"gnns.{layer}."
        e = sd[p + "edge_embedding1.weight"][ea[:, 0]] + sd[p + "edge_embedding2.weight"][ea[:, 1]]
        if gnn_type == "gin":
            msg = h[gather_from] + e
            aggr = torch.zeros(n, h.shape[1]).index_add_(0, agg_at, msg)
            z = F.linear(aggr, sd[p + "mlp.0.weight"], sd[p + "mlp.0.bias"]).relu()
            out = F.linear(z, sd[p + "mlp.2.weight"], sd[p + "mlp.2.bias"])
        elif gnn_type == "gcn":
            deg = torch.zeros(n).index_add_(0, agg_at, torch.ones(ei.shape[1]))
            dinv = deg.pow(-0.5)
            norm = dinv[agg_at] * dinv[gather_from]
            xl = F.linear(h, sd[p + "linear.weight"], sd[p + "linear.bias"])
            msg = norm.unsqueeze(1) * (xl[gather_from] + e)
            out = torch.zeros(n, xl.shape[1]).index_add_(0, agg_at, msg)
        elif gnn_type == "sage":
            xl = F.linear(h, sd[p + "linear.weight"], sd[p + "linear.bias"])
            s = torch.zeros(n, xl.shape[1]).index_add_(0, agg_at, xl[gather_from] + e)
            cnt = torch.zeros(n).index_add_(0, agg_at, torch.ones(ei.shape[1]))
            out = F.normalize(s / cnt.unsqueeze(1), p=2, dim=-1)
        elif gnn_type == "gat":
            att = sd[p + "att"]
            heads, d = att.shape[1], att.shape[2] // 2
            xl = F.linear(h, sd[p + "weight_linear.weight"], sd[p + "weight_linear.bias"])
            xl = xl.view(n, heads, d)
            x_i = xl[agg_at]
            x_j = xl[gather_from] + e.view(-1, heads, d)
            alpha = F.leaky_relu((torch.cat([x_i, x_j], dim=-1) * att).sum(-1), 0.2)
            alpha = _group_softmax(alpha, agg_at, n)
            out = torch.zeros(n, heads, d).index_add_(0, agg_at, x_j * alpha.unsqueeze(-1))
            out = out.mean(dim=1) + sd[p + "bias"]
        else:
            raise ValueError(gnn_type)
        b = f"batch_norms.{layer}."
        if calibrate:
            sd[b + "running_mean"] = out.mean(0)
            # floored: dividing a near-constant channel by its tiny std would blow float32
            # rounding (~1e-6 relative after 600-term sums) up past the 1e-5 tolerance
            sd[b + "running_var"] = out.var(0).clamp_min(0.25)
        out = F.batch_norm(out, sd[b + "running_mean"].clone(), sd[b + "running_var"].clone(),
                           sd[b + "weight"], sd[b + "bias"], training=train, eps=1e-5)  # fmt: skip
        h = out if layer == num_layers - 1 else out.relu()
    return h


# ------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def molecules(data_dir):
    """520 BBBP molecules as one batch; without CHI_OTHER atoms (Hu's table has 3 rows)."""
    smiles = pd.read_csv(data_dir / "BBBP.csv")["smiles"].tolist()
    graphs, _ = featurize_many(smiles[:600], "basic")
    keep = [i for i in range(len(graphs)) if int(graphs[i].x[:, 1].max()) < 3][:N_MOLECULES]
    assert len(keep) == N_MOLECULES
    return graphs.batch(torch.tensor(keep))


def hu_gin_state(num_layers: int = 5, d: int = 300, seed: int = 0) -> dict:
    """A random GIN state dict with exactly Hu's keys, shapes and order.

    Xavier-scaled weights and BatchNorm gammas near 0.5 (with statistics calibrated on the
    batch, see ``hu_forward``) keep the node representations at a trained encoder's scale
    (|h| of a few units); with unnormalised GIN sums growing ~10x over 5 layers, float32
    rounding alone would otherwise exceed an absolute 1e-5 in any implementation.
    """
    g = torch.Generator().manual_seed(seed)

    def w(*shape):  # Xavier-normal scale, as Hu's tables and PyTorch's layers start out
        std = (2.0 / (shape[0] + shape[-1])) ** 0.5
        return torch.randn(*shape, generator=g) * std

    def b(n):
        return torch.randn(n, generator=g) * 0.05

    sd = {"x_embedding1.weight": w(120, d), "x_embedding2.weight": w(3, d)}
    for li in range(num_layers):
        p = f"gnns.{li}."
        sd.update({p + "mlp.0.weight": w(2 * d, d), p + "mlp.0.bias": b(2 * d),
                   p + "mlp.2.weight": w(d, 2 * d), p + "mlp.2.bias": b(d),
                   p + "edge_embedding1.weight": w(6, d),
                   p + "edge_embedding2.weight": w(3, d)})  # fmt: skip
    for li in range(num_layers):
        p = f"batch_norms.{li}."
        sd.update({p + "weight": 0.5 + b(d), p + "bias": b(d), p + "running_mean": b(d),
                   p + "running_var": 0.5 + torch.rand(d, generator=g),
                   p + "num_batches_tracked": torch.tensor(1000)})  # fmt: skip
    return sd


def _run_molpt(ckpt: Path, batch, train: bool = False) -> torch.Tensor:
    enc, _ = load_encoder(ckpt)
    enc.train(train)
    with torch.no_grad():
        return enc(batch)


def _run_reference(sd: dict, gnn_type: str, batch, train: bool = False) -> torch.Tensor:
    with torch.no_grad():
        return hu_forward(sd, gnn_type, batch.x.long(), batch.edge_index.long(),
                          batch.edge_attr.long(), train=train)  # fmt: skip


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


# ------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stem", SHIPPED)
def test_shipped_file_matches_hu_layers(stem, molecules, hu_root, tmp_path):
    src = hu_root / "hu2020" / f"{stem}.pth"
    sd = torch.load(src, map_location="cpu", weights_only=True)
    enc_name = ENCODER_OF[stem.split("_")[0]]
    ckpt = import_checkpoint(src, "hu2020", enc_name, tmp_path / "imp")
    ref = _run_reference(sd, enc_name, molecules)
    got = _run_molpt(ckpt, molecules)
    assert got.shape == (molecules.num_nodes, 300)
    assert ref.abs().max() > 0.1  # a real, non-degenerate output
    assert max_diff(got, ref) <= 1e-5, stem
    if stem in ("gcn_supervised_contextpred", "graphsage_supervised_contextpred"):
        # train mode (BatchNorm on batch statistics) as well
        assert max_diff(_run_molpt(ckpt, molecules, True),
                        _run_reference(sd, enc_name, molecules, True)) <= 1e-4  # fmt: skip


def test_synthetic_hu_gin_file_matches(molecules, tmp_path):
    sd = hu_gin_state()
    with torch.no_grad():  # realistic BatchNorm statistics (else activations explode)
        hu_forward(sd, "gin", molecules.x.long(), molecules.edge_index.long(),
                   molecules.edge_attr.long(), calibrate=True)  # fmt: skip
    src = tmp_path / "gin_hu_layout.pth"
    torch.save(sd, src, _use_new_zipfile_serialization=False)  # legacy pickle, like Hu's
    ckpt = import_checkpoint(src, "hu2020", "gin", tmp_path / "imp")
    ref = _run_reference(sd, "gin", molecules)
    got = _run_molpt(ckpt, molecules)
    assert ref.abs().max() > 0.1
    assert max_diff(got, ref) <= 1e-5


def test_gcn_file_imported_as_sage_differs(molecules, hu_root, tmp_path):
    """The comparison can fail: the same GCN weights under GraphSAGE's math are far off."""
    src = hu_root / "hu2020" / "gcn_supervised_contextpred.pth"
    sd = torch.load(src, map_location="cpu", weights_only=True)
    as_sage = import_checkpoint(src, "hu2020", "sage", tmp_path / "sage")
    ref = _run_reference(sd, "gcn", molecules)
    got = _run_molpt(as_sage, molecules)
    assert max_diff(got, ref) > 0.1
    # and the reference itself tells the two layer maths apart
    assert max_diff(_run_reference(sd, "sage", molecules), ref) > 0.1
    assert max_diff(got, _run_reference(sd, "sage", molecules)) <= 1e-5


def test_chirality_other_row_is_the_unspecified_row(tmp_path):
    sd = hu_gin_state(num_layers=2, d=8)
    src = tmp_path / "tiny.pth"
    torch.save(sd, src)
    ckpt = import_checkpoint(src, "hu2020", "gin", tmp_path / "imp")
    enc, raw = load_encoder(ckpt)
    table = enc.atom_emb.proj.table.weight.detach()
    assert table.shape == (124, 8)
    assert torch.equal(table[:120], sd["x_embedding1.weight"])
    assert torch.equal(table[120:123], sd["x_embedding2.weight"])
    assert torch.equal(table[123], sd["x_embedding2.weight"][0])
    assert "row 3" in raw["import"]["chirality_rows"]
    # an atom with CHI_OTHER is embedded like the same atom without chirality information
    x = torch.tensor([[5, 3], [5, 0]])
    emb = enc.atom_emb(x)
    assert torch.equal(emb[0], emb[1])
    assert isinstance(enc, Encoder)
