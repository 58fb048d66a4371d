"""The linear probe: known answers on hand-made embeddings, the twin, ``molpt probe``,
``pretrain --probe`` / ``--keep-epochs`` and the budget points on a record's card."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from molpt.cli import app
from molpt.data.splits import split
from molpt.train.pretrain import keep_epoch
from molpt.train.probe import (
    embed_graphs,
    linear_probe,
    load_probe_sets,
    probe_checkpoint,
    random_twin,
    whiten,
)

runner = CliRunner()
SMALL = ["--hidden-dim", "32", "--num-layers", "2", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def bbbp(data_dir):
    return load_probe_sets(["bbbp"], data_dir=data_dir)[0]


def test_known_answers_on_hand_made_embeddings(bbbp):
    """BBBP's real labels and scaffold split; embeddings built so that the answer is known."""
    rng = np.random.default_rng(0)
    y = bbbp.y
    n = len(y)
    tr, va, te = split(bbbp.smiles, "scaffold")
    noise = rng.normal(size=(n, 20))
    # one coordinate carries the label with margin: a linear model separates it perfectly
    z = np.concatenate([y + 0.1 * rng.normal(size=(n, 1)), noise], axis=1)
    r = linear_probe(z, y, "classification", tr, va, te)
    assert r["metric"] == "roc_auc"
    assert r["test"] == pytest.approx(1.0) and r["valid"] == pytest.approx(1.0)
    # pure noise: nothing to learn, ROC-AUC near chance
    r = linear_probe(noise, y, "classification", tr, va, te)
    assert abs(r["test"] - 0.5) < 0.12
    # the label reversed in the embedding is still one linear direction away
    r = linear_probe(-z, y, "classification", tr, va, te)
    assert r["test"] == pytest.approx(1.0)
    # regression: a target that is an exact linear function of two coordinates
    t = (3.0 * noise[:, :1] - 2.0 * noise[:, 1:2] + 5.0)
    r = linear_probe(noise, t, "regression", tr, va, te)
    assert r["metric"] == "rmse" and r["test"] < 0.05 and r["reg"] == min((1e-2, 1e-1))


def test_missing_labels_and_one_class_tasks(bbbp):
    rng = np.random.default_rng(1)
    y = bbbp.y
    tr, va, te = split(bbbp.smiles, "scaffold")
    y2 = np.concatenate([y, y.copy(), np.zeros_like(y)], axis=1)
    y2[rng.random(len(y)) < 0.3, 1] = np.nan  # task 1: 30% missing
    y2[te[: len(te) // 2], 2] = 1.0  # task 2: one class in train, two in test: constant
    z = np.concatenate([y + 0.1 * rng.normal(size=(len(y), 1)), rng.normal(size=(len(y), 5))],
                       axis=1)  # fmt: skip
    r = linear_probe(z, y2, "classification", tr, va, te)
    # tasks 0 and 1 perfect, task 2 scored at chance (constant): the mean says so
    assert r["test"] == pytest.approx((1 + 1 + 0.5) / 3)


def test_whiten_drops_collinear_directions():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(200, 4))
    z = np.concatenate([base, base @ rng.normal(size=(4, 6))], axis=1)  # rank 4 in 10 dims
    x = whiten(z, np.arange(150))
    assert x.shape == (200, 4)
    np.testing.assert_allclose(np.cov(x[:150], rowvar=False), np.eye(4), atol=1e-8)


def test_twin_is_seeded_and_leaves_the_rng_alone(bbbp):
    cfg = {"conv": "gin", "num_layers": 2, "hidden_dim": 16, "featurizer": "basic"}
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b, c = random_twin(cfg, 0), random_twin(cfg, 0), random_twin(cfg, 1)
    assert torch.equal(torch.random.get_rng_state(), before)
    g = bbbp.graphs.subset(np.arange(50))
    za, zb, zc = (embed_graphs(m, g) for m in (a, b, c))
    assert za.shape == (50, 16)
    np.testing.assert_array_equal(za, zb)
    assert not np.allclose(za, zc)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_dir):
    """A 2-epoch attrmask run on 200 BBBP molecules with the probe on BBBP."""
    out = tmp_path_factory.mktemp("run") / "am"
    res = runner.invoke(app, ["pretrain", "--objective", "attrmask", "--data", "bbbp",
                              "--limit", "200", "--epochs", "2", "--out", str(out),
                              "--probe", "bbbp", *SMALL])  # fmt: skip
    assert res.exit_code == 0, res.output
    return out


def test_pretrain_probe_and_budget_points(tiny_run):
    hist = json.loads((tiny_run / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [0, 1, 2]
    assert "loss" not in hist[0]
    for h in hist:  # epoch 0 (random init), kept epochs 1 and 2 (pow2), last = 2
        p = h["probe"]
        assert p["split"] == "scaffold" and set(p["datasets"]) == {"bbbp"}
        assert 0.0 < p["mean_test"] <= 1.0
    assert sorted(f.name for f in (tiny_run / "epochs").iterdir()) == [
        "epoch_0001.pt", "epoch_0002.pt"]
    kept = torch.load(tiny_run / "epochs" / "epoch_0001.pt", weights_only=True)
    assert kept["epoch"] == 1 and "optimizer_state" not in kept
    # the kept encoder of epoch 2 is the final one
    last = torch.load(tiny_run / "checkpoint.pt", weights_only=True)
    k2 = torch.load(tiny_run / "epochs" / "epoch_0002.pt", weights_only=True)
    for k, v in last["encoder_state"].items():
        assert torch.equal(v, k2["encoder_state"][k])


def test_resume_adds_no_second_epoch_zero(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "am"
    shutil.copytree(tiny_run, run)
    res = runner.invoke(app, ["pretrain", "--objective", "attrmask", "--data", "bbbp",
                              "--limit", "200", "--epochs", "3", "--out", str(run), "--resume",
                              "--probe", "bbbp", *SMALL])  # fmt: skip
    assert res.exit_code == 0, res.output
    hist = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [0, 1, 2, 3]
    assert "probe" in hist[3]  # the last epoch reached is probed though 3 is not a pow2
    assert not (run / "epochs" / "epoch_0003.pt").exists()
    assert "probe at epoch 3" in res.stdout


def test_probe_cli_twin_and_reproducible(tiny_run, tmp_path):
    out = tmp_path / "rows.csv"
    args = ["probe", str(tiny_run / "checkpoint.pt"), "--datasets", "bbbp",
            "--splits", "scaffold,random", "--seeds", "0-1", "--out", str(out)]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    import pandas as pd

    f = pd.read_csv(out)
    assert len(f) == 2 * 2 * 2  # encoders x splits x seeds
    assert set(f.encoder) == {"pretrained", "random_init"}
    pre = f[f.encoder == "pretrained"]
    # the scaffold split is deterministic, the random split is seeded
    sc = pre[pre.split == "scaffold"].test.to_numpy()
    assert sc[0] == sc[1]
    assert "gain" in res.stdout
    rows = probe_checkpoint(tiny_run / "checkpoint.pt", ["bbbp"], ["random"], [1])
    again = f[(f.split == "random") & (f.seed == 1)].set_index("encoder").test
    for r in rows:
        assert r["test"] == pytest.approx(again[r["encoder"]], abs=1e-12)


def test_probe_cli_errors(tiny_run):
    for extra, words in ((["--splits", "bogus"], "unknown split"),
                         (["--seeds", "a-b"], "--seeds"),
                         (["--datasets", "nosuchset"], "nosuchset")):  # fmt: skip
        res = runner.invoke(app, ["probe", str(tiny_run / "checkpoint.pt"), *extra])
        assert res.exit_code == 2, res.output
        err = res.stderr.strip()
        assert err.startswith("error: ") and "\n" not in err and words in err, err


def test_layer_probe_blocks_are_the_prefix_encoders(tiny_run, bbbp):
    """--layers: block l of the all-layers embedding is the node states after the first l
    layers (as they enter layer l + 1), mean-pooled; the last block reproduces the default
    probe, and the twin is probed per layer."""
    import torch.nn.functional as F
    from torch_geometric.utils import scatter

    from molpt.train.checkpoint import load_encoder
    from molpt.train.probe import layer_block

    enc, _ = load_encoder(tiny_run / "checkpoint.pt")
    z = embed_graphs(enc, bbbp.graphs, all_layers=True)
    assert z.shape == (len(bbbp.y), 3 * 32) and enc.jk == "last"  # jk restored
    assert np.array_equal(layer_block(z, 2, 32), embed_graphs(enc, bbbp.graphs))
    one = load_encoder(tiny_run / "checkpoint.pt")[0].eval()
    one.num_layers = 1  # the same weights, stopped after the first layer
    one.convs, one.norms = one.convs[:1], one.norms[:1]
    b = next(bbbp.graphs.iter_batches(len(bbbp.y)))
    with torch.no_grad():
        h1 = F.relu(one.encode(b.x, b.edge_index, b.edge_attr))
        h0 = one.atom_emb(b.x)
    for layer, h in ((0, h0), (1, h1)):
        want = scatter(h, b.batch, dim=0, dim_size=b.num_graphs, reduce="mean").numpy()
        assert np.allclose(layer_block(z, layer, 32), want, atol=1e-5), layer
    assert not np.allclose(layer_block(z, 1, 32), layer_block(z, 2, 32))

    out = tiny_run.parent / "layers.csv"
    res = runner.invoke(app, ["probe", str(tiny_run / "checkpoint.pt"), "--datasets", "bbbp",
                              "--layers", "all", "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    import pandas as pd

    f = pd.read_csv(out)
    assert sorted(set(f.layer)) == [0, 1, 2] and len(f) == 2 * 3  # encoders x layers
    default = probe_checkpoint(tiny_run / "checkpoint.pt", ["bbbp"], twin=True)
    for r in default:
        got = f[(f.encoder == r["encoder"]) & (f.layer == 2)].test.item()
        assert got == pytest.approx(r["test"], abs=1e-12)
    assert "layer" in res.stdout and "gain" in res.stdout
    for bad, words in (("7", "layers 0-2"), ("x", "expected all or a list")):
        res = runner.invoke(app, ["probe", str(tiny_run / "checkpoint.pt"), "--layers", bad])
        assert res.exit_code == 2 and words in res.stderr, res.output


def test_probe_run_fills_budget_points_and_the_card(tmp_path, data_dir):
    """A run made without --probe: `molpt probe --run` probes epoch 0 (twin), the kept epochs
    and the last; the record's card shows them beside the budget."""
    run = tmp_path / "plain"
    res = runner.invoke(app, ["pretrain", "--objective", "attrmask", "--data", "bbbp",
                              "--limit", "120", "--epochs", "3", "--out", str(run),
                              *SMALL])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["probe", str(run), "--run", "--datasets", "bbbp"])
    assert res.exit_code == 0, res.output
    probes = json.loads((run / "probes.json").read_text())
    assert [p["epoch"] for p in probes] == [0, 1, 2, 3]
    res = runner.invoke(app, ["probe", str(run), "--run", "--datasets", "bbbp"])
    assert json.loads((run / "probes.json").read_text()) == probes  # nothing recomputed
    recs = tmp_path / "records"
    res = runner.invoke(app, ["record-checkpoint", str(run / "epochs" / "epoch_0002.pt"),
                              "--name", "tiny_e2", "--records-dir", str(recs)])  # fmt: skip
    assert res.exit_code == 0, res.output
    card = json.loads((recs / "tiny_e2" / "card.json").read_text())
    assert card["epochs"] == 2
    assert [p["epoch"] for p in card["probe_curve"]] == [0, 1, 2]
    b = card["budget"]
    assert b["graphs_seen"] == 2 * 120
    assert b["fraction_of_hu2020"] == pytest.approx(240 / 200_000_000)
    md = (recs / "tiny_e2" / "MODEL_CARD.md").read_text()
    assert "graphs seen" in md and "Linear probe while pretraining" in md
    assert "precision" in md


def test_keep_epoch_specs():
    assert [e for e in range(1, 20) if keep_epoch("pow2", e)] == [1, 2, 4, 8, 16]
    assert not any(keep_epoch("none", e) for e in range(1, 5))
    assert [e for e in range(1, 8) if keep_epoch("1,3,5", e)] == [1, 3, 5]
    with pytest.raises(ValueError, match="keep-epochs"):
        keep_epoch("1,x", 1)
