"""``molpt import-checkpoint`` and ``molpt checkpoints``: published encoders."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from molpt.cli.app import app, one_line_errors
from molpt.cli.published_args import checkpoint_dir_option


@app.command("import-checkpoint")
@one_line_errors
def import_checkpoint_cmd(
    src: Path = typer.Argument(..., help="A published encoder file (e.g. Hu et al.'s .pth)."),
    format: str = typer.Option("hu2020", "--format", help="File format: hu2020."),
    encoder: str | None = typer.Option(
        None,
        "--encoder",
        help="gin, gcn, sage or gat; checked against the file (required for GCN and "
        "GraphSAGE files, whose keys are identical).",
    ),
    out: Path = typer.Option(..., "--out", help="Folder for the molpt checkpoint.pt."),
    force: bool = typer.Option(False, "--force", help="Replace an existing OUT/checkpoint.pt."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Import a published encoder as an ordinary molpt checkpoint (OUT/checkpoint.pt).

    The file is read on the CPU with weights_only=True (no code in it can run); every key
    and shape is checked against the named encoder.
    """
    from molpt.published.importers import IMPORTERS, import_checkpoint
    from molpt.train.checkpoint import load_checkpoint

    IMPORTERS.get(format)
    path = import_checkpoint(src, format=format, encoder=encoder, out=out, overwrite=force)
    ck = load_checkpoint(path)
    ec, prov = ck["encoder_config"], ck["provenance"]
    summary = {
        "checkpoint": str(path),
        "format": format,
        "encoder": ec["conv"],
        "num_layers": ec["num_layers"],
        "hidden_dim": ec["hidden_dim"],
        "featurizer": ec["featurizer"],
        "provenance": prov,
        "import": ck["import"],
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    known = f" ({prov['name']})" if prov.get("name") else ""
    typer.echo(
        f"imported {src.name}{known}: {format} -> molpt {ec['conv']} "
        f"{ec['num_layers']}x{ec['hidden_dim']}, featurizer {ec['featurizer']}"
    )
    if "chirality_rows" in ck["import"]:
        typer.echo(f"note: {ck['import']['chirality_rows']}")
    if "warning" in ck["import"]:
        typer.echo(f"warning: {ck['import']['warning']}")
    typer.echo(f"checkpoint: {path}")


@app.command("checkpoints")
@one_line_errors
def checkpoints_cmd(
    checkpoint_dir: Path | None = checkpoint_dir_option(),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list on stdout."),
) -> None:
    """List the published encoders molpt knows, and which are present locally.

    Any of these names works wherever a checkpoint is taken (finetune, benchmark, embed,
    pretrain --init, molpt.load); a file that is not present is downloaded on first use.
    """
    from molpt.published.resolve import catalogue_status, checkpoint_root

    rows = catalogue_status(checkpoint_dir)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    root = checkpoint_root(checkpoint_dir)
    n_present = sum(r["present"] for r in rows)
    typer.echo(f"{len(rows)} published encoders, {n_present} present under {root}")
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        state = "present" if r["present"] else "not present (downloaded on first use)"
        typer.echo("")
        typer.echo(f"{r['name']:<{width}}  {r['encoder']} {r['size']}  {state}")
        typer.echo(f"  objective: {r['objective']}; corpus: {r['corpus']}")
        typer.echo(f"  paper: {r['paper']}; licence: {r['licence']}")
        typer.echo(f"  url: {r['url']}")
        typer.echo(f"  sha256: {r['sha256']}; file: {r['local_path']}")
