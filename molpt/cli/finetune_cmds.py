"""``molpt finetune``, ``molpt benchmark`` and ``molpt report``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from molpt.cli.published_args import checkpoint_dir_option, resolve_checkpoint_arg
from molpt.cli.typer_app import UserError, app, one_line_errors
from molpt.featurize.featurizers import FEATURIZERS
from molpt.nn import ENCODERS

STRATEGY_HELP = "full (encoder + head), linear (frozen encoder) or two-stage (head, then all)."


def _fmt(v, metric: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.4f}"


@app.command("finetune")
@one_line_errors
def finetune_cmd(
    out: Path = typer.Option(
        ..., "--out", help="Folder for metrics.json, predictions.csv and the model (model.json, "
        "weights.pt, domain.pt) that `molpt predict --model OUT` uses."
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Catalogue dataset (bbbp, tox21, ..., esol, lipo)."
    ),
    csv: Path | None = typer.Option(None, "--csv", help="Your own CSV/TSV file."),
    smiles_col: str | None = typer.Option(None, "--smiles-col", help="SMILES column of --csv."),
    tasks: str | None = typer.Option(
        None, "--tasks", help="Comma-separated label columns of --csv (default: all others)."
    ),
    task_type: str | None = typer.Option(
        None, "--task-type", help="classification or regression (default: from the labels)."
    ),
    checkpoint: str | None = typer.Option(
        None,
        "--checkpoint",
        help="Pretrained checkpoint: a file, or a published encoder name from `molpt "
        "checkpoints` (default: no pretraining).",
    ),
    checkpoint_dir: Path | None = checkpoint_dir_option(),
    featurizer: str | None = typer.Option(
        None,
        "--featurizer",
        help=f"One of: {', '.join(FEATURIZERS.choices())} (default: the checkpoint's, or basic).",
    ),
    split: str = typer.Option(
        "scaffold", "--split", help="scaffold, random_scaffold, balanced_scaffold or random."
    ),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of seeded split methods."),
    seed: int = typer.Option(0, "--seed", help="Run seed: initialisation and batch order."),
    strategy: str = typer.Option("full", "--strategy", help=STRATEGY_HELP),
    epochs: int = typer.Option(100, "--epochs", min=1),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    lr: float = typer.Option(1e-3, "--lr"),
    weight_decay: float = typer.Option(0.0, "--weight-decay", min=0.0),
    dropout: float = typer.Option(0.5, "--dropout", min=0.0, max=0.99),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Dataset root (default: $MOLPT_DATA or ./data)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N rows."),
    encoder: str = typer.Option(
        "gin", "--encoder", help=f"Without a checkpoint: {', '.join(ENCODERS.choices())}."
    ),
    num_layers: int = typer.Option(5, "--num-layers", min=1),
    hidden_dim: int = typer.Option(300, "--hidden-dim", min=1),
    stage1_epochs: int | None = typer.Option(
        None, "--stage1-epochs", min=0, help="two-stage: head-only epochs (default epochs/4)."
    ),
    bf16: bool = typer.Option(
        False, "--bf16", help="bf16 autocast (CUDA, or a CPU with native bf16); default fp32."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the results already in --out (default: refuse)."
    ),
) -> None:
    """Fine-tune (or train from scratch) on a dataset and report test metrics."""
    from molpt.train.checkpoint import load_checkpoint
    from molpt.train.finetune import FinetuneConfig, finetune

    if (dataset is None) == (csv is None):
        raise UserError("give either --dataset NAME or --csv FILE")
    if csv is not None and not csv.is_file():
        raise UserError(f"--csv: no such file: {csv}")
    if dataset is not None and (smiles_col or tasks):
        raise UserError("--smiles-col and --tasks go with --csv, not --dataset")
    from molpt.train.device import resolve_device
    from molpt.utils import check_finetune_out

    resolve_device(device)  # --device cuda without a GPU: one error before any work
    check_finetune_out(out, overwrite)  # writable, and no earlier results unless --overwrite
    checkpoint = resolve_checkpoint_arg(checkpoint, checkpoint_dir, progress)  # name -> file
    ENCODERS.get(encoder)
    if featurizer is None:
        featurizer = (
            load_checkpoint(checkpoint)["featurizer"]["name"] if checkpoint else "basic"
        )
    FEATURIZERS.get(featurizer)
    task_list = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
    cfg = FinetuneConfig(
        dataset=dataset,
        csv=str(csv) if csv else None,
        smiles_col=smiles_col,
        tasks=task_list,
        task_type=task_type,
        checkpoint=str(checkpoint) if checkpoint else None,
        featurizer=featurizer,
        split=split,
        split_seed=split_seed,
        seed=seed,
        strategy=strategy,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        dropout=dropout,
        encoder=encoder,
        num_layers=num_layers,
        hidden_dim=hidden_dim,
        device=device,
        out=str(out),
        data_dir=str(data_dir) if data_dir else None,
        limit=limit,
        stage1_epochs=stage1_epochs,
        bf16=bf16,
        overwrite=overwrite,
    )
    r = finetune(cfg, progress=progress and not as_json)
    if as_json:
        slim = {k: v for k, v in r.items() if k not in ("history", "per_task_test")}
        typer.echo(json.dumps(slim, default=str))
        return
    m = r["metric"]
    typer.echo(
        f"{r['dataset']} ({cfg.split} split, {r['n_train']}/{r['n_valid']}/{r['n_test']}, "
        f"{cfg.strategy}, {'checkpoint' if cfg.checkpoint else 'no pretraining'})"
    )
    typer.echo(
        f"test {m} at best valid (epoch {r['best_epoch']}): {_fmt(r['test_at_best_valid'], m)}"
        f"   valid {_fmt(r['best_valid'], m)}"
    )
    typer.echo(f"test {m} at last epoch ({r['epochs']}): {_fmt(r['last_test'], m)}")
    second = "pr_auc" if r["task_type"] == "classification" else "mae"
    typer.echo(f"test {second} at best valid: {_fmt(r.get('test_' + second), second)}")
    typer.echo(f"tasks scored {r['tasks_scored']}, skipped {r['tasks_skipped']}"
               + (f" ({', '.join(r['skipped_tasks'][:5])})" if r["skipped_tasks"] else ""))
    for w in r["warnings"]:
        typer.echo(f"warning: {w}")
    for f in r.get("files", []):
        typer.echo(f"wrote {f}")


@app.command("benchmark")
@one_line_errors
def benchmark_cmd(
    out: Path | None = typer.Option(
        None, "--out", help="RESULTS_DIR: results.csv, jobs/, report.md (with --study: "
        "default benchmarks/results/STUDY)."
    ),
    study: str | None = typer.Option(
        None, "--study", help="A named study (benchmarks/studies/NAME.toml) or a .toml file: "
        "its grid and results folder; other grid options given here override it for this run."
    ),
    profile: str = typer.Option(
        "quick", "--profile", help="quick (minutes, default), hu2020 or sun2022."
    ),
    datasets: str | None = typer.Option(None, "--datasets", help="Comma-separated datasets."),
    splits: str | None = typer.Option(None, "--splits", help="Comma-separated split methods."),
    seeds: str | None = typer.Option(None, "--seeds", help="Run seeds: 0-9 or 0,1,2."),
    epochs: int | None = typer.Option(None, "--epochs", min=1),
    checkpoint: list[str] = typer.Option(
        [],
        "--checkpoint",
        help="NAME=PATH of a pretrained checkpoint, or a published encoder name from `molpt "
        "checkpoints` (its own method name) (repeatable).",
    ),
    checkpoint_dir: Path | None = checkpoint_dir_option(),
    featurizers: str | None = typer.Option(None, "--featurizers", help="e.g. basic,rich."),
    strategies: str | None = typer.Option(
        None, "--strategies", help="Comma-separated: full, linear, two-stage."
    ),
    executor: str = typer.Option("local", "--executor", help="local or ray."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="local: parallel processes (default 1; quick profile on CPU: one per core, "
        "max 4); ray: CPUs of a local Ray.",
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Existing Ray cluster (default: start a local one)."
    ),
    gpus_per_job: float | None = typer.Option(
        None, "--gpus-per-job", min=0.0, help="Ray: GPU share per job (default 1 if GPUs)."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Dataset root."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="First N rows per dataset."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    num_layers: int | None = typer.Option(None, "--num-layers", min=1, hidden=True),
    hidden_dim: int | None = typer.Option(None, "--hidden-dim", min=1, hidden=True),
    fuse: int | None = typer.Option(
        None,
        "--fuse",
        min=1,
        help="Most runs trained together as one fused group (default: all seeds and "
        "checkpoints of a grid cell, bounded by memory; 1 = one run at a time).",
    ),
    bf16: bool = typer.Option(
        False, "--bf16", help="bf16 autocast in fine-tuning (default fp32, as the papers)."
    ),
    max_minutes: float | None = typer.Option(
        None,
        "--max-minutes",
        help="Start no new work after M minutes; finish what runs, write the report, exit 0 "
        "(rerun to continue).",
    ),
    keep_models: bool = typer.Option(
        False,
        "--keep-models",
        help="Keep each job's best-valid model in RESULTS_DIR/jobs/<job_id>/ for `molpt "
        "predict --model RESULTS_DIR --dataset D --method M` (jobs already done are not rerun).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
) -> None:
    """Run a grid of fine-tuning jobs (resumable), then write the report.

    Jobs that differ only in seed and starting weights train together in fused groups.
    Several processes on one --out (on one machine or several sharing the folder) split the
    grid between them: each job runs once.
    """
    from molpt.benchmark.grid import (
        default_workers,
        parse_checkpoints,
        parse_list,
        parse_seeds,
        resolve_grid,
    )
    from molpt.benchmark.runner import run_benchmark

    st = None
    if study is not None:  # the study's grid, under any option given explicitly
        from molpt.benchmark.studies import load_study

        st = load_study(study)
        o = st.cli_options(datasets=datasets, splits=splits, seeds=seeds, epochs=epochs,
                           checkpoint=checkpoint, featurizers=featurizers,
                           strategies=strategies, limit=limit, batch_size=batch_size,
                           num_layers=num_layers, hidden_dim=hidden_dim)  # fmt: skip
        profile, datasets, splits, seeds = o["profile"], o["datasets"], o["splits"], o["seeds"]
        epochs, checkpoint, featurizers = o["epochs"], o["checkpoint"], o["featurizers"]
        strategies, limit, batch_size = o["strategies"], o["limit"], o["batch_size"]
        num_layers, hidden_dim = o["num_layers"], o["hidden_dim"]
        out = out or st.results_dir
    if out is None:
        raise UserError("give --out RESULTS_DIR, or --study NAME (writes benchmarks/results/NAME)")
    from molpt.train.device import resolve_device
    from molpt.utils import check_output_dir

    if ray_address is None:  # jobs run on this machine's devices
        resolve_device(device)  # --device cuda without a GPU: one error, not one per job
    check_output_dir(out, "--out")  # a writable folder, before any job runs
    spec = resolve_grid(
        profile=profile,
        datasets=parse_list(datasets),
        splits=parse_list(splits),
        seeds=parse_seeds(seeds),
        epochs=epochs,
        checkpoints=parse_checkpoints(checkpoint, checkpoint_dir, progress=progress),
        featurizers=parse_list(featurizers),
        strategies=parse_list(strategies),
        limit=limit,
        batch_size=batch_size,
        num_layers=num_layers,
        hidden_dim=hidden_dim,
        bf16=bf16,
        published=st is None,  # the profile's published encoders (a study lists its own)
        checkpoint_dir=checkpoint_dir,
        progress=progress,
    )
    if st is not None:
        st.prepare(spec, out)  # encoder/lr/dropout/precision; keeps study.toml beside results
    if workers is None:
        workers = default_workers(profile) if executor == "local" else 1
    s = run_benchmark(
        spec,
        out,
        executor=executor,
        workers=workers,
        ray_address=ray_address,
        gpus_per_job=gpus_per_job,
        data_dir=str(data_dir) if data_dir else None,
        device=device,
        progress=progress and not as_json,
        fuse=fuse,
        max_minutes=max_minutes,
        keep_models=keep_models,
    )
    if as_json:
        typer.echo(json.dumps(s.as_dict()))
    else:
        typer.echo(
            f"{s.total} jobs: {s.ran} run now, {s.already_done} already done, {s.failed} failed, "
            f"{s.remaining} remaining ({s.seconds:.0f} s, {s.groups} group(s))"
        )
        for n in s.notes:
            typer.echo(f"note: {n}")
        for e in s.errors[:10]:
            typer.echo(f"failed: {e}", err=True)
        typer.echo(f"results: {out / 'results.csv'}")
        if s.report:
            typer.echo(f"report: {s.report}")
    if s.failed:
        raise typer.Exit(1)


@app.command("report")
@one_line_errors
def report_cmd(
    results_dir: Path = typer.Argument(..., help="A folder written by `molpt benchmark`."),
) -> None:
    """Summarise a results folder: summary.csv, report.md, gains.png, splits.png."""
    from molpt.benchmark.report import write_report
    from molpt.utils import check_output_dir

    if results_dir.exists():  # the report is written into it: check before any work
        check_output_dir(results_dir, "RESULTS_DIR")
    files = write_report(results_dir)
    typer.echo(f"wrote {files.summary_csv}")
    typer.echo(f"wrote {files.report_md}")
    for p in files.plots:
        typer.echo(f"wrote {p}")
