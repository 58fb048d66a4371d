"""``molpt pretrain``: self-supervised or supervised pretraining of a GNN encoder."""

from __future__ import annotations

import ast
from pathlib import Path

import typer

from molpt.cli.published_args import checkpoint_dir_option, resolve_checkpoint_arg
from molpt.cli.typer_app import app, one_line_errors
from molpt.featurize.featurizers import FEATURIZERS
from molpt.nn import ENCODERS, JK_MODES
from molpt.objectives import OBJECTIVES


def _parse_options(items: list[str]) -> dict:
    """``KEY=VALUE`` pairs -> dict; values are Python literals when they parse, else strings."""
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--option expects KEY=VALUE, got {item!r}")
        low = raw.lower()
        if low in ("true", "false"):
            out[key] = low == "true"
            continue
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw
    return out


def _names(value: str | None) -> list[str]:
    return [s.strip() for s in (value or "").split(",") if s.strip()]


@app.command("pretrain")
@one_line_errors
def pretrain_cmd(
    objective: str = typer.Option(
        ..., "--objective", help=f"Pretraining objective: {', '.join(OBJECTIVES.choices())}."
    ),
    data: str = typer.Option(
        ...,
        "--data",
        help="Catalogue name (moses, zinc2m, bbbp, ...), a CSV/SMILES file, or a graph file "
        "from `molpt featurize` (.pt).",
    ),
    out: Path = typer.Option(..., "--out", help="Run folder for checkpoint.pt and history.json."),
    featurizer: str = typer.Option(
        "basic", "--featurizer", help=f"One of: {', '.join(FEATURIZERS.choices())}."
    ),
    encoder: str = typer.Option(
        "gin", "--encoder", help=f"One of: {', '.join(ENCODERS.choices())}."
    ),
    num_layers: int = typer.Option(5, "--num-layers", min=1),
    hidden_dim: int = typer.Option(300, "--hidden-dim", min=1),
    dropout: float = typer.Option(0.0, "--dropout", min=0.0, max=1.0),
    jk: str = typer.Option("last", "--jk", help=f"One of: {', '.join(JK_MODES)}."),
    epochs: int = typer.Option(100, "--epochs", min=1),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Global batch size."),
    lr: float = typer.Option(1e-3, "--lr"),
    weight_decay: float = typer.Option(0.0, "--weight-decay", min=0.0),
    seed: int = typer.Option(0, "--seed"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N rows."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    init: str | None = typer.Option(
        None,
        "--init",
        help="Start from this checkpoint's encoder (hierarchical pretraining): a file, or a "
        "published encoder name from `molpt checkpoints`.",
    ),
    checkpoint_dir: Path | None = checkpoint_dir_option(),
    resume: bool = typer.Option(False, "--resume", help="Continue OUT/checkpoint.pt."),
    split: str | None = typer.Option(
        None, "--split", help="Split DATA with this method and keep only --part."
    ),
    part: str | None = typer.Option(None, "--part", help="train, valid or test."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of --split / --exclude-split."),
    exclude_downstream: str | None = typer.Option(
        None,
        "--exclude-downstream",
        help="Comma-separated datasets whose valid/test molecules (stereo-free InChIKey) "
        "are removed from DATA.",
    ),
    exclude_split: str = typer.Option(
        "scaffold", "--exclude-split", help="Split used by --exclude-downstream."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Featurization processes."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Dataset root (default: $MOLPT_DATA or ./data)."
    ),
    no_bf16: bool = typer.Option(
        False,
        "--no-bf16",
        help="Train in fp32 (default: bf16 autocast on CUDA and on CPUs with native bf16).",
    ),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="Objective option KEY=VALUE (repeatable), e.g. mask_edges=true."
    ),
    num_threads: int | None = typer.Option(None, "--num-threads", min=1, help="CPU threads."),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", min=0,
        help="Bound this session: start no epoch that would end after M minutes (at least "
        "one runs); continue later with --resume.",
    ),  # fmt: skip
    save_every_minutes: float = typer.Option(
        10.0, "--save-every-minutes", min=0,
        help="Save the unfinished epoch to OUT/partial.pt every M minutes (0: only when "
        "interrupted by Ctrl-C or SIGTERM); --resume continues from it mid-epoch.",
    ),  # fmt: skip
    keep_epochs: str = typer.Option(
        "pow2", "--keep-epochs",
        help="Budget points kept as OUT/epochs/epoch_NNNN.pt: pow2 (1, 2, 4, 8, ...), none, "
        "or a list like 1,5,10.",
    ),  # fmt: skip
    probe: str | None = typer.Option(
        None, "--probe",
        help="Comma-separated datasets (e.g. bbbp,bace,clintox,sider) for a linear probe of "
        "the frozen encoder at epoch 0, at every kept epoch and at the last epoch reached "
        "(scaffold split; stored in history.json).",
    ),  # fmt: skip
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
) -> None:
    """Pretrain an encoder; writes OUT/checkpoint.pt and OUT/history.json every epoch."""
    from molpt.train.pretrain import PretrainConfig, pretrain

    OBJECTIVES.get(objective)  # unknown names -> one-line errors listing the choices
    FEATURIZERS.get(featurizer)
    ENCODERS.get(encoder)
    if jk not in JK_MODES:
        raise ValueError(f"unknown --jk {jk!r}; choose one of: {', '.join(JK_MODES)}")
    init = resolve_checkpoint_arg(init, checkpoint_dir, progress)  # published name -> file
    cfg = PretrainConfig(
        objective=objective,
        data=data,
        out=out,
        featurizer=featurizer,
        encoder=encoder,
        num_layers=num_layers,
        hidden_dim=hidden_dim,
        dropout=dropout,
        jk=jk,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        seed=seed,
        limit=limit,
        device=device,
        init=init,
        resume=resume,
        data_dir=data_dir,
        split=split,
        part=part,
        split_seed=split_seed,
        exclude_downstream=_names(exclude_downstream),
        exclude_split=exclude_split,
        workers=workers,
        bf16=not no_bf16,
        options=_parse_options(option),
        num_threads=num_threads,
        max_minutes=max_minutes,
        save_every_minutes=save_every_minutes,
        keep_epochs=keep_epochs,
        probe=_names(probe),
    )
    from molpt.train.pretrain import keep_epoch

    keep_epoch(keep_epochs, 1)  # a malformed list -> one-line error before any data loads
    ckpt = pretrain(cfg, progress=progress)
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return
    from molpt.train.checkpoint import load_checkpoint

    c = load_checkpoint(ckpt)
    hist = [h for h in c.get("history", []) if "loss" in h]
    if hist:
        last = hist[-1]
        metric = c["objective"].get("metric", "acc")
        typer.echo(
            f"epoch {last['epoch']}: loss {last['loss']:.4f}, {metric} "
            f"{last.get(metric, float('nan')):.4f}, {last['graphs_per_s']:,.0f} graphs/s"
        )
    probes = [h for h in c.get("history", []) if "probe" in h]
    if probes:
        p = probes[-1]["probe"]
        typer.echo(f"probe at epoch {probes[-1]['epoch']}: mean test {p['metric']} "
                   f"{p['mean_test']:.4f} ({', '.join(p['datasets'])}, scaffold)")  # fmt: skip
    d = c.get("data", {})
    if d.get("excluded"):
        typer.echo(f"excluded {d['excluded']} molecules found in downstream valid/test sets")
    stopped = (c.get("sessions") or [{}])[-1].get("stopped_at_epoch")
    if stopped is not None:
        typer.echo(f"stopped after --max-minutes {max_minutes:g}: {stopped} of {epochs} epochs "
                   "done; rerun with --resume to continue")  # fmt: skip
    typer.echo(f"checkpoint: {ckpt}")
    typer.echo(f"history: {ckpt.parent / 'history.json'}")
