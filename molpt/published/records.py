"""Checkpoints of record: encoders molpt pretrained for a study, committed with a model card.

A record lives in ``<records root>/<name>/`` (default: the repository's
``checkpoints/molpt/``; ``$MOLPT_RECORDS`` overrides it):

* ``checkpoint.pt``: the pretraining checkpoint without its optimizer state (a 5x300 GIN
  is ~7 MB), an ordinary molpt checkpoint;
* ``card.json``: what it is and how it was made (objective and its options, corpus with its
  sha256 and size, epochs, the loss curve, devices, wall time, training settings, sessions,
  the checkpoint's sha256) and ``used_by``: the study rows that fine-tuned from it;
* ``MODEL_CARD.md`` (the same, for people) and ``loss.png``.

Its name is ``molpt/<name>``: it works wherever a checkpoint is taken (finetune, benchmark,
embed, ``pretrain --init``, ``molpt.load``) and ``molpt checkpoints`` lists it beside the
published encoders.  ``used_by`` is refreshed from ``benchmarks/results/*/results.csv``
(rows whose ``checkpoint_sha256`` is this file's) by :func:`refresh_cards`, which the README
renderer runs whenever results change.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

from molpt.train.device import device_label
from molpt.utils import atomic_write_json, atomic_write_text, file_sha256

log = logging.getLogger(__name__)

ENV_RECORDS = "MOLPT_RECORDS"
PREFIX = "molpt/"
CHECKPOINT = "checkpoint.pt"
CARD = "card.json"
CARD_MD = "MODEL_CARD.md"
LOSS_PNG = "loss.png"
REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_ROOT = REPO_ROOT / "benchmarks" / "results"


class RecordError(ValueError):
    """A checkpoint that cannot be recorded, or a record name that does not exist."""


def records_root(records_dir: str | Path | None = None) -> Path:
    """``records_dir``, else ``$MOLPT_RECORDS``, else the repository's checkpoints/molpt."""
    if records_dir is not None and str(records_dir):
        return Path(records_dir)
    env = os.environ.get(ENV_RECORDS)
    return Path(env) if env else REPO_ROOT / "checkpoints" / "molpt"


def is_record_name(ref: str | Path) -> bool:
    return isinstance(ref, str) and ref.startswith(PREFIX) and not Path(ref).suffix


def _check_name(name: str) -> str:
    name = name.removeprefix(PREFIX)
    ok = name and all(c.isalnum() or c in "-_." for c in name) and not name.startswith(".")
    if not ok:
        raise RecordError(f"record name {name!r}: use letters, digits, '-', '_' and '.'")
    return name


def records(records_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every record's card (sorted by name); a folder without a readable card is skipped
    with a warning."""
    root = records_root(records_dir)
    out = []
    for card in sorted(root.glob(f"*/{CARD}")) if root.is_dir() else []:
        try:
            c = json.loads(card.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable model card (%s); skipped", card, exc)
            continue
        c["local_path"] = str(card.parent / CHECKPOINT)
        c["present"] = (card.parent / CHECKPOINT).is_file()
        out.append(c)
    return out


def resolve_record(ref: str, records_dir: str | Path | None = None) -> Path:
    """``molpt/<name>`` -> its checkpoint file, checked against the card's sha256."""
    name = _check_name(ref)
    folder = records_root(records_dir) / name
    ckpt, card = folder / CHECKPOINT, folder / CARD
    if not card.is_file() or not ckpt.is_file():
        have = ", ".join(PREFIX + c["name"] for c in records(records_dir)) or "none"
        raise RecordError(f"no checkpoint of record {PREFIX}{name} under "
                          f"{records_root(records_dir)} (records: {have})")  # fmt: skip
    want = json.loads(card.read_text(encoding="utf-8"))["sha256"]
    got = file_sha256(ckpt)
    if got != want:
        raise RecordError(f"{ckpt} has sha256 {got}, its model card says {want}: refused")
    return ckpt


# ------------------------------------------------------------------------------------------
# recording
# ------------------------------------------------------------------------------------------
def _pretrain_checkpoint(src: str | Path) -> tuple[Path, dict[str, Any]]:
    from molpt.train.checkpoint import load_checkpoint

    src = Path(src)
    path = src / CHECKPOINT if src.is_dir() else src
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") != "pretrain" or not ckpt.get("history"):
        raise RecordError(f"{path}: not a molpt pretraining checkpoint with a loss history "
                          "(record the output of `molpt pretrain`)")  # fmt: skip
    if "partial" in ckpt:
        raise RecordError(f"{path}: the state of an unfinished epoch; record a finished one "
                          "(checkpoint.pt or epochs/epoch_NNNN.pt)")  # fmt: skip
    return path, ckpt


#: Hu et al. 2020's self-supervised pretraining: 100 epochs over ZINC15's 2M molecules
HU_GRAPH_PASSES = 100 * 2_000_000
PROBES_JSON = "probes.json"


def run_probes(path: Path) -> list[dict[str, Any]]:
    """Probe records ``{"epoch", "probe"}`` kept beside a pretraining run (``probes.json``
    in the run folder, written by ``molpt probe --run``), for ``checkpoint.pt`` or a kept
    ``epochs/epoch_NNNN.pt``."""
    for folder in (path.parent, path.parent.parent):
        f = folder / PROBES_JSON
        if f.is_file():
            try:
                return list(json.loads(f.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                log.warning("%s: unreadable (%s); ignored", f, exc)
    return []


def probe_curve(history: list[dict[str, Any]], extra: list[dict[str, Any]],
                last_epoch: int) -> list[dict[str, Any]]:  # fmt: skip
    """One probe per epoch (<= ``last_epoch``), from the history first, then ``extra``."""
    by_epoch: dict[int, dict[str, Any]] = {}
    for rec in list(extra) + list(history):  # the history's own probe wins
        if "probe" in rec and int(rec["epoch"]) <= last_epoch:
            by_epoch[int(rec["epoch"])] = {"epoch": int(rec["epoch"]), **rec["probe"]}
    return [by_epoch[e] for e in sorted(by_epoch)]


def _card(name: str, ckpt: dict[str, Any], sha256: str, size: int,
          source: Path | None = None) -> dict[str, Any]:  # fmt: skip
    hist = [h for h in ckpt["history"] if "loss" in h]
    metric = ckpt["objective"].get("metric")
    tc = ckpt.get("train_config", {})
    sessions = ckpt.get("sessions", [])
    devices = sorted({device_label(s["device"], s.get("device_name"))
                      for s in sessions if s.get("device")})  # fmt: skip
    return {
        "name": name,
        "kind": "record",
        "recorded": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sha256": sha256,
        "bytes": size,
        "encoder": dict(ckpt["encoder_config"]),
        "objective": {"name": ckpt["objective"]["name"], "metric": metric,
                      "config": dict(ckpt["objective"].get("config", {}))},  # fmt: skip
        "corpus": dict(ckpt.get("data", {})),
        "epochs": int(ckpt["epoch"]),
        "train": {k: tc.get(k) for k in ("batch_size", "lr", "weight_decay", "seed", "bf16",
                                         "limit", "data")},  # fmt: skip
        "loss_curve": [{"epoch": h["epoch"], "loss": h["loss"],
                        **({metric: h[metric]} if metric in h else {}),
                        "seconds": h.get("seconds"), "graphs": h.get("graphs")}
                       for h in hist],  # fmt: skip
        "wall_time_s": float(sum(h.get("seconds", 0.0) for h in hist)),
        "budget": _budget(hist),
        "precision": ("bf16 autocast (Hu et al.: fp32)" if tc.get("bf16") else "fp32"),
        "probe_curve": probe_curve(ckpt["history"], run_probes(source) if source else [],
                                   int(ckpt["epoch"])),
        "devices": devices,
        "sessions": sessions,
        "molpt_version": ckpt.get("molpt_version"),
        "used_by": [],
    }


def _budget(hist: list[dict[str, Any]]) -> dict[str, Any]:
    graphs = int(sum(h.get("graphs") or 0 for h in hist))
    seconds = float(sum(h.get("seconds") or 0.0 for h in hist))
    return {"graphs_seen": graphs, "hu2020_graph_passes": HU_GRAPH_PASSES,
            "fraction_of_hu2020": graphs / HU_GRAPH_PASSES,
            "device_hours": seconds / 3600.0}  # fmt: skip


def record_checkpoint(
    src: str | Path,
    name: str,
    records_dir: str | Path | None = None,
    overwrite: bool = False,
    results_root: str | Path | None = None,
) -> Path:
    """Record a pretraining run (its folder or ``checkpoint.pt``) as ``molpt/<name>``;
    returns the record's folder.  The optimizer state is dropped; everything else stays."""
    from molpt.train.checkpoint import save_checkpoint

    name = _check_name(name)
    path, ckpt = _pretrain_checkpoint(src)
    folder = records_root(records_dir) / name
    if (folder / CARD).exists() and not overwrite:
        raise RecordError(f"{PREFIX}{name} is already recorded at {folder} (use --force to "
                          "replace it)")  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    payload = {k: v for k, v in ckpt.items() if k != "optimizer_state"}
    payload["record"] = {"name": PREFIX + name, "source": str(path)}
    save_checkpoint(folder / CHECKPOINT, payload)
    sha = file_sha256(folder / CHECKPOINT)
    card = _card(name, ckpt, sha, (folder / CHECKPOINT).stat().st_size, path)
    card["used_by"] = used_by(sha, results_root)
    write_card(folder, card)
    return folder


# ------------------------------------------------------------------------------------------
# cards
# ------------------------------------------------------------------------------------------
def used_by(sha256: str, results_root: str | Path | None = None) -> list[dict[str, Any]]:
    """Study rows fine-tuned from the file with this sha256, per study / dataset / split /
    strategy: number of rows and mean test score at best valid."""
    import pandas as pd

    root = Path(results_root) if results_root is not None else RESULTS_ROOT
    out = []
    for csv in sorted(root.glob("*/results.csv")) if root.is_dir() else []:
        try:
            f = pd.read_csv(csv, dtype={"checkpoint_sha256": str})
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable (%s); skipped", csv, exc)
            continue
        if "checkpoint_sha256" not in f:
            continue
        col = f["checkpoint_sha256"].fillna("").astype(str)
        mine = f[col.map(lambda s: len(s) >= 8 and sha256.startswith(s))]
        keys = [k for k in ("dataset", "split", "strategy") if k in mine]
        for vals, g in mine.groupby(keys) if len(mine) else []:
            row = dict(zip(keys, vals if isinstance(vals, tuple) else (vals,), strict=True))
            row.update(study=csv.parent.name, rows=int(len(g)),
                       seeds=int(g["seed"].nunique()) if "seed" in g else None,
                       mean_test=float(g["test_at_best_valid"].mean())
                       if "test_at_best_valid" in g else None,
                       results=str(csv.relative_to(root.parent.parent))
                       if root == RESULTS_ROOT else str(csv))  # fmt: skip
            out.append(row)
    return out


def _loss_plot(card: dict[str, Any], path: Path) -> bool:
    from molpt.plotting import plot_loss_curve

    curve, name = card["loss_curve"], card["objective"]["name"]
    probe: dict[str, list[tuple[int, float]]] = {}
    for p in card.get("probe_curve") or []:
        for ds, v in (p.get("datasets") or {}).items():
            probe.setdefault(ds, []).append((p["epoch"], v["test"]))
        probe.setdefault("mean", []).append((p["epoch"], p["mean_test"]))
    try:
        plot_loss_curve([c["epoch"] for c in curve], [c["loss"] for c in curve],
                        f"{name} loss", PREFIX + card["name"], path,
                        probe=probe or None)  # fmt: skip
    except ImportError:  # no matplotlib: the card keeps its loss table
        return False
    return True


def _fmt_s(seconds: float) -> str:
    h, rem = divmod(int(round(seconds)), 3600)
    return f"{h} h {rem // 60:02d} min" if h else f"{rem // 60} min {rem % 60:02d} s"


def _budget_rows(card: dict[str, Any]) -> list[str]:
    b, corpus = card.get("budget"), card["corpus"]
    rows = []
    if b:
        rows += [
            f"| graphs seen | {b['graphs_seen']:,} graph passes = "
            f"{100 * b['fraction_of_hu2020']:.2f}% of Hu et al.'s {b['hu2020_graph_passes']:,} "
            "(100 epochs x 2M ZINC15) |",
            f"| device-hours | {b['device_hours']:.2f} (sum of epoch times) |",
        ]
    if card.get("precision"):
        rows.append(f"| precision | {card['precision']} |")
    if corpus.get("exclude_downstream"):
        rows.append(f"| leakage filter | {corpus.get('excluded', 0)} molecules removed: in the "
                    f"valid/test parts of {', '.join(corpus['exclude_downstream'])} "
                    f"({corpus.get('exclude_split')} split), matched by stereo-free InChIKey "
                    f"block; {corpus.get('no_inchikey', 0)} kept without an InChIKey |")
    return rows


def _probe_lines(card: dict[str, Any]) -> list[str]:
    curve = card.get("probe_curve") or []
    if not curve:
        return []
    names = list(curve[0].get("datasets") or {})
    metric = curve[0].get("metric", "roc_auc")
    lines = ["", "## Linear probe while pretraining", "",
             f"Frozen encoder, logistic regression on the scaffold split (test {metric}); "
             "epoch 0 is the random initialisation.", "",
             "| epoch | " + " | ".join(names) + " | mean |",
             "|---|" + "---|" * (len(names) + 1)]  # fmt: skip
    for p in curve:
        ds = p.get("datasets") or {}
        cells = [f"{ds[n]['test']:.4f}" if n in ds else "–" for n in names]
        lines.append(f"| {p['epoch']} | " + " | ".join(cells) + f" | {p['mean_test']:.4f} |")
    return lines


def render_card(card: dict[str, Any], plot: bool) -> str:
    enc, obj, corpus = card["encoder"], card["objective"], card["corpus"]
    metric = obj.get("metric")
    lines = [
        f"# Model card: `{PREFIX}{card['name']}`",
        "",
        f"A {enc.get('conv')} {enc.get('num_layers')}x{enc.get('hidden_dim')} encoder "
        f"(featurizer `{enc.get('featurizer')}`, JK `{enc.get('jk', 'last')}`) pretrained by "
        f"molpt with `{obj['name']}`.  Use it by name: `--checkpoint {PREFIX}{card['name']}`.",
        "",
        "| | |",
        "|---|---|",
        f"| objective | `{obj['name']}` {json.dumps(obj.get('config', {}))} |",
        f"| corpus | {corpus.get('name')} ({corpus.get('num_graphs', '?')} molecules; sha256 "
        f"`{corpus.get('sha256')}`) |",
        f"| epochs | {card['epochs']} |",
        *_budget_rows(card),
        f"| training | {json.dumps(card['train'])} |",
        f"| device(s) | {', '.join(card['devices']) or 'unknown'} |",
        f"| wall time | {_fmt_s(card['wall_time_s'])} (sum of epochs) |",
        f"| molpt | {card.get('molpt_version')} |",
        f"| file | `{CHECKPOINT}`, {card['bytes'] / 1e6:.1f} MB, sha256 `{card['sha256']}` |",
        f"| recorded | {card['recorded']} |",
        "",
        "## Loss curve",
        "",
    ]
    if plot:
        lines += [f"![loss]({LOSS_PNG})", ""]
    lines += ["| epoch | loss | " + (f"{metric} | " if metric else "") + "seconds |",
              "|---|---|" + ("---|" if metric else "") + "---|"]  # fmt: skip
    for c in card["loss_curve"]:
        m = f"{c[metric]:.4f} | " if metric and metric in c else ("– | " if metric else "")
        lines.append(f"| {c['epoch']} | {c['loss']:.4f} | {m}{(c.get('seconds') or 0):.0f} |")
    lines += _probe_lines(card)
    lines += ["", "## Used by", ""]
    if not card["used_by"]:
        lines.append("No study has fine-tuned from this file yet.")
    else:
        lines += ["| study | dataset | split | strategy | rows | seeds | mean test | file |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for u in card["used_by"]:
            mean = "–" if u.get("mean_test") is None else f"{u['mean_test']:.4f}"
            lines.append(f"| {u['study']} | {u.get('dataset')} | {u.get('split')} | "
                         f"{u.get('strategy')} | {u['rows']} | {u.get('seeds')} | {mean} | "
                         f"`{u['results']}` |")  # fmt: skip
    sessions = card.get("sessions") or []
    if sessions:
        lines += ["", "## Sessions", ""]
        for s in sessions:
            lines.append(f"- {s.get('started')}: from epoch {s.get('from_epoch')} to "
                         f"{s.get('epochs')}, device "
                         f"{device_label(s.get('device'), s.get('device_name'))}, "
                         f"molpt {s.get('molpt_version')}")  # fmt: skip
    return "\n".join(lines) + "\n"


def write_card(folder: Path, card: dict[str, Any]) -> None:
    plot = _loss_plot(card, folder / LOSS_PNG)
    atomic_write_json(folder / CARD, card)
    atomic_write_text(folder / CARD_MD, render_card(card, plot))


def refresh_cards(
    records_dir: str | Path | None = None, results_root: str | Path | None = None
) -> list[str]:
    """Recompute every card's ``used_by`` from the results; rewrite the cards that changed.
    Returns the names of the records rewritten."""
    changed = []
    for card in records(records_dir):
        folder = Path(card.pop("local_path")).parent
        card.pop("present", None)
        now = used_by(card["sha256"], results_root)
        if now != card.get("used_by"):
            card["used_by"] = now
            write_card(folder, card)
            changed.append(card["name"])
    return changed


__all__ = [
    "ENV_RECORDS",
    "PREFIX",
    "RecordError",
    "is_record_name",
    "record_checkpoint",
    "records",
    "records_root",
    "refresh_cards",
    "render_card",
    "resolve_record",
    "used_by",
]
