"""Scoring a library in chunks: read a chunk, featurize it in workers, run every member,
append the rows to the output, record the progress; memory stays flat in library size.

Inputs: ``.csv``/``.tsv`` (a header row; ``.gz`` allowed), ``.smi``/``.smiles``/``.txt``
(first token the SMILES, the rest of the line the ``name``; an optional ``smiles`` header),
``.parquet``, or ``-`` (CSV on stdin).  Outputs: ``.csv``/``.csv.gz``/``.tsv``/``.smi``
(tab-separated with a header), ``.parquet`` or ``-`` (CSV on stdout).

Resume: while it runs, the output is built in ``OUT.partial`` (CSV: whole chunks appended,
``.gz`` chunks as complete gzip members; parquet: one file per chunk in ``OUT.parts/``) and
``OUT.progress.json`` records, after each chunk is safely on disk, the input rows done and
the partial file's length.  ``resume=True`` truncates anything past the recorded length (a
chunk cut by ``kill -9``), skips the input rows done and goes on; the finished output is
renamed into place at the end and the sidecar files removed.  A progress file written by a
different input, models or options is refused.
"""

from __future__ import annotations

import gzip
import json
import logging
import multiprocessing as mp
import os
import shutil
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molpt.data.loaders import SMILES_COLUMN_NAMES
from molpt.featurize.api import _featurize_chunk
from molpt.featurize.fingerprints import morgan_packed
from molpt.featurize.graphs import GraphSet
from molpt.utils import atomic_output, atomic_write_json, check_output_file

log = logging.getLogger(__name__)

ON_INVALID = ("nan", "skip", "fail")
PROGRESS_FORMAT = "molpt-predict-progress"


class InvalidInputRow(ValueError):
    """``on_invalid="fail"`` met a SMILES that does not featurize (one-line message)."""


# ------------------------------------------------------------------------------------------
# featurize (in worker processes)
# ------------------------------------------------------------------------------------------
def featurize_chunk(featurizer: str, smiles: list) -> tuple[dict, list, np.ndarray]:
    """Graph arrays, failures (position, smiles, reason) and packed fingerprints of a chunk.

    Positions are 0-based within the chunk; fingerprints follow the graphs' order.
    """
    arrays, failed = _featurize_chunk((featurizer, 0, smiles))
    fps, _ = morgan_packed(arrays["smiles"])
    return arrays, failed, fps


def graphs_of(featurizer: str, arrays: dict) -> GraphSet:
    """The chunk's GraphSet (``rows`` = positions in the chunk)."""
    if len(arrays["rows"]) == 0:
        return GraphSet.empty(featurizer)
    return GraphSet.from_arrays(featurizer, **arrays)


# ------------------------------------------------------------------------------------------
# input
# ------------------------------------------------------------------------------------------
def _kind(name: str) -> str:
    low = name.lower()
    if low.endswith(".gz"):
        low = low[:-3]
    if low.endswith(".parquet"):
        return "parquet"
    if low.endswith((".smi", ".smiles", ".txt")):
        return "smi"
    if low.endswith((".tsv", ".tab")):
        return "tsv"
    return "csv"


def pick_smiles_col(columns: list[str], wanted: str | None, where: str) -> str:
    """The SMILES column: ``wanted``, else ``smiles``/``canonical_smiles``/... (any case),
    else the only column."""
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"{where}: no column {wanted!r} (--smiles-col); columns: "
                             f"{', '.join(map(str, columns))}")  # fmt: skip
        return wanted
    lower = {str(c).lower(): c for c in columns}
    for name in SMILES_COLUMN_NAMES:
        if name in lower:
            return lower[name]
    if len(columns) == 1:
        return columns[0]
    raise ValueError(f"{where}: no SMILES column found among {', '.join(map(str, columns))}; "
                     "name it with --smiles-col")  # fmt: skip


class InputTable:
    """A table read in chunks of ``chunk_size`` rows, every column as text.

    ``columns`` and ``smiles_col`` are known after construction (the first chunk is read
    and kept).  Raises ValueError for an empty input or one without a SMILES column.
    """

    def __init__(self, source: str, smiles_col: str | None, chunk_size: int,
                 skip: int = 0) -> None:  # fmt: skip
        self.source = source
        self.kind = "csv" if source == "-" else _kind(source)
        self.chunk_size = chunk_size
        if source != "-" and not Path(source).is_file():
            raise FileNotFoundError(f"no such input file: {source}")
        self._iter = self._chunks(skip)
        self._first: pd.DataFrame | None = None
        for df in self._iter:  # the first chunk with rows (a header alone has none)
            if len(df):
                self._first = df
                break
        if self._first is None:
            if skip:  # a resumed run whose rows are all done
                self.columns, self.smiles_col = [], smiles_col or "smiles"
                return
            raise ValueError(f"{self.where}: the input is empty (no molecules to score)")
        self.columns = [str(c) for c in self._first.columns]
        self.smiles_col = pick_smiles_col(self.columns, smiles_col, self.where)

    @property
    def where(self) -> str:
        return "stdin" if self.source == "-" else self.source

    def __iter__(self) -> Iterator[pd.DataFrame]:
        if self._first is not None and len(self._first):
            yield self._first
        self._first = None
        yield from self._iter

    def _chunks(self, skip: int) -> Iterator[pd.DataFrame]:
        if self.kind == "parquet":
            yield from self._parquet(skip)
        elif self.kind == "smi":
            yield from self._smi(skip)
        else:
            yield from self._csv(skip)

    def _csv(self, skip: int) -> Iterator[pd.DataFrame]:
        src: Any = self.source
        encoding: str | None = "utf-8-sig"
        if self.source == "-":  # bytes when there are (BOM removed), else the text stream
            src = getattr(sys.stdin, "buffer", sys.stdin)
            encoding = "utf-8-sig" if src is not sys.stdin else None
        try:
            reader = pd.read_csv(
                src, sep="\t" if self.kind == "tsv" else ",", dtype=str,
                keep_default_na=False, na_filter=False, chunksize=self.chunk_size,
                skiprows=range(1, skip + 1) if skip else None, compression="infer",
                encoding=encoding,
            )  # fmt: skip
            header_only = True
            for df in reader:
                header_only = False
                yield df
            if header_only:
                return
        except pd.errors.EmptyDataError:
            return
        except (pd.errors.ParserError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"{self.where}: cannot read the table ({first})") from None

    def _smi(self, skip: int) -> Iterator[pd.DataFrame]:
        opener = gzip.open if self.source.lower().endswith(".gz") else open
        rows: list[tuple[str, str]] = []
        seen = 0
        first = True
        try:
            with opener(self.source, "rt", encoding="utf-8-sig") as fh:
                for line in fh:
                    parts = line.strip().split(None, 1)
                    if not parts:
                        continue
                    if first:
                        first = False
                        if parts[0].lower() in SMILES_COLUMN_NAMES:
                            continue
                    seen += 1
                    if seen <= skip:
                        continue
                    rows.append((parts[0], parts[1] if len(parts) > 1 else ""))
                    if len(rows) >= self.chunk_size:
                        yield pd.DataFrame(rows, columns=["smiles", "name"])
                        rows = []
        except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
            raise ValueError(f"{self.where}: cannot read the file ({exc})") from None
        if rows:
            yield pd.DataFrame(rows, columns=["smiles", "name"])

    def _parquet(self, skip: int) -> Iterator[pd.DataFrame]:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(self.source)
        except Exception as exc:  # noqa: BLE001 - arrow raises its own error types
            raise ValueError(f"{self.where}: not a readable parquet file ({exc})") from None
        left = skip
        for batch in pf.iter_batches(batch_size=self.chunk_size):
            df = batch.to_pandas()
            if left:
                cut = min(left, len(df))
                df, left = df.iloc[cut:], left - cut
            if len(df):
                yield df.astype(object).where(df.notna(), "").astype(str).reset_index(drop=True)


# ------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------
def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Stable column types from chunk to chunk (text, floats, Int64, boolean)."""
    out = {}
    for c in df.columns:
        s = df[c]
        if str(s.dtype) in ("Int64", "boolean") or s.dtype.kind == "f":
            out[c] = s
        else:
            out[c] = s.astype("string")
    return pd.DataFrame(out)


@dataclass
class OutputSink:
    """Where predicted chunks go (see the module docstring for the files)."""

    out: str
    signature: dict[str, Any]
    resume: bool = False
    rows_done: int = 0
    chunks: int = 0
    kind: str = field(init=False)

    def __post_init__(self) -> None:
        self.kind = "stdout" if self.out == "-" else _kind(self.out)
        self.gz = self.out.lower().endswith(".gz")
        self.sep = "\t" if self.kind in ("tsv", "smi") else ","
        if self.kind == "stdout":
            if self.resume:
                raise ValueError("--resume needs an --out file (stdout cannot be resumed)")
            self._header = True
            return
        path = Path(self.out)
        check_output_file(path, "--out")  # before any work
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.parts = path.with_name(path.name + ".parts")
        self.progress = path.with_name(path.name + ".progress.json")
        self.size = 0
        if self.resume and self.progress.is_file():
            self._load_progress()
        else:
            if self.resume:
                log.info("no progress file %s: starting from the first row", self.progress)
            self._clear()
        self._header = self.rows_done == 0 and self.size == 0 and self.chunks == 0

    @property
    def complete_already(self) -> bool:
        """``resume`` on an output that finished: nothing to do."""
        return (self.kind != "stdout" and self.resume and not self.progress.is_file()
                and self.path.is_file() and not self.partial.exists())  # fmt: skip

    def _clear(self) -> None:
        self.partial.unlink(missing_ok=True)
        self.progress.unlink(missing_ok=True)
        if self.parts.is_dir():
            shutil.rmtree(self.parts)

    def _load_progress(self) -> None:
        try:
            st = json.loads(self.progress.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.progress} is unreadable ({exc}); remove it to start "
                             "afresh") from None  # fmt: skip
        if st.get("format") != PROGRESS_FORMAT:
            raise ValueError(f"{self.progress} is not a molpt predict progress file")
        theirs = st.get("signature", {})
        for key, mine in self.signature.items():
            if theirs.get(key) != mine:
                raise ValueError(
                    f"{self.progress} belongs to a different run ({key} differs: "
                    f"{theirs.get(key)!r} then, {mine!r} now); rerun without --resume to "
                    "start afresh"
                )
        self.rows_done, self.chunks = int(st["rows_done"]), int(st["chunks"])
        self.size = int(st.get("bytes", 0))
        if self.kind == "parquet":
            keep = {f"part-{i:06d}.parquet" for i in range(self.chunks)}
            for p in self.parts.glob("*") if self.parts.is_dir() else []:
                if p.name not in keep:
                    p.unlink()
        else:
            with open(self.partial, "ab") as fh:  # cut a chunk written after the record
                fh.truncate(self.size)
        log.info("resuming %s after %d rows (%d chunks)", self.out, self.rows_done, self.chunks)

    def write(self, df: pd.DataFrame, rows_consumed: int) -> None:
        """Append a predicted chunk that consumed ``rows_consumed`` input rows."""
        if self.kind == "stdout":
            text = df.to_csv(index=False, header=self._header, float_format="%.6g")
            sys.stdout.write(text)
            sys.stdout.flush()
            self._header = False
            self.rows_done += rows_consumed
            self.chunks += 1
            return
        if self.kind == "parquet":
            self.parts.mkdir(parents=True, exist_ok=True)
            with atomic_output(self.parts / f"part-{self.chunks:06d}.parquet") as tmp:
                _typed(df).to_parquet(tmp, index=False)
        else:
            data = df.to_csv(index=False, header=self._header, sep=self.sep,
                             float_format="%.6g").encode("utf-8")  # fmt: skip
            if self.gz:
                data = gzip.compress(data, compresslevel=6, mtime=0)
            with open(self.partial, "ab") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            self.size += len(data)
        self._header = False
        self.rows_done += rows_consumed
        self.chunks += 1
        atomic_write_json(self.progress, {
            "format": PROGRESS_FORMAT, "rows_done": self.rows_done, "chunks": self.chunks,
            "bytes": self.size, "signature": self.signature,
        })  # fmt: skip

    def finish(self, columns: list[str]) -> None:
        """Put the finished output in place and remove the sidecar files."""
        if self.kind == "stdout":
            if self._header:  # no row at all: still a header
                sys.stdout.write(pd.DataFrame(columns=columns).to_csv(index=False))
            return
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            parts = sorted(self.parts.glob("part-*.parquet")) if self.parts.is_dir() else []
            with atomic_output(self.path) as tmp:
                if not parts:
                    pd.DataFrame(columns=columns).to_parquet(tmp, index=False)
                else:
                    schema = pq.read_schema(parts[0])
                    with pq.ParquetWriter(tmp, schema) as w:
                        for p in parts:  # one chunk in memory at a time
                            w.write_table(pq.read_table(p).cast(schema))
            shutil.rmtree(self.parts, ignore_errors=True)
        else:
            if not self.partial.exists() or self.size == 0:
                data = pd.DataFrame(columns=columns).to_csv(index=False, sep=self.sep)
                raw = data.encode()
                with open(self.partial, "wb") as fh:
                    fh.write(gzip.compress(raw, mtime=0) if self.gz else raw)
            os.replace(self.partial, self.path)
        self.progress.unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove everything this run wrote (a run that failed)."""
        if self.kind != "stdout":
            self._clear()


def input_signature(source: str) -> dict[str, Any]:
    """What identifies an input file for ``resume`` (path, size, modification time)."""
    if source == "-":
        return {"input": "-"}
    st = os.stat(source)
    return {"input": str(Path(source).resolve()), "input_size": st.st_size,
            "input_mtime_ns": st.st_mtime_ns}  # fmt: skip


# ------------------------------------------------------------------------------------------
# the loop
# ------------------------------------------------------------------------------------------
@dataclass
class PredictSummary:
    rows: int = 0
    written: int = 0
    invalid: int = 0
    skipped: int = 0
    resumed_from: int = 0
    seconds: float = 0.0
    out: str = ""
    already_complete: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _rename_clashes(df: pd.DataFrame, taken: set[str]) -> pd.DataFrame:
    clash = [c for c in df.columns if c in taken]
    return df.rename(columns={c: f"{c}_input" for c in clash}) if clash else df


def predict_stream(
    predictor,
    source: str,
    out: str,
    smiles_col: str | None = None,
    on_invalid: str = "nan",
    interval: float | None = None,
    individual: bool = False,
    chunk_size: int = 10000,
    workers: int = 0,
    resume: bool = False,
    progress: bool = True,
) -> PredictSummary:
    """Score every row of ``source`` with ``predictor`` (a ``molpt.predict.Predictor``) into
    ``out``, chunk by chunk; see the module docstring.

    Row i of the output is input row i (with ``on_invalid="skip"``, minus the rows that do
    not featurize); the input's columns come first (one named like an output column gets
    the suffix ``_input``), then the prediction columns, the domain columns and ``status``.

    Raises:
        ValueError: bad options, an empty input, no SMILES column, a foreign progress file;
            :class:`InvalidInputRow` for ``on_invalid="fail"`` (nothing is left behind).
        OSError: an output that cannot be written (checked before any work).
    """
    if on_invalid not in ON_INVALID:
        raise ValueError(f"on_invalid must be one of {', '.join(ON_INVALID)}, got {on_invalid!r}")
    if chunk_size < 1:
        raise ValueError(f"the chunk size must be at least 1, got {chunk_size}")
    if interval is not None:
        predictor.ensemble.halfwidths(interval)  # a classifier / bad level: before any work
    t0 = time.perf_counter()
    signature = {**input_signature(source), "models": predictor.signature(),
                 "smiles_col": smiles_col, "on_invalid": on_invalid, "interval": interval,
                 "individual": individual}  # fmt: skip
    sink = OutputSink(out, signature, resume=resume)
    summary = PredictSummary(out=out, resumed_from=sink.rows_done)
    if sink.complete_already:
        summary.already_complete = True
        return summary
    table = InputTable(source, smiles_col, chunk_size, skip=sink.rows_done)
    pred_cols = predictor.ensemble.output_columns(interval, individual) + ["status"]
    taken = set(pred_cols)
    columns = [f"{c}_input" if c in taken else c for c in table.columns] + pred_cols
    feat = predictor.featurizer
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="predict", unit="mol", initial=sink.rows_done, file=sys.stderr,
                   dynamic_ncols=True)  # fmt: skip
    pool = None
    if workers > 1:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
        pool = ctx.Pool(workers)
    offset = sink.rows_done

    def finish_chunk(df: pd.DataFrame, res: tuple[dict, list, np.ndarray]) -> None:
        nonlocal offset
        arrays, failed, fps = res
        reasons = {int(p): reason for p, _, reason in failed}
        if reasons and on_invalid == "fail":
            p = min(reasons)
            raise InvalidInputRow(
                f"row {offset + p} of {table.where}: invalid SMILES "
                f"{str(df[table.smiles_col].iloc[p])[:80]!r}: {reasons[p]} (--on-invalid "
                "nan or skip to score the other rows)"
            )
        pred = predictor.ensemble.table(len(df), graphs_of(feat, arrays), fps, reasons,
                                        interval, individual)  # fmt: skip
        both = pd.concat([_rename_clashes(df.reset_index(drop=True), taken), pred], axis=1)
        if on_invalid == "skip" and reasons:
            both = both.drop(index=sorted(reasons)).reset_index(drop=True)
            summary.skipped += len(reasons)
        summary.invalid += len(reasons)
        sink.write(both, len(df))
        summary.rows += len(df)
        summary.written += len(both)
        offset += len(df)
        if bar is not None:
            bar.update(len(df))

    ok = False
    try:
        pending: deque = deque()
        for df in table:
            smiles = df[table.smiles_col].tolist()
            if pool is None:
                finish_chunk(df, featurize_chunk(feat, smiles))
                continue
            pending.append((df, pool.apply_async(featurize_chunk, (feat, smiles))))
            while len(pending) > 2 * workers:  # bounded read-ahead: flat memory
                d, r = pending.popleft()
                finish_chunk(d, r.get())
        while pending:
            d, r = pending.popleft()
            finish_chunk(d, r.get())
        sink.finish(columns)
        ok = True
    except InvalidInputRow:
        sink.discard()
        raise
    finally:
        if pool is not None:
            pool.terminate() if not ok else pool.close()
            pool.join()
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def read_output(path: str | Path) -> pd.DataFrame:
    """Read a prediction output written by :func:`predict_stream` (tests, notebooks)."""
    path = Path(path)
    kind = _kind(path.name)
    if kind == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t" if kind in ("tsv", "smi") else ",",
                       keep_default_na=False, na_values=[""], dtype={"status": str})  # fmt: skip


__all__ = [
    "ON_INVALID",
    "InputTable",
    "InvalidInputRow",
    "OutputSink",
    "PredictSummary",
    "featurize_chunk",
    "input_signature",
    "pick_smiles_col",
    "predict_stream",
    "read_output",
]
