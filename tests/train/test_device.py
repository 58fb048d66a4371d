"""Which hardware made a number: ``device_name`` beside the bare ``cpu`` / ``cuda``."""

import os

import pandas as pd
import torch

from molpt.benchmark.report import device_labels, device_rows
from molpt.train.device import cpu_model, device_name

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC   9B14, 96-Core Processor
flags\t\t: fpu vme

processor\t: 1
model name\t: AMD EPYC   9B14 96-Core Processor
"""


def test_cpu_model_reads_the_first_model_name(tmp_path):
    p = tmp_path / "cpuinfo"
    p.write_text(CPUINFO)
    # spaces squeezed, and no comma: the name is a cell of results.csv
    assert cpu_model(str(p)) == f"AMD EPYC 9B14 96-Core Processor ({os.cpu_count()} CPUs)"
    # no /proc/cpuinfo (macOS) or no model name (some ARM kernels): still a name, never an error
    for other in ("missing", "arm"):
        if other == "arm":
            (tmp_path / "arm").write_text("processor\t: 0\nBogoMIPS\t: 50.00\n")
        got = cpu_model(str(tmp_path / other))
        assert got.endswith(f" ({os.cpu_count()} CPUs)") and len(got) > len(" (2 CPUs)")
        assert "," not in got


def test_device_name_is_this_cpu_or_the_gpu():
    assert device_name("cpu") == device_name(torch.device("cpu")) == cpu_model()
    gpu = device_name("cuda")
    if torch.cuda.is_available():
        assert gpu == torch.cuda.get_device_name(0)
    else:  # a CPU-only torch: provenance degrades to a plain word, not a crash
        assert gpu == "unknown GPU"


def test_rows_from_before_the_column_keep_the_bare_device():
    """A study folder whose early rows predate ``device_name`` (results.csv keeps its
    header) and whose later rows carry it: the report counts them apart."""
    frame = pd.DataFrame({
        "device": ["cpu", "cpu", "cpu", "cuda:0"],
        "device_name": [float("nan"), "", "AMD EPYC (2 CPUs)", "NVIDIA H200"],
        "git_commit": ["a" * 40] * 4, "molpt_version": ["0.1.0"] * 4,
        "timestamp": ["2026-11-30T00:00:00+00:00"] * 4, "precision": ["fp32"] * 3 + ["bf16"],
        "seconds": [1.0] * 4, "method": ["none"] * 4,
    })  # fmt: skip
    named = ["cpu on AMD EPYC (2 CPUs)", "cuda:0 on NVIDIA H200"]
    assert device_labels(frame) == ["cpu", "cpu", *named]
    assert device_labels(frame.drop(columns="device_name")) == ["cpu"] * 3 + ["cuda:0"]
    got = {d["device"]: d["rows"] for d in device_rows(frame)}
    assert got == {"cpu": 2, "cpu on AMD EPYC (2 CPUs)": 1, "cuda:0 on NVIDIA H200": 1}
