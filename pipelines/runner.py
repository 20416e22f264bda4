"""Compile, run locally, submit and schedule the pipelines: the `teller pipeline` commands."""

from __future__ import annotations

import tempfile
from pathlib import Path

from teller.errors import TellerError
from teller.settings import get_settings


def pipeline(name: str):
    """The pipeline function called `name`, or a clear error listing the known ones."""
    from pipelines.definitions import PIPELINES

    if name not in PIPELINES:
        raise TellerError(f"no pipeline {name!r}", None, f"use one of {', '.join(PIPELINES)}")
    return PIPELINES[name]


def compile_pipeline(name: str, output: Path) -> Path:
    """Write the pipeline's IR YAML (what a KFP server runs)."""
    from kfp import compiler

    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline(name), package_path=str(output))
    return output


def run_local(name: str, arguments: dict) -> dict:
    """Run the pipeline on this machine with KFP's subprocess runner (no Docker); returns its outputs."""
    from kfp import local

    func = pipeline(name)
    root = get_settings().pipelines.local_root or get_settings().data_dir / "pipelines"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    try:
        result = func(**arguments)
    except RuntimeError as exc:
        raise TellerError(f"pipeline {name} failed: {exc}", str(root), "read the failed task's log above") from None
    outputs = getattr(result, "outputs", None)
    if isinstance(outputs, dict):
        return dict(outputs)
    return {"Output": outputs if outputs is not None else result}


def _client(host: str, namespace: str | None):
    import kfp

    return kfp.Client(host=host, namespace=namespace or get_settings().pipelines.namespace)


def submit(
    name: str,
    host: str,
    arguments: dict,
    run_name: str | None = None,
    namespace: str | None = None,
    experiment: str | None = None,
) -> str:
    """Submit one run to a KFP server; returns its run id."""
    settings = get_settings().pipelines
    client = _client(host, namespace)
    run = client.create_run_from_pipeline_func(
        pipeline(name),
        arguments=arguments,
        run_name=run_name or f"teller-{name}",
        experiment_name=experiment or settings.experiment,
        namespace=namespace or settings.namespace,
    )
    return run.run_id


def schedule(
    name: str, host: str, cron: str, arguments: dict, namespace: str | None = None, experiment: str | None = None
) -> str:
    """Create a recurring run (e.g. weekly retraining: cron '0 0 3 * * 1'); returns its id."""
    settings = get_settings().pipelines
    client = _client(host, namespace)
    found = client.create_experiment(experiment or settings.experiment, namespace=namespace or settings.namespace)
    with tempfile.TemporaryDirectory() as scratch:
        package = compile_pipeline(name, Path(scratch) / f"{name}.yaml")
        job = client.create_recurring_run(
            experiment_id=found.experiment_id,
            job_name=f"teller-{name}-scheduled",
            cron_expression=cron,
            max_concurrency=1,
            no_catchup=True,
            params=arguments,
            pipeline_package_path=str(package),
        )
    return job.recurring_run_id
