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


_TWIN_STUDY = """name = "bf16"
profile = "quick"
precision = "bf16"
{twin}
[grid]
datasets = ["bbbp", "tox21"]
splits = ["scaffold"]
seeds = "0-3"
num_layers = 2
hidden_dim = 16
epochs = 2
batch_size = 32
limit = 400
"""


def test_twin_of_is_only_for_a_bf16_study(tmp_path):
    from molpt.benchmark.studies import StudyError, parse_study

    ok = parse_study(_TWIN_STUDY.format(twin='twin_of = "fp32"'), tmp_path / "bf16.toml")
    assert ok.twin_of == "fp32" and ok.precision == "bf16"
    for bad in (_TWIN_STUDY.format(twin='twin_of = "fp32"').replace('"bf16"\n', '"fp32"\n'),
                _TWIN_STUDY.format(twin='twin_of = "bf16"'),  # itself
                _TWIN_STUDY.format(twin='twin_of = "../fp32"')):
        with pytest.raises(StudyError, match="twin_of names the fp32 study"):
            parse_study(bad, tmp_path / "bf16.toml")


def test_readme_reads_a_bf16_twin_as_a_precision_check(both, tmp_path):
    """A bf16 study with twin_of: its README section sets its scores beside the fp32
    study's, and the reading reports how far bf16 moved the means (partial while seeds are
    missing) instead of counting its rows as reproductions of the paper."""
    import shutil

    from molpt.benchmark.readme import render_section
    from molpt.benchmark.report import write_report

    results = tmp_path / "results"
    for side in ("fp32", "bf16"):
        shutil.copytree(both / side, results / side)
    # the bf16 study plans seeds 0-3; seeds 0-2 ran: 6 of 8 jobs
    (results / "bf16" / "study.toml").write_text(_TWIN_STUDY.format(twin='twin_of = "fp32"'))
    for side in ("fp32", "bf16"):
        write_report(results / side)
    sec = render_section(results, tmp_path, tmp_path / "no_studies")
    table = compare(pair(load(both / "fp32", "fp32"), load(both / "bf16", "bf16")))
    cmd = "python benchmarks/precision_check.py fp32 bf16"
    assert f"bf16 vs fp32 (`{cmd}`)" in sec
    for r in table.itertuples():  # every row of the comparison, linked to the bf16 results
        diff = f"{r.diff:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
        assert (f"| {r.dataset} | `none` | 3 | {r.fp32:.1f} | {r.bf16:.1f} | "
                f"[{diff}](results/bf16/results.csv \"{cmd}\") |") in sec
    lines = sec.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("- bf16 autocast"))
    bullet = lines[head + 1]  # the headline's one nested finding
    assert bullet.startswith("  - ") and not lines[head + 2].startswith("  - ")
    assert "`bf16` (bf16) vs `fp32` (fp32), 6 run pairs (partial: 6 of 8 planned runs" in bullet
    bbbp = table.set_index("dataset").loc["bbbp"]
    assert f"bbbp {bbbp['diff']:+.2f} [{bbbp['ci_low']:+.2f}, {bbbp['ci_high']:+.2f}]" in bullet
    moved = int(table[~table["dataset"].str.startswith("avg")]["moved_less"].sum())
    assert f"less than 0.5 points on {moved} of 2 sets" in bullet
    # the twin is not a result of record: no reading line but its bullet and its progress
    reading = lines[lines.index("**Reading** (generated from the files above):"):]
    others = [line for line in reading if line.lstrip().startswith("- ")
              and line not in (lines[head], bullet)]  # fmt: skip
    assert all("`bf16`" not in line or "`bf16`: 6 of 8 planned jobs finished" in line
               for line in others), others
    assert any("`bf16`: 6 of 8 planned jobs finished" in line for line in others)
