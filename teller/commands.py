"""What every package's CLI commands share: logging set-up and user-facing error handling."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from teller.errors import TellerError

F = TypeVar("F", bound=Callable[..., Any])

_QUIET = (
    "presidio-analyzer",
    "presidio_analyzer",
    "tldextract",
    "alembic",
    "mlflow",
    "urllib3",
    "httpx",
    "onnxruntime",
    "root",
)


def setup_logging() -> None:
    """INFO to stderr, with the chattiest libraries held to errors, so stdout stays the command's result."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def command(func: F) -> F:
    """Run a command with user-facing errors: a TellerError prints what/where/fix, never a stack trace."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        setup_logging()
        try:
            return func(*args, **kwargs)
        except TellerError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("TELLER_DEBUG"):
                raise
            typer.echo(f"error: unexpected {type(exc).__name__}: {exc}\n(set TELLER_DEBUG=1 for details)", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
