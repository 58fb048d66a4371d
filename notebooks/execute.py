"""Execute the notebooks in place, so they are committed with their outputs.

    python notebooks/execute.py                      # every notebook
    python notebooks/execute.py notebooks/02_splits.ipynb
    python notebooks/execute.py --strip-only         # only drop volatile metadata

Each notebook runs top to bottom in a fresh kernel whose working folder is a scratch folder
(whatever it writes stays out of the repository), with a fresh ``MOLPT_CACHE``.  Set
``MOLPT_DATA`` / ``MOLPT_CHECKPOINTS`` first if the data and the published encoders live
elsewhere than ``./data`` and ``./checkpoints``.  Afterwards the volatile metadata (cell
timings, kernel versions) is removed, so a rerun that changes no output changes no byte.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
#: notebook-level metadata worth keeping; the rest (language_info versions, widgets) is noise
KEEP_METADATA = ("kernelspec",)


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop per-cell timings and run-specific notebook metadata, in place."""
    nb.metadata = nbformat.NotebookNode(
        {k: v for k, v in nb.metadata.items() if k in KEEP_METADATA})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
    return nb


def execute(path: Path, timeout: int = 600) -> float:
    """Run one notebook in place; returns the seconds it took."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="molpt-nb-") as scratch:
        os.environ["MOLPT_CACHE"] = str(Path(scratch) / "cache")
        os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend: figures are outputs
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": scratch}}).execute()
        seconds = time.perf_counter() - t0
    nbformat.write(strip(nb), path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--strip-only", action="store_true", help="do not execute")
    a = ap.parse_args(argv)
    paths = a.notebooks or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        if a.strip_only:
            nbformat.write(strip(nbformat.read(path, as_version=4)), path)
            print(f"{path}: stripped")
        else:
            print(f"{path}: executed in {execute(path):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
