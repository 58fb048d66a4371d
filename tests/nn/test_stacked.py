"""StackedModel = K ordinary GraphModels: same outputs, per run, for every architecture."""

from __future__ import annotations

import pytest
import torch

from molpt.data import load_dataset
from molpt.nn.encoder import Encoder
from molpt.nn.model import GraphModel
from molpt.nn.stacked import StackedModel, multi_batch


@pytest.fixture(scope="module")
def bbbp_graphs(data_dir, tmp_path_factory):
    import os

    old = os.environ.get("MOLPT_CACHE")
    os.environ["MOLPT_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        out = {f: load_dataset("bbbp", featurizer=f, data_dir=data_dir, limit=200).graphs
               for f in ("basic", "rich")}  # fmt: skip
    finally:
        if old is None:
            os.environ.pop("MOLPT_CACHE")
        else:
            os.environ["MOLPT_CACHE"] = old
    return out


def _models(K, featurizer, conv, jk="last", pooling="mean", layers=3, dim=16):
    models = []
    for k in range(K):
        torch.manual_seed(100 + k)
        enc = Encoder(featurizer, conv=conv, num_layers=layers, hidden_dim=dim, jk=jk)
        m = GraphModel(enc, pooling=pooling, out_dim=3)
        # non-trivial BatchNorm running statistics
        for norm in enc.norms:
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
        models.append(m)
    return models


@pytest.mark.parametrize(
    "featurizer,conv,jk,pooling",
    [
        ("basic", "gin", "last", "mean"),
        ("basic", "gcn", "concat", "sum"),
        ("basic", "sage", "max", "max"),
        ("basic", "gat", "sum", "attention"),
        ("rich", "gin", "last", "attention"),
        ("rich", "gcn", "last", "mean"),
        ("rich", "gat", "last", "mean"),
    ],
)
@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("batched", [False, True], ids=["per-run", "bmm"])
def test_stacked_equals_ordinary(bbbp_graphs, featurizer, conv, jk, pooling, train, batched):
    graphs = bbbp_graphs[featurizer]
    K = 3
    models = _models(K, featurizer, conv, jk, pooling)
    stacked = StackedModel.from_models(models).set_matmul(batched)
    # different graphs (and numbers of graphs) per run, one run idle
    parts = [torch.arange(0, 40), None, torch.arange(60, 85)]
    mb = multi_batch(graphs, parts)
    stacked.train(train)
    out = stacked(mb)
    assert out.shape == (65, 3)
    start = 0
    for k, part in enumerate(parts):
        if part is None:
            continue
        m = models[k].train(train)
        ref = m(graphs.batch(part))
        got = out[start : start + part.numel()]
        assert torch.allclose(got, ref, atol=2e-5, rtol=1e-4), (k, (got - ref).abs().max())
        start += part.numel()
    if train:  # running statistics of run k move exactly like nn.BatchNorm1d's
        for k in (0, 2):
            sd = stacked.unstack(k)
            for name, v in models[k].state_dict().items():
                assert torch.allclose(sd[name], v.to(sd[name].dtype), atol=1e-5), name
        idle = stacked.unstack(1)
        fresh = _models(K, featurizer, conv, jk, pooling)[1].state_dict()
        for name, v in fresh.items():  # the idle run's statistics did not move
            assert torch.allclose(idle[name], v.to(idle[name].dtype)), name


def test_unstack_roundtrip_and_architecture_check(bbbp_graphs):
    models = _models(2, "basic", "gin")
    stacked = StackedModel.from_models(models)
    for k, m in enumerate(models):
        for name, v in m.state_dict().items():
            assert torch.equal(stacked.unstack(k)[name], v)
    other = _models(1, "basic", "gcn")[0]
    with pytest.raises(ValueError, match="different architectures"):
        StackedModel.from_models([models[0], other])


def test_dropout_streams_are_per_run(bbbp_graphs):
    """A run's dropout masks come from its own generator only: same outputs alone or grouped."""
    graphs = bbbp_graphs["basic"]
    models = []
    for k in range(3):
        torch.manual_seed(k)
        models.append(GraphModel(Encoder("basic", num_layers=2, hidden_dim=16, dropout=0.5),
                                 out_dim=1))  # fmt: skip
    parts = [torch.arange(0, 30), torch.arange(30, 70), torch.arange(70, 90)]

    def gens(seeds):
        return [torch.Generator().manual_seed(s) for s in seeds]

    group = StackedModel.from_models(models).train()
    out = group(multi_batch(graphs, parts), gens([0, 1, 2]))
    alone = StackedModel.from_models([models[1]]).train()
    out1 = alone(multi_batch(graphs, [parts[1]]), gens([1]))
    assert torch.allclose(out[30:70], out1, atol=1e-5)
    other = alone(multi_batch(graphs, [parts[1]]), gens([7]))
    assert not torch.allclose(out1, other, atol=1e-3)  # the masks do matter


@pytest.mark.parametrize("conv", ["gin", "gcn", "gat"])
def test_bmm_gradients_equal_per_run(bbbp_graphs, conv):
    """The batched (bmm over padded run blocks) path gives every run the gradients of the
    per-run path, and the padding rows add nothing (an idle run's gradient is zero)."""
    graphs = bbbp_graphs["basic"]
    parts = [torch.arange(0, 40), None, torch.arange(60, 85), torch.arange(100, 103)]
    grads = {}
    for batched in (False, True):
        stacked = StackedModel.from_models(_models(4, "basic", conv)).set_matmul(batched)
        stacked.train()
        out = stacked(multi_batch(graphs, parts))
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads[batched] = {n: p.grad.clone() for n, p in stacked.named_parameters()}
    for name, g in grads[False].items():
        b = grads[True][name]
        scale = g.abs().max().clamp_min(1.0)  # float32 rounding, relative to the largest
        assert (b - g).abs().max() <= 1e-5 * scale, (name, (b - g).abs().max(), scale)
        assert torch.count_nonzero(b[1]) == 0, name  # the idle run
    assert any(torch.count_nonzero(g) for g in grads[True].values())
