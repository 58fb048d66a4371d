"""molpt.load(...).embed(...) and the `molpt embed` command on real BBBP molecules."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import molpt
from molpt.cli import app
from molpt.featurize import InvalidSmilesError, featurize_many
from molpt.nn import Encoder
from molpt.train.checkpoint import save_checkpoint

DATA = Path(
    os.environ.get(
        "MOLPT_DATA", Path(__file__).resolve().parents[2].parent / "shared/data/moleculenet"
    )
)


@pytest.fixture(scope="module")
def bbbp_smiles() -> list[str]:
    return pd.read_csv(DATA / "BBBP.csv")["smiles"].head(40).tolist()


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    enc = Encoder("basic", "gin", num_layers=2, hidden_dim=16)
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"encoder_config": enc.config, "encoder_state": enc.state_dict()})
    return path


def test_embed_matches_encoder_mean_pool(ckpt: Path, bbbp_smiles: list[str]) -> None:
    model = molpt.load(ckpt, device="cpu")
    z = model.embed(bbbp_smiles, batch_size=7)
    assert z.shape == (len(bbbp_smiles), 16)
    assert torch.isfinite(z).all()
    # reference: the encoder on one batch of all graphs, mean-pooled by hand
    graphs, _ = featurize_many(bbbp_smiles, "basic")
    b = graphs.batch(torch.arange(len(graphs)))
    with torch.no_grad():
        h = model.encoder(b)
    ref = torch.stack([h[b.batch == i].mean(0) for i in range(len(graphs))])
    torch.testing.assert_close(z, ref, atol=1e-5, rtol=1e-4)


def test_embed_invalid_rows(ckpt: Path, bbbp_smiles: list[str]) -> None:
    model = molpt.load(ckpt, device="cpu")
    smiles = [bbbp_smiles[0], "C1CC(", bbbp_smiles[1]]
    with pytest.raises(InvalidSmilesError, match="row 1"):
        model.embed(smiles)
    z = model.embed(smiles, on_invalid="nan")
    assert torch.isnan(z[1]).all() and torch.isfinite(z[[0, 2]]).all()
    assert model.last_report.failed[0].row == 1


def test_embed_cli_npy_and_parquet(ckpt: Path, bbbp_smiles: list[str], tmp_path: Path) -> None:
    inp = tmp_path / "mols.csv"
    pd.DataFrame({"smiles": bbbp_smiles[:5] + ["not_a_smiles"]}).to_csv(inp, index=False)
    runner = CliRunner()
    out = tmp_path / "z.npy"
    res = runner.invoke(app, ["embed", str(inp), "--checkpoint", str(ckpt), "--out", str(out)])
    assert res.exit_code == 0, res.output
    z = np.load(out)
    assert z.shape == (6, 16) and np.isnan(z[5]).all()
    report = pd.read_csv(tmp_path / "z.npy.invalid.csv")
    assert report["row"].tolist() == [5] and list(report.columns) == ["row", "smiles", "reason"]
    pq = tmp_path / "z.parquet"
    res = runner.invoke(app, ["embed", str(inp), "--checkpoint", str(ckpt), "--out", str(pq)])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(pq)
    assert df["smiles"].tolist()[:5] == bbbp_smiles[:5] and df.shape == (6, 17)


def test_embed_cli_errors(ckpt: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    inp = tmp_path / "mols.csv"
    inp.write_text("smiles\nCCO\n")
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(os.urandom(256))
    for args in (
        ["embed", str(inp), "--checkpoint", str(bogus), "--out", str(tmp_path / "z.npy")],
        ["embed", str(tmp_path / "missing.csv"), "--checkpoint", str(ckpt), "--out", "z.npy"],
        ["embed", str(inp), "--checkpoint", str(ckpt), "--out", str(tmp_path / "z.txt")],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code != 0
        assert "Traceback" not in res.output
        assert res.output.strip().splitlines()[-1].startswith("error:")
