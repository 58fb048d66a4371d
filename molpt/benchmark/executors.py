"""Executors: run fused groups of benchmark jobs in this process, a local process pool, or
as Ray tasks.

``run_group`` is the unit of work: one ``finetune_group`` call over jobs that share a
``group_key``, returning one results row per job.  A backend has ``capacity`` (groups that
run at once), ``submit(group, slot)``, ``wait(timeout) -> [(group, result)]`` and
``close()``; the driver (``molpt.benchmark.runner``) claims a group right before it submits
it and appends the rows as each group finishes.  A failing group never stops the grid.

Within one process, loaded ``MolDataset`` objects are reused across groups; across processes
the data layer's featurization cache (``MOLPT_CACHE``) means each dataset is featurized once.
Pool workers end when the driver dies, however it dies (``_die_with_parent``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from molpt._version import __version__
from molpt.benchmark.grid import Job, finetune_config
from molpt.benchmark.groups import Group

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")

_DATASETS: dict[tuple, Any] = {}  # per-process cache of loaded MolDatasets
_COMMIT: str | None = None


def get_dataset(name: str, featurizer: str, limit: int | None, data_dir: str | None):
    """Load (once per process) a benchmark dataset."""
    from molpt.data import load_dataset

    key = (name, featurizer, limit, str(data_dir))
    if key not in _DATASETS:
        _DATASETS[key] = load_dataset(name, featurizer=featurizer, data_dir=data_dir, limit=limit)
    return _DATASETS[key]


def _commit() -> str:
    global _COMMIT
    if _COMMIT is None:
        from molpt.benchmark.store import git_commit

        _COMMIT = git_commit()
    return _COMMIT


def _row(job: Job, r: dict[str, Any], seconds: float, group_size: int) -> dict[str, Any]:
    row = {k: v for k, v in job.config.items()}
    row.update(
        metric=r["metric"],
        test_at_best_valid=r["test_at_best_valid"],
        last_test=r["last_test"],
        best_valid=r["best_valid"],
        best_epoch=r["best_epoch"],
        tasks_scored=r["tasks_scored"],
        tasks_skipped=r["tasks_skipped"],
        pr_auc=r.get("test_pr_auc"),
        last_pr_auc=r.get("last_test_pr_auc"),
        n_train=r["n_train"],
        n_valid=r["n_valid"],
        n_test=r["n_test"],
        seconds=round(seconds, 3),
        device=r["device"],
        device_name=r.get("device_name"),
        molpt_version=__version__,
        git_commit=_commit(),
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        precision="bf16" if job.config.get("bf16") else "fp32",
        group_size=group_size,
        job_id=job.job_id,
    )
    return row


def run_group(
    jobs: list[Job],
    outs: list[str | Path],
    data_dir: str | None = None,
    device: str = "auto",
    progress_position: int | None = None,
    keep_models: bool = False,
) -> list[dict[str, Any]]:
    """Fine-tune a fused group (one ``finetune_group`` call) into ``outs``; one row per job.

    ``keep_models``: each job folder is also the job's model folder (``model.json``,
    ``weights.pt``, ``domain.pt``) for ``molpt predict``.

    A row's ``seconds`` is the group's wall time divided by its size (the run's share), so
    the report's compute total stays the wall time spent.
    """
    import hashlib

    from molpt.train.finetune import finetune_group

    _commit()  # the commit of the code that runs, read before the (long) group starts
    c = jobs[0].config
    t0 = time.perf_counter()
    ds = get_dataset(c["dataset"], c["featurizer"], c["limit"], data_dir)
    cfgs = [finetune_config(j, o, data_dir, device, keep_models)
            for j, o in zip(jobs, outs, strict=True)]  # fmt: skip
    # a group's resumable state lives beside the job folders (RESULTS_DIR/groups/<key>/),
    # keyed by its jobs: a rerun of the same group continues where a killed one stopped
    state_dir = None
    first = Path(outs[0])
    if first.parent.name == "jobs":
        key = hashlib.sha256(",".join(sorted(j.job_id for j in jobs)).encode()).hexdigest()
        state_dir = first.parent.parent / "groups" / key[:16]
    results = finetune_group(
        cfgs,
        dataset=ds,
        progress=progress_position is not None,
        progress_position=progress_position or 0,
        state_dir=state_dir,
    )
    if state_dir is not None:
        try:
            state_dir.rmdir()
        except OSError:
            pass
    if len(results) != len(jobs):
        raise RuntimeError(f"finetune_group returned {len(results)} results for {len(jobs)} runs")
    share = (time.perf_counter() - t0) / len(jobs)
    return [_row(j, r, share, len(jobs)) for j, r in zip(jobs, results, strict=True)]


def run_job(
    job: Job,
    out: str | Path,
    data_dir: str | None = None,
    device: str = "auto",
    progress_position: int | None = None,
) -> dict[str, Any]:
    """Fine-tune one job (a group of one) into ``out``; return its row."""
    return run_group([job], [out], data_dir, device, progress_position)[0]


def _error_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:500]


def _attempt(jobs: list[Job], outs: list[str], data_dir: str | None, device: str,
             position: int | None, keep_models: bool = False) -> dict[str, Any]:  # fmt: skip
    try:
        return {"rows": run_group(jobs, outs, data_dir, device, position, keep_models)}
    except Exception as exc:  # noqa: BLE001 - reported to the driver, grid goes on
        log.debug("group %s failed:\n%s", [j.job_id for j in jobs], traceback.format_exc())
        return {"error": _error_text(exc)}


# ------------------------------------------------------------------------------------------
# backends: submit(group, slot) / wait(timeout) -> finished [(group, result)] / close()
# A result is {"rows": [...], "files": {job_id: {name: bytes}} | None} or {"error": text}.
# ------------------------------------------------------------------------------------------
class SequentialBackend:
    """Runs each group in this process when ``wait`` is called (``--workers 1``)."""

    def __init__(self, job_dir: Callable[[str], Path], data_dir: str | None, device: str,
                 progress: bool, keep_models: bool = False) -> None:  # fmt: skip
        self.job_dir, self.data_dir = job_dir, data_dir
        self.device, self.progress = device, progress
        self.keep_models = keep_models
        self.capacity = 1
        self.queue: list[Group] = []

    def submit(self, group: Group, slot: int) -> None:
        self.queue.append(group)

    def wait(self, timeout: float | None = None) -> list[tuple[Group, dict[str, Any]]]:
        if not self.queue:
            return []
        g = self.queue.pop(0)
        outs = [str(self.job_dir(j.job_id)) for j in g.jobs]
        pos = 1 if self.progress else None
        return [(g, _attempt(g.jobs, outs, self.data_dir, self.device, pos,
                             self.keep_models))]  # fmt: skip

    def close(self, wait: bool = True) -> None:
        self.queue.clear()


def _parent_watchdog(ppid: int, interval: float = 1.0) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != ppid:
            os.kill(os.getpid(), signal.SIGKILL)


def _die_with_parent() -> None:
    """End this worker when its parent dies, however it dies (kill -9 included).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; everywhere: a daemon thread that polls
    ``os.getppid()`` once a second (the fallback, and the only guard elsewhere).
    """
    ppid = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != ppid or ppid == 1:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=_parent_watchdog, args=(ppid,), daemon=True,
                     name="molpt-parent-watchdog").start()  # fmt: skip


def _init_worker(threads: int) -> None:
    _die_with_parent()
    import torch

    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


class PoolBackend:
    """A spawn process pool of ``workers`` processes; each runs one group at a time with
    ``max(1, cores // workers)`` torch threads and dies with the driver."""

    def __init__(self, workers: int, job_dir: Callable[[str], Path], data_dir: str | None,
                 device: str, progress: bool, keep_models: bool = False) -> None:  # fmt: skip
        self.workers = workers
        self.keep_models = keep_models
        self.pool = self._new_pool()
        self.capacity = workers
        self.job_dir, self.data_dir = job_dir, data_dir
        self.device, self.progress = device, progress
        self.futs: dict[Any, Group] = {}

    def _new_pool(self):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(max(1, (os.cpu_count() or 1) // self.workers),),
        )

    def submit(self, group: Group, slot: int) -> None:
        from concurrent.futures.process import BrokenProcessPool

        outs = [str(self.job_dir(j.job_id)) for j in group.jobs]
        pos = slot + 1 if self.progress else None
        args = (_attempt, group.jobs, outs, self.data_dir, self.device, pos, self.keep_models)
        try:
            fut = self.pool.submit(*args)
        except BrokenProcessPool:  # a worker died (e.g. out of memory): a fresh pool
            log.warning("a worker process died; starting a new process pool")
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            fut = self.pool.submit(*args)
        self.futs[fut] = group

    def wait(self, timeout: float | None = None) -> list[tuple[Group, dict[str, Any]]]:
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as fwait

        if not self.futs:
            return []
        done, _ = fwait(list(self.futs), timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        for fut in done:
            g = self.futs.pop(fut)
            try:
                out.append((g, fut.result()))
            except Exception as exc:  # noqa: BLE001 - a worker died
                out.append((g, {"error": _error_text(exc)}))
        return out

    def close(self, wait: bool = True) -> None:
        """Shut the pool down (``wait=False`` on an error: the workers die with us)."""
        for f in self.futs:
            f.cancel()
        self.pool.shutdown(wait=wait, cancel_futures=True)


# ------------------------------------------------------------------------------------------
# ray
# ------------------------------------------------------------------------------------------
def _ray_task(jobs: list[Job], data_dir: str | None, device: str,
              keep_models: bool = False) -> dict[str, Any]:  # fmt: skip
    """Runs on a Ray worker: fine-tune a group in a temporary folder, return rows + file
    contents per job (the driver writes them, so a cluster needs no shared file system)."""
    with tempfile.TemporaryDirectory(prefix="molpt-group-") as tmp:
        outs = [str(Path(tmp) / j.job_id) for j in jobs]
        res = _attempt(jobs, outs, data_dir, device, None, keep_models)
        if "error" in res:
            return res
        files = {
            j.job_id: {p.name: p.read_bytes() for p in Path(o).iterdir() if p.is_file()}
            for j, o in zip(jobs, outs, strict=True)
            if Path(o).is_dir()
        }
    return {"rows": res["rows"], "files": files}


def import_ray():
    try:
        import ray
    except ImportError:
        raise ValueError(
            "the ray executor needs Ray: pip install 'molpt[ray]' (or use --executor local)"
        ) from None
    return ray


class RayBackend:
    """Groups as Ray tasks on the cluster at ``address`` or on a local instance.

    A local instance binds to 127.0.0.1 without the dashboard.  ``gpus_per_job`` (per
    group) defaults to 1 when the cluster has GPUs (fractions such as 0.25 share a GPU),
    else 0.  ``capacity`` (groups in flight) is what the cluster can run at once.
    """

    def __init__(self, address: str | None = None, gpus_per_job: float | None = None,
                 cpus_per_job: float = 1.0, workers: int | None = None,
                 data_dir: str | None = None, device: str = "auto",
                 keep_models: bool = False) -> None:  # fmt: skip
        ray = self.ray = import_ray()
        self.keep_models = keep_models
        self.started = False
        self.reaper = None
        if not ray.is_initialized():
            env = {"env_vars": {k: v for k, v in os.environ.items() if k.startswith("MOLPT_")}}
            if address:
                ray.init(address=address, runtime_env=env, log_to_driver=False)
            else:
                from molpt.benchmark.reaper import start_reaper

                self.reaper = start_reaper()  # Ray's agents must not outlive a kill -9
                ray.init(
                    include_dashboard=False,
                    num_cpus=workers or os.cpu_count(),
                    _node_ip_address="127.0.0.1",
                    runtime_env=env,
                    log_to_driver=False,
                    configure_logging=False,
                )
            self.started = True
        res = ray.cluster_resources()
        if gpus_per_job is None:
            gpus_per_job = 1.0 if res.get("GPU", 0) > 0 else 0.0
        if gpus_per_job > 0:
            cap = int(res.get("GPU", 0) / gpus_per_job + 1e-9)
        else:
            cap = int(res.get("CPU", 1) / cpus_per_job + 1e-9)
        self.capacity = max(1, cap)
        self.task = ray.remote(num_cpus=cpus_per_job, num_gpus=gpus_per_job,
                               max_retries=0)(_ray_task)  # fmt: skip
        self.data_dir = str(Path(data_dir).resolve()) if data_dir is not None else None
        self.device = device
        self.refs: dict[Any, Group] = {}

    def submit(self, group: Group, slot: int) -> None:
        ref = self.task.remote(group.jobs, self.data_dir, self.device, self.keep_models)
        self.refs[ref] = group

    def wait(self, timeout: float | None = None) -> list[tuple[Group, dict[str, Any]]]:
        if not self.refs:
            return []
        done, _ = self.ray.wait(list(self.refs), num_returns=1, timeout=timeout)
        out = []
        for ref in done:
            g = self.refs.pop(ref)
            try:
                out.append((g, self.ray.get(ref)))
            except Exception as exc:  # noqa: BLE001 - a task or worker crashed
                out.append((g, {"error": _error_text(exc)}))
        return out

    def close(self, wait: bool = True) -> None:
        for ref in self.refs:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001
                pass
        self.refs.clear()
        if self.started:
            self.ray.shutdown()
        if self.reaper is not None:
            self.reaper.terminate()
            self.reaper.wait()


__all__ = [
    "EXECUTORS",
    "PoolBackend",
    "RayBackend",
    "SequentialBackend",
    "get_dataset",
    "import_ray",
    "run_group",
    "run_job",
]
