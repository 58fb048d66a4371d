"""The ``molpt`` command's entry point: pick the C heap allocator, then run the CLI.

An allocator has to be chosen before the process starts (``LD_PRELOAD``), so the ``molpt``
command re-executes itself once for the training commands (``pretrain``, ``finetune``,
``benchmark``) when a better allocator is installed and not yet loaded (why it matters:
:mod:`molpt.allocator`).  ``MOLPT_ALLOCATOR`` selects it: ``auto`` (default: jemalloc, else
tcmalloc, else the C library's), ``jemalloc``, ``tcmalloc`` (an error if not installed), or
``system`` (never re-execute).  On Debian/Ubuntu: ``apt install libjemalloc2``; with conda:
``conda install jemalloc``.  Code that imports molpt chooses for itself, e.g.
``LD_PRELOAD=/path/libjemalloc.so.2``.

This module imports only the standard library and :mod:`molpt.allocator` (which does too): it
runs before torch is loaded, and ``molpt.cli``'s package file loads the Typer app only when
:func:`main` asks for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence

from molpt.allocator import find_library, loaded_allocator, search_dirs

ENV = "MOLPT_ALLOCATOR"
#: set by the launcher in the re-executed process; prevents a second re-execution
LAUNCHED_ENV = "MOLPT_ALLOCATOR_LAUNCHED"
CHOICES = ("auto", "jemalloc", "tcmalloc", "system")
TRAINING_COMMANDS = frozenset({"pretrain", "finetune", "benchmark"})

#: the settings each allocator runs with
_SETTINGS: dict[str, dict[str, str]] = {
    # decay off: freed pages stay mapped and are reused; with jemalloc's default 10 s decay a
    # fused group spent ~40% of its time in the kernel faulting returned pages back in
    "jemalloc": {"MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1"},
    # gperftools prints a line for every allocation above 1 GB unless told otherwise
    "tcmalloc": {"TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": str(1 << 40)},
}


class AllocatorError(RuntimeError):
    """An allocator was requested that this machine cannot provide."""


def plan(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    platform: str = sys.platform,
    find: Callable[[str], str | None] = find_library,
    loaded: Callable[[], str] = loaded_allocator,
) -> tuple[str, dict[str, str]] | None:
    """Whether to re-execute ``molpt ARGV`` under another allocator.

    Returns ``(allocator, environment)`` for the new process, or None to go on in this one.
    Raises :class:`AllocatorError` for an unknown setting or a requested allocator that is
    not installed.
    """
    setting = environ.get(ENV, "auto").strip().lower() or "auto"
    if setting not in CHOICES:
        raise AllocatorError(f"{ENV}={setting!r}: use one of {', '.join(CHOICES)}")
    command = next((a for a in argv if not a.startswith("-")), None)
    if setting == "system" or command not in TRAINING_COMMANDS:
        return None
    if not platform.startswith("linux") or environ.get(LAUNCHED_ENV):
        return None
    wanted = ("jemalloc", "tcmalloc") if setting == "auto" else (setting,)
    if loaded() in wanted:
        return None
    for name in wanted:
        path = find(name)
        if path is None:
            continue
        env = dict(environ)
        preload = env.get("LD_PRELOAD", "").strip()
        env["LD_PRELOAD"] = f"{path}:{preload}" if preload else path
        for key, value in _SETTINGS[name].items():
            env.setdefault(key, value)
        env[LAUNCHED_ENV] = name
        return name, env
    if setting != "auto":
        hint = "apt install libjemalloc2" if setting == "jemalloc" else (
            "apt install libtcmalloc-minimal4")  # fmt: skip
        raise AllocatorError(
            f"{ENV}={setting}: no lib{setting} found in {', '.join(map(str, search_dirs()))} "
            f"({hint}, or {ENV}=auto)"
        )
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``molpt`` command: pick the allocator, then run the CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    launched = os.environ.get(LAUNCHED_ENV)
    if launched and loaded_allocator() != launched:  # LD_PRELOAD failed; ld.so said why
        print(f"warning: {launched} did not load; training with the C library's allocator "
              f"({ENV}=system silences this)", file=sys.stderr)  # fmt: skip
    try:
        decision = plan(args, os.environ)
    except AllocatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if decision is not None:
        _, env = decision
        sys.stdout.flush()
        sys.stderr.flush()
        # -P: the working folder is not put on sys.path, so a folder named molpt there (a
        # clone of this repository, say) cannot shadow the installed package
        os.execve(sys.executable, [sys.executable, "-P", "-m", "molpt", *args], env)
    from molpt.cli.commands import main as cli_main

    cli_main()
