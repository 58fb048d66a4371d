"""The pretraining loop: one function for every objective, single process or DDP.

``pretrain(PretrainConfig(...))`` loads (or receives) the molecules, optionally keeps only
one part of a split (self-pretraining) and removes molecules that leak into downstream
valid/test sets, builds encoder + objective, and trains with Adam.  After every epoch it
writes ``OUT/checkpoint.pt`` (atomic) and ``OUT/history.json``.  Within an epoch it writes
``OUT/partial.pt`` every ``save_every_minutes`` and when SIGINT/SIGTERM asks it to stop, so a
killed or interrupted run loses at most those minutes; ``resume=True`` continues from the
newer of the two (mid-epoch from the next batch, bit-identical to an uninterrupted run on
CPU).

Reproducibility: the batch order, the objective's random choices and the global torch RNG
(dropout) are re-seeded at the start of every epoch from ``(seed, epoch, rank)``, so a run
resumed from the checkpoint of epoch ``e`` continues exactly as the uninterrupted run
(bit-identical weights on CPU), in one process or under DDP.  A mid-epoch state also holds
the generators' states after its last step and the epoch's running sums.

DDP: under ``torchrun`` (``WORLD_SIZE`` > 1) every rank takes its shard of each epoch's
permutation (identical on all ranks), the objective is wrapped in DistributedDataParallel
(nccl on GPU, gloo on CPU), rank 0 alone writes files.  ``batch_size`` is the global batch
size: each rank uses ``ceil(batch_size / world_size)`` graphs per step.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molpt.featurize.graphs import CorruptCacheError, GraphSet
from molpt.nn.encoder import Encoder
from molpt.objectives import OBJECTIVES
from molpt.objectives.base import Objective
from molpt.train.checkpoint import (
    CHECKPOINT_NAME,
    KEPT_DIR,
    PARTIAL_NAME,
    CheckpointError,
    check_featurizer,
    load_checkpoint,
    load_encoder,
    save_checkpoint,
)
from molpt.train.device import autocast, device_name, resolve_device
from molpt.train.probe import run_probe
from molpt.utils import atomic_write_json, check_output_dir, file_sha256, seed_everything

log = logging.getLogger(__name__)

HISTORY_NAME = "history.json"
PARTS = ("train", "valid", "test")


@dataclass(kw_only=True)
class PretrainConfig:
    """Everything that defines a pretraining run (stored in the checkpoint as a plain dict).

    Attributes:
        objective: a name from ``OBJECTIVES`` (attrmask, contextpred, edgepred, graphcl,
            graphmae, infomax, supervised).
        data: catalogue name (``moses``, ``zinc2m``, ``bbbp``, ...), a CSV/SMILES file, or a
            GraphSet file saved with ``GraphSet.save`` (``.pt``; precomputed tensors, no
            RDKit needed).
        out: run folder for ``checkpoint.pt`` and ``history.json``.
        featurizer, encoder, num_layers, hidden_dim, dropout, jk: the encoder.
        epochs, batch_size (global), lr, weight_decay, seed: optimisation (Adam).
        limit: use only the first ``limit`` rows of ``data``.
        device: ``auto``, ``cpu`` or ``cuda``.
        init: checkpoint whose encoder weights start the run (hierarchical pretraining).
        resume: continue ``out/checkpoint.pt``.
        data_dir: dataset root (default ``$MOLPT_DATA`` or ``./data``).
        split, part, split_seed: keep only one part of a split of ``data``
            (self-pretraining: data=bbbp, split=scaffold, part=train).
        exclude_downstream, exclude_split: drop molecules whose stereo-free InChIKey
            (first block) appears in the valid or test part of these datasets'
            ``exclude_split`` splits (leakage control).
        workers: featurization processes.
        bf16: bf16 autocast on CUDA, and on CPUs with native bf16 (AVX512-BF16 / AMX).
        options: objective options (e.g. ``{"mask_edges": True}``).
        num_threads: torch CPU threads (None: torch's default).
        keep_epochs: budget points whose encoder is kept beside the running checkpoint, as
            ``OUT/epochs/epoch_NNNN.pt`` (no optimizer state; record them with
            ``molpt record-checkpoint``): ``pow2`` (epochs 1, 2, 4, 8, ...), ``none``, or a
            comma-separated list of epochs.  The last epoch reached is ``checkpoint.pt``.
        probe: datasets for the linear probe (:mod:`molpt.train.probe`, scaffold split,
            frozen encoder): run at epoch 0 (the random init; a history record
            ``{"epoch": 0, "probe": ...}``), at every kept epoch and at the last epoch
            reached; stored as ``probe`` in that epoch's history record.
        max_minutes: a time bound for this session: no epoch is started that would end
            after ``max_minutes`` (judged by the last epoch's time; at least one epoch
            runs); the checkpoint of the last finished epoch stays, and ``resume=True``
            continues (so a long pretraining runs in bounded sessions).
        save_every_minutes: write the unfinished epoch's state to ``OUT/partial.pt`` every
            this many minutes (0: only on SIGINT/SIGTERM); ``resume=True`` continues from it
            mid-epoch.  Single-process runs only (under DDP a run resumes from epochs).
    """

    objective: str
    data: str | Path
    out: str | Path
    featurizer: str = "basic"
    encoder: str = "gin"
    num_layers: int = 5
    hidden_dim: int = 300
    dropout: float = 0.0
    jk: str = "last"
    epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    limit: int | None = None
    device: str = "auto"
    init: str | Path | None = None
    resume: bool = False
    data_dir: str | Path | None = None
    split: str | None = None
    part: str | None = None
    split_seed: int = 0
    exclude_downstream: list[str] = field(default_factory=list)
    exclude_split: str = "scaffold"
    workers: int = 1
    bf16: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    num_threads: int | None = None
    max_minutes: float | None = None
    keep_epochs: str = "pow2"
    probe: list[str] = field(default_factory=list)
    save_every_minutes: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, Path):
                d[k] = str(v)
        return d


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
@dataclass
class PretrainData:
    """The molecules to pretrain on and where they came from."""

    graphs: GraphSet
    task_type: str | None
    provenance: dict[str, Any]


def inchikey_block(smiles: str) -> str | None:
    """First (connectivity) block of the InChIKey: stereo- and isotope-free; None if invalid."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return None
        Chem.RemoveStereochemistry(mol)
        key = Chem.MolToInchiKey(mol)
        return key[:14] if key else None
    finally:
        RDLogger.EnableLog("rdApp.*")


def _inchikey_chunk(smiles: list[str]) -> list[str | None]:
    return [inchikey_block(s) for s in smiles]


def inchikey_blocks(
    smiles: list[str], workers: int = 1, cache: bool = False
) -> list[str | None]:
    """``inchikey_block`` of every SMILES, in ``workers`` processes.

    ``cache=True`` keeps the answer in the cache folder under the SMILES' content hash, so a
    corpus of millions (MOSES: ~15 min of InChI on one core) is keyed once, not at every
    resumed pretraining sitting.
    """
    if cache:
        return _cached_inchikey_blocks(smiles, workers)
    if workers <= 1 or len(smiles) < 4096:
        return _inchikey_chunk(smiles)
    import multiprocessing as mp

    chunks = [smiles[i : i + 4096] for i in range(0, len(smiles), 4096)]
    with mp.get_context("fork").Pool(workers) as pool:
        return [k for part in pool.map(_inchikey_chunk, chunks) for k in part]


def _cached_inchikey_blocks(smiles: list[str], workers: int) -> list[str | None]:
    from molpt.featurize.cache import smiles_sha256
    from molpt.utils import atomic_write_text, cache_dir

    path = cache_dir() / f"inchikey14-{smiles_sha256(smiles)[:24]}.txt"
    if path.is_file():
        lines = path.read_text(encoding="ascii").split("\n")
        if len(lines) == len(smiles):
            return [k or None for k in lines]
        log.warning("%s: %d keys for %d molecules; computing them again", path, len(lines),
                    len(smiles))  # fmt: skip
    keys = inchikey_blocks(smiles, workers)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(k or "" for k in keys))
    return keys


def downstream_holdout_keys(
    names: list[str], split_method: str, data_dir=None, split_seed: int = 0, workers: int = 1
) -> set[str]:
    """Stereo-free InChIKey blocks of the valid and test molecules of each dataset's split."""
    from molpt.data import load_dataset, make_split

    keys: set[str] = set()
    for name in names:
        ds = load_dataset(name, featurizer="basic", data_dir=data_dir, workers=workers)
        _, valid, test = make_split(ds, split_method, seed=split_seed)
        held = [ds.graphs.smiles[i] for i in np.concatenate([valid, test]).tolist()]
        keys.update(k for k in inchikey_blocks(held, workers) if k is not None)
    return keys


def _load_graph_file(path: Path) -> tuple[GraphSet, dict] | None:
    """A ``.pt`` graph file (never read as a table); None for anything else."""
    if path.suffix != ".pt":
        return None
    if not path.is_file():
        raise FileNotFoundError(f"--data: no such graph file: {path}")
    try:
        return GraphSet.load(path)
    except CorruptCacheError as exc:
        raise ValueError(
            f"--data {path} is not a readable molpt graph file ({str(exc).split(': ', 1)[-1]}); "
            "write it again with `molpt featurize`"
        ) from None


def prepare_data(
    cfg: PretrainConfig, graphs: GraphSet | None = None, progress: bool = False
) -> PretrainData:
    """Load ``cfg.data`` (or take ``graphs``), select the split part, remove leaking molecules."""
    task_type: str | None = None
    if graphs is not None:
        prov: dict[str, Any] = {"name": "<in-memory GraphSet>", "source": None, "sha256": None}
    else:
        loaded = _load_graph_file(Path(cfg.data))
        if loaded is not None:
            graphs, meta = loaded
            path = Path(cfg.data)
            task_type = meta.get("task_type")
            prov = {
                "name": meta.get("name", path.stem),
                "source": str(path.resolve()),
                "sha256": file_sha256(path),
            }
        else:
            from molpt.data import load_dataset

            needs_labels = OBJECTIVES.get(cfg.objective).needs_labels
            ds = load_dataset(
                str(cfg.data),
                featurizer=cfg.featurizer,
                data_dir=cfg.data_dir,
                workers=cfg.workers,
                limit=cfg.limit,
                progress=progress,
                # a self-supervised objective reads only the SMILES (other columns may be
                # names or ids); a supervised one takes every other column as a label
                task_cols=None if needs_labels else [],
            )
            graphs, task_type = ds.graphs, ds.task_type
            prov = {
                "name": ds.name,
                "source": str(Path(ds.source).resolve()),
                "sha256": ds.source_sha256,
                "invalid": ds.report.num_invalid,
            }
    if graphs.featurizer != cfg.featurizer:
        raise ValueError(
            f"{cfg.data} holds graphs of featurizer {graphs.featurizer!r}, "
            f"not {cfg.featurizer!r}; use --featurizer {graphs.featurizer}"
        )
    if cfg.limit is not None and len(graphs) > cfg.limit:
        graphs = graphs.subset(np.arange(cfg.limit))
    if task_type is None and graphs.y is not None and graphs.y.shape[1] > 0:
        y = graphs.y[~torch.isnan(graphs.y)]
        task_type = "classification" if bool(((y == 0) | (y == 1)).all()) else "regression"
    if (cfg.split is None) != (cfg.part is None):
        raise ValueError("--split and --part go together (e.g. --split scaffold --part train)")
    if cfg.split is not None:
        if cfg.part not in PARTS:
            raise ValueError(f"--part must be one of {', '.join(PARTS)}, got {cfg.part!r}")
        from molpt.data.splits import split as split_fn

        parts = split_fn(graphs.smiles, cfg.split, seed=cfg.split_seed)
        graphs = graphs.subset(parts[PARTS.index(cfg.part)])
        prov.update(split=cfg.split, part=cfg.part, split_seed=cfg.split_seed)
    excluded = 0
    if cfg.exclude_downstream:
        held = downstream_holdout_keys(
            list(cfg.exclude_downstream), cfg.exclude_split, cfg.data_dir, cfg.split_seed,
            cfg.workers,
        )  # fmt: skip
        keys = inchikey_blocks(graphs.smiles, cfg.workers, cache=len(graphs) >= 100_000)
        no_key = [i for i, k in enumerate(keys) if k is None]
        if no_key:  # InChI refuses some molecules (e.g. over 1,024 atoms): say so
            log.warning(
                "%d molecule(s) have no InChIKey (InChI refused them) and were kept without "
                "the leakage check; first: %.80s", len(no_key), graphs.smiles[no_key[0]],
            )  # fmt: skip
        prov["no_inchikey"] = len(no_key)
        keep = np.array([k is None or k not in held for k in keys], dtype=bool)
        excluded = int((~keep).sum())
        if excluded:
            graphs = graphs.subset(np.nonzero(keep)[0])
        log.info(
            "excluded %d molecules found in the valid/test parts of %s (%s split)",
            excluded, ", ".join(cfg.exclude_downstream), cfg.exclude_split,
        )  # fmt: skip
    prov.update(
        num_graphs=len(graphs),
        excluded=excluded,
        exclude_downstream=list(cfg.exclude_downstream),
        exclude_split=cfg.exclude_split if cfg.exclude_downstream else None,
    )
    if len(graphs) == 0:
        raise ValueError("no molecules left to pretrain on")
    return PretrainData(graphs=graphs, task_type=task_type, provenance=prov)


# ------------------------------------------------------------------------------------------
# distributed helpers
# ------------------------------------------------------------------------------------------
@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    created_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _init_distributed(device_name: str) -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    created = False
    if not dist.is_initialized():
        use_cuda = device_name != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        created = True
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, created)


def _seed_for(seed: int, epoch: int, stream: int) -> int:
    """A distinct 63-bit seed for (run seed, epoch, stream)."""
    return (seed * 1_000_003 + epoch * 10_007 + stream * 101 + 12345) % (2**63 - 1)


# ------------------------------------------------------------------------------------------
# the loop
# ------------------------------------------------------------------------------------------
def _cpu_state(module: torch.nn.Module | dict) -> dict[str, torch.Tensor]:
    sd = module.state_dict() if isinstance(module, torch.nn.Module) else module
    return {k: v.detach().cpu().clone() for k, v in sd.items()}


def _build(
    cfg: PretrainConfig, data: PretrainData
) -> tuple[Encoder, Objective]:
    if cfg.objective not in OBJECTIVES:
        OBJECTIVES.get(cfg.objective)  # raises with the list of choices
    encoder = Encoder(
        featurizer=cfg.featurizer,
        conv=cfg.encoder,
        num_layers=cfg.num_layers,
        hidden_dim=cfg.hidden_dim,
        dropout=cfg.dropout,
        jk=cfg.jk,
    )
    if cfg.init is not None:
        init_enc, _ = load_encoder(cfg.init, featurizer=cfg.featurizer)
        try:
            encoder.load_state_dict(init_enc.state_dict())
        except RuntimeError:
            raise CheckpointError(
                f"--init {cfg.init}: its encoder {init_enc.config} does not match the "
                f"requested {encoder.config}"
            ) from None
    cls = OBJECTIVES.get(cfg.objective)
    if cls.needs_labels and data.graphs.y is None:
        raise ValueError(f"objective {cfg.objective!r} needs a labelled dataset")
    options = cls.data_options(data.graphs, data.task_type, dict(cfg.options))
    return encoder, cls(encoder, **options)


def _fits_on_device(graphs: GraphSet, device: torch.device) -> bool:
    if device.type != "cuda":
        return False
    free, _total = torch.cuda.mem_get_info(device)
    return graphs.nbytes() * 3 < free * 0.25


def pretrain(
    cfg: PretrainConfig, progress: bool = True, graphs: GraphSet | None = None
) -> Path:
    """Run (or resume) pretraining; returns the path of ``OUT/checkpoint.pt``.

    Args:
        cfg: the run configuration.
        progress: tqdm progress bar on stderr (rank 0 only).
        graphs: already featurized molecules to use instead of loading ``cfg.data``.

    Raises:
        CheckpointError: unusable ``--init`` / ``--resume`` checkpoint or featurizer mismatch.
        FileNotFoundError, ValueError: bad data, options or output folder.
    """
    dist_info = _init_distributed(cfg.device)
    try:
        return _pretrain(cfg, progress, graphs, dist_info)
    finally:
        if dist_info.created_group:
            import torch.distributed as dist

            dist.destroy_process_group()


#: train_config fields a resumed run must share with its checkpoint (epochs may grow;
#: device, threads, workers, folders and --init do not change what is trained)
RESUME_FIELDS = (
    "objective", "featurizer", "encoder", "num_layers", "hidden_dim", "dropout", "jk",
    "batch_size", "lr", "weight_decay", "seed", "limit", "split", "part", "split_seed",
    "exclude_downstream", "exclude_split", "bf16", "options",
)  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def check_resume(ckpt: dict[str, Any], cfg: PretrainConfig, path: Path) -> None:
    """Refuse to continue ``ckpt`` with a run that differs in what it trains.

    Raises:
        CheckpointError: one line naming the first differing field and both values.
    """
    old = ckpt.get("train_config", {})
    new = cfg.to_dict()
    if cfg.objective in OBJECTIVES:  # compare the objective's resolved options
        old_opts, new_opts = old.get("options", {}), dict(cfg.options)
        if ckpt.get("objective", {}).get("name") == cfg.objective:
            defaults = dict(ckpt["objective"].get("config", {}))
            old_opts, new_opts = {**defaults, **old_opts}, {**defaults, **new_opts}
        old, new = {**old, "options": old_opts}, {**new, "options": new_opts}
    for key in RESUME_FIELDS:
        if key in old and not _same(old[key], new[key]):
            raise CheckpointError(
                f"--resume: {path} was trained with {key}={old[key]!r}, this run asks for "
                f"{key}={new[key]!r}; pass the same value or choose another --out"
            )
    if cfg.epochs < int(ckpt.get("epoch", 0)):
        raise CheckpointError(
            f"--resume: {path} has already trained {ckpt['epoch']} epochs, more than "
            f"--epochs {cfg.epochs}"
        )


def check_resume_data(ckpt: dict[str, Any], prov: dict[str, Any], path: Path) -> None:
    """Refuse to continue ``ckpt`` on other data (name or content hash)."""
    old = ckpt.get("data", {})
    for key in ("name", "sha256", "split", "part", "split_seed", "num_graphs"):
        a, b = old.get(key), prov.get(key)
        if a is not None and b is not None and a != b:
            raise CheckpointError(
                f"--resume: {path} was trained on data with {key}={a!r}, this run's data has "
                f"{key}={b!r}; pass the same --data or choose another --out"
            )


def check_objective_options(name: str, options: dict[str, Any]) -> None:
    """Refuse an option the objective does not take, or a value of the wrong type.

    Raises:
        ValueError: naming the option and the objective's valid options.
    """
    import inspect

    cls = OBJECTIVES.get(name)
    params = {
        k: p for k, p in inspect.signature(cls.__init__).parameters.items()
        if k not in ("self", "encoder") and p.kind is not p.VAR_KEYWORD
    }  # fmt: skip
    valid = ", ".join(f"{k}={p.default!r}" for k, p in params.items()) or "none"
    for key, value in options.items():
        if key not in params:
            raise ValueError(
                f"objective {name!r} has no option {key!r} (-o/--option); valid options: {valid}"
            )
        default = params[key].default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            raise ValueError(
                f"objective {name!r} option {key!r} must be a {type(default).__name__} "
                f"(default {default!r}), got {value!r}; valid options: {valid}"
            )


def _pretrain(
    cfg: PretrainConfig, progress: bool, graphs: GraphSet | None, di: DistInfo
) -> Path:
    if cfg.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {cfg.epochs}")
    if cfg.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {cfg.batch_size}")
    check_objective_options(cfg.objective, dict(cfg.options))
    device = resolve_device(cfg.device)
    if di.enabled and device.type == "cuda":
        device = torch.device("cuda", di.local_rank)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    out = Path(cfg.out)
    ckpt_path, hist_path = out / CHECKPOINT_NAME, out / HISTORY_NAME

    partial_path = out / PARTIAL_NAME
    resume_ckpt: dict[str, Any] | None = None
    if cfg.resume:
        resume_ckpt = _resume_state(ckpt_path, partial_path)
        src = partial_path if "partial" in resume_ckpt else ckpt_path
        check_featurizer(resume_ckpt, cfg.featurizer, src)
        if resume_ckpt.get("kind") != "pretrain" or "optimizer_state" not in resume_ckpt:
            raise CheckpointError(f"{src} is not a resumable pretraining checkpoint")
        done = resume_ckpt["objective"]["name"]
        if done != cfg.objective:
            raise CheckpointError(
                f"{src} was pretrained with objective {done!r}, not {cfg.objective!r}"
            )
        check_resume(resume_ckpt, cfg, src)
    elif ckpt_path.exists() or partial_path.exists():
        raise ValueError(
            f"{ckpt_path if ckpt_path.exists() else partial_path} already exists; pass --resume "
            "to continue it or choose another --out"
        )
    if di.rank == 0:
        check_output_dir(out, "--out")
    if cfg.init is not None:
        # validate early (one-line errors before any data loading)
        check_featurizer(load_checkpoint(cfg.init), cfg.featurizer, cfg.init)

    probe_sets = None
    if cfg.probe and di.rank == 0:  # before the corpus: a wrong name fails at once
        from molpt.train.probe import load_probe_sets

        probe_sets = load_probe_sets(list(cfg.probe), cfg.featurizer, cfg.data_dir)
    data = prepare_data(cfg, graphs, progress=progress and di.rank == 0)
    sessions: list[dict[str, Any]] = []
    if resume_ckpt is not None:
        check_resume_data(resume_ckpt, data.provenance, ckpt_path)
        # provenance is append-only: the first session's data record stays as it was
        data.provenance = dict(resume_ckpt.get("data", data.provenance))
        sessions = list(resume_ckpt.get("sessions", []))
    sessions.append(_session(cfg, resume_ckpt, device))
    seed_everything(cfg.seed)
    encoder, objective = _build(cfg, data)
    objective.to(device)
    optimizer = torch.optim.Adam(objective.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    if resume_ckpt is not None:
        objective.encoder.load_state_dict(resume_ckpt["encoder_state"])
        objective.load_head_state(resume_ckpt["objective"]["state"])
        optimizer.load_state_dict(resume_ckpt["optimizer_state"])
        history = list(resume_ckpt.get("history", []))
        start_epoch = int(resume_ckpt["epoch"])
    # the unfinished epoch start_epoch + 1 to continue mid-way (None: start it afresh)
    mid: dict[str, Any] | None = (resume_ckpt or {}).get("partial")

    if probe_sets is not None and start_epoch == 0 and not any(h.get("epoch") == 0
                                                               for h in history):  # fmt: skip
        history.insert(0, {"epoch": 0, "probe": run_probe(objective.encoder, probe_sets,
                                                            device)})  # fmt: skip

    gs = data.graphs
    if _fits_on_device(gs, device):
        gs = gs.to(device)
    model: torch.nn.Module = objective
    if di.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(objective, device_ids=[device.index] if device.type == "cuda" else None)

    order_gen = torch.Generator()
    obj_gen = torch.Generator(device=device)
    n = len(gs)
    per_rank_bs = math.ceil(cfg.batch_size / di.world_size)
    is_main = di.rank == 0

    # mid-epoch saves need every rank's generator states: single-process runs only
    save_s = (cfg.save_every_minutes or 0) * 60 if not di.enabled else 0.0
    stop = _StopRequest(enabled=not di.enabled)
    session_t0 = time.perf_counter()
    last_epoch_s = 0.0
    with stop:
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            if stop.requested and is_main:  # asked to stop between epochs: nothing unfinished
                log.warning("stopped by %s after epoch %d of %d; rerun with --resume to continue",
                            stop.signal_name, epoch - 1, cfg.epochs)  # fmt: skip
                stop.exit()
            if epoch > start_epoch + 1 and _out_of_time(cfg.max_minutes, session_t0,
                                                         last_epoch_s, di, device):  # fmt: skip
                if is_main:
                    log.warning("stopped after --max-minutes %g: %d of %d epochs done; rerun "
                                "with --resume to continue", cfg.max_minutes, epoch - 1,
                                cfg.epochs)  # fmt: skip
                    sessions[-1]["stopped_at_epoch"] = epoch - 1
                    if probe_sets is not None and history and "probe" not in history[-1]:
                        history[-1]["probe"] = run_probe(objective.encoder, probe_sets, device)
                    _write(ckpt_path, hist_path, cfg, objective, optimizer, data, epoch - 1,
                           history, sessions)  # fmt: skip
                break
            order_gen.manual_seed(_seed_for(cfg.seed, epoch, 0))
            obj_gen.manual_seed(_seed_for(cfg.seed, epoch, 1 + di.rank))
            torch.manual_seed(_seed_for(cfg.seed, epoch, 1000 + di.rank))
            perm = torch.randperm(n, generator=order_gen)
            if di.enabled:
                perm = perm[: n - n % di.world_size][di.rank :: di.world_size]
            steps = math.ceil(perm.numel() / per_rank_bs)
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            metric_sums: dict[str, torch.Tensor] = {}
            seen, start_step, seconds_before = 0, 0, 0.0
            if mid is not None:  # continue the unfinished epoch after its last saved step
                start_step, seen = int(mid["step"]), int(mid["seen"])
                seconds_before = float(mid["seconds"])
                loss_sum += mid["loss_sum"]
                for k, v in mid["metric_sums"].items():
                    metric_sums[k] = torch.tensor(v, dtype=torch.float64, device=device)
                _set_rng(mid["rng"], obj_gen, device)
                if is_main:
                    log.info("resuming epoch %d at step %d of %d (from %s)", epoch, start_step,
                             steps, partial_path.name)  # fmt: skip
                mid = None
            model.train()
            bar = None
            if progress and is_main:
                from tqdm.auto import tqdm

                bar = tqdm(
                    total=steps, initial=start_step, desc=f"epoch {epoch}/{cfg.epochs}",
                    unit="step", file=sys.stderr, dynamic_ncols=True,
                )  # fmt: skip
            t0 = last_save = time.perf_counter()
            seen_here = 0
            todo = perm[start_step * per_rank_bs :]
            for step, batch in enumerate(gs.iter_batches(per_rank_bs, indices=todo), start_step):
                batch = batch.to(device, non_blocking=True)
                b = batch.num_graphs
                with autocast(device, cfg.bf16, cpu=True):
                    loss, metrics = model(batch, obj_gen)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach().double() * b
                for k, v in metrics.items():
                    acc = metric_sums.setdefault(
                        k, torch.zeros((), dtype=torch.float64, device=device)
                    )
                    acc += v.detach().double() * b
                seen += b
                seen_here += b
                if bar is not None:
                    bar.update(1)
                    if step % 20 == 0 or step == steps - 1:
                        el = time.perf_counter() - t0
                        bar.set_postfix(
                            loss=f"{float(loss_sum) / max(seen, 1):.4f}",
                            graphs_s=f"{seen_here * di.world_size / max(el, 1e-9):,.0f}",
                        )
                if step + 1 < steps and (stop.requested or (
                        save_s and time.perf_counter() - last_save >= save_s)):  # fmt: skip
                    if stop.requested:
                        sessions[-1]["stopped_at"] = {"epoch": epoch, "step": step + 1,
                                                      "by": stop.signal_name}  # fmt: skip
                    if is_main:
                        _write_partial(partial_path, cfg, objective, optimizer, data, epoch,
                                       history, sessions, {
                                           "step": step + 1, "steps": steps, "seen": seen,
                                           "seconds": seconds_before + time.perf_counter() - t0,
                                           "loss_sum": float(loss_sum),
                                           "metric_sums": {k: float(v)
                                                           for k, v in metric_sums.items()},
                                           "rng": _get_rng(obj_gen, device),
                                       })  # fmt: skip
                    last_save = time.perf_counter()
                    if stop.requested:
                        if bar is not None:
                            bar.close()
                        log.warning("stopped by %s at step %d of %d of epoch %d: its state is in "
                                    "%s; rerun with --resume to continue", stop.signal_name,
                                    step + 1, steps, epoch, partial_path)  # fmt: skip
                        stop.exit()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            last_epoch_s = time.perf_counter() - t0
            seconds = seconds_before + last_epoch_s
            if bar is not None:
                bar.close()
            totals = torch.stack(
                [loss_sum, torch.tensor(float(seen), dtype=torch.float64, device=device)]
                + [metric_sums[k] for k in sorted(metric_sums)]
            )
            if di.enabled:
                import torch.distributed as dist

                dist.all_reduce(totals)
            totals = totals.cpu().tolist()
            total_graphs = int(totals[1])
            record: dict[str, Any] = {
                "epoch": epoch,
                "loss": totals[0] / max(total_graphs, 1),
                "graphs": total_graphs,
                "seconds": seconds,
                "graphs_per_s": total_graphs / max(seconds, 1e-9),
            }
            for k, v in zip(sorted(metric_sums), totals[2:], strict=True):
                record[k] = v / max(total_graphs, 1)
            history.append(record)
            if probe_sets is not None and (keep_epoch(cfg.keep_epochs, epoch)
                                           or epoch == cfg.epochs):  # fmt: skip
                record["probe"] = run_probe(objective.encoder, probe_sets, device)
            if is_main:
                _write(
                    ckpt_path, hist_path, cfg, objective, optimizer, data, epoch, history, sessions
                )
                partial_path.unlink(missing_ok=True)  # the finished epoch supersedes it
                if bar is None:
                    log.info(
                        "epoch %d/%d loss %.4f %s %.4f  %.0f graphs/s",
                        epoch, cfg.epochs, record["loss"], objective.metric,
                        record.get(objective.metric, float("nan")), record["graphs_per_s"],
                    )  # fmt: skip
            if di.enabled:
                import torch.distributed as dist

                dist.barrier()
    return ckpt_path


def keep_epoch(spec: str, epoch: int) -> bool:
    """Is ``epoch`` a budget point under ``spec`` (``pow2``, ``none`` or ``1,3,10``)?"""
    spec = (spec or "none").strip().lower()
    if spec == "none":
        return False
    if spec == "pow2":
        return epoch >= 1 and epoch & (epoch - 1) == 0
    try:
        wanted = {int(x) for x in spec.split(",") if x.strip()}
    except ValueError:
        raise ValueError(
            f"--keep-epochs: expected pow2, none or a list like 1,2,5; got {spec!r}"
        ) from None
    return epoch in wanted


def kept_path(out: Path, epoch: int) -> Path:
    """Where the encoder of budget point ``epoch`` is kept."""
    return Path(out) / KEPT_DIR / f"epoch_{epoch:04d}.pt"


def _out_of_time(max_minutes: float | None, t0: float, last_epoch_s: float, di,
                 device: torch.device) -> bool:  # fmt: skip
    """Would the next epoch end after ``max_minutes`` of this session?  (All ranks agree.)"""
    if max_minutes is None:
        return False
    stop = time.perf_counter() - t0 + last_epoch_s > max_minutes * 60
    if di.enabled:
        import torch.distributed as dist

        flag = torch.tensor([float(stop)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        stop = bool(flag.item())
    return stop


def _session(
    cfg: PretrainConfig, resumed: dict[str, Any] | None, device: torch.device
) -> dict[str, Any]:
    """One entry of the checkpoint's append-only list of training sessions."""
    import datetime as dt

    from molpt._version import __version__

    mid = (resumed or {}).get("partial")
    return {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "from_epoch": int(resumed["epoch"]) if resumed is not None else 0,
        **({"from_step": {"epoch": mid["epoch"], "step": mid["step"]}} if mid else {}),
        "epochs": cfg.epochs,
        "data": str(cfg.data),
        "device": str(device),
        "device_name": device_name(device),
        "molpt_version": __version__,
    }


def _payload(cfg: PretrainConfig, objective: Objective, optimizer: torch.optim.Optimizer,
             data: PretrainData, epoch: int, history: list[dict[str, Any]],
             sessions: list[dict[str, Any]] | None) -> dict[str, Any]:  # fmt: skip
    return {
        "kind": "pretrain",
        "encoder_config": dict(objective.encoder.config),
        "encoder_state": _cpu_state(objective.encoder),
        "objective": {
            "name": cfg.objective,
            "config": dict(objective.config),
            "metric": objective.metric,
            "state": _cpu_state(objective.head_state()),
        },
        "train_config": cfg.to_dict(),
        "data": dict(data.provenance),
        "epoch": epoch,
        "optimizer_state": optimizer.state_dict(),
        "rng": {"scheme": "reseeded per epoch from (seed, epoch, rank)", "seed": cfg.seed},
        "history": history,
        "sessions": list(sessions or []),
    }


def _write(
    ckpt_path: Path,
    hist_path: Path,
    cfg: PretrainConfig,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    data: PretrainData,
    epoch: int,
    history: list[dict[str, Any]],
    sessions: list[dict[str, Any]] | None = None,
) -> None:
    payload = _payload(cfg, objective, optimizer, data, epoch, history, sessions)
    save_checkpoint(ckpt_path, payload)
    atomic_write_json(hist_path, history)
    if keep_epoch(cfg.keep_epochs, epoch) and history and history[-1].get("epoch") == epoch:
        kept = {k: v for k, v in payload.items() if k != "optimizer_state"}
        kept["kept_epoch"] = epoch
        kept_path(ckpt_path.parent, epoch).parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(kept_path(ckpt_path.parent, epoch), kept)


def _write_partial(path: Path, cfg: PretrainConfig, objective: Objective,
                   optimizer: torch.optim.Optimizer, data: PretrainData, epoch: int,
                   history: list[dict[str, Any]], sessions: list[dict[str, Any]],
                   state: dict[str, Any]) -> None:  # fmt: skip
    """The unfinished ``epoch``: a full resumable checkpoint of the epochs before it (its
    ``epoch`` is ``epoch - 1``) whose weights are those after ``state["step"]`` steps of
    ``epoch``, plus ``partial`` = the step, running sums and generator states."""
    payload = _payload(cfg, objective, optimizer, data, epoch - 1, history, sessions)
    payload["partial"] = {"epoch": epoch, **state}
    save_checkpoint(path, payload)


def _resume_state(ckpt_path: Path, partial_path: Path) -> dict[str, Any]:
    """What ``--resume`` continues: the unfinished epoch's state when it is newer than the
    last finished epoch, else the checkpoint of that epoch."""
    ckpt = load_checkpoint(ckpt_path) if ckpt_path.is_file() else None
    if partial_path.is_file():
        part = load_checkpoint(partial_path)
        if "partial" not in part:
            raise CheckpointError(f"{partial_path} is not the state of an unfinished epoch")
        if ckpt is None or int(part["epoch"]) >= int(ckpt["epoch"]):
            return part
        log.info("ignoring %s: epoch %d finished after it was written", partial_path,
                 part["partial"]["epoch"])  # fmt: skip
    if ckpt is None:
        raise FileNotFoundError(f"--resume: no checkpoint to continue at {ckpt_path}")
    return ckpt


def _get_rng(obj_gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    """The generators a step draws from (the batch order is a function of the epoch)."""
    rng = {"objective": obj_gen.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def _set_rng(rng: dict[str, torch.Tensor], obj_gen: torch.Generator,
             device: torch.device) -> None:  # fmt: skip
    obj_gen.set_state(rng["objective"])
    torch.set_rng_state(rng["torch"])
    if device.type == "cuda" and "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"], device)


class _StopRequest:
    """SIGINT / SIGTERM during training set a flag instead of killing the step half-way:
    the loop saves the unfinished epoch after the step and then leaves (``exit``: a
    KeyboardInterrupt for SIGINT, exit status 143 for SIGTERM).  Installed only in the
    main thread of a single-process run; the previous handlers come back afterwards."""

    def __init__(self, enabled: bool = True) -> None:
        import threading

        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def signal_name(self) -> str:
        import signal

        return signal.Signals(self.signum).name if self.signum else "a signal"

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == self.signum:  # asked twice: stop now
            self._restore()
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> _StopRequest:
        if self.enabled:
            import signal

            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _restore(self) -> None:
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}

    def __exit__(self, *exc: Any) -> None:
        self._restore()

    def exit(self) -> None:
        import signal

        self._restore()
        if self.signum == signal.SIGTERM:
            raise SystemExit(128 + signal.SIGTERM)
        raise KeyboardInterrupt


__all__ = [
    "PretrainConfig",
    "PretrainData",
    "check_objective_options",
    "check_resume",
    "check_resume_data",
    "downstream_holdout_keys",
    "inchikey_block",
    "prepare_data",
    "pretrain",
]
