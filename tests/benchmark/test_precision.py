"""fp32 runs beside their bf16 twins (issue 9, item 4): real tiny runs of both precisions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from molpt.benchmark.grid import resolve_grid
from molpt.benchmark.precision import compare, load, pair
from molpt.benchmark.runner import run_benchmark

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "precision_check.py"


def _script():
    spec = importlib.util.spec_from_file_location("precision_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def both(tmp_path_factory, data_dir):
    """The same tiny grid (BBBP and Tox21 slices, seeds 0-2, 2 epochs) in fp32 and in bf16."""
    root = tmp_path_factory.mktemp("precision")
    for prec in ("fp32", "bf16"):
        spec = resolve_grid("quick", datasets=["bbbp", "tox21"], splits=["scaffold"],
                            seeds=[0, 1, 2], num_layers=2, hidden_dim=16, epochs=2, limit=400,
                            batch_size=32, bf16=prec == "bf16")  # fmt: skip
        spec.pretrain = None
        run_benchmark(spec, root / prec, data_dir=str(data_dir), device="cpu", progress=False,
                      report=False)  # fmt: skip
    return root


def test_pairs_and_differences(both):
    fp32, bf16 = load(both / "fp32", "fp32"), load(both / "bf16", "bf16")
    assert set(bf16["precision"]) == {"bf16"} and len(fp32) == len(bf16) == 6
    pairs = pair(fp32, bf16)
    assert len(pairs) == 6  # every run has its twin (the job ids differ: bf16 is in the config)
    assert not np.array_equal(pairs["fp32"].to_numpy(), pairs["bf16"].to_numpy())
    table = compare(pairs, threshold=0.5).set_index("dataset")
    assert len(table) == 3  # bbbp, tox21 and their average
    g = pairs[pairs["dataset"] == "bbbp"].sort_values("seed")
    d = (g["bf16"] - g["fp32"]).to_numpy() * 100
    assert table.loc["bbbp", "diff"] == pytest.approx(d.mean())
    assert table.loc["bbbp", "fp32"] == pytest.approx(g["fp32"].mean() * 100)
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert table.loc["bbbp", "ci_low"] == pytest.approx(d.mean() - half)
    avg = table.loc["avg of 2 (bbbp, tox21)"]
    assert avg["n"] == 3
    assert avg["diff"] == pytest.approx(
        (pairs["bf16"] - pairs["fp32"]).mean() * 100)  # equal seeds per set: mean of all
    for _, r in table.iterrows():
        assert r["moved_less"] == (abs(r["diff"]) < 0.5)
        assert r["ci_inside"] == (r["ci_low"] > -0.5 and r["ci_high"] < 0.5)
        assert not (r["ci_inside"] and not r["moved_less"])


def test_script_records_and_refuses_unpaired(both, tmp_path, capsys):
    script = _script()
    record = tmp_path / "RESULTS.md"
    record.write_text("# earlier content\n")
    assert script.main([str(both / "fp32"), str(both / "bf16"), "--record", str(record)]) == 0
    text = record.read_text()
    assert text.startswith("# earlier content\n")  # appended, nothing lost
    assert "### fp32 vs bf16 fine-tuning" in text and "6 rows on cpu" in text
    assert "| bbbp | `none` | 3 |" in text and "| avg of 2 (bbbp, tox21) | `none` | 3 |" in text
    # the wrong way round: the fp32 folder has no bf16 rows -> one-line error, exit 1
    capsys.readouterr()
    assert script.main([str(both / "bf16"), str(both / "fp32")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "has no fp32 rows" in err and "\n" not in err
    # a study not run yet: says so and how to run it
    assert script.main([str(both / "fp32"), str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no results.csv in") and "molpt benchmark --study nope" in err
    # rows of other seeds only: no twins
    only = tmp_path / "other"
    only.mkdir()
    frame = pd.read_csv(both / "bf16" / "results.csv")
    frame.assign(seed=frame["seed"] + 10).to_csv(only / "results.csv", index=False)
    assert script.main([str(both / "fp32"), str(only)]) == 1
    assert "no fp32 run has a bf16 twin" in capsys.readouterr().err
