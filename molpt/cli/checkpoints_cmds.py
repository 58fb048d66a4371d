"""``molpt import-checkpoint`` and ``molpt checkpoints``: published encoders."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from molpt.cli.published_args import checkpoint_dir_option
from molpt.cli.typer_app import app, one_line_errors


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
    from molpt.published.records import records, records_root
    from molpt.published.resolve import catalogue_status, checkpoint_root

    rows = [{**r, "kind": "published"} for r in catalogue_status(checkpoint_dir)]
    recs = records()
    if as_json:
        typer.echo(json.dumps(rows + [_record_row(c) for c in recs]))
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
    typer.echo("")
    typer.echo(f"{len(recs)} checkpoint(s) of record (pretrained by molpt) under "
               f"{records_root()}")  # fmt: skip
    for c in recs:
        r = _record_row(c)
        typer.echo("")
        typer.echo(f"{r['name']}  {r['encoder']} {r['size']}  "
                   f"{'present' if r['present'] else 'missing'}")  # fmt: skip
        typer.echo(f"  objective: {r['objective']}; corpus: {r['corpus']}; epochs: "
                   f"{r['epochs']}; used by {r['used_by_rows']} study row(s)")  # fmt: skip
        typer.echo(f"  sha256: {r['sha256']}; file: {r['local_path']}; card: "
                   f"{r['card']}")  # fmt: skip


def _record_row(card: dict) -> dict:
    """A checkpoint of record as a ``molpt checkpoints`` row."""
    from molpt.published.records import CARD_MD, PREFIX

    enc, corpus = card["encoder"], card.get("corpus", {})
    return {
        "kind": "record",
        "name": PREFIX + card["name"],
        "encoder": enc.get("conv"),
        "size": f"{enc.get('num_layers')}x{enc.get('hidden_dim')}",
        "featurizer": enc.get("featurizer"),
        "objective": card["objective"]["name"],
        "corpus": f"{corpus.get('name')} ({corpus.get('num_graphs', '?')} molecules)",
        "epochs": card["epochs"],
        "sha256": card["sha256"],
        "local_path": card["local_path"],
        "present": card["present"],
        "card": str(Path(card["local_path"]).parent / CARD_MD),
        "used_by_rows": sum(u["rows"] for u in card.get("used_by", [])),
    }


@app.command("record-checkpoint")
@one_line_errors
def record_checkpoint_cmd(
    src: Path = typer.Argument(..., help="A `molpt pretrain` output folder or its checkpoint.pt."),
    name: str = typer.Option(..., "--name", help="Record name; used as molpt/NAME."),
    records_dir: Path | None = typer.Option(
        None, "--records-dir",
        help="Where records live (default: $MOLPT_RECORDS, else the repository's "
        "checkpoints/molpt).",
    ),  # fmt: skip
    force: bool = typer.Option(False, "--force", help="Replace an existing record."),
    as_json: bool = typer.Option(False, "--json", help="Print the model card as JSON."),
) -> None:
    """Record a pretrained encoder as a checkpoint of record (molpt/NAME): the checkpoint
    without optimizer state, card.json, MODEL_CARD.md and loss.png, to commit beside a study.
    """
    from molpt.published.records import CARD, PREFIX, record_checkpoint

    folder = record_checkpoint(src, name, records_dir, overwrite=force)
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    if as_json:
        typer.echo(json.dumps(card))
        return
    typer.echo(f"recorded {PREFIX}{card['name']}: {card['objective']['name']}, "
               f"{card['epochs']} epoch(s), sha256 {card['sha256'][:16]}… -> {folder}")  # fmt: skip
