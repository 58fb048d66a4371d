"""``molpt embed``: pretrained molecule representations for a list of SMILES."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from molpt.cli.published_args import checkpoint_dir_option
from molpt.cli.typer_app import UserError, app, one_line_errors


def _read_smiles(path: Path, smiles_col: str | None) -> list:
    """One entry per data row (None for an empty cell), read like every other command reads.

    CSV/TSV/.smi/.txt and their .gz forms; BOM removed; a ragged row, a duplicate column
    or a truncated gzip is an error naming it.
    """
    from molpt.data.loaders import read_table

    smiles, _, _, _ = read_table(path, smiles_col=smiles_col, task_cols=[])
    return smiles


@app.command()
@one_line_errors
def embed(
    input: Path = typer.Argument(
        ..., help="CSV/TSV (with a SMILES column) or .smi/.txt file; .gz allowed."
    ),
    checkpoint: str = typer.Option(
        ...,
        "--checkpoint",
        help="A molpt checkpoint.pt, or a published encoder name from `molpt checkpoints`.",
    ),
    checkpoint_dir: Path | None = checkpoint_dir_option(),
    out: Path = typer.Option(..., "--out", help="Output: .npy or .parquet."),
    smiles_col: str | None = typer.Option(None, "--smiles-col", help="SMILES column name."),
    batch_size: int = typer.Option(512, "--batch-size", help="Molecules per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Embed molecules with a pretrained encoder (mean-pooled node embeddings).

    Row i of the output belongs to input row i; molecules RDKit cannot parse get NaN rows
    and are listed in OUT.invalid.csv (row, smiles, reason).
    """
    from molpt.api import load
    from molpt.utils import atomic_output, check_output_file

    if out.suffix not in (".npy", ".parquet"):
        raise UserError("--out must end in .npy or .parquet")
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {batch_size}")
    check_output_file(out, "--out")  # before any work: a writable file path
    smiles = _read_smiles(input, smiles_col)
    model = load(checkpoint, device=device, checkpoint_dir=checkpoint_dir)
    z = model.embed(smiles, batch_size=batch_size, on_invalid="nan").numpy()
    report = model.last_report
    with atomic_output(out) as tmp:  # the temp file is removed on any failure
        if out.suffix == ".npy":
            np.save(tmp, z)
        else:
            import pandas as pd

            df = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
            df.insert(0, "smiles", smiles)
            df.to_parquet(tmp, index=False)
    invalid_path = None
    if report is not None and report.failed:
        invalid_path = out.with_name(out.name + ".invalid.csv")
        report.write_csv(invalid_path)
    summary = {
        "molecules": len(smiles),
        "embedded": len(smiles) - (report.num_invalid if report else 0),
        "invalid": report.num_invalid if report else 0,
        "dim": int(z.shape[1]),
        "out": str(out),
        "invalid_report": str(invalid_path) if invalid_path else None,
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(
            f"embedded {summary['embedded']} of {summary['molecules']} molecules "
            f"({summary['dim']} dims) -> {out}"
        )
        if invalid_path:
            typer.echo(f"{summary['invalid']} invalid SMILES listed in {invalid_path}")
