"""``molpt predict``: score a library with one fine-tuned model or an ensemble."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from molpt.cli.typer_app import UserError, app, one_line_errors


def _where(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items:
        key, sep, value = it.partition("=")
        if not sep or not key:
            raise UserError(f"--where takes KEY=VALUE (e.g. split=scaffold), got {it!r}")
        out[key.strip()] = value.strip()
    return out


@app.command("predict")
@one_line_errors
def predict_cmd(
    input: str = typer.Argument(
        ..., help="Molecules to score: .csv/.tsv (header row; .gz allowed), .smi, .parquet, "
        "or - for CSV on stdin."
    ),
    model: list[str] = typer.Option(
        ..., "--model", help="A model folder (`molpt finetune --out DIR`); repeat for an "
        "ensemble; or a benchmark results folder with --dataset/--method (--keep-models)."
    ),
    out: str = typer.Option(
        ..., "--out", help="Output: .csv, .csv.gz, .tsv, .smi (tab-separated), .parquet, or - "
        "for CSV on stdout."
    ),
    smiles_col: str | None = typer.Option(
        None, "--smiles-col", help="SMILES column (default: smiles, canonical_smiles, ... in "
        "any case, or the only column)."
    ),
    on_invalid: str = typer.Option(
        "nan", "--on-invalid", help="A SMILES that cannot be featurized: nan (keep the row, "
        "NaN predictions, reason in status), skip (drop the row) or fail (stop, exit 2)."
    ),
    interval: float | None = typer.Option(
        None, "--interval", help="Regression: split-conformal interval at this level (e.g. "
        "0.9): <task>_lower, <task>_upper."
    ),
    individual: bool = typer.Option(
        False, "--individual", help="Add each ensemble member's column <task>@<member>."
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="With a benchmark results folder: the cell's dataset."
    ),
    method: str | None = typer.Option(
        None, "--method", help="With a benchmark results folder: the cell's method."
    ),
    where: list[str] = typer.Option(
        [], "--where", help="With a results folder: KEY=VALUE narrowing the cell (e.g. "
        "split=scaffold); repeatable."
    ),
    chunk_size: int = typer.Option(
        10000, "--chunk-size", min=1, help="Molecules per chunk (memory is flat in the "
        "library's size)."
    ),
    workers: int = typer.Option(
        0, "--workers", min=0, help="Featurizing processes (0 or 1: in this process)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted run on the same --out (no row lost "
        "or repeated)."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
) -> None:
    """Predict every molecule of INPUT with one model or an ensemble (mean, std, interval,
    applicability domain); output rows align with input rows, with a status column."""
    from molpt.predict import Predictor, read_model_folder, resolve_model_dirs
    from molpt.predict.stream import ON_INVALID, predict_stream

    if on_invalid not in ON_INVALID:
        raise UserError(f"--on-invalid must be one of {', '.join(ON_INVALID)}, got "
                        f"{on_invalid!r}")  # fmt: skip
    if interval is not None and not 0 < interval < 1:
        raise UserError(f"--interval must be between 0 and 1 (e.g. 0.9), got {interval}")
    if input != "-" and not Path(input).is_file():
        raise UserError(f"no such input file: {input}")
    if out == "-" and as_json:
        raise UserError("--json prints on stdout; it cannot go with --out -")
    if out != "-":
        from molpt.utils import check_output_file

        check_output_file(out, "--out")  # before loading anything
    dirs = resolve_model_dirs(model, dataset, method, _where(where))
    predictor = Predictor([read_model_folder(d) for d in dirs], device=device)
    s = predict_stream(
        predictor, input, out, smiles_col=smiles_col, on_invalid=on_invalid,
        interval=interval, individual=individual, chunk_size=chunk_size, workers=workers,
        resume=resume, progress=progress,
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps({**s.as_dict(), "models": [str(d) for d in dirs]}))
        return
    msg = typer.echo if out != "-" else (lambda m: typer.echo(m, err=True))
    if s.already_complete:
        msg(f"{out} is already complete; nothing to resume")
        return
    what = f"{len(dirs)} model{'s' if len(dirs) > 1 else ''}"
    resumed = f" (resumed after {s.resumed_from} rows)" if s.resumed_from else ""
    msg(f"predicted {s.rows} molecules with {what} in {s.seconds:.1f} s{resumed}: "
        f"{s.invalid} invalid SMILES ({on_invalid}) -> {out}")  # fmt: skip
