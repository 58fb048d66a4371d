"""molpt.utils: temporary files of killed writers are cleaned, those of live ones kept."""

import errno
import os
import subprocess

from molpt.utils import atomic_write_bytes, remove_stale_temps


def test_remove_stale_temps_only_touches_dead_writers(tmp_path):
    target = tmp_path / "group_state.pt"
    atomic_write_bytes(target, b"state")
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f".group_state.pt.{gone.pid}.tmp.pt"
    live = tmp_path / f".group_state.pt.{os.getpid()}.tmp.pt"  # a writer at work
    other = tmp_path / f".other.pt.{gone.pid}.tmp.pt"  # another file's temporary
    for p in (dead, live, other):
        p.write_bytes(b"partial")
    assert remove_stale_temps(target) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [target.name, live.name, other.name]
    )
    assert target.read_bytes() == b"state"


def test_create_exclusive_never_replaces_and_works_without_hard_links(tmp_path, monkeypatch):
    from molpt.utils import create_exclusive

    target = tmp_path / "claim"
    assert create_exclusive(target, b"first")
    assert not create_exclusive(target, b"second")
    assert target.read_bytes() == b"first"

    def no_links(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)  # e.g. some network or FUSE mounts
    other = tmp_path / "other"
    assert create_exclusive(other, b"made")
    assert not create_exclusive(other, b"again")
    assert other.read_bytes() == b"made"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claim", "other"]
