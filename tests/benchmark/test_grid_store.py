"""Grid expansion, job ids, and the append-only results store."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from molpt.benchmark.grid import (
    CheckpointInfo,
    expand_grid,
    job_id,
    parse_checkpoints,
    parse_seeds,
    resolve_grid,
)
from molpt.benchmark.store import COLUMNS, ResultsStore


def test_parse_options():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds("5, 0-1") == [0, 1, 5]
    assert parse_seeds(None) is None
    for bad in ("a", "3-1", "1;2"):
        with pytest.raises(ValueError):
            parse_seeds(bad)
    assert parse_checkpoints(["am=/x.pt", "cp=/y.pt"]) == {"am": "/x.pt", "cp": "/y.pt"}
    for bad in (["nopath"], ["none=/x.pt"], ["a=/x", "a=/y"]):
        with pytest.raises(ValueError):
            parse_checkpoints(bad)


def test_profiles_and_overrides():
    hu = resolve_grid("hu2020")
    assert len(hu.datasets) == 8 and hu.seeds == list(range(10)) and hu.epochs == 100
    assert hu.batch_size == 32 and hu.splits == ["scaffold"] and hu.pretrain is None
    sun = resolve_grid("sun2022")
    assert sun.featurizers == ["basic", "rich"] and "balanced_scaffold" in sun.splits
    q = resolve_grid("quick", datasets=["bace"], seeds=[4], epochs=2)
    assert q.datasets == ["bace"] and q.seeds == [4] and q.epochs == 2 and q.pretrain
    for kw in ({"datasets": ["nope"]}, {"splits": ["weird"]}, {"strategies": ["lora"]},
               {"featurizers": ["fancy"]}, {"datasets": ["moses"]}):
        with pytest.raises((ValueError, KeyError)):
            resolve_grid("quick", **kw)
    with pytest.raises(ValueError, match="profile"):
        resolve_grid("nope")
    with pytest.raises(FileNotFoundError):
        resolve_grid("quick", checkpoints={"a": "/no/such.pt"})


def _ck(name, feat):
    return CheckpointInfo(name, f"/ck/{name}.pt", feat,
                          {"conv": "gin", "num_layers": 5, "hidden_dim": 300}, "ab" * 32)


def test_expand_grid_ids_and_featurizer_skip():
    spec = resolve_grid("quick", datasets=["bbbp", "bace"], splits=["scaffold", "random"],
                        seeds=[0, 1], featurizers=["basic", "rich"], strategies=["full"])
    jobs, notes = expand_grid(spec, {"am": _ck("am", "basic")})
    # 2 datasets x 2 splits x 2 seeds x (none + am only for basic) -> 8 x (2 + 1)
    assert len(jobs) == 8 * 3
    assert len({j.job_id for j in jobs}) == len(jobs)
    assert len(notes) == 1 and "skipped for featurizer 'rich'" in notes[0]
    by = {(j.config["split"], j.config["seed"]): j.config["split_seed"] for j in jobs}
    assert by[("scaffold", 1)] == 0 and by[("random", 1)] == 1
    am = [j for j in jobs if j.method == "am"][0]
    assert am.config["hidden_dim"] == 300 and am.config["checkpoint"] == "/ck/am.pt"
    # stable: same arguments -> same ids; a path move does not change the id
    again, _ = expand_grid(spec, {"am": _ck("am", "basic")})
    assert [j.job_id for j in again] == [j.job_id for j in jobs]
    assert job_id({**am.config, "checkpoint": "/elsewhere.pt"}) == am.job_id
    assert job_id({**am.config, "epochs": 7}) != am.job_id


def test_none_baseline_copies_the_checkpoint_architecture():
    spec = resolve_grid("quick", datasets=["bbbp"], splits=["scaffold"], seeds=[0],
                        featurizers=["basic"])
    small = CheckpointInfo("am", "/ck/am.pt", "basic",
                           {"conv": "gin", "num_layers": 3, "hidden_dim": 64, "jk": "sum"},
                           "cd" * 32)
    jobs, notes = expand_grid(spec, {"am": small})
    none = [j for j in jobs if j.method == "none"][0].config
    assert (none["num_layers"], none["hidden_dim"], none["jk"]) == (3, 64, "sum")
    assert not notes
    # two checkpoints of different sizes: the baseline falls back to the profile, with a note
    jobs, notes = expand_grid(spec, {"am": small, "big": _ck("big", "basic")})
    none = [j for j in jobs if j.method == "none"][0].config
    assert (none["num_layers"], none["hidden_dim"]) == (spec.num_layers, spec.hidden_dim)
    assert any("differ in architecture" in n for n in notes)
    # no checkpoint at all: the profile's architecture
    jobs, _ = expand_grid(spec, {})
    assert jobs[0].config["hidden_dim"] == spec.hidden_dim


def _row(i: int, **kw) -> dict:
    r = {c: "" for c in COLUMNS}
    r.update(dataset="bbbp", split="scaffold", seed=i, method="none", metric="roc_auc",
             test_at_best_valid=0.7 + i / 100, job_id=f"{i:016x}")
    r.update(kw)
    return r


def test_store_append_read_torn_line_and_dedup(tmp_path):
    st = ResultsStore(tmp_path)
    assert st.read().frame.empty and st.done_ids() == set()
    st.append(_row(1))
    st.append(_row(2))
    with open(st.path, "ab") as fh:  # a crash in the middle of a row
        fh.write(b"bbbp,scaffold,0,3,none,basic,fu")
    read = st.read()
    assert list(read.frame["job_id"]) == [f"{1:016x}", f"{2:016x}"]
    assert read.torn == 1 and "incomplete" in read.notes[0]
    st.append(_row(3))  # starts on a fresh line
    st.append(_row(2))  # a duplicate is ignored on reading
    read = st.read()
    assert st.done_ids() == {f"{i:016x}" for i in (1, 2, 3)}
    assert read.torn == 1 and read.duplicates == 1
    assert read.frame["test_at_best_valid"].tolist() == pytest.approx([0.71, 0.72, 0.73])
    with pytest.raises(ValueError, match="job_id"):
        st.append(_row(4, job_id="short"))


def _appender(path: str, start: int) -> None:
    st = ResultsStore(path)
    for i in range(start, start + 25):
        st.append(_row(i))


def test_store_concurrent_appends(tmp_path):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_appender, args=(str(tmp_path), k * 100)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    read = ResultsStore(tmp_path).read()
    assert len(read.frame) == 100 and read.torn == 0 and read.duplicates == 0
    assert (tmp_path / "results.csv").read_text().count("dataset,split") == 1
