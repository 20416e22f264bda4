"""SageMaker as the alternate backend: the exact API calls (botocore Stubber; no AWS here), and the
container contract (`serve`, GET /ping, POST /invocations on the SageMaker paths) run locally."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.stub import Stubber

from serving.sagemaker import CONTAINER_ENV, EndpointSpec, deploy
from tests.conftest import free_port

SPEC = EndpointSpec(
    endpoint="teller",
    version="20261201.090000",
    image="123456789012.dkr.ecr.us-east-1.amazonaws.com/teller-serving:0.1.0",
    model_data="s3://teller-models/releases/20261201.090000/model.tar.gz",
    role_arn="arn:aws:iam::123456789012:role/teller-sagemaker",
    canary_percent=10,
    canary_wait_s=300,
    rollback_alarms=["teller-5xx"],
)
NAME = "teller-20261201-090000"


@pytest.fixture
def stubbed():
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response(
            "create_model",
            {"ModelArn": f"arn:aws:sagemaker:us-east-1:123456789012:model/{NAME}"},
            {
                "ModelName": NAME,
                "ExecutionRoleArn": SPEC.role_arn,
                "PrimaryContainer": {
                    "Image": SPEC.image,
                    "ModelDataUrl": SPEC.model_data,
                    "Environment": CONTAINER_ENV,
                },
                "Tags": [{"Key": "teller:model-version", "Value": SPEC.version}],
            },
        )
        stub.add_response(
            "create_endpoint_config",
            {"EndpointConfigArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/{NAME}"},
            {
                "EndpointConfigName": NAME,
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": NAME,
                        "InstanceType": "ml.m5.xlarge",
                        "InitialInstanceCount": 1,
                    }
                ],
            },
        )
        yield client, stub


def test_first_deploy_creates_the_endpoint(stubbed):
    client, stub = stubbed
    stub.add_client_error(
        "describe_endpoint",
        "ValidationException",
        "Could not find endpoint",
        400,
        expected_params={"EndpointName": "teller"},
    )
    stub.add_response(
        "create_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/teller"},
        {"EndpointName": "teller", "EndpointConfigName": NAME},
    )
    assert deploy(SPEC, client) == "created"
    stub.assert_no_pending_responses()


def test_a_new_release_shifts_by_blue_green_canary_with_rollback_alarms(stubbed):
    client, stub = stubbed
    stub.add_response(
        "describe_endpoint",
        {
            "EndpointName": "teller",
            "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/teller",
            "EndpointConfigName": "teller-old",
            "EndpointStatus": "InService",
            "CreationTime": "2026-11-01T00:00:00Z",
            "LastModifiedTime": "2026-11-01T00:00:00Z",
        },
        {"EndpointName": "teller"},
    )
    stub.add_response(
        "update_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/teller"},
        {
            "EndpointName": "teller",
            "EndpointConfigName": NAME,
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                        "WaitIntervalInSeconds": 300,
                    },
                    "TerminationWaitInSeconds": 300,
                },
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "teller-5xx"}]},
            },
        },
    )
    assert deploy(SPEC, client) == "updating"
    stub.assert_no_pending_responses()


def test_bad_deploy_options_are_clear():
    from typer.testing import CliRunner

    from teller.cli import app

    result = CliRunner().invoke(
        app,
        [
            "deploy",
            "sagemaker",
            "--endpoint",
            "teller",
            "--version",
            "1",
            "--image",
            "x",
            "--model-data",
            "/local/model.tar.gz",
            "--role-arn",
            SPEC.role_arn,
        ],
    )
    assert result.exit_code == 2 and "--model-data" in result.output and "s3://" in result.output


@pytest.mark.slow
def test_container_contract_runs_locally(tiny_bundle, small_kb, tmp_path):
    """`teller serve` with the env SageMaker's container gets, the release unpacked where SageMaker puts it."""
    from serving.process import teller_serve

    model_dir = tmp_path / "opt" / "ml" / "model"
    shutil.copytree(tiny_bundle["bundle"], model_dir / "bundle")
    shutil.copytree(small_kb.path, model_dir / "kb")
    env = CONTAINER_ENV | {
        "TELLER_SERVE__HOST": "127.0.0.1",
        "TELLER_SERVE__BUNDLE": str(model_dir / "bundle"),
        "TELLER_RAG__KB_DIR": str(model_dir / "kb"),
        "TELLER_DATA_DIR": str(tmp_path / "data"),
        "TELLER_SERVE__DATABASE_URL": f"sqlite:///{tmp_path / 'audit.db'}",
    }
    with teller_serve(free_port(), tmp_path / "serve.log", env) as url, httpx.Client(base_url=url, timeout=60) as http:
        assert http.get("/ping").json() == {"status": "healthy"}
        as_json = http.post("/invocations", json={"instances": [{"narrative": "A collector calls me every day."}]})
        assert as_json.status_code == 200, as_json.text
        (prediction,) = as_json.json()["predictions"]
        assert prediction["model_version"] == tiny_bundle["version"] and prediction["team"]
        as_csv = http.post(
            "/invocations",
            content=b"late fee on my card\nwrong balance on my report\n",
            headers={"Content-Type": "text/csv"},
        )
        assert len(as_csv.json()["predictions"]) == 2
    assert Path(tmp_path / "audit.db").stat().st_size > 0
