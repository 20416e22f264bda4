"""Every pipeline compiles to KFP IR with the right steps, parameters, image and resources; submission and
scheduling make the exact kfp.Client calls (no KFP server runs here, so a recording client stands in)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
import yaml
from typer.testing import CliRunner

from pipelines.definitions import PIPELINES
from pipelines.runner import compile_pipeline
from teller.cli import app
from teller.settings import get_settings

TRAIN_EVAL = {
    *("validate-data", "prepare-data", "train-model"),
    *("evaluate-and-export", "register-challenger", "gate-champion"),
}
STEPS = {
    "train_eval": TRAIN_EVAL,
    "retrain_from_feedback": TRAIN_EVAL | {"export-corrections"},
    "kb_index": {"build-kb", "evaluate-kb", "publish-kb"},
    "sweep": TRAIN_EVAL | {"for-loop-1", "pick-best"},
}


def compiled(name: str, tmp_path) -> dict:
    return yaml.safe_load(compile_pipeline(name, tmp_path / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", list(PIPELINES))
def test_pipeline_compiles_with_its_steps_on_one_image(name, tmp_path):
    ir = compiled(name, tmp_path)
    assert set(ir["root"]["dag"]["tasks"]) == STEPS[name]
    executors = ir["deploymentSpec"]["executors"].values()
    assert {e["container"]["image"] for e in executors} == {get_settings().pipelines.image}
    for executor in executors:  # every step declares what it needs and installs nothing when it starts
        resources = executor["container"]["resources"]
        assert resources["resourceCpuRequest"] and resources["resourceMemoryLimit"]
        assert "pip install" not in " ".join(executor["container"]["command"])


def test_train_eval_parameters_outputs_and_gpu_request(tmp_path):
    ir = compiled("train_eval", tmp_path)
    params = ir["root"]["inputDefinitions"]["parameters"]
    assert {k: v.get("defaultValue") for k, v in params.items()} == {
        "profile": "quick",
        "overrides": {},
        "gpus": 0.0,
        "margin": 0.005,
        "tracking_uri": "",
    }
    assert set(ir["root"]["outputDefinitions"]["parameters"]) == {"version", "registered_version", "promoted", "reason"}
    train = ir["deploymentSpec"]["executors"]["exec-train-model"]["container"]["resources"]
    size = get_settings().pipelines.resources["train"]
    assert (train["resourceCpuLimit"], train["resourceMemoryLimit"]) == (size.cpu, size.memory)
    assert train["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert "pipelinechannel--gpus" in train["accelerator"]["resourceCount"]  # the GPU count is a run parameter
    validate = ir["deploymentSpec"]["executors"]["exec-validate-data"]["container"]["resources"]
    assert "accelerator" not in validate


def test_sweep_fans_out_over_the_trials(tmp_path):
    ir = compiled("sweep", tmp_path)
    loop = ir["root"]["dag"]["tasks"]["for-loop-1"]
    assert loop["parameterIterator"]["items"]["inputParameter"] == "pipelinechannel--trials"
    assert loop["iteratorPolicy"]["parallelismLimit"] == 2
    trials = ir["root"]["inputDefinitions"]["parameters"]["trials"]["defaultValue"]
    assert {tuple(sorted(t)) for t in trials} == {("balance", "epochs", "lr", "max_length")}


class RecordingClient:
    """Stands in for kfp.Client: records each call with its arguments."""

    calls: ClassVar[list[tuple[str, dict]]] = []

    def __init__(self, **kwargs):
        self.calls.append(("Client", kwargs))

    def create_run_from_pipeline_func(self, func, **kwargs):
        self.calls.append(("create_run_from_pipeline_func", {"pipeline": func.name, **kwargs}))
        return SimpleNamespace(run_id="run-123")

    def create_experiment(self, name, **kwargs):
        self.calls.append(("create_experiment", {"name": name, **kwargs}))
        return SimpleNamespace(experiment_id="exp-9")

    def create_recurring_run(self, **kwargs):
        ir = yaml.safe_load(Path(kwargs["pipeline_package_path"]).read_text())
        self.calls.append(("create_recurring_run", {**kwargs, "pipeline_package_path": ir["pipelineInfo"]["name"]}))
        return SimpleNamespace(recurring_run_id="rec-1")


@pytest.fixture
def kfp_client(monkeypatch):
    import kfp

    RecordingClient.calls = []
    monkeypatch.setattr(kfp, "Client", RecordingClient)
    return RecordingClient.calls


def test_run_on_a_server_submits_with_namespace_experiment_and_parameters(kfp_client):
    result = CliRunner().invoke(
        app,
        [
            "pipeline",
            "run",
            "train_eval",
            "--host",
            "http://kfp.example:8888",
            "--param",
            "profile=full",
            "--param",
            "gpus=1",
            "--param",
            'overrides={"epochs": 4}',
            "--run-name",
            "weekly",
            "--namespace",
            "ml",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "run run-123" in result.output
    assert kfp_client == [
        ("Client", {"host": "http://kfp.example:8888", "namespace": "ml"}),
        (
            "create_run_from_pipeline_func",
            {
                "pipeline": "teller-train-eval",
                "arguments": {"profile": "full", "gpus": 1, "overrides": {"epochs": 4}},
                "run_name": "weekly",
                "experiment_name": "teller",
                "namespace": "ml",
            },
        ),
    ]


def test_schedule_creates_a_weekly_recurring_run(kfp_client):
    result = CliRunner().invoke(
        app,
        [
            "pipeline",
            "schedule",
            "retrain_from_feedback",
            "--host",
            "http://kfp.example:8888",
            "--param",
            "database_url=postgresql://teller@db/teller",
        ],
    )
    assert result.exit_code == 0, result.output
    name, call = kfp_client[-1]
    assert name == "create_recurring_run" and kfp_client[1] == (
        "create_experiment",
        {"name": "teller", "namespace": "kubeflow"},
    )
    assert call == {
        "experiment_id": "exp-9",
        "job_name": "teller-retrain_from_feedback-scheduled",
        "cron_expression": "0 0 3 * * 1",
        "max_concurrency": 1,
        "no_catchup": True,
        "params": {"database_url": "postgresql://teller@db/teller"},
        "pipeline_package_path": "teller-retrain-from-feedback",
    }


def test_cli_errors_are_clear(tmp_path):
    runner = CliRunner()
    both = runner.invoke(app, ["pipeline", "run", "train_eval", "--local", "--host", "http://x"])
    assert both.exit_code == 2 and "exactly one of --local or --host" in both.output
    bad = runner.invoke(app, ["pipeline", "run", "train_eval", "--host", "http://x", "--param", "profile"])
    assert bad.exit_code == 2 and "key=value" in bad.output
    unknown = runner.invoke(app, ["pipeline", "compile", "nope", "--output", str(tmp_path / "x.yaml")])
    assert unknown.exit_code == 2 and "train_eval, kb_index, sweep, retrain_from_feedback" in unknown.output
    made = runner.invoke(app, ["pipeline", "compile", "kb_index", "--output", str(tmp_path / "kb.yaml")])
    assert made.exit_code == 0 and yaml.safe_load((tmp_path / "kb.yaml").read_text())["pipelineInfo"]["name"]
