"""Load a catalogue dataset or a custom file into a featurized, labelled ``MolDataset``.

Custom files: CSV, TSV, ``.smi``/``.txt`` SMILES files (one SMILES per line, optional header,
whitespace-separated extra tokens such as names ignored) and their gzip variants; every
command reads them through ``read_table``.  Columns are selected by name; labels become
float32 with NaN for missing values; a non-numeric label, a duplicate column name or a row
with the wrong number of fields is an error naming it.  Unparseable SMILES
are never fatal and never dropped silently: they are counted in the log and listed (row,
smiles, reason) in a CSV report.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gc
import gzip
import io
import itertools
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from molpt.data.catalogue import DATASETS, DatasetSpec
from molpt.data.download import fetch
from molpt.featurize.api import FeaturizeReport
from molpt.featurize.cache import cache_key, cache_path_for, cached_featurize
from molpt.featurize.featurizers import get_featurizer
from molpt.featurize.graphs import GraphSet
from molpt.utils import file_sha256

log = logging.getLogger(__name__)

SMILES_COLUMN_NAMES = ("smiles", "canonical_smiles", "smiles_string", "smi", "mol", "molecule")
SMILES_LINE_SUFFIXES = (".smi", ".smiles", ".txt")
TSV_SUFFIXES = (".tsv", ".tab")


@dataclass
class MolDataset:
    """A featurized dataset.

    Attributes:
        graphs: the valid molecules; ``graphs.y`` is (G, T) float32 with NaN for missing
            labels (None for SMILES-only corpora); ``graphs.rows`` maps each graph to its
            0-based data row in the source file.
        spec: the catalogue spec, or a spec describing the custom file.
        task_names: label column names (T of them).
        task_type: ``classification``, ``regression`` or None.
        report: featurization report (total rows, every failed row with its reason).
        source: the file that was read.
        source_sha256: sha256 of that file.
        report_path: where the invalid-rows CSV (row, smiles, reason) was written, or None.
    """

    graphs: GraphSet
    spec: DatasetSpec
    task_names: list[str]
    task_type: str | None
    report: FeaturizeReport
    source: Path
    source_sha256: str
    report_path: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def num_tasks(self) -> int:
        return len(self.task_names)

    @property
    def y(self) -> torch.Tensor | None:
        return self.graphs.y

    @property
    def smiles(self) -> list[str]:
        return self.graphs.smiles

    def __len__(self) -> int:
        return len(self.graphs)

    def __repr__(self) -> str:
        return (
            f"MolDataset({self.name!r}, {len(self)} graphs, {self.num_tasks} tasks, "
            f"{self.task_type}, featurizer={self.graphs.featurizer!r}, "
            f"{self.report.num_invalid} invalid)"
        )


# ------------------------------------------------------------------------------------------
# reading tables
# ------------------------------------------------------------------------------------------
def _base_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _stem(path: Path) -> str:
    name = path.name
    for s in reversed(path.suffixes):
        if len(name) > len(s):
            name = name[: -len(s)]
    return name or path.name


def file_format(path: str | Path) -> str:
    """``csv``, ``tsv`` or ``smi`` from the file name (``.gz`` allowed)."""
    suffix = _base_suffix(Path(path))
    if suffix in SMILES_LINE_SUFFIXES:
        return "smi"
    if suffix in TSV_SUFFIXES:
        return "tsv"
    return "csv"


#: file suffixes that are never tables (a graph file, arrays, archives)
BINARY_SUFFIXES = (".pt", ".pth", ".npy", ".npz", ".parquet", ".pkl", ".pickle", ".zip")
#: delimiters a header line is checked for
DELIMITERS = {",": "commas", "\t": "tabs", ";": "semicolons"}
#: label cells read as missing (pandas' defaults, case-insensitive)
NA_VALUES = frozenset(
    ["", "na", "n/a", "nan", "-nan", "null", "none", "#n/a", "#na", "<na>", "#n/a n/a"]
)
_TRUE_FALSE = {"true": 1.0, "false": 0.0}


def read_text(path: str | Path) -> str:
    """The whole file as text: gzip (by suffix or magic bytes) undone, UTF-8 BOM removed.

    Raises:
        ValueError: truncated or corrupt gzip data, or bytes that are not UTF-8, naming the
            file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix.lower() == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError:
            raise ValueError(
                f"{path} is a truncated gzip file (it ends before the end of its compressed "
                "data); download or copy it again"
            ) from None
        except (gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise ValueError(f"{path} is not a valid gzip file ({exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})"
        ) from None


def _check_table_suffix(path: Path) -> None:
    if _base_suffix(path) in BINARY_SUFFIXES:
        hint = " (a graph file from `molpt featurize`?)" if _base_suffix(path) == ".pt" else ""
        raise ValueError(f"{path} is not a CSV/TSV/SMILES table{hint}")


def read_smiles_lines(
    path: str | Path, header: bool | None = None, limit: int | None = None
) -> tuple[list[str], str | None]:
    """Read a one-SMILES-per-line file; the first whitespace token of each line is the SMILES.

    Blank lines are skipped.  ``header=None`` detects a header line by its first token
    (``smiles``, ``SMILES``, ``canonical_smiles``, ...).  A UTF-8 BOM is removed.

    Returns:
        (smiles, header name or None)
    """
    path = Path(path)
    _check_table_suffix(path)
    out: list[str] = []
    head: str | None = None
    first = True
    for line in read_text(path).splitlines():
        tokens = line.split()
        if not tokens:
            continue
        tok = tokens[0]
        if first:
            first = False
            is_header = header if header is not None else tok.lower() in SMILES_COLUMN_NAMES
            if is_header:
                head = tok
                continue
        out.append(tok)
        if limit is not None and len(out) >= limit:
            break
    if first:
        raise ValueError(f"{path} is empty")
    return out, head


def detect_delimiter(path: Path, header_line: str, expected: str) -> str:
    """The delimiter of a table from its header line.

    ``expected`` (from the suffix) wins when the header holds it or holds no delimiter at
    all (one column); otherwise the delimiter the header does hold is used and logged.

    Raises:
        ValueError: when the header holds several other delimiters and none is expected.
    """
    found = [d for d in DELIMITERS if d in header_line]
    if expected in found or not found:
        return expected
    if len(found) > 1:
        names = " and ".join(DELIMITERS[d] for d in found)
        raise ValueError(
            f"{path}: the header holds {names} but no {DELIMITERS[expected]}; cannot tell "
            f"the delimiter (save it as a {'.tsv' if expected == ',' else '.csv'} file with "
            f"one delimiter)"
        )
    log.warning(
        "%s: the header is separated by %s, not %s; reading it with %s",
        path, DELIMITERS[found[0]], DELIMITERS[expected], DELIMITERS[found[0]],
    )  # fmt: skip
    return found[0]


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic GC: millions of small row lists (no cycles) would trigger it again
    and again (MOSES: 4.9 s instead of 0.7 s)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _read_rows(
    path: Path, text: str, sep: str, limit: int | None
) -> tuple[list[str], list[list[str]], str]:
    """(header, data rows, delimiter) of a delimited table; blank lines skipped; ragged rows
    refused."""
    with _gc_paused():
        return _read_rows_unpaused(path, text, sep, limit)


def _read_rows_unpaused(
    path: Path, text: str, sep: str, limit: int | None
) -> tuple[list[str], list[list[str]], str]:
    lines = io.StringIO(text, newline="")
    header_line = ""
    for line in lines:
        if line.strip():
            header_line = line
            break
    if not header_line:
        raise ValueError(f"{path} is empty")
    sep = detect_delimiter(path, header_line.rstrip("\r\n"), sep)
    rest = lines.read()
    if sep not in header_line and sep not in rest and '"' not in header_line + rest:
        # one column, no quoting (a SMILES corpus): every non-blank line is one row
        header = [header_line.strip()]
        body = io.StringIO(rest, newline="")  # lines end at \n, \r or \r\n, as for csv
        rows = [[ln.rstrip("\r\n")] for ln in body if ln.strip()]
        return header, rows[:limit] if limit is not None else rows, sep
    body = io.StringIO(rest, newline="")
    reader = csv.reader(itertools.chain([header_line], body), delimiter=sep)
    try:
        header = [c.strip() for c in next(reader)]
        rows: list[list[str]] = []
        width = len(header)
        for rec in reader:
            if not rec or (len(rec) == 1 and not rec[0].strip()):
                continue  # a blank line
            if len(rec) != width:
                raise ValueError(
                    f"{path}: data row {len(rows)} (line {reader.line_num}) has {len(rec)} "
                    f"field(s), the header has {width} ({sep!r}-separated); fix or remove "
                    "that row"
                )
            rows.append(rec)
            if limit is not None and len(rows) >= limit:
                break
    except csv.Error as exc:
        raise ValueError(f"cannot read {path}: line {reader.line_num}: {exc}") from None
    return header, rows, sep


def _pick_smiles_col(columns: Sequence[str], wanted: str | None, path: Path) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(
                f"{path}: no SMILES column {wanted!r}; available columns: {', '.join(columns)}"
            )
        return wanted
    lower = {c.lower(): c for c in columns}
    for name in SMILES_COLUMN_NAMES:
        if name in lower:
            return lower[name]
    if len(columns) == 1:
        return columns[0]
    raise ValueError(
        f"{path}: cannot tell which column holds the SMILES; pass smiles_col "
        f"(--smiles-col); available columns: {', '.join(columns)}"
    )


def _column_floats(cells: list[str], col: str, path: Path, hint: str) -> np.ndarray:
    """One label column as float32 (missing -> NaN); a non-numeric cell is an error."""
    out = np.empty(len(cells), dtype=np.float32)
    for i, raw in enumerate(cells):
        c = raw.strip()
        low = c.lower()
        if low in NA_VALUES:
            out[i] = np.nan
        elif low in _TRUE_FALSE:
            out[i] = _TRUE_FALSE[low]
        else:
            try:
                out[i] = float(c)
            except ValueError:
                raise ValueError(
                    f"{path}: label column {col!r} has a non-numeric value {raw!r} (data row "
                    f"{i}); labels must be numbers or empty{hint}"
                ) from None
    return out


def _labels(
    rows: list[list[str]],
    header: list[str],
    task_cols: list[str],
    path: Path,
    hint: str,
    text: str,
    sep: str,
) -> np.ndarray:
    """(rows, T) float32 labels with NaN for missing; raises on a non-numeric cell.

    pandas' C parser reads the label columns of the (already validated) text; a column it
    cannot read as numbers is checked cell by cell, which names the bad value.
    """
    if not task_cols:
        return np.zeros((len(rows), 0), np.float32)
    idx = [header.index(c) for c in task_cols]
    frame = None
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, header=0, usecols=idx, nrows=len(rows),
            low_memory=False,
        )  # fmt: skip
    except (pd.errors.ParserError, ValueError):
        frame = None
    if frame is None or len(frame) != len(rows):  # blank-ish lines: do it all by hand
        frame = None
    cols = []
    for j, k in enumerate(idx):
        s = None if frame is None else frame.iloc[:, sorted(idx).index(k)]
        if s is not None and (
            pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s)
        ):
            cols.append(s.to_numpy(dtype=np.float32))
        else:
            cols.append(_column_floats([r[k] for r in rows], task_cols[j], path, hint))
    return np.stack(cols, axis=1)


def read_table(
    path: str | Path,
    smiles_col: str | None = None,
    task_cols: Sequence[str] | None = None,
    limit: int | None = None,
    header: bool = True,
    strict_tasks: bool = True,
) -> tuple[list, np.ndarray, str | None, list[str]]:
    """Read SMILES and labels from a CSV/TSV/SMILES file.

    Nothing is dropped silently: every data row yields one SMILES entry (None for an empty
    cell; surrounding whitespace stripped); a UTF-8 BOM is removed; a ``.csv`` whose header
    is separated by tabs or semicolons is read with that delimiter (or refused when
    ambiguous); duplicate column names, rows with the wrong number of fields and
    non-numeric label cells are errors naming the column or row.

    Args:
        path: the file (``.gz`` allowed).
        smiles_col: SMILES column; None = detect (``smiles``, ``mol``, ... or the only column).
        task_cols: label columns; None = every other column; ``[]`` = no labels.
        limit: read only the first ``limit`` data rows.
        header: False for a header-less SMILES-only file.
        strict_tasks: kept for compatibility; a non-numeric label column is always an error.

    Returns:
        (smiles per data row, labels (rows, T) float32 with NaN, smiles column, task names)
    """
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise ValueError(f"{path} is a folder, not a file")
        raise FileNotFoundError(f"no such file: {path}")
    _check_table_suffix(path)
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty")
    fmt = file_format(path)
    if fmt == "smi" or not header:
        if task_cols:
            raise ValueError(f"{path}: a SMILES-only file has no label columns {list(task_cols)}")
        smiles, head = read_smiles_lines(path, header=None if header else False, limit=limit)
        if not smiles:
            raise ValueError(f"{path} has no data rows")
        return smiles, np.zeros((len(smiles), 0), np.float32), head, []
    text = read_text(path)
    columns, rows, sep = _read_rows(path, text, "\t" if fmt == "tsv" else ",", limit)
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise ValueError(
            f"{path}: duplicate column name(s) {', '.join(map(repr, dup))}; every column "
            "needs its own name"
        )
    scol = _pick_smiles_col(columns, smiles_col, path)
    hint = ""
    if task_cols is None:
        tasks = [c for c in columns if c != scol]
        hint = "; choose the label columns with --tasks (task_cols)"
    else:
        tasks = list(task_cols)
        missing = [c for c in tasks if c not in columns]
        if missing:
            raise ValueError(
                f"{path}: missing task column(s) {', '.join(map(repr, missing))}; "
                f"available columns: {', '.join(columns)}"
            )
    if not rows:
        raise ValueError(f"{path} has a header but no data rows")
    k = columns.index(scol)
    smiles = [r[k].strip() or None for r in rows]
    y = _labels(rows, columns, tasks, path, hint, text, sep)
    return smiles, y, scol, tasks


# ------------------------------------------------------------------------------------------
# load_dataset
# ------------------------------------------------------------------------------------------
def _infer_task_type(y: np.ndarray) -> str | None:
    if y.shape[1] == 0:
        return None
    present = y[~np.isnan(y)]
    return "classification" if np.isin(present, (0.0, 1.0)).all() else "regression"


def resolve_dataset(
    name_or_path: str | Path, data_dir: str | Path | None = None, progress: bool = False
) -> tuple[DatasetSpec | None, Path]:
    """(catalogue spec or None, local file path); downloads catalogue files when needed."""
    if isinstance(name_or_path, str) and name_or_path in DATASETS:
        spec = DATASETS.get(name_or_path)
        return spec, fetch(spec, data_dir, progress=progress)
    path = Path(name_or_path)
    if path.is_file():
        return None, path
    if path.exists():
        raise ValueError(f"{path} is not a file")
    if isinstance(name_or_path, Path) or any(c in str(name_or_path) for c in "/\\."):
        raise FileNotFoundError(
            f"no such file: {path} (catalogue names: {', '.join(DATASETS.choices())})"
        )
    raise FileNotFoundError(
        f"no catalogue dataset or file named {str(name_or_path)!r}; "
        f"catalogue: {', '.join(DATASETS.choices())}"
    )


def load_dataset(
    name_or_path: str | Path,
    featurizer: str = "basic",
    data_dir: str | Path | None = None,
    smiles_col: str | None = None,
    task_cols: Sequence[str] | None = None,
    task_type: str | None = None,
    workers: int = 1,
    limit: int | None = None,
    report_dir: str | Path | None = None,
    progress: bool = False,
    cache_dir: str | Path | None = None,
) -> MolDataset:
    """Load, featurize (cached) and label a catalogue dataset or a custom file.

    Args:
        name_or_path: catalogue name (``bbbp``, ``tox21``, ``moses``, ...) or a file path.
        featurizer: ``basic``, ``ogb`` or ``rich``.
        data_dir: dataset root (default ``$MOLPT_DATA`` or ``./data``).
        smiles_col, task_cols, task_type: override the spec (custom files: detected; task
            columns default to every other numeric column, task type to classification when
            every label is 0/1).
        workers: featurization processes.
        limit: use only the first ``limit`` rows (quick tests).
        report_dir: folder for the invalid-rows CSV; default beside the cache file.
        progress: progress bars on stderr.
        cache_dir: featurization cache folder (default ``$MOLPT_CACHE`` or ``data/cache``).

    Raises:
        FileNotFoundError: unknown name / missing file / failed download.
        ValueError: empty file, missing column, non-numeric label, no valid molecule.
    """
    f = get_featurizer(featurizer)
    spec, path = resolve_dataset(name_or_path, data_dir, progress=progress)
    if limit is not None and limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    if spec is not None:
        scol = smiles_col if smiles_col is not None else spec.smiles_col
        tcols = task_cols if task_cols is not None else spec.task_cols
        smiles, y, scol, tasks = read_table(
            path, scol, tcols, limit=limit, header=spec.header, strict_tasks=True
        )
        ttype = task_type or spec.task_type
        # the returned spec names the columns actually used (e.g. ToxCast's 617 tasks)
        spec = dataclasses.replace(spec, smiles_col=scol, task_cols=tasks, task_type=ttype)
    else:
        smiles, y, scol, tasks = read_table(
            path, smiles_col, task_cols, limit=limit, strict_tasks=False
        )
        ttype = task_type or _infer_task_type(y)
        spec = DatasetSpec(
            name=_stem(path),
            file_name=path.name,
            url=None,
            smiles_col=scol,
            task_cols=tasks,
            task_type=ttype,
            metric={"classification": "roc_auc", "regression": "rmse"}.get(ttype or ""),
            rows=len(smiles),
            description=f"custom file {path}",
            kind="custom",
        )
    if ttype not in (None, "classification", "regression"):
        raise ValueError(f"task_type must be classification or regression, got {ttype!r}")
    sha = file_sha256(path)
    key_parts = {"source_sha256": sha, "smiles_col": scol, "limit": limit}
    graphs, report = cached_featurize(
        smiles, f, key_parts=key_parts, workers=workers, cache_dir=cache_dir, progress=progress
    )
    report_path = None
    if report.failed:
        if report_dir is not None:
            report_path = Path(report_dir) / f"{spec.name}.{f.name}.invalid.csv"
        else:
            key = cache_key(smiles, f, key_parts)
            report_path = cache_path_for(key, f.name, cache_dir).with_suffix(".invalid.csv")
        try:
            report.write_csv(report_path)
        except OSError as exc:
            log.warning("could not write invalid-rows report %s: %s", report_path, exc)
            report_path = None
        log.warning(
            "%s: %d of %d SMILES could not be featurized (listed in %s)",
            spec.name, report.num_invalid, report.total, report_path,
        )  # fmt: skip
    if len(graphs) == 0:
        first = report.failed[0] if report.failed else None
        raise ValueError(
            f"{path}: no valid molecule among {report.total} rows"
            + (f" (row {first.row}: {first.reason})" if first else "")
        )
    if tasks:
        labels = torch.from_numpy(y[graphs.rows.numpy()]).to(torch.float32)
        graphs = graphs.with_labels(labels, tasks)
    else:
        graphs = graphs.with_labels(None, [])
    return MolDataset(
        graphs=graphs,
        spec=spec,
        task_names=list(tasks),
        task_type=ttype if tasks else None,
        report=report,
        source=path,
        source_sha256=sha,
        report_path=report_path,
    )


__all__ = ["MolDataset", "file_format", "load_dataset", "read_smiles_lines", "read_table",
           "resolve_dataset"]  # fmt: skip
