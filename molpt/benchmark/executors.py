"""Executors: run benchmark jobs sequentially, in a local process pool, or as Ray tasks.

Every executor calls ``on_result(job, row, files)`` in the driver process as each job
finishes (the driver appends the row to the results store) and ``on_error(job, message)``
for a job that raised; a failing job never stops the grid.

``run_job`` is the unit of work: fine-tune one grid cell and return its results row.
Within one process, loaded ``MolDataset`` objects are reused across jobs; across processes
the data layer's featurization cache (``MOLPT_CACHE``) means each dataset is featurized once.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import molpt
from molpt.benchmark.grid import Job, finetune_config

log = logging.getLogger(__name__)

OnResult = Callable[[Job, dict[str, Any], dict[str, str] | None], None]
OnError = Callable[[Job, str], None]

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


def run_job(
    job: Job,
    out: str | Path,
    data_dir: str | None = None,
    device: str = "auto",
    progress_position: int | None = None,
) -> dict[str, Any]:
    """Fine-tune one grid cell into ``out`` (metrics.json, predictions.csv); return its row."""
    from molpt.train.finetune import finetune

    c = job.config
    t0 = time.perf_counter()
    ds = get_dataset(c["dataset"], c["featurizer"], c["limit"], data_dir)
    cfg = finetune_config(job, out, data_dir, device)
    r = finetune(
        cfg,
        dataset=ds,
        progress=progress_position is not None,
        progress_position=progress_position or 0,
    )
    row = {k: v for k, v in c.items()}
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
        seconds=round(time.perf_counter() - t0, 3),
        device=r["device"],
        molpt_version=molpt.__version__,
        git_commit=_commit(),
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        job_id=job.job_id,
    )
    return row


def _error_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:500]


# ------------------------------------------------------------------------------------------
# local
# ------------------------------------------------------------------------------------------
def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


def _pool_run(job: Job, out: str, data_dir: str | None, device: str) -> dict[str, Any]:
    try:
        return {"row": run_job(job, out, data_dir, device)}
    except Exception as exc:  # noqa: BLE001 - reported to the driver, grid goes on
        log.debug("job %s failed:\n%s", job.job_id, traceback.format_exc())
        return {"error": _error_text(exc)}


def run_local(
    jobs: list[Job],
    job_dir: Callable[[str], Path],
    on_result: OnResult,
    on_error: OnError,
    workers: int = 1,
    data_dir: str | None = None,
    device: str = "auto",
    progress: bool = True,
) -> None:
    """Sequential in this process (``workers=1``) or a spawn process pool.

    In a pool each worker uses ``max(1, cores // workers)`` torch threads.
    """
    if workers <= 1:
        for job in jobs:
            try:
                row = run_job(
                    job, job_dir(job.job_id), data_dir, device, 1 if progress else None
                )
            except Exception as exc:  # noqa: BLE001
                log.debug("job %s failed:\n%s", job.job_id, traceback.format_exc())
                on_error(job, _error_text(exc))
                continue
            on_result(job, row, None)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(threads,)
    ) as pool:
        futs = {
            pool.submit(_pool_run, job, str(job_dir(job.job_id)), data_dir, device): job
            for job in jobs
        }
        try:
            for fut in as_completed(futs):
                job = futs[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker died
                    on_error(job, _error_text(exc))
                    continue
                if "error" in res:
                    on_error(job, res["error"])
                else:
                    on_result(job, res["row"], None)
        except BaseException:
            for f in futs:
                f.cancel()
            raise


# ------------------------------------------------------------------------------------------
# ray
# ------------------------------------------------------------------------------------------
def _ray_task(job: Job, data_dir: str | None, device: str) -> dict[str, Any]:
    """Runs on a Ray worker: fine-tune in a temporary folder, return row + file contents
    (the driver writes them, so a remote cluster needs no shared file system)."""
    with tempfile.TemporaryDirectory(prefix="molpt-job-") as tmp:
        try:
            row = run_job(job, tmp, data_dir, device)
        except Exception as exc:  # noqa: BLE001
            return {"error": _error_text(exc)}
        files = {p.name: p.read_text() for p in Path(tmp).iterdir() if p.is_file()}
    return {"row": row, "files": files}


def import_ray():
    try:
        import ray
    except ImportError:
        raise ValueError(
            "the ray executor needs Ray: pip install 'molpt[ray]' (or use --executor local)"
        ) from None
    return ray


def run_ray(
    jobs: list[Job],
    on_result: OnResult,
    on_error: OnError,
    address: str | None = None,
    gpus_per_job: float | None = None,
    cpus_per_job: float = 1.0,
    workers: int | None = None,
    data_dir: str | None = None,
    device: str = "auto",
) -> None:
    """Run jobs as Ray tasks on the cluster at ``address`` or on a local instance.

    A local instance binds to 127.0.0.1 without the dashboard.  ``gpus_per_job`` defaults
    to 1 when the cluster has GPUs (fractions such as 0.25 share a GPU), else 0.
    """
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        env = {"env_vars": {k: v for k, v in os.environ.items() if k.startswith("MOLPT_")}}
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(
                include_dashboard=False,
                num_cpus=workers or os.cpu_count(),
                _node_ip_address="127.0.0.1",
                runtime_env=env,
                log_to_driver=False,
                configure_logging=False,
            )
        started = True
    try:
        if gpus_per_job is None:
            gpus_per_job = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        task = ray.remote(num_cpus=cpus_per_job, num_gpus=gpus_per_job, max_retries=0)(_ray_task)
        if data_dir is not None:
            data_dir = str(Path(data_dir).resolve())
        refs = {task.remote(job, data_dir, device): job for job in jobs}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                job = refs[ref]
                try:
                    res = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a task or worker crashed
                    on_error(job, _error_text(exc))
                    continue
                if "error" in res:
                    on_error(job, res["error"])
                else:
                    on_result(job, res["row"], res["files"])
    except BaseException:
        for ref in refs if "refs" in locals() else []:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001
                pass
        raise
    finally:
        if started:
            ray.shutdown()


__all__ = ["EXECUTORS", "get_dataset", "import_ray", "run_job", "run_local", "run_ray"]
