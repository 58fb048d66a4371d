"""The assembled ``molpt`` Typer app: each command module registers its commands on the
shared ``app`` (:mod:`molpt.cli.typer_app`) when imported; the import order is the order in
``--help``."""

# isort: off
from molpt.cli.typer_app import app

from molpt.cli import data_cmds  # noqa: F401,E402
from molpt.cli import pretrain_cmd  # noqa: F401,E402
from molpt.cli import finetune_cmds  # noqa: F401,E402
from molpt.cli import embed_cmd  # noqa: F401,E402
from molpt.cli import predict_cmd  # noqa: F401,E402
from molpt.cli import probe_cmd  # noqa: F401,E402
from molpt.cli import checkpoints_cmds  # noqa: F401,E402

# isort: on


def main() -> None:
    """Run the command line (without the allocator launcher: see :mod:`molpt.cli.launcher`)."""
    app()


__all__ = ["app", "main"]
