"""Merge results rows made elsewhere (another machine, a GPU run) into a study's folder.

    python benchmarks/results/merge.py SOURCE_DIR TARGET_DIR [--no-report]

SOURCE_DIR and TARGET_DIR are results folders (or study names, meaning
benchmarks/results/NAME).  Rows are matched by job_id: rows already in the target are
skipped, the others appended with the device and commit that produced them, and their
jobs/<job_id>/ files copied.  The target's report is rebuilt afterwards, so it says which
device produced which rows.
"""

from __future__ import annotations

import argparse
import sys

from molpt.benchmark.report import write_report
from molpt.benchmark.studies import merge_results, results_folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("target")
    ap.add_argument("--no-report", action="store_true", help="do not rebuild the report")
    a = ap.parse_args(argv)
    src, dst = results_folder(a.source), results_folder(a.target)
    added, skipped = merge_results(src, dst)
    print(f"{dst}: {added} row(s) appended from {src}, {skipped} already there")
    if not a.no_report and added:
        print(f"report: {write_report(dst).report_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
