"""``molpt embed``: pretrained molecule representations for a list of SMILES."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from molpt.cli.app import UserError, app, one_line_errors


def _read_smiles(path: Path, smiles_col: str | None) -> list[str]:
    import pandas as pd

    if not path.is_file():
        raise UserError(f"input file not found: {path}")
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".smi", ".txt")):
        lines = [ln.split()[0] for ln in path.read_text().splitlines() if ln.strip()]
        if lines and lines[0].lower() in ("smiles", "smile"):
            lines = lines[1:]
        if not lines:
            raise UserError(f"{path} is empty")
        return lines
    sep = "\t" if name.endswith(".tsv") else ","
    try:
        df = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty") from None
    col = smiles_col or next((c for c in df.columns if c.lower() in ("smiles", "mol")), None)
    if col is None or col not in df.columns:
        raise UserError(
            f"no SMILES column {smiles_col or 'smiles'!r} in {path}; "
            f"columns: {', '.join(map(str, df.columns))}"
        )
    return df[col].tolist()


@app.command()
@one_line_errors
def embed(
    input: Path = typer.Argument(..., help="CSV/TSV (with a SMILES column) or .smi file."),
    checkpoint: Path = typer.Option(..., "--checkpoint", help="A molpt checkpoint.pt."),
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

    if out.suffix not in (".npy", ".parquet"):
        raise UserError("--out must end in .npy or .parquet")
    smiles = _read_smiles(input, smiles_col)
    model = load(checkpoint, device=device)
    z = model.embed(smiles, batch_size=batch_size, on_invalid="nan").numpy()
    report = model.last_report
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        tmp = out.with_name(f".{out.name}.tmp.npy")
        np.save(tmp, z)
        tmp.replace(out)
    else:
        import pandas as pd

        df = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
        df.insert(0, "smiles", smiles)
        tmp = out.with_name(f".{out.name}.tmp")
        df.to_parquet(tmp, index=False)
        tmp.replace(out)
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
