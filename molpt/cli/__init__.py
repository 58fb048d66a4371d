"""``molpt`` command-line interface (Typer).

Each command module registers its commands on the shared ``app`` when imported.
"""

# isort: off
from molpt.cli.app import app

# command modules: import order = order in --help
from molpt.cli import data_cmds  # noqa: F401,E402
from molpt.cli import pretrain_cmd  # noqa: F401,E402
from molpt.cli import finetune_cmds  # noqa: F401,E402
from molpt.cli import embed_cmd  # noqa: F401,E402
from molpt.cli import predict_cmd  # noqa: F401,E402
from molpt.cli import checkpoints_cmds  # noqa: F401,E402

# isort: on


def main() -> None:
    app()


__all__ = ["app", "main"]
