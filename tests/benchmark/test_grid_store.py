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
    assert {j.config["baseline"] for j in jobs} == {"none"}
    # no checkpoint at all: the profile's architecture
    jobs, _ = expand_grid(spec, {})
    assert jobs[0].config["hidden_dim"] == spec.hidden_dim
    assert [j.config["baseline"] for j in jobs] == ["none"]


def test_each_architecture_gets_its_own_twin():
    spec = resolve_grid("quick", datasets=["bbbp"], splits=["scaffold"], seeds=[0, 1],
                        featurizers=["basic", "rich"])  # fmt: skip
    small = CheckpointInfo("am", "/ck/am.pt", "basic",
                           {"conv": "gin", "num_layers": 3, "hidden_dim": 64}, "cd" * 32)
    gcn = CheckpointInfo("hu2020/gcn_supervised_contextpred", "/ck/hu.pt", "basic",
                         {"conv": "gcn", "num_layers": 5, "hidden_dim": 300}, "ef" * 32)
    same_as_small = CheckpointInfo("am2", "/ck/am2.pt", "basic",
                                   {"conv": "gin", "num_layers": 3, "hidden_dim": 64}, "01" * 32)
    ckpts = {"am": small, "hu2020/gcn_supervised_contextpred": gcn, "am2": same_as_small}
    jobs, notes = expand_grid(spec, ckpts)
    basic = [j.config for j in jobs if j.config["featurizer"] == "basic"]
    methods = list(dict.fromkeys(c["method"] for c in basic))
    assert methods == ["none-gin3x64", "none-gcn5x300", "am",
                       "hu2020/gcn_supervised_contextpred", "am2"]  # fmt: skip
    by = {(c["method"], c["seed"]): c for c in basic}
    twin = by[("none-gcn5x300", 0)]
    assert (twin["encoder"], twin["num_layers"], twin["hidden_dim"]) == ("gcn", 5, 300)
    assert twin["checkpoint"] is None and twin["baseline"] == "none-gcn5x300"
    assert by[("none-gin3x64", 1)]["hidden_dim"] == 64
    assert by[("hu2020/gcn_supervised_contextpred", 0)]["baseline"] == "none-gcn5x300"
    assert by[("am", 0)]["baseline"] == by[("am2", 1)]["baseline"] == "none-gin3x64"
    # every twin row is recognisable as a baseline, and is the baseline of some row
    twins = {c["method"] for c in basic if c["checkpoint"] is None}
    assert all(m.startswith("none") for m in twins)
    assert twins == {c["baseline"] for c in basic}
    assert any("2 architectures" in n for n in notes)
    # a featurizer without checkpoints keeps the plain `none` of the profile's architecture
    rich = [j.config for j in jobs if j.config["featurizer"] == "rich"]
    assert {c["method"] for c in rich} == {"none"}
    assert rich[0]["hidden_dim"] == spec.hidden_dim and rich[0]["baseline"] == "none"
    assert len(jobs) == 2 * 5 + 2 and len({j.job_id for j in jobs}) == len(jobs)


def test_baseline_is_not_part_of_the_job_id():
    spec = resolve_grid("quick", datasets=["bbbp"], splits=["scaffold"], seeds=[0])
    (job,), _ = expand_grid(spec, {})
    assert job.config["baseline"] == "none"
    without = {k: v for k, v in job.config.items() if k != "baseline"}
    assert job_id(without) == job.job_id == job_id({**job.config, "baseline": "none-x"})
    # the id of this `none` job is the one earlier molpt versions gave it (results resume)
    assert job.job_id == "b48f0cc88cc14114"


def test_store_reads_old_files_without_baseline(tmp_path):
    assert COLUMNS.index("baseline") == COLUMNS.index("checkpoint_sha256") + 1
    old_cols = [c for c in COLUMNS if c != "baseline"]
    (tmp_path / "results.csv").write_text(
        ",".join(old_cols) + "\n"
        + ",".join({"dataset": "bbbp", "method": "none", "seed": "0",
                    "job_id": "0123456789abcdef"}.get(c, "") for c in old_cols) + "\n"
    )  # fmt: skip
    st = ResultsStore(tmp_path)
    frame = st.read().frame
    assert frame["baseline"].tolist() == ["none"]
    # appending to the old file keeps its header (append-only) and still reads
    st.append(_row(5, job_id="fedcba9876543210", baseline="none"))
    frame = st.read().frame
    assert frame["baseline"].tolist() == ["none", "none"] and len(frame) == 2
    # a new file stores the column
    new = ResultsStore(tmp_path / "new")
    new.append(_row(1, method="none-gcn5x300", baseline="none-gcn5x300"))
    assert new.read().frame["baseline"].tolist() == ["none-gcn5x300"]


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


def test_results_file_is_born_with_its_header(tmp_path, monkeypatch):
    """An outside reader polling results.csv never finds it empty or half a header."""
    import fcntl

    import molpt.benchmark.store as store_mod

    st = ResultsStore(tmp_path)
    seen = []
    real = fcntl.flock

    class Spy:  # look at the file from outside whenever the store takes its lock
        LOCK_EX, LOCK_UN = fcntl.LOCK_EX, fcntl.LOCK_UN

        @staticmethod
        def flock(fd, op):
            if op == fcntl.LOCK_EX:
                seen.append(st.path.read_text())
            return real(fd, op)

    monkeypatch.setattr(store_mod, "fcntl", Spy)
    st.append(_row(1))
    assert seen == [",".join(COLUMNS) + "\n"]
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # no temporary left
    st.append(_row(2))
    assert len(st.read().frame) == 2


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
