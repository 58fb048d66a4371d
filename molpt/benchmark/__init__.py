"""Benchmark harness: grid -> jobs -> executor (local, ray) -> results store -> report."""

from molpt.benchmark.grid import (
    PROFILES,
    GridSpec,
    Job,
    expand_grid,
    parse_checkpoints,
    parse_seeds,
    resolve_grid,
)
from molpt.benchmark.report import ReportFiles, write_report
from molpt.benchmark.runner import BenchmarkSummary, run_benchmark
from molpt.benchmark.store import ResultsStore

__all__ = [
    "PROFILES",
    "BenchmarkSummary",
    "GridSpec",
    "Job",
    "ReportFiles",
    "ResultsStore",
    "expand_grid",
    "parse_checkpoints",
    "parse_seeds",
    "resolve_grid",
    "run_benchmark",
    "write_report",
]
