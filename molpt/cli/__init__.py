"""``molpt`` command-line interface (Typer).

Each command module registers its commands on the shared ``app`` when imported.
"""

from molpt.cli.app import app

# command modules (import order = order in --help)


def main() -> None:
    app()


__all__ = ["app", "main"]
