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


_MASK_TEXT = "text"  # the hidden subcommand behind `teller mask TEXT`


class _MaskGroup(TyperGroup):
    """`teller mask TEXT` masks a text; `teller mask eval` scores the masker. A first word that names no
    subcommand is the text (so `teller mask "Call me"` works as it always did)."""

    def resolve_command(self, ctx, args: list[str]):
        if args and (args[0] not in self.commands or args[0] == _MASK_TEXT):
            return _MASK_TEXT, self.commands[_MASK_TEXT], args
        return super().resolve_command(ctx, args)


mask_app = typer.Typer(
    cls=_MaskGroup,
    name="mask",
    subcommand_metavar="TEXT | eval [OPTIONS]",
    help="Mask PII in TEXT ('-' reads standard input) with the function training and serving use; "
    "`teller mask eval` scores it.",
    no_args_is_help=True,
)
app.add_typer(mask_app)


@mask_app.command(_MASK_TEXT, hidden=True)
@command
def mask(text: Annotated[str, typer.Argument(help="Text to mask; '-' reads standard input.")]) -> None:
    """Mask PII in a text with the same function training and serving use."""
    from teller.masking import Masker

    source = sys.stdin.read() if text == "-" else text
    typer.echo(Masker().mask(source).text)


@mask_app.command("eval")
@command
def mask_eval(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    limit: Annotated[int, typer.Option(min=0, help="Score only the first N examples (0: all).")] = 0,
    narratives: Annotated[int, typer.Option(min=0, help="Also time both maskers on N CFPB narratives.")] = 0,
) -> None:
    """Precision and recall per entity on the seeded PII set, and speed, for Teller's masker and Presidio's defaults."""
    import json

    from teller.pii.bench import cfpb_narratives
    from teller.pii.evalset import load
    from teller.pii.evaluate import evaluate, format_report
    from teller.settings import get_settings

    examples = load()[: limit or None]
    cfpb = get_settings().shared_data_dir / "cfpb" / "complaints.csv.gz"
    texts = cfpb_narratives(cfpb, narratives) if narratives else []
    report = evaluate(examples, narratives=texts, progress=lambda msg: typer.echo(msg, err=True))
    typer.echo(json.dumps(report, indent=2) if as_json else format_report(report))


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
