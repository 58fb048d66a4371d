"""``run_benchmark``: grid -> (pretrain for the quick profile) -> executor -> store -> report."""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molpt.benchmark.claims import ClaimBoard
from molpt.benchmark.executors import (
    EXECUTORS,
    PoolBackend,
    RayBackend,
    SequentialBackend,
    get_dataset,
)
from molpt.benchmark.grid import GridSpec, Job, expand_grid, inspect_checkpoints
from molpt.benchmark.groups import Group, dataset_shape, form_groups, memory_budget, run_bytes
from molpt.benchmark.store import ResultsStore
from molpt.utils import atomic_write_bytes, atomic_write_json, atomic_write_text

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
    #: jobs of the grid still without a row when this run ended
    remaining: int = 0
    #: fused groups this process ran
    groups: int = 0
    fuse: int | None = None
    max_minutes: float | None = None
    #: True when --max-minutes stopped the run with jobs left
    stopped_early: bool = False
    #: jobs that other processes on the same folder finished during this run
    run_by_others: int = 0
    claims_taken_over: int = 0

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
    fuse: int | None = None,
    max_minutes: float | None = None,
    keep_models: bool = False,
) -> BenchmarkSummary:
    """Run every unfinished job of the grid, in fused groups, appending rows to ``results.csv``.

    Finished ``job_id``s are skipped, so rerunning the same command resumes an interrupted
    benchmark; groups are formed from the pending jobs only, so an interrupted group re-runs
    just its unfinished runs.  A group that raises is recorded in ``errors.jsonl`` (one line
    per job) and retried next time.

    Args:
        fuse: most runs per fused group (None: all seeds and checkpoints of a grid cell,
            bounded by memory, see ``molpt.benchmark.groups``; 1: one run per group).
        max_minutes: start no new group after this many minutes; groups in flight finish,
            the report is written and ``remaining`` says how many jobs are left.
        keep_models: each job it runs also keeps its best-valid model in its job folder
            ``RESULTS_DIR/jobs/<job_id>/`` (``model.json``, ...; ``grid.json`` maps job ids
            to dataset, method, seed): ``molpt predict --model RESULTS_DIR --dataset D
            --method M`` finds them.  Jobs already done are not rerun.

    Several processes may run on one ``results_dir`` at once (same or different machines
    sharing the folder): each claims a group's jobs before running them
    (``molpt.benchmark.claims``), so together they run every job exactly once; a process
    waits for the jobs others hold, and takes over those whose process died.
    At the end ``molpt report`` is run on the folder (``report=False`` to skip).
    """
    t0 = time.perf_counter()
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if fuse is not None and fuse < 1:
        raise ValueError(f"--fuse must be at least 1, got {fuse}")
    if max_minutes is not None and not max_minutes > 0:
        raise ValueError(f"--max-minutes must be positive, got {max_minutes}")
    deadline = t0 + 60 * max_minutes if max_minutes is not None else None
    root = Path(results_dir)
    root.mkdir(parents=True, exist_ok=True)
    if executor == "ray":
        from molpt.benchmark.executors import import_ray

        import_ray()  # fail early with a one-line error
    pretrained = None
    if spec.pretrain and not spec.checkpoints:
        with _file_lock(root / ".pretrain.lock"):  # cooperating processes pretrain once
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
    shapes: dict[tuple, tuple[float, float]] = {}
    for key in sorted({(j.config["dataset"], j.config["featurizer"], j.config["limit"])
                       for j in pending}, key=str):  # fmt: skip
        shapes[key] = dataset_shape(get_dataset(*key, data_dir))

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), initial=already, desc="benchmark", unit="job",
                   position=0, dynamic_ncols=True)  # fmt: skip
    errors: list[str] = []
    stats = {"ran": 0, "failed": 0, "groups": 0}

    def on_rows(group: Group, rows: list[dict[str, Any]], files: dict | None) -> None:
        for row in rows:
            jid = row["job_id"]
            for name, data in ((files or {}).get(jid) or {}).items():
                if isinstance(data, bytes):
                    atomic_write_bytes(store.job_dir(jid) / name, data)
                else:
                    atomic_write_text(store.job_dir(jid) / name, data)
            store.append(row)  # before the claim is released: exactly-once rows
        stats["ran"] += len(rows)
        stats["groups"] += 1
        if bar is not None:
            bar.update(len(rows))

    def on_error(group: Group, message: str) -> None:
        for job in group.jobs:
            errors.append(f"{job.label()} ({job.job_id}): {message}")
            store.record_error(job.job_id, job.label(), message)
            stats["failed"] += 1
        log.error("group %s failed: %s", group.label(), message)
        if bar is not None:
            bar.update(len(group))

    backend = _backend(executor, workers, ray_address, gpus_per_job, data_dir, device,
                       progress, store, keep_models)  # fmt: skip
    ok = False
    try:
        budget = memory_budget(device, parallel=backend.capacity)
    except BaseException:
        backend.close(wait=False)
        raise

    def cap(job: Job) -> int:
        c = job.config
        nodes, edges = shapes.get((c["dataset"], c["featurizer"], c["limit"]), (30.0, 64.0))
        return max(1, budget // max(1, run_bytes(c, nodes, edges)))

    def group(js: list[Job]) -> list[Group]:
        return form_groups(js, fuse=fuse, parallel=backend.capacity, cap=cap,
                           data_dir=data_dir, device=device)  # fmt: skip

    def on_start(group: Group) -> None:
        if bar is not None:
            bar.set_postfix_str(group.label(), refresh=True)

    board = ClaimBoard(root)
    sched = _Scheduler(backend, board, store, group, deadline, on_rows, on_error, on_start)
    try:
        with board:
            sched.run(pending)
        ok = True
    finally:
        backend.close(wait=ok)
        if bar is not None:
            bar.close()
    done_now = store.done_ids()
    remaining = sum(1 for j in jobs if j.job_id not in done_now)
    by_others = max(0, len(done_now & {j.job_id for j in jobs}) - already - stats["ran"])
    if sched.stopped and remaining:
        notes.append(
            f"stopped after --max-minutes {max_minutes:g}: {remaining} job(s) remain; rerun "
            "the same command to continue"
        )
    if by_others:
        notes.append(f"{by_others} job(s) were run by other processes on this folder")
    summary = BenchmarkSummary(
        results_dir=root,
        total=len(jobs),
        already_done=already,
        ran=stats["ran"],
        failed=stats["failed"],
        seconds=round(time.perf_counter() - t0, 1),
        notes=notes,
        errors=errors,
        pretrained=pretrained,
        remaining=remaining,
        groups=stats["groups"],
        fuse=fuse,
        max_minutes=max_minutes,
        stopped_early=bool(sched.stopped and remaining),
        run_by_others=by_others,
        claims_taken_over=board.taken_over,
    )
    if report and not done_now:
        report = False
        notes.append("no finished job in results.csv yet: no report written")
    atomic_write_json(root / "last_run.json", summary.as_dict())
    if report:
        from molpt.benchmark.report import write_report

        summary.report = write_report(root).report_md
    return summary


def _backend(executor, workers, ray_address, gpus_per_job, data_dir, device, progress, store,
             keep_models: bool = False):  # fmt: skip
    if executor == "ray":
        return RayBackend(address=ray_address, gpus_per_job=gpus_per_job,
                          workers=workers if workers > 1 else None, data_dir=data_dir,
                          device=device, keep_models=keep_models)  # fmt: skip
    if workers <= 1:
        return SequentialBackend(store.job_dir, data_dir, device, progress, keep_models)
    return PoolBackend(workers, store.job_dir, data_dir, device, progress, keep_models)


class _Scheduler:
    """Claims groups right before submitting them, keeps ``backend.capacity`` in flight,
    and waits for (or takes over) the jobs other processes hold."""

    #: seconds between looks at jobs held by other processes
    POLL_S = 2.0

    def __init__(self, backend, board: ClaimBoard, store: ResultsStore, group, deadline,
                 on_rows, on_error, on_start=None) -> None:  # fmt: skip
        self.backend, self.board, self.store = backend, board, store
        self.group, self.deadline = group, deadline
        self.on_rows, self.on_error, self.on_start = on_rows, on_error, on_start
        self.queue: deque[Group] = deque()
        self.deferred: list[Job] = []  # held by other processes when we looked
        self.failed: set[str] = set()
        self.slots: dict[int, Group] = {}
        self.stopped = False
        self.waiting_logged = False

    def _out_of_time(self) -> bool:
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            self.stopped = True
        return self.stopped

    def _next(self) -> Group | None:
        while self.queue:
            g = self.queue.popleft()
            got = set(self.board.claim(g.job_ids))
            self.deferred += [j for j in g.jobs if j.job_id not in got]
            if not got:
                continue
            done = self.store.done_ids()  # re-checked after claiming: exactly-once rows
            self.board.release([j for j in got if j in done])
            mine = [j for j in g.jobs if j.job_id in got and j.job_id not in done]
            if mine:
                return g if len(mine) == len(g) else Group(mine)
        return None

    def _regroup(self) -> None:
        """Queue again the deferred jobs that are still neither done nor failed here."""
        done = self.store.done_ids()
        left = [j for j in self.deferred if j.job_id not in done and j.job_id not in self.failed]
        self.deferred = []
        if left:
            self.queue.extend(self.group(left))

    def run(self, pending: list[Job]) -> None:
        self.queue.extend(self.group(pending))
        last_look = time.perf_counter()
        while True:
            if not self.queue and self.deferred and time.perf_counter() - last_look >= self.POLL_S:
                self._regroup()
                last_look = time.perf_counter()
            while not self._out_of_time() and len(self.slots) < self.backend.capacity:
                g = self._next()
                if g is None:
                    break
                slot = min(set(range(self.backend.capacity)) - set(self.slots))
                self.slots[slot] = g
                if self.on_start is not None:
                    self.on_start(g)
                self.backend.submit(g, slot)
            if not self.slots:
                if self.stopped or (not self.queue and not self.deferred):
                    return
                if not self.queue:  # everything left is held by other processes
                    if not self.waiting_logged:
                        log.info("waiting for %d job(s) that other processes are running",
                                 len(self.deferred))  # fmt: skip
                        self.waiting_logged = True
                    time.sleep(self.POLL_S)
                continue
            poll = self.POLL_S if (self.deferred or self.deadline is not None) else None
            for g, res in self.backend.wait(timeout=poll):
                for slot, held in list(self.slots.items()):
                    if held is g:
                        del self.slots[slot]
                try:
                    if "error" in res:
                        self.failed.update(g.job_ids)
                        self.on_error(g, res["error"])
                    else:
                        self.on_rows(g, res["rows"], res.get("files"))
                finally:
                    self.board.release(g.job_ids)


@contextmanager
def _file_lock(path: Path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def summary_json(summary: BenchmarkSummary) -> str:
    return json.dumps(summary.as_dict(), indent=2)


__all__ = ["BenchmarkSummary", "ensure_pretrained", "run_benchmark"]
