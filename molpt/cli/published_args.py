"""Options shared by every command that takes a checkpoint: published encoder names."""

from __future__ import annotations

from pathlib import Path

import typer

CHECKPOINT_DIR_HELP = (
    "Root of published checkpoint files (default: $MOLPT_CHECKPOINTS, else ./checkpoints)."
)


def checkpoint_dir_option() -> Path | None:
    """The ``--checkpoint-dir`` option."""
    return typer.Option(None, "--checkpoint-dir", help=CHECKPOINT_DIR_HELP)


def resolve_checkpoint_arg(
    ref: str | Path | None, checkpoint_dir: Path | None, progress: bool = True
) -> Path | None:
    """A ``--checkpoint`` / ``--init`` value (file or published name) -> a molpt checkpoint.

    A published name is found under the checkpoint root or downloaded (sha256-checked), and
    imported once (cached); a file path is returned unchanged.
    """
    if ref is None:
        return None
    from molpt.published.resolve import resolve_checkpoint

    return resolve_checkpoint(ref, checkpoint_dir, progress=progress)
