"""Device selection and mixed precision."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform

import torch

from molpt.utils import is_blank


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU -> clear error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA GPU is available")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def cpu_name(cpuinfo: str = "/proc/cpuinfo") -> str:
    """This host's CPU model as the kernel names it (``/proc/cpuinfo``), else what
    ``platform`` knows (macOS, some ARM kernels); never empty, never a comma."""
    name = ""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.split(":", 1)[0].strip() == "model name":
                    name = line.split(":", 1)[1]
                    break
    except OSError:
        pass
    return _plain(name) or _plain(platform.processor() or platform.machine()) or "unknown CPU"


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """This host's CPU model and how many CPUs the process sees, e.g. ``AMD EPYC (2 CPUs)``.

    Never holds a comma: it is a cell of ``results.csv``, which scripts split on commas."""
    return f"{cpu_name(cpuinfo)} ({os.cpu_count() or '?'} CPUs)"


def _plain(name: str) -> str:
    return " ".join(name.replace(",", " ").split())


@functools.cache
def _device_name(kind: str, index: int | None) -> str:
    if kind == "cuda":
        try:
            return _plain(torch.cuda.get_device_name(index))
        except (AssertionError, RuntimeError):  # no CUDA build or no such GPU
            return "unknown GPU"
    return cpu_model()


def device_name(device: str | torch.device) -> str:
    """The hardware behind ``device``, for provenance: the GPU's name (``NVIDIA H200``) or
    the CPU's model.  Results and model cards carry it beside the bare ``cpu`` / ``cuda``,
    since fp32 numbers are reproducible per machine, not across machines."""
    dev = torch.device(device)
    return _device_name(dev.type, dev.index if dev.type == "cuda" else None)


def device_label(device: object, name: object = None) -> str:
    """``cpu on AMD EPYC (2 CPUs)``: a recorded device with its hardware's name, or the bare
    device where none was recorded (rows and sessions from before ``device_name``)."""
    return ("unknown" if is_blank(device) else str(device)) + (
        "" if is_blank(name) else f" on {name}"
    )


def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs bf16 matrix products natively (AVX512-BF16 / AMX via oneDNN)."""
    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):
        return False


def autocast(device: torch.device, enabled: bool = True, cpu: bool = False):
    """bf16 autocast on CUDA when ``enabled``; on CPU only with ``cpu=True`` and native bf16.

    Pretraining passes ``cpu=True``: its GIN matrix products are ~2.4x faster in bf16 on a
    CPU with AVX512-BF16 / AMX.  Fine-tuning keeps fp32 on CPU.
    """
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if enabled and cpu and device.type == "cpu" and cpu_has_native_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim`` (None where the C library has none: macOS, musl, Windows)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None


def release_host_memory(device: torch.device) -> bool:
    """Give the C heap's free pages back to the OS after a CPU training step.

    Fused fine-tuning allocates activations whose sizes change with every batch; glibc keeps
    freed blocks of that mixed size in its heap, so a long CPU run's resident memory grows far
    past what it uses: a bf16 group of 10 GIN 5x300 runs reached 7-9 GB within ~60 epochs
    (benchmarks/host_memory.py measures it).  Fine-tuning calls it every
    ``MOLPT_HEAP_TRIM_EVERY`` steps when that is set (off by default: the pages given back
    are faulted in again when reused, which cost time; see ``molpt.train.group``).  A no-op
    on CUDA and where glibc is absent; returns whether memory was trimmed.
    """
    if device.type != "cpu":
        return False
    trim = _malloc_trim()
    return bool(trim is not None and trim(0) >= 0)
