"""The root command: `teller mask`, every package's commands merged from entry points, one error contract."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import typer
from typer.testing import CliRunner

from teller.cli import ENTRY_POINT_GROUP, add_commands, app, command_entry_points
from teller.commands import command
from teller.errors import TellerError

runner = CliRunner()

COMMANDS = {
    "mask": None,
    "train": None,
    "baselines": None,
    "evaluate": None,
    "tune": None,
    "bench": None,
    "predict": None,
    "labels": {"propose", "accept", "discover", "evaluate"},
    "registry": {"list", "promote"},
    "kb": {"build", "ask", "eval", "bench"},
    "serve": None,
    "intake": {"send"},
    "openapi": None,
    "feedback": {"export"},
    "rollout": {"status", "canary", "promote", "rollback"},
    "deploy": {"sagemaker"},
    "pipeline": {"compile", "run", "schedule"},
}

extra = typer.Typer()


@extra.command()
@command
def hello(name: str = "agent") -> None:
    """Say hello (a command an extra package adds)."""
    typer.echo(f"hello {name}")


@extra.command()
@command
def fail(kind: str) -> None:
    """Fail the way a command can."""
    if kind == "teller":
        raise TellerError("the bundle is incomplete", "var/bundles/x", "re-export it")
    if kind == "interrupt":
        raise KeyboardInterrupt
    raise ValueError("a bug")


def _root() -> typer.Typer:
    return typer.Typer(no_args_is_help=True)


def _entry(value: str) -> EntryPoint:
    return EntryPoint(name=value.split(":")[0], value=value, group=ENTRY_POINT_GROUP)


def test_each_package_declares_its_commands_as_an_entry_point():
    found = {e.name: e.value for e in command_entry_points()}
    assert found == {
        "training": "training.cli:app",
        "rag": "rag.cli:app",
        "serving": "serving.cli:app",
        "pipelines": "pipelines.cli:app",
    }, "entry points are registered at install time: run `pip install --no-deps -e .` (make install does)"


def test_the_root_command_offers_every_command_and_group():
    group = typer.main.get_command(app)
    assert set(group.commands) == set(COMMANDS)
    for name, subcommands in COMMANDS.items():
        if subcommands is not None:
            assert set(group.commands[name].commands) == subcommands, name
    listed = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0
    assert [n for n in sorted(COMMANDS) if f" {n} " in listed.output] == sorted(COMMANDS)


def test_an_extra_package_adds_commands_and_a_broken_one_is_reported(capsys):
    root = _root()
    add_commands(root, [_entry("no_such_package.cli:app"), _entry("tests.teller.test_cli:extra")])
    assert "commands from no_such_package.cli:app not loaded" in capsys.readouterr().err
    result = runner.invoke(root, ["hello", "--name", "Ada"])
    assert result.exit_code == 0 and result.stdout == "hello Ada\n"


def test_errors_exit_with_what_where_and_fix_and_no_traceback():
    root = _root()
    add_commands(root, [_entry("tests.teller.test_cli:extra")])
    user = runner.invoke(root, ["fail", "teller"])
    assert user.exit_code == 2
    assert user.stderr == "error: var/bundles/x: the bundle is incomplete\nFix: re-export it\n"
    bug = runner.invoke(root, ["fail", "bug"])
    assert bug.exit_code == 1 and "error: unexpected ValueError: a bug" in bug.stderr
    assert "Traceback" not in user.output + bug.output
    interrupted = runner.invoke(root, ["fail", "interrupt"])
    assert interrupted.exit_code == 130 and "interrupted" in interrupted.stderr


def test_mask_prints_the_masked_text():
    result = runner.invoke(app, ["mask", "Call Jonathan Whitfield on 212-555-0143."])
    assert result.exit_code == 0, result.output
    assert "212-555-0143" not in result.stdout and "<PHONE_NUMBER>" in result.stdout
