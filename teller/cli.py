"""The `teller` command line: `teller mask` plus the commands each package registers under `teller.commands`.

Packages declare a Typer app as an entry point in that group (see pyproject.toml), so this bottom layer imports
none of them and an extra installed package can add its own commands.
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points
from typing import Annotated

import typer
from typer.core import TyperGroup

from teller.commands import command

ENTRY_POINT_GROUP = "teller.commands"


class _AlphabeticalGroup(TyperGroup):
    """Lists commands by name, so `teller --help` reads the same whichever packages added them, in any order."""

    def list_commands(self, ctx) -> list[str]:
        return sorted(self.commands)


app = typer.Typer(
    cls=_AlphabeticalGroup,
    help="Teller: complaint triage and CSR chat models for a retail bank.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.command()
@command
def mask(text: Annotated[str, typer.Argument(help="Text to mask; '-' reads standard input.")]) -> None:
    """Mask PII in a text with the same function training and serving use."""
    from teller.masking import Masker

    source = sys.stdin.read() if text == "-" else text
    typer.echo(Masker().mask(source).text)


def command_entry_points() -> list[EntryPoint]:
    """The installed packages' command groups, in the order they were declared."""
    return list(entry_points(group=ENTRY_POINT_GROUP))


def add_commands(root: typer.Typer, found: list[EntryPoint]) -> None:
    """Merge each entry point's Typer app into `root`; one that fails to load is reported, not fatal."""
    for entry in found:
        try:
            commands = entry.load()
        except Exception as exc:  # a broken extra package must not take `teller mask` or the others down
            typer.echo(f"warning: commands from {entry.value} not loaded: {type(exc).__name__}: {exc}", err=True)
            continue
        if not isinstance(commands, typer.Typer):
            typer.echo(f"warning: {entry.value} is not a Typer app; its commands are not loaded", err=True)
            continue
        root.add_typer(commands)


add_commands(app, command_entry_points())


def main() -> None:  # pragma: no cover - console entry
    app()
