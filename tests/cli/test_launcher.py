"""The allocator launcher (molpt.cli.launcher): what it decides, and that a real fine-tuning run
gives the same numbers whichever allocator serves it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from molpt.allocator import find_library
from molpt.cli.launcher import LAUNCHED_ENV, AllocatorError, plan

LIBS = {"jemalloc": "/opt/x/libjemalloc.so.2", "tcmalloc": "/opt/x/libtcmalloc_minimal.so.4"}


def _plan(argv, env, libs=LIBS, loaded="system", platform="linux"):
    return plan(argv, env, platform=platform, find=libs.get, loaded=lambda: loaded)


def test_auto_prefers_jemalloc_then_tcmalloc_for_training_commands():
    name, env = _plan(["benchmark", "--study", "x"], {"PATH": "/bin"})
    assert name == "jemalloc" and env["LD_PRELOAD"] == LIBS["jemalloc"]
    assert env["MALLOC_CONF"] == "dirty_decay_ms:-1,muzzy_decay_ms:-1"
    assert env[LAUNCHED_ENV] == "jemalloc" and env["PATH"] == "/bin"
    name, env = _plan(["finetune"], {}, libs={"tcmalloc": LIBS["tcmalloc"]})
    assert name == "tcmalloc" and env["LD_PRELOAD"] == LIBS["tcmalloc"]
    assert int(env["TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD"]) >= 1 << 40
    # a user's own preload and jemalloc settings are kept
    _, env = _plan(["pretrain"], {"LD_PRELOAD": "/a/libfoo.so", "MALLOC_CONF": "narenas:2"})
    assert env["LD_PRELOAD"] == f"{LIBS['jemalloc']}:/a/libfoo.so"
    assert env["MALLOC_CONF"] == "narenas:2"


@pytest.mark.parametrize(
    "argv, env, loaded, platform",
    [
        (["featurize", "x.csv"], {}, "system", "linux"),  # not a training command
        (["--help"], {}, "system", "linux"),
        ([], {}, "system", "linux"),
        (["finetune"], {"MOLPT_ALLOCATOR": "system"}, "system", "linux"),
        (["finetune"], {LAUNCHED_ENV: "jemalloc"}, "system", "linux"),  # never twice
        (["finetune"], {}, "jemalloc", "linux"),  # already served by jemalloc
        (["finetune"], {}, "tcmalloc", "linux"),
        (["finetune"], {}, "system", "darwin"),
    ],
)
def test_no_relaunch(argv, env, loaded, platform):
    assert _plan(argv, env, loaded=loaded, platform=platform) is None


def test_auto_without_libraries_goes_on_but_an_explicit_choice_fails_in_one_line():
    assert _plan(["finetune"], {}, libs={}) is None
    with pytest.raises(AllocatorError, match="MOLPT_ALLOCATOR=jemalloc: no libjemalloc found"):
        _plan(["finetune"], {"MOLPT_ALLOCATOR": "jemalloc"}, libs={})
    with pytest.raises(AllocatorError, match="use one of auto, jemalloc, tcmalloc, system"):
        _plan(["finetune"], {"MOLPT_ALLOCATOR": "mimalloc"})
    name, _ = _plan(["finetune"], {"MOLPT_ALLOCATOR": " TCMalloc "})
    assert name == "tcmalloc"


def _molpt(args, env, cwd):
    return subprocess.run([sys.executable, "-m", "molpt", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_bad_setting_is_one_line_before_anything_loads(tmp_path):
    env = {**os.environ, "MOLPT_ALLOCATOR": "bogus"}
    r = _molpt(["finetune", "--dataset", "bbbp"], env, tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: MOLPT_ALLOCATOR='bogus': use one of auto, jemalloc, tcmalloc, system"
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD is Linux's")
def test_finetune_same_numbers_under_every_allocator(data_dir, tmp_cache, tmp_path):
    """`molpt finetune` relaunches itself under the allocator it finds (jemalloc on a machine
    with libjemalloc2), records it in metrics.json, and gives the same numbers as with the C
    library's malloc: the allocator changes speed and memory, never a result."""
    base = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", LAUNCHED_ENV)}
    base["MOLPT_CACHE"] = str(tmp_cache)
    args = ["finetune", "--dataset", "bbbp", "--limit", "160", "--epochs", "2",
            "--num-layers", "2", "--hidden-dim", "32", "--dropout", "0.5", "--device", "cpu",
            "--data-dir", str(data_dir), "--no-progress"]  # fmt: skip
    metrics = {}
    for setting in ("system", "auto"):
        out = tmp_path / setting
        r = _molpt([*args, "--out", str(out)], {**base, "MOLPT_ALLOCATOR": setting}, tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        metrics[setting] = json.loads((out / "metrics.json").read_text())
    expected = next((n for n in ("jemalloc", "tcmalloc") if find_library(n)), "system")
    assert metrics["system"]["host_allocator"] == "system"
    assert metrics["auto"]["host_allocator"] == expected
    def numbers(m):  # every per-epoch number except the wall time
        return [{k: v for k, v in e.items() if k != "seconds"} for e in m["history"]]

    assert numbers(metrics["auto"]) == numbers(metrics["system"])
    for key in ("test_at_best_valid", "last_test", "best_valid", "best_epoch", "test_pr_auc"):
        assert metrics["auto"][key] == metrics["system"][key]
    assert (tmp_path / "auto" / "predictions.csv").read_text() == (
        tmp_path / "system" / "predictions.csv").read_text()  # fmt: skip


def test_the_launcher_decides_before_torch_or_the_commands_load():
    loaded = "('torch', 'typer', 'molpt.cli.commands')"
    code = f"import sys, molpt.cli.launcher; print([m for m in {loaded} if m in sys.modules])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
