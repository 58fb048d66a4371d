"""Catalogue names -> molpt checkpoints: lookup under the checkpoint root, verified download
(only from a local http.server on 127.0.0.1), refusal of wrong files, the import cache, and
`molpt checkpoints`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from molpt.cli import app
from molpt.published import (
    CATALOGUE,
    CheckpointUnavailableError,
    ChecksumMismatchError,
    checkpoint_root,
    resolve_checkpoint,
)
from molpt.published.resolve import download_verified, import_cache_path
from molpt.train.checkpoint import load_checkpoint
from molpt.utils import file_sha256

HU_GCN = "hu2020/gcn_supervised_contextpred"


def test_catalogue_lists_the_published_encoders():
    names = CATALOGUE.choices()
    shipped = [f"hu2020/{a}_{o}" for a in ("gcn", "graphsage", "gat")
               for o in ("contextpred", "supervised", "supervised_contextpred")]  # fmt: skip
    gin = [f"hu2020/gin_{o}" for o in ("contextpred", "edgepred", "infomax", "masking",
                                        "supervised", "supervised_contextpred",
                                        "supervised_edgepred", "supervised_infomax",
                                        "supervised_masking")]  # fmt: skip
    assert set(shipped + gin + ["graphmae2022/gin_graphmae"]) <= set(names)
    for n in shipped:
        e = CATALOGUE.get(n)
        assert len(e.sha256) == 64 and e.url.endswith(f"model_architecture/{n[7:]}.pth")
    assert CATALOGUE.get("hu2020/graphsage_supervised").encoder == "sage"
    assert CATALOGUE.get("hu2020/gin_masking").url.endswith("/chem/model_gin/masking.pth")
    assert CATALOGUE.get("graphmae2022/gin_graphmae").sha256 is None


def test_shipped_files_match_the_catalogue_checksums(hu_root):
    sums = dict(
        reversed(line.split()) for line in (hu_root / "hu2020.sha256").read_text().splitlines()
    )
    for stem, sha in sums.items():
        e = CATALOGUE.get(f"hu2020/{stem.removesuffix('.pth')}")
        assert e.sha256 == sha == file_sha256(hu_root / e.file)


def test_checkpoint_root_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert checkpoint_root() == Path("checkpoints")
    monkeypatch.setenv("MOLPT_CHECKPOINTS", str(tmp_path / "env"))
    assert checkpoint_root() == tmp_path / "env"
    assert checkpoint_root(tmp_path / "explicit") == tmp_path / "explicit"


def test_name_is_imported_once_and_cached_outside_the_shared_folder(hu_root, tmp_path):
    before = sorted(p.name for p in (hu_root / "hu2020").iterdir())
    path = resolve_checkpoint(HU_GCN, hu_root)
    assert path.is_relative_to(tmp_path / "cache")  # MOLPT_CACHE, never the shared root
    sha = CATALOGUE.get(HU_GCN).sha256
    assert path == import_cache_path(CATALOGUE.get(HU_GCN), sha) and sha[:32] in str(path)
    ck = load_checkpoint(path)
    assert ck["provenance"]["name"] == HU_GCN and ck["encoder_config"]["conv"] == "gcn"
    stamp = path.stat().st_mtime_ns
    assert resolve_checkpoint(HU_GCN, hu_root) == path and path.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in (hu_root / "hu2020").iterdir()) == before
    # a file path is passed through untouched; an unknown name under a source is an error
    assert resolve_checkpoint(str(path)) == path
    with pytest.raises(KeyError, match="unknown published encoder 'hu2020/gcn_nope'"):
        resolve_checkpoint("hu2020/gcn_nope", hu_root)


def test_a_local_file_with_another_sha256_is_refused(hu_root, tmp_path):
    root = tmp_path / "root"
    (root / "hu2020").mkdir(parents=True)
    # the right name, the wrong bytes (another of Hu's files)
    shutil.copy(hu_root / "hu2020" / "gcn_contextpred.pth", root / "hu2020" / Path(HU_GCN +
                ".pth").name)  # fmt: skip
    with pytest.raises(ChecksumMismatchError, match="refused"):
        resolve_checkpoint(HU_GCN, root)
    assert not (tmp_path / "cache" / "published").exists()


def test_download_progress_checksum_rename(hu_root, tmp_path, http_dir, add_entry):
    served, base, requests = http_dir
    shutil.copy(hu_root / "hu2020" / "gcn_supervised.pth", served / "gcn.pth")
    sha = file_sha256(served / "gcn.pth")
    add_entry("test/gcn_dl", f"{base}/gcn.pth", sha, file="test/gcn_dl.pth")
    root = tmp_path / "root"
    path = resolve_checkpoint("test/gcn_dl", root, progress=True)
    dest = root / "test" / "gcn_dl.pth"
    assert dest.is_file() and file_sha256(dest) == sha
    assert [p.name for p in dest.parent.iterdir()] == ["gcn_dl.pth"]  # no temporary left
    assert requests == ["/gcn.pth"]
    assert load_checkpoint(path)["encoder_config"]["conv"] == "gcn"
    # second use: neither downloaded nor imported again
    assert resolve_checkpoint("test/gcn_dl", root) == path and requests == ["/gcn.pth"]


def test_download_with_a_wrong_checksum_is_refused_and_not_kept(tmp_path, http_dir, add_entry):
    served, base, requests = http_dir
    (served / "f.pth").write_bytes(b"not the published bytes")
    add_entry("test/wrong", f"{base}/f.pth", "0" * 64)
    with pytest.raises(ChecksumMismatchError, match="refused"):
        resolve_checkpoint("test/wrong", tmp_path / "root")
    assert requests == ["/f.pth"]
    assert not any((tmp_path / "root").rglob("*.pth")) and not any(
        (tmp_path / "root").rglob("*.part"))  # fmt: skip
    # the same through the generic helper
    with pytest.raises(ChecksumMismatchError):
        download_verified(f"{base}/f.pth", tmp_path / "d" / "f.pth", "1" * 64, progress=False)
    assert not (tmp_path / "d" / "f.pth").exists()


def test_offline_error_names_url_and_destination(tmp_path, add_entry, dead_url):
    add_entry("test/offline", dead_url, "a" * 64)
    runner = CliRunner()
    (tmp_path / "m.smi").write_text("CCO\n")
    r = runner.invoke(app, ["embed", str(tmp_path / "m.smi"), "--checkpoint", "test/offline",
                            "--out", str(tmp_path / "z.npy"),
                            "--checkpoint-dir", str(tmp_path / "root")])  # fmt: skip
    assert r.exit_code == 2
    line = r.output.strip()
    assert "\n" not in line and dead_url in line
    assert str(tmp_path / "root" / "test" / "offline.pth") in line
    with pytest.raises(CheckpointUnavailableError):
        resolve_checkpoint("test/offline", tmp_path / "root")


def test_unverified_entry_is_used_with_its_own_sha_as_cache_key(tmp_path, http_dir, add_entry):
    from test_importers import gin_state

    served, base, _ = http_dir
    torch.save(gin_state(), served / "g.pth")
    add_entry("test/gin_unverified", f"{base}/g.pth", None, encoder="gin")
    path = resolve_checkpoint("test/gin_unverified", tmp_path / "root")
    sha = file_sha256(served / "g.pth")
    assert sha[:32] in str(path)
    ck = load_checkpoint(path)
    assert ck["provenance"]["catalogue_sha256"] == "unverified"
    assert ck["provenance"]["source_sha256"] == sha


def test_checkpoints_command(hu_root, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["checkpoints", "--json", "--checkpoint-dir", str(hu_root)])
    assert r.exit_code == 0, r.output
    rows = {x["name"]: x for x in json.loads(r.stdout) if x["kind"] == "published"}
    assert len(rows) >= 19
    gcn = rows[HU_GCN]
    assert gcn["present"] is True and gcn["encoder"] == "gcn" and gcn["size"] == "5x300"
    assert gcn["sha256"] == CATALOGUE.get(HU_GCN).sha256 and gcn["url"].startswith("https://")
    for key in ("objective", "corpus", "paper", "licence", "local_path"):
        assert gcn[key]
    assert rows["hu2020/gin_contextpred"]["present"] is False
    assert rows["hu2020/gin_contextpred"]["sha256"] == "unverified"
    assert sum(x["present"] for x in rows.values()) == 9
    env = {**os.environ, "MOLPT_CHECKPOINTS": str(tmp_path)}
    r = runner.invoke(app, ["checkpoints"], env=env)
    assert r.exit_code == 0 and f"0 present under {tmp_path}" in r.output
    assert "hu2020/gat_supervised" in r.output and "unverified" in r.output
