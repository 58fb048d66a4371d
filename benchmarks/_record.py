"""Print a measured markdown section and, with ``--record FILE``, append it to that file."""

from __future__ import annotations

from pathlib import Path


def emit(text: str, record: Path | None) -> None:
    """Print ``text``; append it (after a blank line) to ``record`` when one is given."""
    print(text)
    if record:
        with record.open("a") as fh:
            fh.write("\n" + text)
        print(f"appended to {record}")
