"""Rebuild README.md's "Results" section from benchmarks/results/*/ (never edit it by hand).

    python benchmarks/results/render_readme.py            # rewrite the section
    python benchmarks/results/render_readme.py --check    # exit 1 if the README is stale

The section lies between ``<!-- results:start -->`` and ``<!-- results:end -->``; see
``molpt.benchmark.readme``.  Run ``molpt report benchmarks/results/<study>`` first if a
results folder's summary is older than its results.csv.  Without ``--check`` it also
refreshes the "Used by" table of every checkpoint of record (checkpoints/molpt/*/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from molpt.benchmark.readme import update_readme
from molpt.published.records import refresh_cards
from molpt.utils import atomic_write_text

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", type=Path, default=REPO / "README.md")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--studies", type=Path, default=None,
                    help="study folder (default: benchmarks/studies)")
    ap.add_argument("--check", action="store_true", help="exit 1 if the section is stale")
    a = ap.parse_args(argv)
    text, changed = update_readme(a.readme, a.results, a.studies)
    if a.check:
        print(f"{a.readme}: results section {'STALE' if changed else 'up to date'}")
        return 1 if changed else 0
    if changed:
        atomic_write_text(a.readme, text)
    for name in refresh_cards(results_root=a.results):
        print(f"model card of molpt/{name}: used-by table refreshed")
    print(f"{a.readme}: results section {'rewritten' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
