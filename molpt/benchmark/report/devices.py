"""Where the rows came from: each row's device (with the hardware's name) and, per device, the
commits, molpt versions, precisions and compute behind its rows."""

from __future__ import annotations

from typing import Any

import pandas as pd

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
