"""The Typer application object shared by every command module."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import typer

app = typer.Typer(
    name="molpt",
    help="Molecular GNN pretraining and benchmarking: featurize, pretrain, fine-tune, "
    "benchmark, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class UserError(Exception):
    """A mistake in the user's input: shown as one line, exit code 2, no traceback."""


# Exceptions that, when they escape a command, are user mistakes rather than bugs.
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    FileNotFoundError,
    KeyError,
    ValueError,
    OSError,  # read-only or full disk, a file where a folder belongs, ...: see os_error_line
    EOFError,  # a truncated file (click would print only "Aborted.")
)


def os_error_line(exc: OSError) -> str:
    """``PATH: cause (ERRNO)`` for an OS error; its own message when it has no path."""
    if exc.filename is None or exc.strerror is None:
        return str(exc)
    import errno as _errno

    code = _errno.errorcode.get(exc.errno or 0, "")
    path = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    return f"{path}: {exc.strerror}" + (f" ({code})" if code else "")


def one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user mistakes escaping ``fn`` into ``error: ...`` on stderr and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            if isinstance(exc, KeyError) and exc.args:
                msg = exc.args[0]
            elif isinstance(exc, OSError):
                msg = os_error_line(exc)
            elif isinstance(exc, EOFError):
                msg = f"unexpected end of file: {exc}" if str(exc) else "unexpected end of file"
            else:
                msg = exc
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(2) from None

    return wrapper


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
