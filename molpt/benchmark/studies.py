"""Studies: named benchmark grids stored as TOML files under ``benchmarks/studies/``.

A study is run by one command, ``molpt benchmark --study NAME``, into its own results folder
(default ``benchmarks/results/NAME/``, i.e. ``../results/NAME`` next to the study file).  Any
grid option given on the command line (``--seeds 0-4``, ``--datasets bbbp``) narrows or
overrides the study for that run; the study still defines what is *planned*, so the report
counts finished against planned jobs per cell ("7/10 seeds").

File format (every key but ``name`` is optional; unknown keys are an error)::

    name = "hu2020_gcn"
    title = "GCN 5x300: no pretraining vs Hu et al.'s released GCN encoders"
    slice = 1
    profile = "hu2020"           # a molpt profile: its values are the defaults below
    precision = "fp32"           # what the paper used; recorded in the report
    compare_with = ["Hu et al. 2020"]   # published sources to set beside (default: all)
    # twin_of = "hu2020_gcn"     # only in a precision = "bf16" study: the fp32 study it
                                 # re-runs under bf16 (a precision check, not of record)

    [grid]                       # resolve_grid's options (+ encoder, lr, dropout)
    datasets = ["bbbp", "bace", "clintox", "sider"]
    splits = ["scaffold"]
    seeds = "0-9"                # or a list of ints
    encoder = "gcn"
    num_layers = 5
    hidden_dim = 300
    checkpoints = ["hu2020/gcn_supervised_contextpred"]   # passed to --checkpoint as given

    [known_differences]          # shown where the published value is outside molpt's CI
    "*" = "RDKit 2024 vs 2019; MoleculeNet CSVs from the shared copy"
    clintox = "3 SMILES with a dummy atom * ..."

The copy of the study file used by a run is written to ``RESULTS_DIR/study.toml`` so the
report (and the README section) can be rebuilt from the results folder alone.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molpt.utils import atomic_write_text

#: the repository's study folder (``<repo>/benchmarks/studies``)
REPO_ROOT = Path(__file__).resolve().parents[2]
STUDIES_DIR = REPO_ROOT / "benchmarks" / "studies"
STUDY_COPY = "study.toml"
_SOURCE = "# source: "  # first line of the copy: where the study file was

_TOP_KEYS = {"name", "title", "description", "slice", "profile", "precision", "grid",
             "known_differences", "notes", "results", "compare_with", "twin_of"}  # fmt: skip
_GRID_KEYS = {"datasets", "splits", "seeds", "featurizers", "strategies", "epochs",
              "batch_size", "lr", "dropout", "encoder", "num_layers", "hidden_dim", "limit",
              "checkpoints"}  # fmt: skip


class StudyError(ValueError):
    """A study file that cannot be used (one-line message)."""


@dataclass
class Study:
    """A parsed study file."""

    name: str
    path: Path
    title: str = ""
    description: str = ""
    slice: str = ""
    profile: str = "hu2020"
    precision: str = "fp32"
    grid: dict[str, Any] = field(default_factory=dict)
    known_differences: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    results: str | None = None
    text: str = ""
    #: the original study file, for a copy read back from a results folder
    source: Path | None = None
    #: the fp32 study this bf16 study re-runs (a precision check, not a result of record)
    twin_of: str = ""
    #: published sources to set beside (prefixes such as "Hu et al. 2020"); empty = all
    compare_with: list[str] = field(default_factory=list)

    # ---- derived ------------------------------------------------------------------------
    @property
    def results_dir(self) -> Path:
        """``results`` (relative to the study file) or ``<study dir>/../results/<name>``."""
        if self.results:
            p = Path(self.results)
            return p if p.is_absolute() else (self.path.parent / p).resolve()
        return (self.path.parent.parent / "results" / self.name).resolve()

    @property
    def command(self) -> str:
        """The documented command that runs (or continues) this study."""
        src = self.source or self.path
        if src.name == STUDY_COPY and self.source is None:  # a results folder's copy
            return f"molpt benchmark --study {self.name}"
        if src.resolve().parent == STUDIES_DIR.resolve():
            return f"molpt benchmark --study {self.name}"
        return f"molpt benchmark --study {src}"

    @property
    def base_dir(self) -> Path:
        """Relative ``NAME=PATH`` checkpoint paths are read from here: the repository root
        for a study in ``<repo>/benchmarks/studies``, else the study file's folder."""
        d = self.path.resolve().parent
        if d.name == "studies" and d.parent.name == "benchmarks":
            return d.parent.parent
        return d

    @property
    def checkpoints(self) -> list[str]:
        """``--checkpoint`` values: catalogue names and records (``NAME=molpt/<record>``) as
        given, ``NAME=PATH`` made absolute."""
        from molpt.published.catalogue import CATALOGUE
        from molpt.published.records import is_record_name

        out = []
        for item in self.grid.get("checkpoints", []):
            name, sep, path = item.partition("=")
            named = is_record_name(path) or path in CATALOGUE
            if sep and path and not named and not Path(path).is_absolute():
                item = f"{name}={self.base_dir / path}"
            out.append(item)
        return out

    def seeds(self) -> list[int]:
        from molpt.benchmark.grid import get_profile, parse_seeds

        s = self.grid.get("seeds")
        if s is None:
            return list(get_profile(self.profile).seeds)
        if isinstance(s, str):
            return parse_seeds(s) or []
        return sorted({int(x) for x in s})

    def planned(self, key: str) -> list[Any]:
        """A grid list (datasets, splits, featurizers, strategies) with profile defaults."""
        from molpt.benchmark.grid import get_profile

        if key == "seeds":
            return self.seeds()
        v = self.grid.get(key)
        return list(v) if v is not None else list(getattr(get_profile(self.profile), key))

    def known_difference(self, dataset: str) -> str:
        """What the study file says is known to differ for ``dataset`` (plus ``*``)."""
        parts = [self.known_differences.get(dataset, ""), self.known_differences.get("*", "")]
        return " ".join(p for p in parts if p)

    # ---- CLI ----------------------------------------------------------------------------
    def cli_options(self, **given: Any) -> dict[str, Any]:
        """``benchmark`` option values: the user's where given, else the study's.

        Values are in the CLI's own string form (``datasets="a,b"``, ``seeds="0-9"``,
        ``checkpoint=[...]``), so the command's ordinary parsing and validation apply.
        """
        g = self.grid

        def joined(key: str) -> str | None:
            v = g.get(key)
            return None if v is None else ",".join(str(x) for x in v)

        study_vals: dict[str, Any] = {
            "profile": self.profile,
            "datasets": joined("datasets"),
            "splits": joined("splits"),
            "seeds": ",".join(str(s) for s in self.seeds()) if "seeds" in g else None,
            "epochs": g.get("epochs"),
            "checkpoint": self.checkpoints,
            "featurizers": joined("featurizers"),
            "strategies": joined("strategies"),
            "limit": g.get("limit"),
            "batch_size": g.get("batch_size"),
            "num_layers": g.get("num_layers"),
            "hidden_dim": g.get("hidden_dim"),
        }
        out = {}
        for k, v in study_vals.items():
            user = given.get(k)
            out[k] = user if user not in (None, [], ()) else v
        return out

    def prepare(self, spec, results_dir: str | Path) -> None:
        """Apply what ``resolve_grid`` has no option for (encoder, lr, dropout, a bf16
        precision) to ``spec`` and keep a copy of the study file in the results folder."""
        from molpt.nn import ENCODERS

        if "encoder" in self.grid:
            ENCODERS.get(self.grid["encoder"])
            spec.encoder = str(self.grid["encoder"])
        if "lr" in self.grid:
            spec.lr = float(self.grid["lr"])
        if "dropout" in self.grid:
            spec.dropout = float(self.grid["dropout"])
        if self.precision == "bf16" and hasattr(spec, "bf16"):
            spec.bf16 = True
        root = Path(results_dir)
        root.mkdir(parents=True, exist_ok=True)
        src = self.path.resolve()
        if src.is_relative_to(REPO_ROOT):
            src = src.relative_to(REPO_ROOT)
        atomic_write_text(root / STUDY_COPY, f"{_SOURCE}{src}\n{self.text}")


# ------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------
def study_dirs() -> list[Path]:
    """Where study names are looked up: ``$MOLPT_STUDIES`` (if set), then the repo's."""
    dirs = []
    if os.environ.get("MOLPT_STUDIES"):
        dirs.append(Path(os.environ["MOLPT_STUDIES"]))
    dirs.append(STUDIES_DIR)
    return dirs


def list_studies() -> list[str]:
    """Names of the studies in the study folders."""
    names: list[str] = []
    for d in study_dirs():
        if d.is_dir():
            names += [p.stem for p in sorted(d.glob("*.toml")) if p.stem not in names]
    return names


def find_study(name_or_path: str | Path) -> Path:
    """The study file for a name (``hu2020_gin_none``) or a path to a ``.toml`` file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.is_file():
        if not p.is_file():
            raise StudyError(f"no such study file: {p}")
        return p
    for d in study_dirs():
        cand = d / f"{name_or_path}.toml"
        if cand.is_file():
            return cand
    raise StudyError(
        f"unknown study {str(name_or_path)!r}; choose one of: {', '.join(list_studies())} "
        "(or give a path to a .toml file)"
    )


def parse_study(text: str, path: Path) -> Study:
    """Validate a study file's content."""
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(d) - _TOP_KEYS
    if unknown:
        raise StudyError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(_TOP_KEYS))}")  # fmt: skip
    grid = d.get("grid", {})
    if not isinstance(grid, dict):
        raise StudyError(f"{path}: [grid] must be a table")
    unknown = set(grid) - _GRID_KEYS
    if unknown:
        raise StudyError(f"{path}: unknown [grid] key(s) {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(_GRID_KEYS))}")  # fmt: skip
    for key in ("datasets", "splits", "featurizers", "strategies", "checkpoints"):
        v = grid.get(key)
        if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
            raise StudyError(f"{path}: [grid] {key} must be a list of strings")
    name = d.get("name", path.stem)
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise StudyError(f"{path}: name must use letters, digits, _ and -; got {name!r}")
    precision = str(d.get("precision", "fp32"))
    if precision not in ("fp32", "bf16"):
        raise StudyError(f"{path}: precision must be fp32 or bf16, got {precision!r}")
    twin_of = str(d.get("twin_of", ""))
    if twin_of and (precision != "bf16" or twin_of == name
                    or not twin_of.replace("_", "").replace("-", "").isalnum()):
        raise StudyError(f"{path}: twin_of names the fp32 study this bf16 study re-runs "
                         f"(needs precision = \"bf16\"); got {twin_of!r}")  # fmt: skip
    kd = d.get("known_differences", {})
    if not isinstance(kd, dict) or not all(isinstance(v, str) for v in kd.values()):
        raise StudyError(f"{path}: [known_differences] maps a dataset (or \"*\") to a text")
    notes = d.get("notes", [])
    if isinstance(notes, str):
        notes = [notes]
    study = Study(
        name=name,
        path=path,
        title=str(d.get("title", "")),
        description=str(d.get("description", "")),
        slice=str(d.get("slice", "")),
        profile=str(d.get("profile", "hu2020")),
        precision=precision,
        twin_of=twin_of,
        grid=dict(grid),
        known_differences=dict(kd),
        notes=[str(n) for n in notes],
        results=d.get("results"),
        text=text,
        compare_with=[str(c) for c in d.get("compare_with", [])],
    )
    from molpt.benchmark.grid import get_profile

    try:
        get_profile(study.profile)
        study.seeds()
    except ValueError as exc:
        raise StudyError(f"{path}: {exc}") from None
    return study


def load_study(name_or_path: str | Path) -> Study:
    """Find, read and validate a study (see the module docstring for the format)."""
    path = find_study(name_or_path)
    return parse_study(path.read_text(encoding="utf-8"), path)


def results_folder(name_or_path: str | Path) -> Path:
    """A results folder given as a path, or by its study's name (its ``results_dir``; a name
    without a study file means ``benchmarks/results/<name>``)."""
    p = Path(name_or_path)
    if p.exists() or len(p.parts) > 1:
        return p
    try:
        return load_study(str(name_or_path)).results_dir
    except StudyError:
        return STUDIES_DIR.parent / "results" / str(name_or_path)


def study_of_results(results_dir: str | Path) -> Study | None:
    """The study a results folder was run from (its ``study.toml`` copy), if any."""
    p = Path(results_dir) / STUDY_COPY
    if not p.is_file():
        return None
    text = p.read_text(encoding="utf-8")
    try:
        study = parse_study(text, p)
    except StudyError:
        return None
    if text.startswith(_SOURCE):
        src = Path(text.splitlines()[0][len(_SOURCE):].strip())
        study.source = src if src.is_absolute() else REPO_ROOT / src
    # the copy lives in the results folder; results_dir is that folder
    study.results = str(Path(results_dir).resolve())
    return study


def merge_results(source: str | Path, target: str | Path) -> tuple[int, int]:
    """Append ``source``'s rows (another machine's copy of a study) to ``target``.

    Rows are matched by ``job_id``: rows already in ``target`` are skipped, the others are
    appended (with their ``device`` and ``git_commit`` as they were) and their
    ``jobs/<job_id>/`` files copied (and ``study.toml`` when the target has none and is
    named after the same study; slice-1 rows merged into a slice-2 folder keep its plan).
    Returns (appended, skipped).
    """
    import csv
    import shutil

    from molpt.benchmark.store import ResultsStore

    src, dst = ResultsStore(source), ResultsStore(target)
    if not src.path.is_file():
        raise FileNotFoundError(f"no results file to merge: {src.path}")
    valid = set(src.read().frame["job_id"].astype(str))  # torn lines are left out
    have = dst.done_ids() if dst.path.is_file() else set()
    added = skipped = 0
    with open(src.path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):  # raw cells, written back exactly as they were
            jid = str(row.get("job_id", ""))
            if jid not in valid:
                continue
            if jid in have:
                skipped += 1
                continue
            dst.append({k: (v if v != "" else None) for k, v in row.items() if k})
            have.add(jid)
            added += 1
            jd = src.job_dir(jid)
            if jd.is_dir() and not dst.job_dir(jid).exists():
                shutil.copytree(jd, dst.job_dir(jid))
    src_study = study_of_results(src.root)
    if (src_study is not None and src_study.name == dst.root.resolve().name
            and not (dst.root / STUDY_COPY).is_file()):  # the same study run elsewhere
        shutil.copy2(src.root / STUDY_COPY, dst.root / STUDY_COPY)
    return added, skipped


__all__ = [
    "STUDIES_DIR",
    "STUDY_COPY",
    "Study",
    "StudyError",
    "find_study",
    "list_studies",
    "load_study",
    "merge_results",
    "results_folder",
    "parse_study",
    "study_of_results",
]
