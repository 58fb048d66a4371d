"""Data commands: ``molpt datasets``, ``molpt featurize``, ``molpt split``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from molpt.cli.typer_app import app, one_line_errors
from molpt.featurize.featurizers import FEATURIZERS

_DATA_DIR = typer.Option(
    None, "--data-dir", help="Dataset root (default: $MOLPT_DATA or ./data)."
)


@app.command("datasets")
@one_line_errors
def datasets_cmd(
    data_dir: Path | None = _DATA_DIR,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """List the dataset catalogue and the pretraining corpora."""
    from molpt.data import DATASETS, benchmark_names, corpus_names, local_path

    rows = []
    for name in benchmark_names() + corpus_names():
        spec = DATASETS.get(name)
        rows.append(
            {
                "name": name,
                "kind": spec.kind,
                "tasks": spec.num_tasks if spec.num_tasks is not None else "all",
                "rows": spec.rows,
                "type": spec.task_type or "-",
                "metric": spec.metric or "-",
                "local": "yes" if local_path(spec, data_dir) is not None else "no",
                "file": spec.file_name,
            }
        )
    if as_json:
        typer.echo(json.dumps({"datasets": rows}))
        return
    # ToxCast and SIDER use every non-SMILES column: show their documented counts
    documented = {"toxcast": 617, "sider": 27}
    for r in rows:
        if r["tasks"] == "all":
            r["tasks"] = documented.get(r["name"], "all")
    cols = ["name", "kind", "tasks", "rows", "type", "metric", "local", "file"]
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    typer.echo("  ".join(c.ljust(width[c]) for c in cols).rstrip())
    for r in rows:
        typer.echo("  ".join(str(r[c]).ljust(width[c]) for c in cols).rstrip())


@app.command("featurize")
@one_line_errors
def featurize_cmd(
    input: str = typer.Argument(..., help="Catalogue name (see `molpt datasets`) or a file."),
    featurizer: str = typer.Option(
        "basic", "--featurizer", "-f", help=f"One of: {', '.join(FEATURIZERS.choices())}."
    ),
    smiles_col: str | None = typer.Option(None, "--smiles-col", help="SMILES column name."),
    tasks: str | None = typer.Option(
        None,
        "--tasks",
        help="Comma-separated label columns (default: every other column; '' for none).",
    ),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Processes."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output file (default: <name>.<featurizer>.pt here)."
    ),
    data_dir: Path | None = _DATA_DIR,
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N rows."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Featurize a dataset or a SMILES/CSV file into a graph file (invalid rows reported)."""
    from molpt.data import DATASETS, load_dataset
    from molpt.data.loaders import _stem
    from molpt.utils import check_output_file

    FEATURIZERS.get(featurizer)  # unknown name -> one-line error listing the choices
    if out is None:
        name = input if input in DATASETS else _stem(Path(input))
        out = Path(f"{name}.{featurizer}.pt")
    check_output_file(out, "--out")  # before any work: a writable file path
    task_list = None if tasks is None else [t.strip() for t in tasks.split(",") if t.strip()]
    ds = load_dataset(
        input,
        featurizer=featurizer,
        data_dir=data_dir,
        smiles_col=smiles_col,
        task_cols=task_list,
        workers=workers,
        limit=limit,
        progress=not as_json,
    )
    meta = {
        "source": str(ds.source),
        "source_sha256": ds.source_sha256,
        "featurizer": featurizer,
        "spec_version": ds.graphs.spec.version,
        "task_names": ds.task_names,
        "task_type": ds.task_type,
        "total": ds.report.total,
        "invalid": ds.report.num_invalid,
        "limit": limit,
    }
    ds.graphs.save(out, meta)
    report_path = None
    if ds.report.failed:
        report_path = out.with_name(out.name + ".invalid.csv")
        ds.report.write_csv(report_path)
    result = {
        "dataset": ds.name,
        "out": str(out),
        "featurizer": featurizer,
        "total": ds.report.total,
        "valid": ds.report.num_valid,
        "invalid": ds.report.num_invalid,
        "tasks": ds.num_tasks,
        "invalid_report": str(report_path) if report_path else None,
    }
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(
        f"{ds.name}: {result['valid']} valid, {result['invalid']} invalid of {result['total']} "
        f"molecules ({featurizer}, {ds.num_tasks} tasks) -> {out}"
    )
    if report_path:
        typer.echo(f"invalid rows (row, smiles, reason) written to {report_path}")


@app.command("split")
@one_line_errors
def split_cmd(
    dataset: str = typer.Argument(..., help="Catalogue name or a file."),
    method: str = typer.Option("scaffold", "--method", "-m", help="Split method."),
    seed: int = typer.Option(0, "--seed", "-s", help="Split seed."),
    out: Path = typer.Option(Path("split.json"), "--out", "-o", help="Output JSON file."),
    data_dir: Path | None = _DATA_DIR,
    featurizer: str = typer.Option("basic", "--featurizer", "-f", help="Featurizer."),
    smiles_col: str | None = typer.Option(None, "--smiles-col", help="SMILES column name."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Split a dataset's valid molecules into train/valid/test index lists (JSON)."""
    from molpt.data import SCAFFOLD_METHODS, SPLITS, load_dataset, make_split, scaffold_overlap
    from molpt.utils import atomic_write_json, check_output_file

    SPLITS.get(method)
    check_output_file(out, "--out")  # before any work: a writable file path
    ds = load_dataset(
        dataset, featurizer=featurizer, data_dir=data_dir, smiles_col=smiles_col,
        task_cols=[], progress=not as_json,  # a split needs only the SMILES
    )  # fmt: skip
    train, valid, test = make_split(ds, method, seed)
    overlap = scaffold_overlap(ds.smiles, (train, valid, test))
    rows = ds.graphs.rows.numpy()
    doc = {
        "dataset": ds.name,
        "source_sha256": ds.source_sha256,
        "method": method,
        "seed": seed,
        "num_molecules": len(ds),
        "train": train.tolist(),
        "valid": valid.tolist(),
        "test": test.tolist(),
        # the same parts as data-row numbers of the source file
        "train_rows": rows[train].tolist(),
        "valid_rows": rows[valid].tolist(),
        "test_rows": rows[test].tolist(),
    }
    atomic_write_json(out, doc)
    sizes = {k: int(np.asarray(doc[k]).size) for k in ("train", "valid", "test")}
    result = {"dataset": ds.name, "method": method, "seed": seed, "out": str(out), **sizes,
              "scaffold_overlap": overlap}  # fmt: skip
    if as_json:
        typer.echo(json.dumps(result))
        return
    n = max(len(ds), 1)
    typer.echo(
        f"{ds.name} {method} split (seed {seed}): train {sizes['train']} "
        f"({sizes['train'] / n:.1%}), valid {sizes['valid']} ({sizes['valid'] / n:.1%}), "
        f"test {sizes['test']} ({sizes['test'] / n:.1%}) -> {out}"
    )
    note = " (expected 0)" if method in SCAFFOLD_METHODS else ""
    typer.echo(f"scaffolds shared between parts: {overlap}{note}")
