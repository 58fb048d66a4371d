"""Which C heap allocator serves this process, and where jemalloc / tcmalloc are installed.

PyTorch on a CPU allocates every activation from the C heap, and a fine-tuning step's
activations change size with every batch.  glibc's malloc serves that pattern badly in a long
run: measured on a fused group of 10 GIN 5x300 runs (bf16, 2-core Xeon), its free lists grow
until ``_int_malloc`` takes ~27% of the CPU and epochs slow from ~60 s to ~90 s within a dozen
epochs, while resident memory climbs to 7-9 GB.  jemalloc (with page decay off, so freed
pages are reused rather than returned and faulted in again) and tcmalloc keep both flat
(``benchmarks/host_memory.py`` compares them side by side).  The allocator changes no number:
tensors are 64-byte aligned by PyTorch whichever allocator serves them.

This module only answers questions (training records :func:`loaded_allocator` in its
metrics); choosing an allocator happens before the process starts, in the ``molpt`` launcher
(:mod:`molpt.cli.launcher`).  It imports only the standard library, so the launcher can use it
before torch is loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: shared-library file names of each allocator, in preference order
LIBRARIES: dict[str, tuple[str, ...]] = {
    "jemalloc": ("libjemalloc.so.2", "libjemalloc.so"),
    "tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4", "libtcmalloc_minimal.so",
                 "libtcmalloc.so"),
}  # fmt: skip


def loaded_allocator(maps: str | Path = "/proc/self/maps") -> str:
    """The allocator serving this process: ``jemalloc``, ``tcmalloc`` or ``system``."""
    try:
        text = Path(maps).read_text()
    except OSError:
        return "system"
    for name in LIBRARIES:
        if f"/lib{name}" in text:
            return name
    return "system"


def search_dirs() -> list[Path]:
    """Folders :func:`find_library` looks in: the Python prefix's, then the system's."""
    dirs = [Path(sys.prefix) / "lib", Path("/usr/local/lib")]
    multiarch = getattr(sys.implementation, "_multiarch", None)
    for root in ("/usr/lib", "/lib"):
        if multiarch:
            dirs.append(Path(root) / multiarch)
        dirs.append(Path(root))
    dirs.append(Path("/usr/lib64"))
    return dirs


def find_library(name: str) -> str | None:
    """Absolute path of an installed ``jemalloc`` / ``tcmalloc`` shared library, or None."""
    for d in search_dirs():
        for file in LIBRARIES[name]:
            if (d / file).is_file():
                return str(d / file)
    return None


__all__ = ["LIBRARIES", "find_library", "loaded_allocator", "search_dirs"]
