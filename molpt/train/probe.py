"""The linear probe: the cheap ruler of an encoder.

A frozen encoder embeds every molecule of a dataset once (mean-pooled node embeddings, eval
mode); a linear model from scikit-learn is then fitted on the train part of a split, its
regularisation chosen on the valid part, and scored on valid and test:

* classification: one ``LogisticRegression`` per task (L2, lbfgs) on the molecules whose
  label is present; one inverse strength ``C`` shared by all tasks, the one with the best
  mean valid ROC-AUC over the grid :data:`C_GRID`.  A task with a single class in the train
  part gets a constant score (its train prevalence), so it counts as 0.5 ROC-AUC where the
  metric can score it at all; the metric is molpt's own (tasks with both classes only).
* regression: ``Ridge`` per task, ``alpha`` from :data:`ALPHA_GRID` by mean valid RMSE
  (targets standardised on the train part, scores in the original units).

Features are PCA-whitened with the train part's mean and covariance (:func:`whiten`).
The embeddings of a
dataset do not depend on the split or the seed, so one embedding pass serves every
split × seed cell; the random-init twin of an encoder (the same architecture, initialised
with ``torch.manual_seed(seed)``) is embedded once per seed.

Nothing here is random apart from the twin's initialisation and the seeded split methods,
so a probe is reproducible: the same checkpoint, split and seed give the same numbers.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molpt.nn.encoder import Encoder
from molpt.nn.pooling import POOLINGS
from molpt.train.metrics import evaluate

log = logging.getLogger(__name__)

#: inverse regularisation strengths tried for the logistic regression
C_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
#: regularisation strengths tried for the ridge regression
ALPHA_GRID: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
#: the four sets of Hu et al.'s Table 1 that this machine can fine-tune on
DEFAULT_PROBE_SETS: tuple[str, ...] = ("bbbp", "bace", "clintox", "sider")


@dataclass
class ProbeSet:
    """One dataset ready to probe: featurized graphs, labels (NaN = missing), task type."""

    name: str
    graphs: Any  # molpt.featurize.graphs.GraphSet
    y: np.ndarray  # (N, T) float, NaN where missing
    task_type: str  # "classification" or "regression"

    @property
    def smiles(self) -> list[str]:
        return list(self.graphs.smiles)


def load_probe_sets(
    names: Sequence[str], featurizer: str = "basic", data_dir: str | Path | None = None
) -> list[ProbeSet]:
    """Load (featurize, cached) each named dataset or file for probing."""
    from molpt.data import load_dataset

    out = []
    for name in names:
        ds = load_dataset(name, featurizer=featurizer, data_dir=data_dir)
        if ds.y is None or ds.num_tasks == 0:
            raise ValueError(f"{name}: no label columns to probe")
        task_type = ds.task_type or "classification"
        out.append(ProbeSet(ds.name, ds.graphs, ds.y.numpy().astype(np.float64), task_type))
    return out


@torch.no_grad()
def embed_graphs(
    encoder: Encoder, graphs, device: str | torch.device = "cpu", batch_size: int = 1024,
    all_layers: bool = False,
) -> np.ndarray:
    """Mean-pooled graph embeddings (N, out_dim) of a GraphSet with the encoder frozen (eval).

    With ``all_layers`` the columns are every layer's mean-pooled node states side by side,
    the input embedding first: (N, (num_layers + 1) * hidden_dim), whatever the encoder's
    ``jk`` (block ``l``: the node states after layer ``l`` as they enter layer ``l + 1``,
    i.e. after its ReLU for an inner layer).
    The encoder's train/eval mode (and ``jk``) are restored afterwards, so pretraining can
    call this between epochs.
    """
    device = torch.device(device)
    was_training, jk = encoder.training, encoder.jk
    encoder.eval()
    if all_layers:
        encoder.jk = "concat"
    pool = POOLINGS.get("mean")(encoder.out_dim)
    chunks = []
    try:
        for b in graphs.iter_batches(batch_size):
            b = b.to(device)
            h = encoder(b)
            chunks.append(pool(h, b.batch, b.num_graphs).float().cpu())
    finally:
        encoder.train(was_training)
        encoder.jk = jk
    return torch.cat(chunks).numpy().astype(np.float64) if chunks else np.zeros((0, 0))


def layer_block(z: np.ndarray, layer: int, hidden_dim: int) -> np.ndarray:
    """Layer ``layer``'s columns of an ``all_layers`` embedding (0 = the input embedding)."""
    return z[:, layer * hidden_dim : (layer + 1) * hidden_dim]


def whiten(z: np.ndarray, train: np.ndarray, rel_eig: float = 1e-6) -> np.ndarray:
    """PCA-whiten ``z`` with the train part's mean and covariance.

    GNN embeddings are strongly collinear (a random-init GIN 5x300's span ~140 directions
    on SIDER), which leaves plain standardised features so ill-conditioned that L-BFGS
    needs hundreds of iterations per fit.  Whitened, the directions with eigenvalue above
    ``rel_eig`` x the largest are kept and scaled to unit variance: a linear
    reparametrisation under which the fits converge in ~10 iterations.
    """
    mu = z[train].mean(axis=0)
    zc = z - mu
    if len(train) < 2:
        return zc
    cov = np.cov(zc[train], rowvar=False)
    ev, vecs = np.linalg.eigh(np.atleast_2d(cov))
    keep = ev > max(float(ev.max()), 1e-300) * rel_eig
    if not keep.any():
        return zc[:, :0]
    return zc @ vecs[:, keep] / np.sqrt(ev[keep])


def _score(task_type: str, y: np.ndarray, pred: np.ndarray) -> float:
    res = evaluate(task_type, y, pred)
    key = "roc_auc" if task_type == "classification" else "rmse"
    return float(res[key].mean)


def _classifier_scores(x: np.ndarray, y: np.ndarray, train: np.ndarray,
                       cs: Sequence[float]) -> list[np.ndarray]:  # fmt: skip
    """Decision scores (N, T) of the probe for each C (ascending, warm-started from the
    previous C's solution); a task with one class in the train part gets a constant score."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    outs = [np.zeros(y.shape, dtype=np.float64) for _ in cs]
    order = np.argsort(cs)
    for t in range(y.shape[1]):
        yt = y[train, t]
        have = ~np.isnan(yt)
        xt, yt = x[train][have], yt[have]
        classes = np.unique(yt)
        if len(classes) < 2:  # nothing to learn: a constant score
            for out in outs:
                out[:, t] = float(classes[0]) if len(classes) else 0.5
            continue
        lr = LogisticRegression(max_iter=1000, warm_start=True)
        for k in order:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                lr.set_params(C=float(cs[k])).fit(xt, yt.astype(int))
            outs[k][:, t] = lr.decision_function(x)
    return outs


def _fit_regressor(x: np.ndarray, y: np.ndarray, train: np.ndarray, alpha: float) -> np.ndarray:
    from sklearn.linear_model import Ridge

    out = np.zeros(y.shape, dtype=np.float64)
    for t in range(y.shape[1]):
        yt = y[train, t]
        have = ~np.isnan(yt)
        mu, sd = yt[have].mean(), yt[have].std() or 1.0
        r = Ridge(alpha=alpha).fit(x[train][have], (yt[have] - mu) / sd)
        out[:, t] = r.predict(x) * sd + mu
    return out


def linear_probe(
    z: np.ndarray,
    y: np.ndarray,
    task_type: str,
    train: np.ndarray,
    valid: np.ndarray,
    test: np.ndarray,
    grid: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Fit the probe on ``z[train]``, pick the regularisation on ``valid``, score ``test``.

    Args:
        z: (N, D) embeddings.  y: (N, T) labels, NaN = missing.
        train, valid, test: index arrays into the rows of ``z``.
        grid: C values (classification) or alpha values (regression); default the
            module's grids.

    Returns:
        ``{"valid": float, "test": float, "metric": "roc_auc" | "rmse", "reg": chosen value}``.
    """
    if task_type not in ("classification", "regression"):
        raise ValueError(f"task_type must be classification or regression, got {task_type!r}")
    train, valid, test = (np.asarray(a, dtype=np.int64) for a in (train, valid, test))
    if len(train) == 0 or len(valid) == 0 or len(test) == 0:
        raise ValueError("the probe needs non-empty train, valid and test parts")
    x = whiten(np.asarray(z, dtype=np.float64), train)
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    cls = task_type == "classification"
    grid = tuple(grid or (C_GRID if cls else ALPHA_GRID))
    best: dict[str, Any] | None = None
    preds = (_classifier_scores(x, y, train, grid) if cls
             else [_fit_regressor(x, y, train, g) for g in grid])  # fmt: skip
    for g, pred in zip(grid, preds, strict=True):
        v = _score(task_type, y[valid], pred[valid])
        better = best is None or (
            not math.isnan(v) and (math.isnan(best["valid"])
                                   or (v > best["valid"] if cls else v < best["valid"]))
        )  # fmt: skip
        if better:
            best = {"valid": v, "reg": g, "pred": pred}
    assert best is not None
    test_score = _score(task_type, y[test], best["pred"][test])
    return {"valid": best["valid"], "test": test_score,
            "metric": "roc_auc" if cls else "rmse", "reg": best["reg"]}  # fmt: skip


def random_twin(encoder_config: dict[str, Any], seed: int) -> Encoder:
    """The random-init twin of an encoder: same configuration, weights from ``seed``."""
    state = torch.random.get_rng_state()  # the caller's RNG stream is left as it was
    torch.manual_seed(seed)
    try:
        return Encoder(**encoder_config)
    finally:
        torch.random.set_rng_state(state)


def probe_embeddings(
    embeddings: dict[str, np.ndarray],
    sets: Iterable[ProbeSet],
    splits: Sequence[str],
    seeds: Sequence[int],
    layers: Sequence[int] | None = None,
    hidden_dim: int | None = None,
) -> list[dict[str, Any]]:
    """Rows (dataset, split, seed, valid, test, metric, reg) for precomputed embeddings.

    ``embeddings`` maps a dataset name to its (N, D) array, or ``(name, seed)`` to one per
    seed (the random-init twin).  With ``layers`` the arrays are ``all_layers`` embeddings
    and every listed layer's block (``hidden_dim`` columns) is probed on its own; the rows
    then carry ``layer``.
    """
    from molpt.data.splits import split as split_fn

    rows = []
    for ps in sets:
        for sp in splits:
            for seed in seeds:
                tr, va, te = split_fn(ps.smiles, sp, seed=seed)
                z = embeddings.get((ps.name, seed), embeddings.get(ps.name))
                if z is None:
                    raise KeyError(f"no embeddings for {ps.name}")
                for layer in layers if layers is not None else [None]:
                    zl = z if layer is None else layer_block(z, layer, hidden_dim or 0)
                    r = linear_probe(zl, ps.y, ps.task_type, tr, va, te)
                    extra = {} if layer is None else {"layer": int(layer)}
                    rows.append({"dataset": ps.name, "split": sp, "seed": int(seed), **extra,
                                 **r})  # fmt: skip
    return rows


def check_layers(layers: Sequence[int] | None, num_layers: int) -> None:
    """Refuse a layer the encoder does not have (0 .. num_layers), in one line."""
    bad = [x for x in layers or [] if not 0 <= x <= num_layers]
    if bad:
        raise ValueError(f"--layers: the encoder has layers 0-{num_layers} (0 = the input "
                         f"embedding), not {bad[0]}")  # fmt: skip


def probe_encoder(
    encoder: Encoder,
    sets: Sequence[ProbeSet],
    splits: Sequence[str] = ("scaffold",),
    seeds: Sequence[int] = (0,),
    device: str | torch.device = "cpu",
    layers: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Probe one (frozen) encoder on every dataset × split × seed (and listed layer)."""
    check_layers(layers, encoder.num_layers)
    emb = {ps.name: embed_graphs(encoder, ps.graphs, device, all_layers=layers is not None)
           for ps in sets}  # fmt: skip
    return probe_embeddings(emb, sets, splits, seeds, layers, encoder.hidden_dim)


def probe_twin(
    encoder_config: dict[str, Any],
    sets: Sequence[ProbeSet],
    splits: Sequence[str] = ("scaffold",),
    seeds: Sequence[int] = (0,),
    device: str | torch.device = "cpu",
    layers: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Probe the random-init twin: for seed s, the encoder initialised with seed s."""
    check_layers(layers, int(encoder_config["num_layers"]))
    emb: dict[Any, np.ndarray] = {}
    for seed in seeds:
        twin = random_twin(encoder_config, int(seed)).to(device)
        for ps in sets:
            emb[(ps.name, int(seed))] = embed_graphs(twin, ps.graphs, device,
                                                     all_layers=layers is not None)  # fmt: skip
    return probe_embeddings(emb, sets, splits, seeds, layers, int(encoder_config["hidden_dim"]))


def probe_checkpoint(
    checkpoint: str | Path,
    datasets: Sequence[str] = DEFAULT_PROBE_SETS,
    splits: Sequence[str] = ("scaffold",),
    seeds: Sequence[int] = (0,),
    twin: bool = True,
    device: str | torch.device = "cpu",
    data_dir: str | Path | None = None,
    sets: Sequence[ProbeSet] | None = None,
    label: str | None = None,
    layers: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Probe a checkpoint file and its random-init twin (a published name or a record is
    resolved to its file by the caller: ``molpt.published.resolve.resolve_checkpoint``).

    Returns one row per encoder × dataset × split × seed with the keys ``checkpoint``,
    ``encoder`` (``pretrained`` or ``random_init``; ``checkpoint`` is ``label`` if given),
    ``dataset``, ``split``, ``seed``,
    ``valid``, ``test``, ``metric``, ``reg`` and ``seconds`` (that encoder's probe time);
    with ``layers``, one row per listed layer too (``layer``: 0 = the input embedding).
    """
    from molpt.train.checkpoint import load_encoder

    encoder, ckpt = load_encoder(checkpoint, map_location="cpu")
    encoder.to(device)
    check_layers(layers, encoder.num_layers)  # before any data is loaded
    featurizer = ckpt["featurizer"]["name"]
    if sets is None:
        sets = load_probe_sets(datasets, featurizer, data_dir)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    got = probe_encoder(encoder, sets, splits, seeds, device, layers)
    dt = time.perf_counter() - t0
    name = label or str(checkpoint)
    rows += [{"checkpoint": name, "encoder": "pretrained", **r, "seconds": dt} for r in got]
    if twin:
        t0 = time.perf_counter()
        got = probe_twin(dict(ckpt["encoder_config"]), sets, splits, seeds, device, layers)
        dt = time.perf_counter() - t0
        rows += [{"checkpoint": name, "encoder": "random_init", **r, "seconds": dt}
                 for r in got]  # fmt: skip
    return rows


def run_probe(encoder: Encoder, sets, device: torch.device) -> dict[str, Any]:
    """The linear probe of the encoder as it is now (scaffold split, seed 0): per dataset
    valid/test score, the mean test score over the datasets and the seconds it took."""
    t0 = time.perf_counter()
    rows = probe_encoder(encoder, sets, ("scaffold",), (0,), device)
    out: dict[str, Any] = {"split": "scaffold", "seed": 0, "metric": rows[0]["metric"]}
    out["datasets"] = {r["dataset"]: {"valid": r["valid"], "test": r["test"]} for r in rows}
    out["mean_test"] = float(np.mean([r["test"] for r in rows]))
    out["seconds"] = time.perf_counter() - t0
    log.info("probe: mean test %s %.4f over %s (%.0f s)", out["metric"], out["mean_test"],
             ", ".join(out["datasets"]), out["seconds"])  # fmt: skip
    return out


def probe_run(
    run_dir: str | Path,
    datasets: Sequence[str] = DEFAULT_PROBE_SETS,
    device: str | torch.device = "cpu",
    data_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Probe a pretraining run's budget points after the fact; returns ``probes.json``.

    For a run made without ``--probe``: epoch 0 (the random-init twin of the run's
    architecture, seeded with the run's seed), every kept ``epochs/epoch_NNNN.pt`` and the
    last epoch (``checkpoint.pt``) are probed exactly as ``pretrain --probe`` does
    (scaffold split, seed 0), unless the run's history or ``probes.json`` already has that
    epoch.  Results are appended to ``RUN/probes.json`` (written atomically after each
    epoch), which ``molpt record-checkpoint`` reads into the model card.
    """
    import json

    from molpt.train.checkpoint import CHECKPOINT_NAME, KEPT_DIR, load_checkpoint, load_encoder
    from molpt.utils import atomic_write_json

    run = Path(run_dir)
    last = run / CHECKPOINT_NAME
    if not last.is_file():
        raise FileNotFoundError(f"{run}: no {CHECKPOINT_NAME} (not a pretraining run folder)")
    ckpt = load_checkpoint(last)
    out_path = run / "probes.json"
    probes: list[dict[str, Any]] = (json.loads(out_path.read_text(encoding="utf-8"))
                                    if out_path.is_file() else [])  # fmt: skip
    have = {int(p["epoch"]) for p in probes} | {
        int(h["epoch"]) for h in ckpt.get("history", []) if "probe" in h}
    todo: list[tuple[int, Path | None]] = [(0, None)]
    todo += [(int(f.stem.split("_")[-1]), f) for f in sorted((run / KEPT_DIR).glob("epoch_*.pt"))]
    todo.append((int(ckpt["epoch"]), last))
    sets = load_probe_sets(list(datasets), ckpt["featurizer"]["name"], data_dir)
    device = torch.device(device)
    for epoch, f in dict(todo).items():
        if epoch in have:
            continue
        if f is None:
            seed = int(ckpt.get("train_config", {}).get("seed", 0))
            enc = random_twin(dict(ckpt["encoder_config"]), seed)
        else:
            enc, _ = load_encoder(f)
        probes.append({"epoch": epoch, "probe": run_probe(enc.to(device), sets, device)})
        probes.sort(key=lambda p: p["epoch"])
        atomic_write_json(out_path, probes)
        have.add(epoch)
    return probes


def summarise(rows: Sequence[dict[str, Any]]):
    """Mean ± std of test (and valid) per checkpoint × encoder × dataset × split (× layer),
    plus the pretrained-minus-twin gain (paired by seed) where both are present."""
    import pandas as pd

    f = pd.DataFrame(list(rows))
    keys = ["checkpoint", "dataset", "split"] + (["layer"] if "layer" in f else [])
    agg = (f.groupby(keys + ["encoder"], sort=False)
           .agg(n=("test", "size"), valid=("valid", "mean"), test=("test", "mean"),
                test_std=("test", "std"), metric=("metric", "first"))
           .reset_index())  # fmt: skip
    pre = f[f.encoder == "pretrained"].set_index(keys + ["seed"])["test"]
    twin = f[f.encoder == "random_init"].set_index(keys + ["seed"])["test"]
    both = pre.index.intersection(twin.index)
    if len(both):
        gain = (pre.loc[both] - twin.loc[both]).groupby(level=keys, sort=False)
        g = gain.agg(["mean", "std"]).rename(columns={"mean": "gain", "std": "gain_std"})
        agg = agg.merge(g.reset_index(), on=keys, how="left")
    return agg


__all__ = [
    "ALPHA_GRID",
    "C_GRID",
    "DEFAULT_PROBE_SETS",
    "ProbeSet",
    "check_layers",
    "embed_graphs",
    "layer_block",
    "linear_probe",
    "load_probe_sets",
    "probe_checkpoint",
    "probe_embeddings",
    "probe_encoder",
    "probe_run",
    "probe_twin",
    "random_twin",
    "run_probe",
    "summarise",
    "whiten",
]
