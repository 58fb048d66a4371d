"""``write_report``: read ``results.csv``, derive the tables, write ``summary.csv``,
``paper.csv``, the figures and ``report.md``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from molpt.benchmark.report.format import PERCENT_METRICS, setting_label
from molpt.benchmark.report.papers import paper_comparison
from molpt.benchmark.report.progress import CELL, planned_seeds, progress_frame
from molpt.benchmark.report.render import ReportContext, render
from molpt.benchmark.report.tables import dataset_averages, summarise
from molpt.benchmark.store import ResultsStore
from molpt.utils import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class ReportFiles:
    summary_csv: Path
    report_md: Path
    plots: list[Path] = field(default_factory=list)
    summary: pd.DataFrame | None = None
    gains: pd.DataFrame | None = None
    paper: pd.DataFrame | None = None
    progress: pd.DataFrame | None = None


def _errors_pending(root: Path, done: set[str]) -> list[dict]:
    path = root / "errors.jsonl"
    if not path.is_file():
        return []
    out = {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("job_id") not in done:
            out[rec.get("job_id")] = rec
    return list(out.values())


def _safe_plot(fn, frame: pd.DataFrame, path: Path) -> Path | None:
    """Figures are secondary: a plotting failure is logged, never fatal for the report."""
    try:
        return fn(frame, path)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not draw %s: %s", path.name, exc)
        return None


def annotate_summary(summary: pd.DataFrame, progress: pd.DataFrame,
                     paper: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """Add n_planned / complete and the first matching published value to the summary."""
    prog = {tuple(str(r[c]) for c in CELL): r for r in progress.to_dict("records")}
    cells = [tuple(str(r[c]) for c in CELL) for r in summary.to_dict("records")]
    summary["n_planned"] = [int(prog[c]["n_planned"]) if c in prog else n
                            for c, n in zip(cells, summary["n_seeds"], strict=True)]  # fmt: skip
    summary["complete"] = summary["n_seeds"] >= summary["n_planned"]
    for c in ("published", "published_source", "published_delta", "published_in_ci"):
        summary[c] = None
    if paper.empty:
        return summary
    per_ds = paper[paper["kind"] == "dataset"]
    for i, r in summary.iterrows():
        hit = per_ds[(per_ds["dataset"] == r["dataset"]) & (per_ds["method"] == r["method"])
                     & (per_ds["split"] == r["split"])
                     & (per_ds["featurizer"] == r["featurizer"])
                     & per_ds["published"].notna()]  # fmt: skip
        if hit.empty:
            continue
        h = hit.iloc[0]
        summary.at[i, "published"] = h["published"]
        summary.at[i, "published_source"] = h["source"]
        summary.at[i, "published_delta"] = h["delta"]
        summary.at[i, "published_in_ci"] = h["inside_ci"]
    return summary


def write_report(results_dir: str | Path) -> ReportFiles:
    """Write ``summary.csv``, ``report.md``, ``paper.csv`` (when a published setting
    matches) and the figures.

    Raises:
        FileNotFoundError: no such folder.
        ValueError: no finished job in ``results.csv``.
    """
    from molpt.benchmark.plots import plot_gains, plot_published, plot_splits
    from molpt.benchmark.studies import study_of_results

    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no such results folder: {root}")
    store = ResultsStore(root)
    read = store.read()
    frame = read.frame
    if frame.empty:
        raise ValueError(f"{root}: no finished job in {store.path.name} yet")
    frame["seed"] = frame["seed"].astype(int)
    frame["method"] = frame["method"].astype(str)
    study = study_of_results(root)
    summary, gains, keys = summarise(frame)
    averages = dataset_averages(summary, keys)
    progress = progress_frame(frame, planned_seeds(root, frame, study))
    paper = paper_comparison(frame, summary, keys, progress, study)
    summary = annotate_summary(summary, progress, paper)
    summary_csv = root / "summary.csv"
    atomic_write_text(summary_csv, summary.to_csv(index=False, float_format="%.6g"))
    if not paper.empty:
        atomic_write_text(root / "paper.csv", paper.to_csv(index=False, float_format="%.6g"))

    plots: list[Path] = []
    setting_cols = [k for k in keys if k != "dataset"]
    if not gains.empty:
        g = gains.copy()
        g["setting"] = [setting_label(r, keys) for r in g.to_dict("records")]
        for c in ("gain", "ci_low", "ci_high"):
            g[c] = [v * (100 if m in PERCENT_METRICS else 1) for v, m in zip(g[c], g["metric"],
                                                                            strict=True)]
        p = _safe_plot(plot_gains, g, root / "gains.png")
        if p:
            plots.append(p)
    p = _safe_plot(plot_splits, summary, root / "splits.png")
    if p:
        plots.append(p)
    if not paper.empty:
        p = _safe_plot(plot_published, paper, root / "published.png")
        if p:
            plots.append(p)

    grid = {}
    if (root / "grid.json").is_file():
        try:
            grid = json.loads((root / "grid.json").read_text()).get("spec", {})
        except (json.JSONDecodeError, OSError):
            grid = {}
    pending_errors = _errors_pending(root, set(frame["job_id"]))
    ctx = ReportContext(root, frame, summary, gains, averages, keys, setting_cols, grid,
                   read.notes, pending_errors, plots, progress, paper, study)  # fmt: skip
    report_md = root / "report.md"
    atomic_write_text(report_md, render(ctx))
    return ReportFiles(summary_csv, report_md, plots, summary, gains, paper, progress)
