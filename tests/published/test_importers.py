"""The hu2020 importer: safe loading, one-line errors naming the first offending key,
provenance, and the `molpt import-checkpoint` command."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import molpt
from molpt.cli import app
from molpt.published import CheckpointImportError, import_checkpoint
from molpt.train.checkpoint import load_checkpoint, load_encoder


def gin_state(num_layers: int = 2, d: int = 8) -> dict[str, torch.Tensor]:
    """A small GIN state dict in Hu's layout."""
    sd = {"x_embedding1.weight": torch.randn(120, d), "x_embedding2.weight": torch.randn(3, d)}
    for li in range(num_layers):
        p = f"gnns.{li}."
        sd.update({p + "mlp.0.weight": torch.randn(2 * d, d), p + "mlp.0.bias": torch.randn(2 * d),
                   p + "mlp.2.weight": torch.randn(d, 2 * d), p + "mlp.2.bias": torch.randn(d),
                   p + "edge_embedding1.weight": torch.randn(6, d),
                   p + "edge_embedding2.weight": torch.randn(3, d)})  # fmt: skip
    for li in range(num_layers):
        p = f"batch_norms.{li}."
        sd.update({p + "weight": torch.ones(d), p + "bias": torch.zeros(d),
                   p + "running_mean": torch.zeros(d), p + "running_var": torch.ones(d),
                   p + "num_batches_tracked": torch.tensor(7)})  # fmt: skip
    return sd


def _save(sd, path: Path) -> Path:
    torch.save(sd, path)
    return path


def test_hu_gcn_file_imports_with_provenance(hu_root, tmp_path):
    src = hu_root / "hu2020" / "gcn_supervised_contextpred.pth"
    path = molpt.import_checkpoint(src, format="hu2020", encoder="gcn", out=tmp_path / "o")
    assert path == tmp_path / "o" / "checkpoint.pt"
    ck = load_checkpoint(path)
    assert ck["encoder_config"] == {"featurizer": "basic", "conv": "gcn", "num_layers": 5,
                                    "hidden_dim": 300, "dropout": 0.0, "jk": "last"}  # fmt: skip
    prov = ck["provenance"]
    assert prov["source"] == "gcn_supervised_contextpred.pth"
    assert prov["source_sha256"].startswith("49cf0465e623c14f")
    assert prov["format"] == "hu2020" and prov["name"] == "hu2020/gcn_supervised_contextpred"
    assert "Hu et al. 2020" in prov["paper"] and prov["licence"].startswith("MIT")
    assert prov["objective"] == "context prediction, then supervised"
    assert "ZINC15" in prov["corpus"] and "ChEMBL" in prov["corpus"]
    assert "row 3" in ck["import"]["chirality_rows"]
    assert ck["import"]["layers_read_from_file"] == 5
    enc, _ = load_encoder(path)
    assert enc.convs[0].linear.weight.shape == (300, 300)
    # importing the same file twice gives byte-identical checkpoints (stable benchmark ids)
    again = import_checkpoint(src, "hu2020", "gcn", tmp_path / "p")
    assert again.read_bytes() == path.read_bytes()
    with pytest.raises(FileExistsError):
        import_checkpoint(src, "hu2020", "gcn", tmp_path / "o")


def test_gat_heads_and_width_are_read_from_the_file(hu_root, tmp_path):
    path = import_checkpoint(hu_root / "hu2020" / "gat_contextpred.pth", "hu2020", "gat",
                             tmp_path / "g")  # fmt: skip
    ck = load_checkpoint(path)
    assert ck["import"]["gat_heads_read_from_file"] == 2
    assert ck["encoder_config"]["hidden_dim"] == 300
    # GIN and GAT files name their encoder; GCN / GraphSAGE files cannot
    sd = gin_state()
    p = import_checkpoint(_save(sd, tmp_path / "g.pth"), "hu2020", None, tmp_path / "gin")
    assert load_checkpoint(p)["encoder_config"]["conv"] == "gin"
    with pytest.raises(CheckpointImportError, match="identical keys"):
        import_checkpoint(hu_root / "hu2020" / "gcn_contextpred.pth", "hu2020", None,
                          tmp_path / "x")  # fmt: skip


def _err(sd_or_bytes, tmp_path: Path, encoder: str = "gin") -> str:
    path = tmp_path / "bad.pth"
    if isinstance(sd_or_bytes, bytes):
        path.write_bytes(sd_or_bytes)
    else:
        torch.save(sd_or_bytes, path)
    with pytest.raises(CheckpointImportError) as info:
        import_checkpoint(path, "hu2020", encoder, tmp_path / "out")
    msg = str(info.value)
    assert "\n" not in msg
    assert not (tmp_path / "out" / "checkpoint.pt").exists()
    return msg


def test_errors_name_the_first_offending_key(tmp_path):
    sd = gin_state()
    missing = dict(sd)
    del missing["gnns.1.mlp.2.bias"]
    assert "missing key gnns.1.mlp.2.bias" in _err(missing, tmp_path)
    extra = dict(sd)
    extra["gnns.0.mlp.4.weight"] = torch.zeros(3)
    assert "unexpected key gnns.0.mlp.4.weight" in _err(extra, tmp_path)
    bad_shape = dict(sd)
    bad_shape["gnns.1.edge_embedding1.weight"] = torch.zeros(7, 8)
    msg = _err(bad_shape, tmp_path)
    assert "gnns.1.edge_embedding1.weight has shape (7, 8)" in msg and "(6, 8)" in msg
    # a GIN file named as GCN: the first key that does not fit, and what the file looks like
    msg = _err(sd, tmp_path, encoder="gcn")
    assert "unexpected key gnns.0.mlp.0.weight" in msg and "looks like gin" in msg
    assert "no key x_embedding1.weight" in _err({"weight": torch.zeros(2)}, tmp_path)
    assert "not a state dict" in _err([torch.zeros(2)], tmp_path)
    assert "not a loadable state dict" in _err(b"this is not a pickle", tmp_path)
    gat = {"x_embedding1.weight": torch.zeros(120, 4), "x_embedding2.weight": torch.zeros(3, 4),
           "gnns.0.att": torch.zeros(1, 3, 8)}  # fmt: skip
    assert "3 attention heads" in _err(gat, tmp_path, encoder="gat")


def test_arbitrary_pickles_are_never_unpickled(tmp_path):
    class Boom:
        def __reduce__(self):
            return (Path("/tmp").joinpath, ("pwned",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"x_embedding1.weight": Boom()}))
    with pytest.raises(CheckpointImportError, match="not a loadable state dict"):
        import_checkpoint(path, "hu2020", "gin", tmp_path / "o")


def test_import_checkpoint_cli(hu_root, tmp_path):
    runner = CliRunner()
    src = hu_root / "hu2020" / "graphsage_supervised.pth"
    r = runner.invoke(app, ["import-checkpoint", str(src), "--format", "hu2020", "--encoder",
                            "sage", "--out", str(tmp_path / "s")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "hu2020/graphsage_supervised" in r.output and "sage 5x300" in r.output
    assert "row 3 (CHI_OTHER)" in r.output
    assert load_checkpoint(tmp_path / "s" / "checkpoint.pt")["encoder_config"]["conv"] == "sage"
    # a GCN file imported as GraphSAGE works (same keys) but says what the catalogue knows
    gcn = str(hu_root / "hu2020" / "gcn_supervised.pth")
    r = runner.invoke(app, ["import-checkpoint", gcn, "--encoder", "sage", "--out",
                            str(tmp_path / "w"), "--json"])  # fmt: skip
    assert r.exit_code == 0 and "a gcn encoder; imported as sage" in r.stdout
    # wrong encoder: exit 2, one line naming the key
    r = runner.invoke(app, ["import-checkpoint", str(hu_root / "hu2020" / "gat_supervised.pth"),
                            "--encoder", "gcn", "--out", str(tmp_path / "x")])  # fmt: skip
    assert r.exit_code == 2
    assert r.output.strip() == ("error: unexpected key gnns.0.att for a hu2020 gcn 5x300 "
                                "(the file looks like gat, not gcn)")  # fmt: skip
    r = runner.invoke(app, ["import-checkpoint", str(src), "--format", "graphcl", "--encoder",
                            "gin", "--out", str(tmp_path / "y")])  # fmt: skip
    assert r.exit_code == 2 and "unknown checkpoint format 'graphcl'" in r.output
    r = runner.invoke(app, ["import-checkpoint", str(tmp_path / "nope.pth"), "--encoder", "gin",
                            "--out", str(tmp_path / "z")])  # fmt: skip
    assert r.exit_code == 2 and "no such file" in r.output
