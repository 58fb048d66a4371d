"""``molpt probe``: the linear probe of a frozen encoder beside its random-init twin."""

from __future__ import annotations

from pathlib import Path

import typer

from molpt.cli.published_args import checkpoint_dir_option, resolve_checkpoint_arg
from molpt.cli.typer_app import UserError, app, one_line_errors


@app.command("probe")
@one_line_errors
def probe_cmd(
    checkpoint: str = typer.Argument(
        ..., help="A molpt checkpoint, a published name (`molpt checkpoints`), a record "
        "molpt/NAME, or with --run a pretraining run folder."
    ),  # fmt: skip
    datasets: str = typer.Option(
        "bbbp,bace,clintox,sider", "--datasets", help="Comma-separated datasets or files."
    ),
    splits: str = typer.Option(
        "scaffold", "--splits",
        help="Comma-separated split methods: scaffold, balanced_scaffold, random_scaffold, "
        "random.",
    ),  # fmt: skip
    seeds: str = typer.Option(
        "0", "--seeds", help="Seeds (0-9 or 0,1,2): split seed of seeded splits and twin init."
    ),
    twin: bool = typer.Option(
        True, "--twin/--no-twin", help="Also probe the random-init twin of the architecture."
    ),
    layers: str | None = typer.Option(
        None, "--layers",
        help="Probe each listed layer's mean-pooled node states on their own: all, or a list "
        "like 0,3,5 (0 = the input embedding; default: the encoder's output).",
    ),  # fmt: skip
    out: Path | None = typer.Option(None, "--out", help="Write every row to this CSV."),
    run: bool = typer.Option(
        False, "--run",
        help="CHECKPOINT is a pretraining run folder: probe epoch 0 (random init), every kept "
        "epoch and the last one (scaffold, seed 0) into RUN/probes.json for the model cards.",
    ),  # fmt: skip
    device: str = typer.Option("cpu", "--device", help="auto, cpu or cuda."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Dataset root (default: $MOLPT_DATA or ./data)."
    ),
    checkpoint_dir: Path | None = checkpoint_dir_option(),
    num_threads: int | None = typer.Option(None, "--num-threads", min=1, help="CPU threads."),
) -> None:
    """Probe a frozen encoder: embed each dataset once, fit a logistic regression (ridge for
    regression) on the train part with its regularisation chosen on valid, report valid and
    test ROC-AUC (RMSE) for the encoder and its random-init twin, and the gain."""
    import torch

    from molpt.benchmark.grid import parse_list, parse_seeds
    from molpt.data.splits import SPLITS
    from molpt.train.device import resolve_device
    from molpt.train.probe import probe_checkpoint, probe_run, summarise
    from molpt.utils import atomic_output, check_output_file

    if num_threads:
        torch.set_num_threads(num_threads)
    names, split_list = parse_list(datasets), parse_list(splits) or []
    seed_list = parse_seeds(seeds)  # "0-9" / "0,1,2"; a malformed value -> one-line error
    if not names:
        raise UserError("--datasets: no dataset given")
    if not seed_list:
        raise UserError("--seeds: no seed given")
    for sp in split_list:
        if sp not in SPLITS.choices():
            raise UserError(f"--splits: unknown split {sp!r}; choose from "
                            f"{', '.join(SPLITS.choices())}")  # fmt: skip
    if out is not None:
        check_output_file(out, "--out")
    layer_list = _parse_layers(layers)
    dev = resolve_device(device)
    if run:
        if layer_list is not None:
            raise UserError("--layers applies to one checkpoint, not to --run")
        probes = probe_run(checkpoint, names, dev, data_dir)
        for p in probes:
            pr = p["probe"]
            cells = ", ".join(f"{k} {v['test']:.4f}" for k, v in pr["datasets"].items())
            typer.echo(f"epoch {p['epoch']:>4}: mean {pr['mean_test']:.4f} ({cells})")
        typer.echo(f"probes: {Path(checkpoint) / 'probes.json'}")
        return
    path = resolve_checkpoint_arg(checkpoint, checkpoint_dir)
    rows = probe_checkpoint(path, names, split_list, seed_list, twin=twin, device=dev,
                            data_dir=data_dir, label=checkpoint, layers=_all_layers(
                                layer_list, path))  # fmt: skip
    import pandas as pd

    if out is not None:
        with atomic_output(out) as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
    table = summarise(rows)
    cols = [c for c in ("dataset", "split", "layer", "encoder", "n", "valid", "test",
                        "test_std", "gain", "gain_std") if c in table]  # fmt: skip
    typer.echo(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if out is not None:
        typer.echo(f"rows: {out}")


def _parse_layers(spec: str | None) -> list[int] | None:
    """``all`` -> [] (every layer, resolved once the encoder is known), ``0,3`` -> [0, 3]."""
    if spec is None:
        return None
    if spec.strip().lower() == "all":
        return []
    try:
        out = sorted({int(x) for x in spec.split(",") if x.strip()})
    except ValueError:
        raise UserError(f"--layers: expected all or a list like 0,3,5; got {spec!r}") from None
    if not out:
        raise UserError("--layers: no layer given")
    return out


def _all_layers(layers: list[int] | None, path) -> list[int] | None:
    if layers != []:
        return layers
    from molpt.train.checkpoint import load_checkpoint

    return list(range(int(load_checkpoint(path)["encoder_config"]["num_layers"]) + 1))
