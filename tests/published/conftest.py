"""Fixtures for published-encoder tests: the shared Hu checkpoints, a local HTTP server on
127.0.0.1 (the only network these tests touch) and temporary catalogue entries."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from molpt.published.catalogue import CATALOGUE, PublishedEncoder

REPO = Path(__file__).resolve().parents[2]


#: the shared checkpoint root: $MOLPT_CHECKPOINTS when the suite starts, else ../shared/...
SHARED = Path(os.environ.get("MOLPT_CHECKPOINTS") or REPO.parent / "shared" / "checkpoints")


@pytest.fixture(scope="session")
def hu_root() -> Path:
    """The read-only checkpoint root holding ``hu2020/*.pth`` (never write here)."""
    d = SHARED
    if not (d / "hu2020" / "gcn_supervised_contextpred.pth").is_file():
        msg = f"shared Hu checkpoints not found under {d}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return d


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test: its own import cache, and no checkpoint root from the environment."""
    monkeypatch.setenv("MOLPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MOLPT_CHECKPOINTS", raising=False)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture()
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str, list[str]]]:
    """(folder served, base URL on 127.0.0.1, list of requested paths)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = type("Handler", (_Quiet,), {"requests": []})

    def make(*args, **kwargs):
        return handler(*args, directory=str(root), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def add_entry(monkeypatch: pytest.MonkeyPatch) -> Callable[..., PublishedEncoder]:
    """Register a temporary catalogue entry (removed after the test)."""
    items = dict(CATALOGUE._items)
    monkeypatch.setattr(CATALOGUE, "_items", items)

    def add(name: str, url: str, sha256: str | None, encoder: str = "gcn",
            file: str | None = None) -> PublishedEncoder:  # fmt: skip
        e = PublishedEncoder(name=name, format="hu2020", encoder=encoder, num_layers=5,
                             hidden_dim=300, objective="test", corpus="test", paper="test",
                             licence="MIT", url=url, file=file or f"{name}.pth",
                             sha256=sha256)  # fmt: skip
        items[name] = e
        return e

    return add


def closed_port_url(path: str = "x.pth") -> str:
    """A 127.0.0.1 URL where nothing listens (an offline machine, without the internet)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path}"


@pytest.fixture()
def dead_url() -> str:
    return closed_port_url()
