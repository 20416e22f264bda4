"""Kubeflow Pipelines commands: `teller pipeline compile|run|schedule`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from teller.commands import command
from teller.errors import TellerError

app = typer.Typer()
pipeline_app = typer.Typer(help="Kubeflow Pipelines: compile, run here or on a server, schedule.", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")


def _pipeline_arguments(params: list[str] | None) -> dict[str, Any]:
    """`--param key=value` pairs; values are read as JSON when they parse (numbers, lists, objects), else strings."""
    arguments = {}
    for item in params or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise TellerError(f"bad --param {item!r}", "--param", "write key=value, e.g. --param profile=full")
        try:
            arguments[key] = json.loads(value)
        except json.JSONDecodeError:
            arguments[key] = value
    return arguments


ParamOption = Annotated[
    list[str] | None, typer.Option("--param", help="Pipeline parameter key=value (JSON values allowed); repeatable.")
]


@pipeline_app.command("compile")
@command
def pipeline_compile(
    name: Annotated[str, typer.Argument(help="train_eval, kb_index, sweep or retrain_from_feedback.")],
    output: Annotated[Path | None, typer.Option(help="IR YAML to write (default: NAME.yaml).")] = None,
) -> None:
    """Write a pipeline's IR YAML, ready to upload to a KFP server."""
    from pipelines.runner import compile_pipeline

    typer.echo(f"{name} -> {compile_pipeline(name, output or Path(f'{name}.yaml'))}")


@pipeline_app.command("run")
@command
def pipeline_run(
    name: Annotated[str, typer.Argument(help="train_eval, kb_index, sweep or retrain_from_feedback.")],
    local: Annotated[bool, typer.Option("--local", help="Run here with KFP's subprocess runner.")] = False,
    host: Annotated[str | None, typer.Option(help="KFP server URL to submit to.")] = None,
    param: ParamOption = None,
    namespace: Annotated[str | None, typer.Option(help="Kubernetes namespace (default from settings).")] = None,
    experiment: Annotated[str | None, typer.Option(help="KFP experiment (default from settings).")] = None,
    run_name: Annotated[str | None, typer.Option(help="Name of the run on the server.")] = None,
) -> None:
    """Run a pipeline locally (--local) or submit it to a KFP server (--host URL)."""
    from pipelines import runner

    if local == (host is not None):
        raise TellerError("choose where to run", "--local / --host", "give exactly one of --local or --host URL")
    arguments = _pipeline_arguments(param)
    if local:
        outputs = runner.run_local(name, arguments)
        typer.echo(json.dumps(outputs, default=str))
    else:
        run_id = runner.submit(name, host, arguments, run_name, namespace, experiment)
        typer.echo(f"submitted {name} to {host}: run {run_id}")


@pipeline_app.command("schedule")
@command
def pipeline_schedule(
    name: Annotated[str, typer.Argument(help="Usually retrain_from_feedback.")],
    host: Annotated[str, typer.Option(help="KFP server URL.")],
    cron: Annotated[str, typer.Option(help="KFP cron with seconds; '0 0 3 * * 1' = Mondays 03:00.")] = "0 0 3 * * 1",
    param: ParamOption = None,
    namespace: Annotated[str | None, typer.Option(help="Kubernetes namespace (default from settings).")] = None,
    experiment: Annotated[str | None, typer.Option(help="KFP experiment (default from settings).")] = None,
) -> None:
    """Create a recurring run on a KFP server (the weekly champion/challenger retraining)."""
    from pipelines.runner import schedule

    job = schedule(name, host, cron, _pipeline_arguments(param), namespace, experiment)
    typer.echo(f"scheduled {name} on {host} ({cron}): recurring run {job}")
