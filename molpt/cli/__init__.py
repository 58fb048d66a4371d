"""``molpt`` command-line interface (Typer).

``molpt.cli.app`` and ``molpt.cli.main`` are the assembled app (:mod:`molpt.cli.commands`),
loaded on first use so that the launcher (:mod:`molpt.cli.launcher`, the ``molpt`` entry
point) can decide on the allocator and re-execute before torch and the commands are imported.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("app", "main"):
        from molpt.cli import commands

        # bound here once: later lookups no longer reach this function
        globals().update(app=commands.app, main=commands.main)
        return globals()[name]
    raise AttributeError(f"module 'molpt.cli' has no attribute {name!r}")


__all__ = ["app", "main"]
