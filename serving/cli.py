"""The serving platform's commands: `teller serve`, `openapi`, `feedback export`, `rollout`, `deploy`, `intake`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from teller.commands import command
from teller.errors import TellerError

if TYPE_CHECKING:
    from serving.rollout import Rollout

app = typer.Typer()
feedback_app = typer.Typer(help="Agents' corrections of triage decisions.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")
rollout_app = typer.Typer(help="KServe canary rollouts of the Teller InferenceService.", no_args_is_help=True)
app.add_typer(rollout_app, name="rollout")
deploy_app = typer.Typer(help="Alternate serving backends.", no_args_is_help=True)
app.add_typer(deploy_app, name="deploy")
intake_app = typer.Typer(
    help="Consume complaints from a stream (Redis Streams, Kinesis): triage, store, then acknowledge; "
    "`teller intake send FILE` puts records on it."
)
app.add_typer(intake_app, name="intake")


@app.command()
@command
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
) -> None:
    """Serve chat and complaint triage with Ray Serve on local Ray until interrupted."""
    import signal
    import time

    from serving.app import run

    url, token = run(host, port)
    typer.echo(f"Teller is serving at {url} (API docs {url}/docs); Ctrl+C stops it")
    typer.echo(f"Agent console token: {token} (set TELLER_SERVE__AGENT_TOKEN to choose your own)")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a container's stop signal shuts down like Ctrl+C
    while True:
        time.sleep(3600)


@app.command()
@command
def openapi(
    out: Annotated[Path | None, typer.Option(help="File to write; default: print to stdout.")] = None,
) -> None:
    """Write the HTTP API's OpenAPI spec (the web client's types are generated from it)."""
    import json

    from serving.gateway import openapi_spec

    text = json.dumps(openapi_spec(), indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    typer.echo(f"OpenAPI spec -> {out}")


@feedback_app.command("export")
@command
def feedback_export(
    out: Annotated[Path, typer.Option(help="CSV to write (CFPB export format, readable by `teller train`).")],
) -> None:
    """Write agents' corrections as a CFPB-format CSV for retraining."""
    from teller.feedback import export_feedback
    from teller.settings import get_settings
    from teller.store import Store

    rows = export_feedback(Store(get_settings().database_url), out)
    typer.echo(f"{rows} corrected complaints -> {out}")


ReleaseOption = Annotated[str, typer.Option("--release", help="InferenceService name (the Helm release).")]
NamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="Kubernetes namespace.")]


def _rollout(release: str, namespace: str) -> Rollout:
    """The release's rollout controller (tests replace it with one over a recording Kubernetes API)."""
    from serving.rollout import Rollout

    return Rollout(release, namespace)


def _echo_split(rollout: Rollout) -> None:
    split = rollout.status()
    typer.echo(split.model_dump_json(indent=2))


@rollout_app.command("status")
@command
def rollout_status(release: ReleaseOption = "teller", namespace: NamespaceOption = "teller") -> None:
    """Print the release in the spec, the canary percent and the live traffic split per revision."""
    _echo_split(_rollout(release, namespace))


@rollout_app.command("canary")
@command
def rollout_canary(
    version: Annotated[str, typer.Option(help="Release (bundle version) the canary serves.")],
    percent: Annotated[int, typer.Option(help="Share of traffic for the canary, 1-99.")] = 10,
    release: ReleaseOption = "teller",
    namespace: NamespaceOption = "teller",
) -> None:
    """Start a canary: `percent` of traffic to `version`, the rest stays on the current revision."""
    rollout = _rollout(release, namespace)
    rollout.canary(version, percent)
    _echo_split(rollout)


@rollout_app.command("promote")
@command
def rollout_promote(release: ReleaseOption = "teller", namespace: NamespaceOption = "teller") -> None:
    """Send all traffic to the canary's release."""
    rollout = _rollout(release, namespace)
    rollout.promote()
    _echo_split(rollout)


@rollout_app.command("rollback")
@command
def rollout_rollback(release: ReleaseOption = "teller", namespace: NamespaceOption = "teller") -> None:
    """Send all traffic back to the last fully rolled-out revision."""
    rollout = _rollout(release, namespace)
    rollout.rollback()
    _echo_split(rollout)


@deploy_app.command("sagemaker")
@command
def deploy_sagemaker(
    endpoint: Annotated[str, typer.Option(help="Endpoint name.")],
    version: Annotated[str, typer.Option(help="Release version (names the model and endpoint config).")],
    image: Annotated[str, typer.Option(help="ECR URI of the serving image.")],
    model_data: Annotated[str, typer.Option(help="s3:// URI of model.tar.gz holding bundle/ and kb/.")],
    role_arn: Annotated[str, typer.Option(help="SageMaker execution role ARN.")],
    instance_type: Annotated[str, typer.Option(help="Instance type.")] = "ml.m5.xlarge",
    instance_count: Annotated[int, typer.Option(help="Instances.")] = 1,
    canary_percent: Annotated[int, typer.Option(help="Capacity share the new release gets first (100: all).")] = 10,
    canary_wait_s: Annotated[int, typer.Option(help="Seconds the canary runs before the rest shifts.")] = 600,
    alarm: Annotated[list[str] | None, typer.Option(help="CloudWatch alarm that rolls back (repeatable).")] = None,
) -> None:
    """Create or update a SageMaker endpoint with the serving image (blue/green canary on update)."""
    from pydantic import ValidationError

    from serving.sagemaker import EndpointSpec, deploy

    try:
        spec = EndpointSpec(
            endpoint=endpoint,
            version=version,
            image=image,
            model_data=model_data,
            role_arn=role_arn,
            instance_type=instance_type,
            instance_count=instance_count,
            canary_percent=canary_percent,
            canary_wait_s=canary_wait_s,
            rollback_alarms=alarm or [],
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise TellerError(problem["msg"], "--" + str(problem["loc"][0]).replace("_", "-")) from exc
    typer.echo(f"endpoint {endpoint}: {deploy(spec)} with release {version}")


@intake_app.callback(invoke_without_command=True)
@command
def intake(
    ctx: typer.Context,
    backend: Annotated[str | None, typer.Option(help="redis (default), kinesis or kafka.")] = None,
    stream: Annotated[str | None, typer.Option(help="Stream to read or send to (default teller:complaints).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Most records per poll (default 32).")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Prometheus metrics port (default 9400; 0: none).")] = None,
    bundle: Annotated[Path | None, typer.Option(help="Model bundle (default: the one `teller serve` serves).")] = None,
) -> None:
    """Triage complaints from the stream until SIGTERM or Ctrl+C (the batch in flight is finished and acked)."""
    from pydantic import ValidationError

    from teller.settings import IntakeSettings, get_settings

    given = {"backend": backend, "stream": stream, "batch_size": batch_size, "metrics_port": metrics_port}
    try:
        settings = IntakeSettings.model_validate(
            get_settings().intake.model_dump() | {k: v for k, v in given.items() if v is not None}
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise TellerError(problem["msg"], "--" + str(problem["loc"][0]).replace("_", "-")) from exc
    ctx.obj = settings
    if ctx.invoked_subcommand is not None:
        return
    from serving.intake.consumer import run_intake
    from serving.intake.streams import open_stream
    from serving.service import triage_service

    source = open_stream(settings)  # first: a wrong stream setting fails before the model loads
    run_intake(settings, triage_service(bundle), source)


@intake_app.command("send")
@command
def intake_send(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help=".jsonl of complaint records (sent as they are) or a CFPB .csv(.gz).")],
    limit: Annotated[int | None, typer.Option(min=1, help="Send at most this many records.")] = None,
) -> None:
    """Put complaint records on the stream (`teller intake --stream S send FILE` for another stream)."""
    from serving.intake.producer import file_records
    from serving.intake.streams import open_stream

    records = file_records(file, limit)
    stream = open_stream(ctx.obj)
    try:
        stream.put(records)
    finally:
        stream.close()
    typer.echo(f"{len(records)} records -> {ctx.obj.backend} stream {ctx.obj.stream}")
