"""The Helm chart renders for every target, lints clean, and every object validates: built-in kinds against
Kubernetes 1.31 (strict), InferenceService and RayService against their CRD schemas."""

from __future__ import annotations

import base64
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "teller"
SCHEMAS = ROOT.parent / "shared" / "k8s-schemas"
CRDS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "serving.kserve.io_inferenceservices.yaml",
    ("ray.io/v1", "RayService"): "ray.io_rayservices.yaml",
}
TARGETS = {
    "default": {},
    "kind": yaml.safe_load((CHART / "values-kind.yaml").read_text()),
    "eks": yaml.safe_load((CHART / "values-eks.yaml").read_text()),
    "eks-canary-ray": yaml.safe_load((CHART / "values-eks.yaml").read_text())
    | {"rollout": {"deploymentMode": "Serverless", "canaryPercent": 10}, "ray": {"enabled": True}},
    "kind-intake": yaml.safe_load((CHART / "values-kind.yaml").read_text()) | {"intake": {"enabled": True}},
}


def render(values: dict) -> list[dict]:
    from helm_python import Chart

    rendered = Chart.load(str(CHART)).render(values, name="teller", namespace="teller")
    docs = []
    for name, text in rendered.items():
        if name.endswith(".yaml"):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


@cache
def crd_schema(filename: str) -> dict:
    crd = yaml.safe_load((SCHEMAS / filename).read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    return served["schema"]["openAPIV3Schema"]


def kinds(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def pod_specs(docs: list[dict]) -> list[dict]:
    """Every pod template: predictor, StatefulSet, Ray head and worker groups."""
    specs = [d["spec"]["predictor"] for d in kinds(docs, "InferenceService")]
    specs += [d["spec"]["template"]["spec"] for d in kinds(docs, "StatefulSet") + kinds(docs, "Deployment")]
    for ray in kinds(docs, "RayService"):
        cluster = ray["spec"]["rayClusterConfig"]
        specs += [cluster["headGroupSpec"]["template"]["spec"]]
        specs += [w["template"]["spec"] for w in cluster["workerGroupSpecs"]]
    return specs


def test_chart_lints_clean():
    from helm_python import lint

    result = lint(str(CHART))
    assert result["errors"] == [] and all(m["severity"] < 3 for m in result["messages"]), result


@pytest.mark.parametrize("target", list(TARGETS))
def test_every_object_validates(target):
    docs = render(TARGETS[target])
    assert kinds(docs, "InferenceService")
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        if key in CRDS:
            jsonschema.validate(doc, crd_schema(CRDS[key]))
        else:
            kubernetes_validate.validate(doc, "1.31.0", strict=True)


@pytest.mark.parametrize("target", list(TARGETS))
def test_no_container_runs_as_root_or_carries_an_inline_secret(target):
    docs = render(TARGETS[target])
    for spec in pod_specs(docs):
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        for container in spec["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            for env in container.get("env", []):
                secret_like = any(w in env["name"] for w in ("PASSWORD", "TOKEN", "DATABASE_URL"))
                assert not secret_like or "valueFrom" in env or "$(POSTGRES_PASSWORD)" in env.get("value", ""), env
    for secret in kinds(docs, "Secret"):  # chart-made secrets are random, never from values
        for value in secret["data"].values():
            assert len(base64.b64decode(value)) == 32


def test_canary_percent_and_release_propagate():
    docs = render({"model": {"version": "20261201.090000"}, "rollout": {"canaryPercent": 10}})
    (isvc,) = kinds(docs, "InferenceService")
    predictor = isvc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert [u["uri"] for u in predictor["storageUris"]] == [
        "s3://teller-models/releases/20261201.090000/bundle",
        "s3://teller-models/releases/20261201.090000/kb",
    ]
    assert isvc["metadata"]["labels"]["teller.bank/model-version"] == "20261201.090000"
    env = {e["name"]: e.get("value") for e in predictor["containers"][0]["env"]}
    assert env["TELLER_SERVE__ROLE"] == "canary" and env["TELLER_SERVE__TRAFFIC_PERCENT"] == "10"
    (full,) = kinds(render({}), "InferenceService")
    assert "canaryTrafficPercent" not in full["spec"]["predictor"]
    promoted = kinds(render({"rollout": {"canaryPercent": 100}}), "InferenceService")[0]["spec"]["predictor"]
    assert {e["name"]: e.get("value") for e in promoted["containers"][0]["env"]}["TELLER_SERVE__ROLE"] == "champion"


def test_gpu_requests_only_when_enabled():
    for target in ("default", "kind"):
        (isvc,) = kinds(render(TARGETS[target]), "InferenceService")
        container = isvc["spec"]["predictor"]["containers"][0]
        assert "nvidia.com/gpu" not in container["resources"]["limits"]
        assert "gpu" not in container["image"] and "nodeSelector" not in isvc["spec"]["predictor"]
    (isvc,) = kinds(render(TARGETS["eks"]), "InferenceService")
    predictor = isvc["spec"]["predictor"]
    container = predictor["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1 and "teller-serving-gpu" in container["image"]
    assert predictor["tolerations"][0]["key"] == "nvidia.com/gpu" and predictor["nodeSelector"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TELLER_SERVE__CLASSIFIER_GPUS"] == "1"


def test_spinning_classifier_threads_are_a_chart_value_the_settings_read(monkeypatch):
    from teller.settings import TellerSettings

    for values, expected in (({}, False), ({"serve": {"spinThreads": True}}, True)):
        (isvc,) = kinds(render(values), "InferenceService")
        env = {e["name"]: e.get("value") for e in isvc["spec"]["predictor"]["containers"][0]["env"]}
        monkeypatch.setenv("TELLER_SERVE__SPIN_THREADS", env["TELLER_SERVE__SPIN_THREADS"])
        assert TellerSettings().serve.spin_threads is expected


def test_ray_serves_throughput_optimized_unless_the_chart_says_not(monkeypatch):
    from teller.settings import TellerSettings

    for values, ray_flag, setting in (({}, "1", True), ({"serve": {"rayThroughputOptimized": False}}, "0", False)):
        docs = render(values | {"ray": {"enabled": True}})
        envs = [{e["name"]: e.get("value") for e in spec["containers"][0].get("env", [])} for spec in pod_specs(docs)]
        serving = [env for env in envs if "TELLER_SERVE__BUNDLE" in env]
        assert len(serving) == 3  # the predictor, the Ray head and the Ray workers
        for env in serving:
            assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == ray_flag  # read by `ray start` before Teller runs
            assert env["RAY_SERVE_ENABLE_DIRECT_INGRESS"] == "0"  # a proxy on every node, not the head's alone
            monkeypatch.setenv("TELLER_SERVE__RAY_THROUGHPUT_OPTIMIZED", env["TELLER_SERVE__RAY_THROUGHPUT_OPTIMIZED"])
            assert TellerSettings().serve.ray_throughput_optimized is setting


def test_targets_differ_where_they_should():
    kind, eks = render(TARGETS["kind"]), render(TARGETS["eks"])
    assert kinds(kind, "Ingress")[0]["spec"]["ingressClassName"] == "nginx" and not kinds(eks, "Ingress")
    assert kinds(kind, "StatefulSet") and not kinds(eks, "StatefulSet")  # EKS: external database via Secret
    (eks_sa,) = kinds(eks, "ServiceAccount")
    assert eks_sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    (isvc,) = kinds(eks, "InferenceService")
    db = next(e for e in isvc["spec"]["predictor"]["containers"][0]["env"] if e["name"] == "TELLER_SERVE__DATABASE_URL")
    assert db["valueFrom"]["secretKeyRef"] == {"name": "teller-audit-db", "key": "url"}
    assert kinds(eks, "PodDisruptionBudget") and kinds(eks, "NetworkPolicy")
    raw = kinds(kind, "InferenceService")[0]["metadata"]["annotations"]
    assert (
        raw["serving.kserve.io/deploymentMode"] == "RawDeployment" and raw["serving.kserve.io/autoscalerClass"] == "hpa"
    )


def test_probes_point_at_health_and_readiness():
    (isvc,) = kinds(render({}), "InferenceService")
    container = isvc["spec"]["predictor"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_intake_deployment_renders_only_when_enabled():
    assert not kinds(render({}), "Deployment") and not kinds(render({}), "ScaledObject")
    docs = render({"intake": {"enabled": True, "batchSize": 16}})
    (deployment,) = kinds(docs, "Deployment")
    assert deployment["metadata"]["name"] == "teller-intake" and deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["args"] == ["intake"] and env["TELLER_INTAKE__STREAM"] == "teller:complaints"
    assert env["TELLER_INTAKE__BATCH_SIZE"] == "16" and env["TELLER_INTAKE__REDIS_URL"] == "redis://teller-redis:6379/0"
    assert env["TELLER_SERVE__BUNDLE"] == "/mnt/models/bundle" and "TELLER_SERVE__DATABASE_URL" in env
    assert pod["initContainers"][0]["args"] == [
        "s3://teller-models/releases/20261124.074533/bundle",
        "/mnt/models/bundle",
    ]
    assert not kinds(docs, "ScaledObject")
    (db_policy,) = [p for p in kinds(docs, "NetworkPolicy") if p["metadata"]["name"] == "teller-postgres"]
    admitted = [f["podSelector"]["matchLabels"] for f in db_policy["spec"]["ingress"][0]["from"]]
    assert {"app.kubernetes.io/instance": "teller", "app.kubernetes.io/component": "intake"} in admitted
    secured = kinds(render({"intake": {"enabled": True, "redis": {"passwordSecret": "teller-redis"}}}), "Deployment")
    env = {e["name"]: e for e in secured[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "teller-redis", "key": "password"}
    assert env["TELLER_INTAKE__REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@teller-redis:6379/0"


def test_intake_autoscales_on_the_redis_backlog_with_keda():
    docs = render({"intake": {"enabled": True, "autoscaling": {"enabled": True, "maxReplicas": 6}}})
    (deployment,) = kinds(docs, "Deployment")
    (scaled,) = kinds(docs, "ScaledObject")
    assert "replicas" not in deployment["spec"]  # KEDA owns the replica count
    assert scaled["apiVersion"] == "keda.sh/v1alpha1" and scaled["spec"]["maxReplicaCount"] == 6
    assert scaled["spec"]["scaleTargetRef"] == {"name": deployment["metadata"]["name"]}
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis-streams"
    assert all(isinstance(v, str) for v in trigger["metadata"].values())  # the CRD types trigger metadata as strings
    assert trigger["metadata"] | {"address": "teller-redis:6379", "lagCount": "200"} == trigger["metadata"]
    assert (
        trigger["metadata"]["stream"] == "teller:complaints" and trigger["metadata"]["consumerGroup"] == "teller-intake"
    )
    kubernetes_validate.validate(deployment, "1.31.0", strict=True)


def test_intake_on_kinesis_gets_its_region_and_checkpoint_table():
    values = {"enabled": True, "backend": "kinesis", "stream": "teller-complaints", "kinesis": {"region": "us-east-1"}}
    (deployment,) = kinds(render({"intake": values}), "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TELLER_INTAKE__BACKEND"] == "kinesis" and env["TELLER_INTAKE__KINESIS_REGION"] == "us-east-1"
    assert (
        env["TELLER_INTAKE__CHECKPOINT_TABLE"] == "teller-intake-checkpoints" and "TELLER_INTAKE__REDIS_URL" not in env
    )


def test_intake_on_kafka_scales_on_the_group_lag_and_reads_its_client_settings_from_a_secret():
    values = {
        "enabled": True,
        "backend": "kafka",
        "stream": "complaints",
        "kafka": {"bootstrap": "b-1.msk:9096,b-2.msk:9096", "ports": [9096], "configSecret": "teller-kafka"},
        "autoscaling": {"enabled": True},
    }
    docs = render({"intake": values})
    (deployment,) = kinds(docs, "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TELLER_INTAKE__BACKEND"]["value"] == "kafka"
    assert env["TELLER_INTAKE__KAFKA_BOOTSTRAP"]["value"] == "b-1.msk:9096,b-2.msk:9096"
    assert env["TELLER_INTAKE__KAFKA_CONFIG"]["valueFrom"]["secretKeyRef"] == {"name": "teller-kafka", "key": "config"}
    assert "TELLER_INTAKE__REDIS_URL" not in env
    (trigger,) = kinds(docs, "ScaledObject")[0]["spec"]["triggers"]
    assert trigger["type"] == "kafka" and all(isinstance(v, str) for v in trigger["metadata"].values())
    assert (
        trigger["metadata"] | {"topic": "complaints", "consumerGroup": "teller-intake", "lagThreshold": "200"}
        == (trigger["metadata"])
    )
    (policy,) = [p for p in kinds(docs, "NetworkPolicy") if p["metadata"]["name"] == "teller-intake"]
    assert {"port": 9096, "protocol": "TCP"} in policy["spec"]["egress"][1]["ports"]
    kubernetes_validate.validate(deployment, "1.31.0", strict=True)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rollout": {"canaryPercent": 150}}, "maximum"),
        ({"image": {"repository": "x", "tag": "latest"}}, "/image/tag"),
        ({"replicas": 3}, "additional properties"),
        ({"rollout": {"deploymentMode": "RawDeployment", "canaryPercent": 10}}, "needs rollout.deploymentMode"),
        ({"database": {"postgres": {"enabled": False}}}, "database.existingSecret is required"),
        ({"ingress": {"enabled": True}}, "ingress.enabled is for RawDeployment"),
        ({"intake": {"enabled": True, "backend": "nats"}}, "/intake/backend"),
        ({"intake": {"enabled": True, "backend": "kafka"}}, "intake.kafka.bootstrap is required"),
        ({"intake": {"enabled": True, "backend": "kinesis"}}, "intake.kinesis.region is required"),
        (
            {"intake": {"enabled": True, "backend": "kinesis", "autoscaling": {"enabled": True}}},
            "intake.autoscaling needs intake.backend=redis or kafka",
        ),
    ],
)
def test_bad_values_fail_with_a_message(values, message):
    with pytest.raises(Exception, match=message):
        render(values)
