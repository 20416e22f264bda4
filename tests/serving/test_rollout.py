"""Canary rollouts against the InferenceService the chart renders; a recording stand-in for the Kubernetes API
(no cluster runs here) checks the exact objects read and patched."""

from __future__ import annotations

import copy

import pytest
from typer.testing import CliRunner

from serving.rollout import GROUP, PLURAL, VERSION, Rollout
from teller.errors import TellerError
from tests.charts.test_chart import kinds, render


class FakeKube:
    """CustomObjectsApi's get and (merge) patch over one stored InferenceService."""

    def __init__(self, isvc: dict) -> None:
        self.isvc, self.patches = isvc, []

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        assert (group, version, namespace, plural, name) == (GROUP, VERSION, "teller", PLURAL, "teller")
        return copy.deepcopy(self.isvc)

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body):
        assert (group, version, namespace, plural, name) == (GROUP, VERSION, "teller", PLURAL, "teller")
        self.patches.append(body)
        _merge(self.isvc, body)


def _merge(target: dict, patch: dict) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


@pytest.fixture
def kube() -> FakeKube:
    (isvc,) = kinds(render({"model": {"version": "v1"}}), "InferenceService")
    isvc["status"] = {
        "conditions": [{"type": "Ready", "status": "True"}],
        "components": {"predictor": {"traffic": [{"revisionName": "teller-predictor-00001", "percent": 100}]}},
    }
    return FakeKube(isvc)


def env_of(kube: FakeKube) -> dict:
    return {e["name"]: e.get("value") for e in kube.isvc["spec"]["predictor"]["containers"][0]["env"]}


def test_canary_then_promote(kube):
    rollout = Rollout("teller", "teller", api=kube)
    rollout.canary("v2", 10)
    (patch,) = kube.patches
    assert patch["metadata"] == {"labels": {"teller.bank/model-version": "v2"}}
    predictor = patch["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert [u["uri"] for u in predictor["storageUris"]] == [
        "s3://teller-models/releases/v2/bundle",
        "s3://teller-models/releases/v2/kb",
    ]
    assert env_of(kube)["TELLER_SERVE__ROLE"] == "canary" and env_of(kube)["TELLER_SERVE__TRAFFIC_PERCENT"] == "10"
    assert env_of(kube)["TELLER_SERVE__BUNDLE"] == "/mnt/models/bundle"  # the rest of the env is kept

    rollout.promote()
    assert kube.patches[-1]["spec"]["predictor"]["canaryTrafficPercent"] == 100
    assert env_of(kube)["TELLER_SERVE__ROLE"] == "champion"
    split = rollout.status()
    assert split.model_version == "v2" and split.canary_percent == 100 and split.ready


def test_rollback_sends_everything_back(kube):
    rollout = Rollout("teller", "teller", api=kube)
    rollout.canary("v2", 25)
    rollout.rollback()
    assert kube.patches[-1] == {"spec": {"predictor": {"canaryTrafficPercent": 0}}}


def test_bad_rollouts_are_refused_before_any_patch(kube):
    rollout = Rollout("teller", "teller", api=kube)
    with pytest.raises(TellerError, match="out of range"):
        rollout.canary("v2", 100)
    with pytest.raises(TellerError, match="already the predictor's release"):
        rollout.canary("v1", 10)
    assert kube.patches == []


def test_cli_prints_the_split(kube, monkeypatch):
    from serving import cli as serving_cli
    from teller import cli

    monkeypatch.setattr(serving_cli, "_rollout", lambda release, namespace: Rollout(release, namespace, api=kube))
    result = CliRunner().invoke(cli.app, ["rollout", "canary", "--version", "v3", "--percent", "5", "-n", "teller"])
    assert result.exit_code == 0, result.output
    assert '"canary_percent": 5' in result.output and '"model_version": "v3"' in result.output
    assert '"revision": "teller-predictor-00001"' in result.output
