"""Benchmark profiles and grid expansion.

A grid is datasets x splits x seeds x methods (checkpoints, always including ``none`` = no
pretraining) x featurizers x strategies.  Every cell becomes a ``Job`` whose ``job_id`` is
the first 16 hex digits of the sha256 of its canonical configuration (sorted-key JSON), so a
rerun with the same arguments recognises finished work.

``--seeds`` are run seeds.  A seeded split method (random_scaffold, balanced_scaffold,
random) uses the run seed as its split seed; ``scaffold`` is deterministic (split seed 0).

Precision: every profile fine-tunes in fp32 (as the papers did); ``--bf16`` opts in.  A bf16
job's config carries ``"bf16": true``; an fp32 job's config has no such key, so fp32 job ids
are those of earlier molpt versions and old results files resume.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NONE_METHOD = "none"
SEEDED_SPLITS = ("random_scaffold", "balanced_scaffold", "random")


@dataclass
class Profile:
    """A named set of grid defaults (explicit options override them)."""

    name: str
    description: str
    datasets: list[str]
    splits: list[str]
    seeds: list[int]
    featurizers: list[str] = field(default_factory=lambda: ["basic"])
    strategies: list[str] = field(default_factory=lambda: ["full"])
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    dropout: float = 0.5
    encoder: str = "gin"
    num_layers: int = 5
    hidden_dim: int = 300
    limit: int | None = None
    #: pretraining run when no --checkpoint is given (quick profile): PretrainConfig kwargs
    pretrain: dict[str, Any] | None = None
    #: published encoders (``molpt checkpoints`` names) compared when no --checkpoint is
    #: given and the architecture is the profile's; each gets its own random-init twin
    published: list[str] = field(default_factory=list)
    #: also run ``pretrain`` when the published encoders were found; False: pretraining is
    #: the fallback for when they cannot be found or fetched (keeps the quick profile quick)
    pretrain_with_published: bool = True
    #: default local processes when --workers is not given; 0 = one per CPU core (max 4)
    #: on CPU-only machines (small models run faster as single-threaded processes than as
    #: one process with several threads, and degrade gracefully on a shared machine)
    workers: int = 1


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        description="smoke benchmark: Hu et al.'s published GCN (supervised + context "
        "prediction) against its random-init twin on two small sets (a briefly pretrained "
        "attrmask GIN instead when the published file cannot be found or fetched); minutes on "
        "a laptop, NOT comparable to published numbers",
        datasets=["bbbp", "bace"],
        splits=["scaffold", "balanced_scaffold"],
        seeds=[0, 1, 2],
        epochs=8,
        batch_size=64,
        num_layers=5,
        hidden_dim=128,
        pretrain=dict(
            objective="attrmask", data="moses", limit=10000, epochs=1, batch_size=256, lr=1e-3
        ),
        published=["hu2020/gcn_supervised_contextpred"],
        pretrain_with_published=False,
        workers=0,
    ),
    "hu2020": Profile(
        name="hu2020",
        description="Hu et al. 2020 Table 1 protocol: 8 classification sets, scaffold split, "
        "10 seeds, GIN 5x300, 100 epochs, batch 32, Adam 1e-3, dropout 0.5",
        datasets=["bbbp", "tox21", "toxcast", "sider", "clintox", "muv", "hiv", "bace"],
        splits=["scaffold"],
        seeds=list(range(10)),
    ),
    "sun2022": Profile(
        name="sun2022",
        description="Sun et al. 2022: five sets x scaffold / balanced scaffold x basic / rich "
        "features, GIN 5x300, 100 epochs",
        datasets=["bbbp", "bace", "tox21", "toxcast", "sider"],
        splits=["scaffold", "balanced_scaffold"],
        seeds=list(range(10)),
        featurizers=["basic", "rich"],
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}"
        ) from None


def default_workers(profile: str) -> int:
    """Local worker processes a profile uses when ``--workers`` is not given."""
    import os

    w = get_profile(profile).workers
    if w > 0:
        return w
    import torch

    if torch.cuda.is_available():
        return 1
    return max(1, min(4, os.cpu_count() or 1))


# ------------------------------------------------------------------------------------------
# option parsing
# ------------------------------------------------------------------------------------------
def parse_list(value: str | None) -> list[str] | None:
    """``"a,b"`` -> ``["a", "b"]``; None/empty -> None."""
    if value is None:
        return None
    items = [s.strip() for s in value.split(",") if s.strip()]
    return items or None


def parse_seeds(value: str | None) -> list[int] | None:
    """``"0-9"``, ``"0,1,2"`` or ``"0-2,5"`` -> sorted unique ints."""
    if value is None or not value.strip():
        return None
    seeds: set[int] = set()
    for part in value.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if b < a:
                raise ValueError(f"--seeds range {part!r} is empty")
            seeds.update(range(a, b + 1))
        elif re.fullmatch(r"\d+", part):
            seeds.add(int(part))
        else:
            raise ValueError(f"--seeds expects e.g. 0-9 or 0,1,2; got {value!r}")
    return sorted(seeds)


def parse_checkpoints(
    items: list[str] | None,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, str]:
    """``--checkpoint`` values -> ordered {method name: local molpt checkpoint path}.

    Each item is ``NAME=PATH`` or a bare published encoder name (``molpt checkpoints``),
    which is then its own method name: ``hu2020/gcn_supervised_contextpred``.  PATH may be a
    published name too.  Published names are resolved here (found under the checkpoint
    root, else downloaded and checked, then imported once and cached), so the grid and the
    training code only ever see file paths.
    """
    from molpt.published.catalogue import CATALOGUE
    from molpt.published.records import is_record_name
    from molpt.published.resolve import resolve_checkpoint

    out: dict[str, str] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not sep and (name in CATALOGUE or is_record_name(name)):
            path = name
        elif not sep or not name or not path:
            raise ValueError(
                f"--checkpoint expects NAME=PATH or a published encoder name "
                f"(`molpt checkpoints` lists them), got {item!r}"
            )
        if name == NONE_METHOD or name.startswith(NONE_METHOD + "-"):
            raise ValueError(
                f"--checkpoint name {name!r}: names starting with 'none' are reserved for "
                "the random-init baselines"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*", name):
            raise ValueError(f"--checkpoint name {name!r}: use letters, digits, _ . + - /")
        if name in out:
            raise ValueError(f"--checkpoint name {name!r} given twice")
        out[name] = str(resolve_checkpoint(path, checkpoint_dir, progress=progress))
    return out


# ------------------------------------------------------------------------------------------
# the resolved grid
# ------------------------------------------------------------------------------------------
@dataclass
class GridSpec:
    """A profile with the user's overrides applied; ``checkpoints`` maps name -> path."""

    profile: str
    datasets: list[str]
    splits: list[str]
    seeds: list[int]
    featurizers: list[str]
    strategies: list[str]
    epochs: int
    batch_size: int
    lr: float
    dropout: float
    encoder: str
    num_layers: int
    hidden_dim: int
    limit: int | None
    checkpoints: dict[str, str] = field(default_factory=dict)
    pretrain: dict[str, Any] | None = None
    #: the profile's published encoders, resolved: {catalogue name: molpt checkpoint path}
    #: (expand_grid adds them to the checkpoints it is given)
    published: dict[str, str] = field(default_factory=dict)
    #: one-line notes from resolving the grid (a published encoder that was unavailable)
    notes: list[str] = field(default_factory=list)
    #: bf16 autocast in fine-tuning (opt-in, ``--bf16``); every profile runs fp32 by default
    bf16: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_grid(
    profile: str = "quick",
    datasets: list[str] | None = None,
    splits: list[str] | None = None,
    seeds: list[int] | None = None,
    epochs: int | None = None,
    checkpoints: dict[str, str] | None = None,
    featurizers: list[str] | None = None,
    strategies: list[str] | None = None,
    limit: int | None = None,
    batch_size: int | None = None,
    num_layers: int | None = None,
    hidden_dim: int | None = None,
    lr: float | None = None,
    dropout: float | None = None,
    bf16: bool = False,
    published: bool = False,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> GridSpec:
    """Apply explicit options over a profile's values and validate every name.

    ``published=True`` (the CLI's choice) also resolves the profile's published encoders
    (under ``checkpoint_dir``, else ``$MOLPT_CHECKPOINTS``, else ``./checkpoints``; fetched
    and imported when needed) unless ``checkpoints`` or an architecture override is given;
    one that cannot be found, fetched or verified becomes a one-line note in ``notes``.
    """
    from molpt.data.catalogue import DATASETS
    from molpt.data.splits import SPLITS
    from molpt.featurize.featurizers import FEATURIZERS
    from molpt.train.finetune import STRATEGIES

    p = get_profile(profile)

    def pick(v, default):
        return default if v is None else v

    spec = GridSpec(
        profile=p.name,
        datasets=list(pick(datasets, p.datasets)),
        splits=list(pick(splits, p.splits)),
        seeds=list(pick(seeds, p.seeds)),
        featurizers=list(pick(featurizers, p.featurizers)),
        strategies=list(pick(strategies, p.strategies)),
        epochs=int(pick(epochs, p.epochs)),
        batch_size=int(pick(batch_size, p.batch_size)),
        lr=float(pick(lr, p.lr)),
        dropout=float(pick(dropout, p.dropout)),
        encoder=p.encoder,
        num_layers=int(pick(num_layers, p.num_layers)),
        hidden_dim=int(pick(hidden_dim, p.hidden_dim)),
        limit=pick(limit, p.limit),
        checkpoints=dict(checkpoints or {}),
        pretrain=dict(p.pretrain) if p.pretrain and not checkpoints else None,
        bf16=bool(bf16),
    )
    for d in spec.datasets:
        if d not in DATASETS and not Path(d).is_file():
            raise ValueError(
                f"unknown dataset {d!r}; choose from: {', '.join(DATASETS.choices())}"
            )
        if d in DATASETS and DATASETS.get(d).is_pretrain:
            raise ValueError(f"{d!r} is a pretraining corpus without labels, not a benchmark")
    for s in spec.splits:
        SPLITS.get(s)
    for f in spec.featurizers:
        FEATURIZERS.get(f)
    for s in spec.strategies:
        if s not in STRATEGIES:
            raise ValueError(f"unknown strategy {s!r}; choose one of: {', '.join(STRATEGIES)}")
    if not spec.seeds:
        raise ValueError("no seeds given")
    if spec.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {spec.epochs}")
    for name, path in spec.checkpoints.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"checkpoint {name}: file not found: {path}")
    for key in ("datasets", "splits", "featurizers", "strategies"):
        vals = getattr(spec, key)
        if len(set(vals)) != len(vals):
            raise ValueError(f"--{key} lists a value twice: {','.join(vals)}")
    if published and p.published and not checkpoints:
        if num_layers is not None or hidden_dim is not None:
            spec.notes.append(
                f"published encoder(s) {', '.join(p.published)} left out: --num-layers / "
                "--hidden-dim change the profile's architecture"
            )
        else:
            spec.published, notes = resolve_published(p.published, checkpoint_dir, progress)
            spec.notes += notes
            if spec.published and not p.pretrain_with_published:
                spec.pretrain = None  # the published encoder is the pretrained method
    return spec


def resolve_published(
    names: list[str], checkpoint_dir: str | Path | None = None, progress: bool = True
) -> tuple[dict[str, str], list[str]]:
    """Published encoder names -> ({name: molpt checkpoint path}, notes on the ones that
    could not be found, fetched, verified or imported)."""
    from molpt.published.resolve import resolve_checkpoint

    paths: dict[str, str] = {}
    notes: list[str] = []
    for name in names:
        try:
            paths[name] = str(resolve_checkpoint(name, checkpoint_dir, progress=progress))
        except (OSError, ValueError) as exc:  # unavailable, checksum mismatch, bad file
            notes.append(f"{name} not run: {str(exc).splitlines()[0]}")
    return paths, notes


@dataclass
class Job:
    """One fine-tuning run of the grid."""

    config: dict[str, Any]
    job_id: str

    @property
    def method(self) -> str:
        return self.config["method"]

    def label(self) -> str:
        c = self.config
        keys = ("dataset", "split", "featurizer", "strategy", "method")
        return "/".join(str(c[k]) for k in keys) + f"/s{c['seed']}"


def job_id(config: dict[str, Any]) -> str:
    """First 16 hex digits of the sha256 of the canonical JSON of ``config`` minus paths.

    ``checkpoint`` (a path: moving a file keeps the id) and ``baseline`` (which twin a row
    is compared with: a report matter, not part of what is trained) are left out.
    """
    ident = {k: v for k, v in config.items() if k not in _NOT_IN_JOB_ID}
    blob = json.dumps(ident, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


_NOT_IN_JOB_ID = ("checkpoint", "baseline")


@dataclass
class CheckpointInfo:
    name: str
    path: str
    featurizer: str
    encoder_config: dict[str, Any]
    sha256: str


def inspect_checkpoints(checkpoints: dict[str, str]) -> dict[str, CheckpointInfo]:
    """Load each checkpoint's header (featurizer, encoder config) and content hash.

    A value may also be a published encoder name (resolved to its imported checkpoint).
    """
    from molpt.published.resolve import resolve_checkpoint
    from molpt.train.checkpoint import load_checkpoint
    from molpt.utils import file_sha256

    out = {}
    for name, ref in checkpoints.items():
        path = resolve_checkpoint(ref, progress=False)
        ck = load_checkpoint(path)
        out[name] = CheckpointInfo(
            name=name,
            path=str(Path(path).resolve()),
            featurizer=ck["featurizer"]["name"],
            encoder_config=dict(ck["encoder_config"]),
            sha256=file_sha256(path),
        )
    return out


def _architecture(encoder_config: dict[str, Any], spec: GridSpec) -> dict[str, Any]:
    """The fine-tuning architecture keys of a job from an encoder config."""
    return {
        "encoder": encoder_config.get("conv", spec.encoder),
        "num_layers": int(encoder_config.get("num_layers", spec.num_layers)),
        "hidden_dim": int(encoder_config.get("hidden_dim", spec.hidden_dim)),
        "jk": encoder_config.get("jk", "last"),
    }


def twin_name(arch: dict[str, Any]) -> str:
    """Method name of the random-init twin of an architecture: ``none-gcn5x300``."""
    name = f"{NONE_METHOD}-{arch['encoder']}{arch['num_layers']}x{arch['hidden_dim']}"
    return name if arch.get("jk", "last") == "last" else f"{name}-{arch['jk']}"


def baselines(
    spec: GridSpec, ckpts: dict[str, CheckpointInfo], featurizer: str
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, str]]:
    """The random-init twins of one featurizer's cells and which twin each checkpoint has.

    A gain must come from the pretrained weights, not from a different model, so every
    pretrained architecture is compared with a freshly initialised copy of itself.  With
    one architecture (or no checkpoint: the profile's) the twin is called ``none``; with
    several, each architecture gets its own, named after it (``none-gcn5x300``).

    Returns:
        ([(twin method name, architecture keys)], {checkpoint name: twin method name}).
    """
    archs: dict[str, dict[str, Any]] = {}
    of: dict[str, str] = {}
    for name, c in ckpts.items():
        if c.featurizer != featurizer:
            continue
        arch = _architecture(c.encoder_config, spec)
        key = json.dumps(arch, sort_keys=True)
        archs.setdefault(key, arch)
        of[name] = key
    if len(archs) <= 1:
        arch = next(iter(archs.values()), None) or {
            "encoder": spec.encoder, "num_layers": spec.num_layers,
            "hidden_dim": spec.hidden_dim, "jk": "last"}  # fmt: skip
        return [(NONE_METHOD, arch)], {name: NONE_METHOD for name in of}
    names = {key: twin_name(arch) for key, arch in archs.items()}
    return [(names[k], a) for k, a in archs.items()], {n: names[k] for n, k in of.items()}


def expand_grid(
    spec: GridSpec, checkpoints: dict[str, CheckpointInfo] | None = None
) -> tuple[list[Job], list[str]]:
    """All jobs of the grid, in a stable order, plus notes on skipped cells.

    Per featurizer the methods are the random-init twins (see :func:`baselines`), then the
    checkpoints (``checkpoints`` plus the profile's resolved published encoders,
    ``spec.published``).  Every job config has ``baseline``: the twin it is compared with
    (a twin's own name for a twin row); twin method names start with ``none``.
    """
    ckpts = dict(checkpoints if checkpoints is not None else inspect_checkpoints(spec.checkpoints))
    extra = {n: p for n, p in spec.published.items() if n not in ckpts}
    if extra:
        ckpts.update(inspect_checkpoints(extra))
    jobs: list[Job] = []
    notes: list[str] = list(spec.notes)
    skipped_pairs: set[tuple[str, str]] = set()
    twins = {feat: baselines(spec, ckpts, feat) for feat in spec.featurizers}
    for feat, (tw, _) in twins.items():
        if len(tw) > 1:
            notes.append(
                f"checkpoints for featurizer {feat!r} have {len(tw)} architectures: each is "
                f"compared with its own random-init twin ({', '.join(n for n, _ in tw)})"
            )
    for ds, sp, feat, strat in itertools.product(
        spec.datasets, spec.splits, spec.featurizers, spec.strategies
    ):
        tw, twin_of = twins[feat]
        methods: list[tuple[str, dict[str, Any] | None]] = [*tw, *((m, None) for m in ckpts)]
        for (method, twin_arch), seed in itertools.product(methods, spec.seeds):
            cfg: dict[str, Any] = {
                "dataset": ds,
                "split": sp,
                "split_seed": seed if sp in SEEDED_SPLITS else 0,
                "seed": seed,
                "featurizer": feat,
                "strategy": strat,
                "epochs": spec.epochs,
                "batch_size": spec.batch_size,
                "lr": spec.lr,
                "dropout": spec.dropout,
                "limit": spec.limit,
            }
            if spec.bf16:  # only when on, so the ids of fp32 jobs are those of earlier versions
                cfg["bf16"] = True
            if twin_arch is not None:
                cfg.update(method=method, checkpoint=None, checkpoint_sha256=None,
                           baseline=method, **twin_arch)  # fmt: skip
            else:
                info = ckpts[method]
                if info.featurizer != feat:
                    if (method, feat) not in skipped_pairs:
                        skipped_pairs.add((method, feat))
                        notes.append(
                            f"checkpoint {method} was pretrained with featurizer "
                            f"{info.featurizer!r}: skipped for featurizer {feat!r}"
                        )
                    continue
                cfg.update(
                    method=method,
                    checkpoint=info.path,
                    checkpoint_sha256=info.sha256[:16],
                    baseline=twin_of[method],
                    **_architecture(info.encoder_config, spec),
                )
            jobs.append(Job(cfg, job_id(cfg)))
    return jobs, notes


def finetune_config(job: Job, out: str | Path, data_dir: str | None, device: str = "auto",
                    keep_models: bool = False):  # fmt: skip
    """The ``FinetuneConfig`` of a job (outputs under ``out``; with ``keep_models`` its
    best-valid model folder too)."""
    from molpt.train.finetune import FinetuneConfig

    c = job.config
    return FinetuneConfig(
        dataset=c["dataset"],
        checkpoint=c["checkpoint"],
        featurizer=c["featurizer"],
        split=c["split"],
        split_seed=c["split_seed"],
        seed=c["seed"],
        strategy=c["strategy"],
        epochs=c["epochs"],
        batch_size=c["batch_size"],
        lr=c["lr"],
        dropout=c["dropout"],
        encoder=c["encoder"],
        num_layers=c["num_layers"],
        hidden_dim=c["hidden_dim"],
        jk=c.get("jk", "last"),
        limit=c["limit"],
        bf16=bool(c.get("bf16", False)),
        data_dir=data_dir,
        device=device,
        out=str(out),
        overwrite=True,  # a job folder is rewritten when its job reruns
        save_model=keep_models,
    )


__all__ = [
    "NONE_METHOD",
    "PROFILES",
    "SEEDED_SPLITS",
    "CheckpointInfo",
    "GridSpec",
    "Job",
    "Profile",
    "default_workers",
    "expand_grid",
    "finetune_config",
    "get_profile",
    "inspect_checkpoints",
    "job_id",
    "parse_checkpoints",
    "parse_list",
    "parse_seeds",
    "baselines",
    "resolve_grid",
    "resolve_published",
    "twin_name",
]
