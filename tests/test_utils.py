"""molpt.utils: temporary files of killed writers are cleaned, those of live ones kept."""

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
