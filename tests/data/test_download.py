"""Downloader against a local threaded http.server (never a real remote host)."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import shutil
import socket
import threading
import zipfile

import pytest

from molpt.data import DATASETS, DatasetUnavailableError, fetch, load_dataset
from molpt.utils import file_sha256


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture()
def server(tmp_path, data_dir):
    """Serve copies of shared files from a tmp dir on 127.0.0.1; yields (base url, dir)."""
    root = tmp_path / "served"
    root.mkdir()
    shutil.copy(data_dir / "BBBP.csv", root / "BBBP.csv")
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_then_local(server, tmp_path, monkeypatch, data_dir, tmp_cache):
    base, served = server
    spec = dataclasses.replace(DATASETS.get("bbbp"), url=f"{base}/BBBP.csv")
    monkeypatch.setitem(DATASETS._items, "bbbp", spec)
    root = tmp_path / "root"
    ds = load_dataset("bbbp", data_dir=root)
    assert (root / "BBBP.csv").is_file() and len(ds) == 2039
    assert file_sha256(root / "BBBP.csv") == file_sha256(data_dir / "BBBP.csv")
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temp file left
    (served / "BBBP.csv").unlink()  # now only the local copy can serve
    assert fetch(spec, root) == root / "BBBP.csv"


def test_env_root_is_used(server, tmp_path, monkeypatch):
    base, _ = server
    spec = dataclasses.replace(DATASETS.get("bbbp"), url=f"{base}/BBBP.csv")
    monkeypatch.setenv("MOLPT_DATA", str(tmp_path / "envroot"))
    assert fetch(spec, progress=False) == tmp_path / "envroot" / "BBBP.csv"


def test_offline_error_names_url_and_destination(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/BBBP.csv"
    spec = dataclasses.replace(DATASETS.get("bbbp"), url=url)
    with pytest.raises(DatasetUnavailableError) as err:
        fetch(spec, tmp_path, progress=False)
    msg = str(err.value)
    assert url in msg and str(tmp_path / "BBBP.csv") in msg and "\n" not in msg
    assert not list(tmp_path.iterdir())  # no partial file


def test_http_404_is_a_clear_error(server, tmp_path):
    base, _ = server
    spec = dataclasses.replace(DATASETS.get("sider"), url=f"{base}/sider.csv.gz")
    with pytest.raises(DatasetUnavailableError, match="sider.csv.gz"):
        fetch(spec, tmp_path, progress=False)


def test_zinc2m_zip_is_extracted(server, tmp_path, monkeypatch, tmp_cache):
    base, served = server
    with zipfile.ZipFile(served / "chem_dataset.zip", "w") as zf:
        zf.writestr("dataset/zinc_standard_agent/processed/smiles.csv", "CCO\nc1ccccc1\nC1CC\nC\n")
        zf.writestr("dataset/other/x.csv", "ignored\n")
    spec = dataclasses.replace(DATASETS.get("zinc2m"), url=f"{base}/chem_dataset.zip")
    monkeypatch.setitem(DATASETS._items, "zinc2m", spec)
    ds = load_dataset("zinc2m", data_dir=tmp_path / "root")
    assert ds.y is None and len(ds) == 3 and ds.report.failed[0].row == 2
    assert ds.source == tmp_path / "root" / "pretrain" / spec.file_name


def test_moses_without_url_explains_manual_step(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="molsets"):
        fetch(DATASETS.get("moses"), tmp_path / "nothing-here")
