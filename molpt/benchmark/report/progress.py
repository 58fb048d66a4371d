"""What a results folder plans and what it has finished: planned seeds per cell (the rows, the
last run's grid.json and the study) and done / planned per cell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

CELL = ["dataset", "split", "featurizer", "strategy", "method"]


def planned_seeds(root: Path, frame: pd.DataFrame, study=None) -> dict[tuple, set[int]]:
    """Planned run seeds per (dataset, split, featurizer, strategy, method) cell.

    The union of the finished rows, the jobs of the last run (``grid.json``) and, for a
    study, every planned dataset x split x featurizer x strategy x seed for each method seen.
    """
    plan: dict[tuple, set[int]] = {}

    def add(rec: dict[str, Any]) -> None:
        plan.setdefault(tuple(str(rec[c]) for c in CELL), set()).add(int(rec["seed"]))

    for rec in frame[CELL + ["seed"]].to_dict("records"):
        add(rec)
    grid_path = root / "grid.json"
    if grid_path.is_file():
        try:
            for job in json.loads(grid_path.read_text()).get("jobs", []):
                if all(c in job for c in CELL + ["seed"]):
                    add(job)
        except (json.JSONDecodeError, OSError, TypeError, ValueError):
            pass
    if study is not None:
        # every method seen, and every checkpoint the study plans (its method name is the
        # part before "=" or the published name itself), run yet or not
        planned_ckpts = [c.partition("=")[0].strip() for c in study.grid.get("checkpoints", [])]
        methods = list(dict.fromkeys([k[4] for k in plan] + planned_ckpts))
        for ds in study.planned("datasets"):
            for sp in study.planned("splits"):
                for ft in study.planned("featurizers"):
                    for st in study.planned("strategies"):
                        for m in methods:
                            for seed in study.seeds():
                                add(dict(dataset=ds, split=sp, featurizer=ft, strategy=st,
                                         method=m, seed=seed))  # fmt: skip
    return plan


def progress_frame(frame: pd.DataFrame, plan: dict[tuple, set[int]]) -> pd.DataFrame:
    """One row per planned cell: done / planned seeds and whether it is complete."""
    done: dict[tuple, set[int]] = {}
    for rec in frame[CELL + ["seed"]].to_dict("records"):
        done.setdefault(tuple(str(rec[c]) for c in CELL), set()).add(int(rec["seed"]))
    rows = []
    for cell, seeds in plan.items():
        d = done.get(cell, set())
        rows.append({**dict(zip(CELL, cell, strict=True)), "n_done": len(d & seeds),
                     "n_planned": len(seeds), "complete": seeds <= d,
                     "missing_seeds": ",".join(str(s) for s in sorted(seeds - d))})  # fmt: skip
    return pd.DataFrame(rows, columns=CELL + ["n_done", "n_planned", "complete",
                                              "missing_seeds"])  # fmt: skip
