"""SageMaker as an alternate backend: the same serving image and release, deployed as a real-time endpoint.

A new release becomes a new model and endpoint config; an existing endpoint moves to it by a blue/green
canary (a share of capacity first, then all), rolled back automatically when a named CloudWatch alarm fires.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from teller.errors import TellerError

CONTAINER_ENV = {
    "TELLER_SERVE__HOST": "0.0.0.0",
    "TELLER_SERVE__PORT": "8080",
    "TELLER_SERVE__BUNDLE": "/opt/ml/model/bundle",
    "TELLER_RAG__KB_DIR": "/opt/ml/model/kb",
}


class EndpointSpec(BaseModel):
    """What to deploy where."""

    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(min_length=1, max_length=50, description="Endpoint name.")
    version: str = Field(min_length=1, description="Release version; names the model and endpoint config.")
    image: str = Field(description="ECR URI of the serving image.")
    model_data: str = Field(pattern=r"^s3://", description="s3:// URI of model.tar.gz holding bundle/ and kb/.")
    role_arn: str = Field(pattern=r"^arn:aws:iam::", description="Execution role SageMaker assumes.")
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = Field(1, ge=1)
    canary_percent: int = Field(10, ge=1, le=100, description="Capacity share the new release gets first.")
    canary_wait_s: int = Field(600, ge=0, le=3600, description="How long the canary runs before the rest shifts.")
    rollback_alarms: list[str] = Field(default_factory=list, description="CloudWatch alarms that roll back.")
    environment: dict[str, str] = Field(default_factory=dict, description="Extra TELLER_* settings.")


def deploy(spec: EndpointSpec, client=None) -> str:
    """Create the model and endpoint config, then create the endpoint or shift it by canary; returns the action."""
    from botocore.exceptions import ClientError

    sm = client if client is not None else _client()
    name = f"{spec.endpoint}-{spec.version}".replace(".", "-")[:63]
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=spec.role_arn,
        PrimaryContainer={
            "Image": spec.image,
            "ModelDataUrl": spec.model_data,
            "Environment": {**CONTAINER_ENV, **spec.environment},
        },
        Tags=[{"Key": "teller:model-version", "Value": spec.version}],
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": spec.instance_type,
                "InitialInstanceCount": spec.instance_count,
            }
        ],
    )
    try:
        sm.describe_endpoint(EndpointName=spec.endpoint)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ValidationException":
            raise
        sm.create_endpoint(EndpointName=spec.endpoint, EndpointConfigName=name)
        return "created"
    routing: dict = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": spec.canary_wait_s}
    if spec.canary_percent < 100:
        routing = {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": spec.canary_percent},
            "WaitIntervalInSeconds": spec.canary_wait_s,
        }
    config: dict = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing, "TerminationWaitInSeconds": 300}}
    if spec.rollback_alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in spec.rollback_alarms]}
    sm.update_endpoint(EndpointName=spec.endpoint, EndpointConfigName=name, DeploymentConfig=config)
    return "updating"


def _client():
    import boto3
    from botocore.exceptions import NoRegionError

    try:
        return boto3.client("sagemaker")
    except NoRegionError:
        raise TellerError("no AWS region configured", "AWS_DEFAULT_REGION", "set AWS_DEFAULT_REGION") from None
