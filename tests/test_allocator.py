"""molpt.allocator: which allocator serves a process, read from its memory maps."""

from __future__ import annotations

from molpt.allocator import loaded_allocator


def test_loaded_allocator_reads_the_process_maps(tmp_path):
    maps = tmp_path / "maps"
    maps.write_text("7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n")
    assert loaded_allocator(maps) == "system"
    maps.write_text(maps.read_text() + "7f02-7f03 r-xp 0 08:01 2 /usr/lib/libjemalloc.so.2\n")
    assert loaded_allocator(maps) == "jemalloc"
    assert loaded_allocator(tmp_path / "missing") == "system"
