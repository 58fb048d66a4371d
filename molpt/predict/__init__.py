"""Using a fine-tuned model: ``molpt.load_model(DIR | [DIRs]).predict(smiles)``.

A model is a folder written by ``molpt finetune --out DIR`` (or each job folder of
``molpt benchmark --keep-models``); several folders form an ensemble.  Predictions are
probabilities (classification) or values in the training labels' units (regression), with
the ensemble's spread (``<task>_std``), optional split-conformal intervals
(``<task>_lower`` / ``<task>_upper``, regression) and the applicability domain
(``nn_similarity``, ``nn_train_row``, ``nn_train_smiles``, ``in_domain``) for every row.

>>> import molpt
>>> model = molpt.load_model(["runs/esol_s0", "runs/esol_s1", "runs/esol_s2"])
>>> df = model.predict(["CCO", "c1ccccc1O", "not a smiles"], interval=0.9)

Large files go through :meth:`Predictor.predict_file` (chunked, resumable), which is what
``molpt predict`` runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from molpt.predict.ensemble import Ensemble, MembersDisagree
from molpt.predict.model import ModelFolder, ModelFolderError, read_model_folder
from molpt.predict.stream import (
    ON_INVALID,
    InvalidInputRow,
    PredictSummary,
    featurize_chunk,
    graphs_of,
    predict_stream,
)
from molpt.train.model_folder import MANIFEST

#: config keys that do not make two benchmark jobs different cells (a cell's runs differ
#: only in these)
_RUN_KEYS = ("seed", "job_id", "checkpoint", "baseline")


def resolve_model_dirs(
    paths: str | Path | Sequence[str | Path],
    dataset: str | None = None,
    method: str | None = None,
    where: dict[str, str] | None = None,
) -> list[Path]:
    """Model folders from model folders and/or benchmark results folders.

    A results folder (``grid.json`` + ``jobs/``, written by ``molpt benchmark
    --keep-models``) contributes the kept models of one grid cell: the jobs of ``dataset``
    and ``method`` (and ``where``: config key -> value, e.g. ``{"split": "scaffold"}``),
    all its seeds.  Raises ValueError when that picks no model or several cells.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / MANIFEST).is_file() or not (p / "grid.json").is_file():
            if dataset or method or where:
                if (p / MANIFEST).is_file():
                    raise ValueError(f"{p} is a model folder; --dataset/--method/--where pick "
                                     "models from a benchmark results folder")  # fmt: skip
            out.append(p)
            continue
        out.extend(_cell_models(p, dataset, method, where or {}))
    if not out:
        raise ValueError("no model folders given")
    return out


def _cell_models(root: Path, dataset: str | None, method: str | None,
                 where: dict[str, str]) -> list[Path]:  # fmt: skip
    if not dataset or not method:
        raise ValueError(f"{root} is a benchmark results folder: pick a cell with --dataset "
                         "and --method")  # fmt: skip
    try:
        jobs = json.loads((root / "grid.json").read_text())["jobs"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{root / 'grid.json'} is unreadable ({exc})") from None
    want = {"dataset": dataset, "method": method, **where}
    match = [j for j in jobs if all(str(j.get(k)) == str(v) for k, v in want.items())]
    if not match:
        seen = sorted({(str(j.get("dataset")), str(j.get("method"))) for j in jobs})
        raise ValueError(
            f"{root}: no job of dataset {dataset!r} and method {method!r}"
            + (f" with {where}" if where else "")
            + f"; the grid has: {', '.join('/'.join(s) for s in seen[:12])}"
        )
    varying = sorted(
        k for k in {k for j in match for k in j}
        if k not in _RUN_KEYS and len({json.dumps(j.get(k), sort_keys=True) for j in match}) > 1
    )  # fmt: skip
    if varying:
        vals = {k: sorted({str(j.get(k)) for j in match}) for k in varying}
        raise ValueError(
            f"{root}: {dataset}/{method} matches several cells that differ in "
            + "; ".join(f"{k} ({', '.join(v)})" for k, v in vals.items())
            + f"; pick one with --where {varying[0]}={vals[varying[0]][0]}"
        )
    dirs = [root / "jobs" / str(j["job_id"]) for j in match]
    kept = [d for d in sorted(dirs, key=lambda d: str(d)) if (d / MANIFEST).is_file()]
    if not kept:
        raise ValueError(f"{root}: the {len(dirs)} job(s) of {dataset}/{method} kept no model "
                         "(run `molpt benchmark` with --keep-models)")  # fmt: skip
    seeds = {str(j["job_id"]): j.get("seed") for j in match}
    return sorted(kept, key=lambda d: (seeds.get(d.name) is None, seeds.get(d.name) or 0))


class Predictor:
    """One or more model folders, ready to score molecules.

    Attributes:
        members: the model folders (``molpt.predict.model.ModelFolder``).
        ensemble: the members as one predictor (``molpt.predict.ensemble.Ensemble``).
        task_names, task_type, featurizer: what every member predicts and reads.
    """

    def __init__(self, members: Sequence[ModelFolder], device: str = "cpu") -> None:
        self.members = list(members)
        self.ensemble = Ensemble(self.members, device=device)
        self.task_names = self.ensemble.task_names
        self.task_type = self.ensemble.task_type
        self.featurizer = self.ensemble.featurizer

    def __repr__(self) -> str:
        return (f"Predictor({len(self.members)} model(s), {self.task_type}, tasks="
                f"{self.task_names[:5]}, featurizer={self.featurizer!r})")  # fmt: skip

    def signature(self) -> list[list[str]]:
        """What identifies the members (folder, weights sha256) for ``resume``."""
        return [[str(m.path.resolve()), m.manifest["files"].get("weights.pt", "")]
                for m in self.members]  # fmt: skip

    def predict(
        self,
        smiles: Iterable[str],
        interval: float | None = None,
        individual: bool = False,
        on_invalid: str = "nan",
        chunk_size: int = 10000,
    ) -> pd.DataFrame:
        """Score ``smiles``: a DataFrame with one row per input (``skip``: per valid input).

        Columns: ``smiles``; per task ``<task>`` (the members' mean: a probability, or a
        value in the training labels' units) and ``<task>_std`` (their standard deviation,
        ddof 0); with ``interval`` (a level such as 0.9; regression) ``<task>_lower`` and
        ``<task>_upper`` (split-conformal from the validation residuals saved in each
        model; for an ensemble the mean ± the members' mean half-width); with
        ``individual`` each member's ``<task>@<member>``; then ``nn_similarity`` (highest
        Tanimoto similarity, Morgan r=2 2048 bits, to a training molecule),
        ``nn_train_row`` / ``nn_train_smiles`` (that molecule), ``in_domain``
        (``nn_similarity`` >= the model's threshold: the 5th percentile of the training
        molecules' leave-one-out nearest-neighbour similarities) and ``status`` (``ok`` or
        why the SMILES was not scored).

        Args:
            on_invalid: ``nan`` (the row stays, NaN predictions, the reason in ``status``),
                ``skip`` (the row is dropped) or ``fail`` (InvalidInputRow).
        """
        if on_invalid not in ON_INVALID:
            raise ValueError(f"on_invalid must be one of {', '.join(ON_INVALID)}")
        if interval is not None:
            self.ensemble.halfwidths(interval)
        smiles = list(smiles)
        frames = []
        for a in range(0, len(smiles), chunk_size):
            part = smiles[a : a + chunk_size]
            arrays, failed, fps = featurize_chunk(self.featurizer, part)
            reasons = {int(p): r for p, _, r in failed}
            if reasons and on_invalid == "fail":
                p = min(reasons)
                raise InvalidInputRow(f"row {a + p}: invalid SMILES {str(part[p])[:80]!r}: "
                                      f"{reasons[p]}")  # fmt: skip
            t = self.ensemble.table(len(part), graphs_of(self.featurizer, arrays), fps,
                                    reasons, interval, individual)  # fmt: skip
            t.insert(0, "smiles", pd.array(part, dtype=object))
            if on_invalid == "skip" and reasons:
                t = t.drop(index=sorted(reasons))
            frames.append(t)
        if not frames:
            cols = ["smiles"] + self.ensemble.output_columns(interval, individual) + ["status"]
            return pd.DataFrame(columns=cols)
        return pd.concat(frames, ignore_index=True)

    def predict_file(self, source: str | Path, out: str | Path, **kwargs: Any) -> PredictSummary:
        """Score a file (or ``-``) into ``out`` in chunks; see
        :func:`molpt.predict.stream.predict_stream` for the options (``smiles_col``,
        ``on_invalid``, ``interval``, ``individual``, ``chunk_size``, ``workers``,
        ``resume``, ``progress``)."""
        return predict_stream(self, str(source), str(out), **kwargs)


def load_model(
    path: str | Path | Sequence[str | Path],
    device: str = "cpu",
    dataset: str | None = None,
    method: str | None = None,
    where: dict[str, str] | None = None,
) -> Predictor:
    """Load a model folder, or several as an ensemble, for prediction.

    ``path``: a model folder (``molpt finetune --out DIR``), a list of them, or a
    benchmark results folder with ``dataset`` and ``method`` (and ``where``) picking one
    cell's kept models (``molpt benchmark --keep-models``).  Every file is verified
    (format version, sha256, safe ``weights_only`` loading) and the members must agree on
    tasks, task type and featurizer.

    Raises:
        ModelFolderError / MembersDisagree / ValueError: one-line messages.
    """
    dirs = resolve_model_dirs(path, dataset, method, where)
    return Predictor([read_model_folder(d) for d in dirs], device=device)


__all__ = [
    "InvalidInputRow",
    "MembersDisagree",
    "ModelFolder",
    "ModelFolderError",
    "PredictSummary",
    "Predictor",
    "load_model",
    "read_model_folder",
    "resolve_model_dirs",
]
