"""``run_benchmark``: grid -> (pretrain for the quick profile) -> executor -> store -> report."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molpt.benchmark.executors import EXECUTORS, get_dataset, run_local, run_ray
from molpt.benchmark.grid import GridSpec, Job, expand_grid, inspect_checkpoints
from molpt.benchmark.store import ResultsStore
from molpt.utils import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class BenchmarkSummary:
    """What a ``run_benchmark`` call did."""

    results_dir: Path
    total: int
    already_done: int
    ran: int
    failed: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    report: Path | None = None
    pretrained: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("results_dir", "report", "pretrained"):
            d[k] = str(d[k]) if d[k] is not None else None
        return d


def ensure_pretrained(
    spec: GridSpec,
    results_dir: Path,
    data_dir: str | None,
    device: str = "auto",
    progress: bool = True,
) -> Path:
    """The profile's pretraining run under ``RESULTS_DIR/pretrain/<objective>/`` (reused,
    or resumed, when it is already there)."""
    from molpt.train.checkpoint import load_checkpoint
    from molpt.train.pretrain import PretrainConfig, pretrain

    p = dict(spec.pretrain or {})
    objective = p.pop("objective")
    out = results_dir / "pretrain" / objective
    cfg = PretrainConfig(
        objective=objective,
        out=out,
        featurizer=spec.featurizers[0],
        encoder=spec.encoder,
        num_layers=spec.num_layers,
        hidden_dim=spec.hidden_dim,
        data_dir=data_dir,
        device=device,
        **p,
    )
    ckpt = out / "checkpoint.pt"
    if ckpt.is_file():
        done = int(load_checkpoint(ckpt).get("epoch", 0))
        if done >= cfg.epochs:
            log.info("reusing pretrained checkpoint %s (%d epochs)", ckpt, done)
            return ckpt
        cfg.resume = True
    log.info("pretraining %s on %s (%s molecules, %d epoch(s)) -> %s",
             objective, cfg.data, cfg.limit or "all", cfg.epochs, out)  # fmt: skip
    return pretrain(cfg, progress=progress)


def run_benchmark(
    spec: GridSpec,
    results_dir: str | Path,
    executor: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    gpus_per_job: float | None = None,
    data_dir: str | None = None,
    device: str = "auto",
    progress: bool = True,
    report: bool = True,
) -> BenchmarkSummary:
    """Run every unfinished job of the grid and append its row to ``results.csv``.

    Finished ``job_id``s are skipped, so rerunning the same command resumes an interrupted
    benchmark.  A job that raises is recorded in ``errors.jsonl`` and retried next time.
    At the end ``molpt report`` is run on the folder (``report=False`` to skip).
    """
    t0 = time.perf_counter()
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    root = Path(results_dir)
    root.mkdir(parents=True, exist_ok=True)
    if executor == "ray":
        from molpt.benchmark.executors import import_ray

        import_ray()  # fail early with a one-line error
    pretrained = None
    if spec.pretrain and not spec.checkpoints:
        pretrained = ensure_pretrained(spec, root, data_dir, device, progress)
        spec.checkpoints = {spec.pretrain["objective"]: str(pretrained)}
    ckpts = inspect_checkpoints(spec.checkpoints)
    jobs, notes = expand_grid(spec, ckpts)
    for n in notes:
        log.warning(n)
    atomic_write_json(
        root / "grid.json",
        {"spec": spec.to_dict(), "jobs": [{"job_id": j.job_id, **j.config} for j in jobs]},
    )
    store = ResultsStore(root)
    read = store.read()
    notes += read.notes
    done = set(read.frame["job_id"].astype(str))
    pending = [j for j in jobs if j.job_id not in done]
    already = len(jobs) - len(pending)
    if already:
        log.info("%d of %d jobs already in %s; running the other %d",
                 already, len(jobs), store.path, len(pending))  # fmt: skip

    # featurize each dataset once, in the driver (validates names; warms the cache)
    for key in sorted({(j.config["dataset"], j.config["featurizer"], j.config["limit"])
                       for j in pending}, key=str):  # fmt: skip
        get_dataset(*key, data_dir)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), initial=already, desc="benchmark", unit="job",
                   position=0, dynamic_ncols=True)  # fmt: skip
    errors: list[str] = []

    def on_result(job: Job, row: dict[str, Any], files: dict[str, str] | None) -> None:
        if files:
            for name, text in files.items():
                atomic_write_text(store.job_dir(job.job_id) / name, text)
        store.append(row)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"{job.label()} {row['test_at_best_valid']:.3f}"
                                if row["test_at_best_valid"] is not None else job.label())

    def on_error(job: Job, message: str) -> None:
        errors.append(f"{job.label()} ({job.job_id}): {message}")
        store.record_error(job.job_id, job.label(), message)
        log.error("job %s failed: %s", job.label(), message)
        if bar is not None:
            bar.update(1)

    try:
        if executor == "local":
            run_local(pending, store.job_dir, on_result, on_error, workers=workers,
                      data_dir=data_dir, device=device, progress=progress)  # fmt: skip
        else:
            run_ray(pending, on_result, on_error, address=ray_address,
                    gpus_per_job=gpus_per_job, workers=workers if workers > 1 else None,
                    data_dir=data_dir, device=device)  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    summary = BenchmarkSummary(
        results_dir=root,
        total=len(jobs),
        already_done=already,
        ran=len(pending) - len(errors),
        failed=len(errors),
        seconds=round(time.perf_counter() - t0, 1),
        notes=notes,
        errors=errors,
        pretrained=pretrained,
    )
    atomic_write_json(root / "last_run.json", summary.as_dict())
    if report:
        from molpt.benchmark.report import write_report

        summary.report = write_report(root).report_md
    return summary


def summary_json(summary: BenchmarkSummary) -> str:
    return json.dumps(summary.as_dict(), indent=2)


__all__ = ["BenchmarkSummary", "ensure_pretrained", "run_benchmark"]
