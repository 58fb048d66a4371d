"""Where the rows came from: each row's device (with the hardware's name) and, per device, the
commits, molpt versions, precisions and compute behind its rows."""

from __future__ import annotations

from typing import Any

import pandas as pd

from molpt.benchmark.report.progress import CELL
from molpt.train.device import device_label
from molpt.utils import is_blank


def device_labels(frame: pd.DataFrame) -> list[str]:
    """Each row's device (``cpu``, ``cuda:0``) with the hardware's name where the row records
    it (``cuda:0 on NVIDIA H200``); rows from before the ``device_name`` column keep the bare
    device."""
    devs = frame["device"] if "device" in frame else [None] * len(frame)
    names = frame["device_name"] if "device_name" in frame else [None] * len(frame)
    return [device_label(d, n) for d, n in zip(devs, names, strict=True)]


def device_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Which device produced which rows: count, commits, molpt versions, compute."""
    out = []
    f = frame.copy()
    f["device"] = device_labels(frame)
    for c in ("git_commit", "molpt_version", "timestamp", "precision"):
        missing = "fp32" if c == "precision" else "unknown"
        f[c] = [missing if is_blank(v) else str(v) for v in f[c]] if c in f else missing
    for dev, g in f.groupby("device", sort=False):
        out.append(dict(
            device=dev, rows=len(g),
            commits=sorted({c[:10] for c in g["git_commit"]}),
            versions=sorted(set(g["molpt_version"])),
            precisions=sorted(set(g["precision"])),
            minutes=pd.to_numeric(g.get("seconds"), errors="coerce").sum() / 60,
            methods=list(dict.fromkeys(g["method"].astype(str))),
            first=min(g["timestamp"]), last=max(g["timestamp"]),
        ))  # fmt: skip
    return out


def device_kind(device: Any) -> str:
    """The kind of device a row ran on: ``cuda:0`` -> ``cuda``; blank -> ``unknown``."""
    return "unknown" if is_blank(device) else str(device).split(":", 1)[0]


def cross_device_pairs(frame: pd.DataFrame, gains: pd.DataFrame) -> list[str]:
    """Gains whose method rows and baseline rows ran on different kinds of device, as
    ``"bace `attrmask` (cuda) vs `none` (cpu)"``: a seed does not give the same numbers on
    a CPU and a GPU, so such pairs are paired by seed but not by identical noise."""
    if gains.empty or "device" not in frame:
        return []
    kinds = frame.assign(_kind=[device_kind(d) for d in frame["device"]])
    cell = CELL[:-1]
    of = {k: sorted(set(g["_kind"])) for k, g in kinds.groupby(CELL, dropna=False)}
    out = []
    for r in gains.to_dict("records"):
        key = tuple(r[c] for c in cell)
        mine, theirs = of.get((*key, r["method"])), of.get((*key, r["baseline"]))
        if mine and theirs and mine != theirs:
            out.append(f"{r['dataset']} `{r['method']}` ({', '.join(mine)}) vs "
                       f"`{r['baseline']}` ({', '.join(theirs)})")  # fmt: skip
    return out
