"""Fused groups: who trains with whom, the --fuse and memory caps, worker balancing, and job
ids that do not depend on grouping or (for fp32) on the precision option."""

from __future__ import annotations

import pytest

from molpt.benchmark.grid import expand_grid, finetune_config, inspect_checkpoints, resolve_grid
from molpt.benchmark.groups import Group, form_groups, job_group_key, memory_budget, run_bytes


@pytest.fixture()
def tiny_ckpt(tmp_path):
    from molpt.nn.encoder import Encoder
    from molpt.train.checkpoint import save_checkpoint

    enc = Encoder("basic", num_layers=2, hidden_dim=16)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, {"encoder_config": enc.config, "encoder_state": enc.state_dict()})
    return path


def _jobs(ckpt=None, **kw):
    args = dict(datasets=["bbbp", "bace"], splits=["scaffold"], seeds=[0, 1, 2], epochs=1,
                num_layers=2, hidden_dim=16, limit=100)  # fmt: skip
    args.update(kw)
    spec = resolve_grid("hu2020", checkpoints={"tiny": str(ckpt)} if ckpt else None, **args)
    jobs, _ = expand_grid(spec, inspect_checkpoints(spec.checkpoints))
    return spec, jobs


def test_default_groups_are_grid_cells(tiny_ckpt):
    _, jobs = _jobs(tiny_ckpt)
    assert len(jobs) == 12  # 2 datasets x (none + tiny) x 3 seeds
    groups = form_groups(jobs)
    # one group per dataset: every seed and checkpoint of the cell (same architecture)
    assert [len(g) for g in groups] == [6, 6]
    for g in groups:
        assert len({job_group_key(j) for j in g.jobs}) == 1
        assert len({j.config["dataset"] for j in g.jobs}) == 1
        assert {j.config["method"] for j in g.jobs} == {"none", "tiny"}
    assert sorted(j.job_id for g in groups for j in g.jobs) == sorted(j.job_id for j in jobs)
    assert groups[0].label().startswith("bbbp/scaffold/basic/full/gin2x16 x6 (none s0-2, tiny")


def test_fuse_cap_memory_cap_and_balancing(tiny_ckpt):
    _, jobs = _jobs(tiny_ckpt)
    assert all(len(g) == 1 for g in form_groups(jobs, fuse=1)) and len(form_groups(jobs, 1)) == 12
    sizes = [len(g) for g in form_groups(jobs, fuse=4)]
    assert sizes == [3, 3, 3, 3]  # 6 runs under a cap of 4: two even groups per cell
    assert [len(g) for g in form_groups(jobs, cap=lambda j: 2)] == [2] * 6
    assert [len(g) for g in form_groups(jobs, fuse=5, cap=lambda j: 4)] == [3] * 4
    # fewer groups than workers: the largest are halved so every worker has one
    assert sorted(len(g) for g in form_groups(jobs, parallel=4)) == [3, 3, 3, 3]
    assert len(form_groups(jobs[:2], parallel=8)) == 2  # never below one run per group
    with pytest.raises(ValueError, match="--fuse"):
        form_groups(jobs, fuse=0)


def test_different_architecture_or_strategy_never_share_a_group(tmp_path):
    from molpt.nn.encoder import Encoder
    from molpt.train.checkpoint import save_checkpoint

    enc = Encoder("basic", num_layers=3, hidden_dim=8)
    other = tmp_path / "other.pt"
    save_checkpoint(other, {"encoder_config": enc.config, "encoder_state": enc.state_dict()})
    spec = resolve_grid("hu2020", datasets=["bbbp"], splits=["scaffold"], seeds=[0, 1],
                        epochs=1, num_layers=2, hidden_dim=16, limit=100,
                        strategies=["full", "linear"],
                        checkpoints={"other": str(other)})  # fmt: skip
    jobs, _ = expand_grid(spec, inspect_checkpoints(spec.checkpoints))
    groups = form_groups(jobs)
    for g in groups:
        cfgs = {(j.config["strategy"], j.config["num_layers"], j.config["hidden_dim"])
                for j in g.jobs}  # fmt: skip
        assert len(cfgs) == 1
    assert len(groups) == 2  # full, linear; 'none' copies the checkpoint's 3x8 architecture


def test_job_ids_do_not_depend_on_grouping_or_fp32(tiny_ckpt):
    spec, jobs = _jobs(tiny_ckpt)
    ids = [j.job_id for j in jobs]
    # the default is fp32 and the config has no bf16 key: ids of earlier versions
    assert spec.bf16 is False and all("bf16" not in j.config for j in jobs)
    assert all(finetune_config(j, "x", None).bf16 is False for j in jobs)
    assert [j.job_id for g in form_groups(jobs, fuse=2) for j in g.jobs] == ids
    _, jobs16 = _jobs(tiny_ckpt, bf16=True)
    assert all(j.config["bf16"] is True for j in jobs16)
    assert all(finetune_config(j, "x", None).bf16 is True for j in jobs16)
    assert not set(ids) & {j.job_id for j in jobs16}  # a bf16 run is a different job
    # fp32 and bf16 runs never train together
    assert len(form_groups(jobs + jobs16)) == 4


def test_memory_estimate_is_sane():
    cfg = dict(hidden_dim=300, num_layers=5, batch_size=32, featurizer="basic", encoder="gin")
    b = run_bytes(cfg, nodes_per_graph=25.0, edges_per_graph=54.0)
    # GIN 5x300 has ~1.9M parameters: 16 B each, plus eval activations of 2048 graphs
    assert 30e6 < b < 1e9
    assert run_bytes({**cfg, "hidden_dim": 600}, 25.0, 54.0) > b
    assert memory_budget("cpu", parallel=2) * 2 <= memory_budget("cpu", parallel=1) + 2
    assert Group(jobs=[]).job_ids == []
