"""Does bf16 move the results? fp32 rows beside their bf16 twins (issue 9, item 4).

    python benchmarks/precision_check.py FP32 BF16 [--threshold 0.5] [--record RESULTS.md]

FP32 and BF16 are results folders (or study names under benchmarks/results/), e.g. the
study of record ``hu2020_gin_none`` and its bf16 twin ``hu2020_gin_none_bf16`` (the same grid
with ``precision = "bf16"``).  Prints, per dataset and over the covered datasets, the fp32
and bf16 means, their difference and its paired 95% CI, and whether the means move by less
than the threshold (see molpt.benchmark.precision); ``--record`` appends the table, with
the devices and commits that made each side, to a markdown file (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from molpt.benchmark.precision import THRESHOLD, compare, load, markdown, pair
from molpt.benchmark.studies import results_folder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import emit  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fp32", help="results folder (or study name) with the fp32 rows")
    ap.add_argument("bf16", help="results folder (or study name) with the bf16 rows")
    ap.add_argument("--threshold", type=float, default=THRESHOLD,
                    help=f"points (default {THRESHOLD})")
    ap.add_argument("--record", type=Path, help="append the table to this markdown file")
    a = ap.parse_args(argv)
    fp32_dir, bf16_dir = results_folder(a.fp32), results_folder(a.bf16)
    try:
        sides = {"fp32": load(fp32_dir, "fp32"), "bf16": load(bf16_dir, "bf16")}
    except FileNotFoundError as exc:
        study = Path(exc.filename).name if exc.filename else ""
        hint = f" (run it first: molpt benchmark --study {study})" if study else ""
        print(f"error: {exc.strerror or exc}{hint}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    pairs = pair(sides["fp32"], sides["bf16"])
    if pairs.empty:
        print("error: no fp32 run has a bf16 twin (same dataset, method, seed, settings)",
              file=sys.stderr)  # fmt: skip
        return 1
    text = markdown(compare(pairs, a.threshold), a.threshold,
                    (fp32_dir.name, bf16_dir.name), sides)
    emit(text, a.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
