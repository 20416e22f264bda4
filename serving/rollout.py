"""Canary rollouts of the Teller InferenceService: start a canary, promote, roll back, read the split.

KServe splits traffic between the last fully rolled-out revision and the newest one by the predictor's
`canaryTrafficPercent`; these calls change that field (and the release the predictor loads) on the cluster.
"""

from __future__ import annotations

import copy

from pydantic import BaseModel, Field

from teller.errors import TellerError

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
VERSION_LABEL = "teller.bank/model-version"


class RevisionShare(BaseModel):
    revision: str | None
    percent: int
    latest: bool = Field(description="The newest revision (the canary while a rollout is under way).")


class TrafficSplit(BaseModel):
    """Who serves what, read from the InferenceService."""

    name: str
    model_version: str | None = Field(description="The release the predictor spec asks for.")
    canary_percent: int | None = Field(description="canaryTrafficPercent in the spec; None = all to the newest.")
    ready: bool
    traffic: list[RevisionShare]


def _kube_api():
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.CustomObjectsApi()


class Rollout:
    """One InferenceService's rollout, through the Kubernetes API (any object with CustomObjectsApi's methods)."""

    def __init__(self, name: str, namespace: str, api=None) -> None:
        self.name, self.namespace = name, namespace
        self.api = api if api is not None else _kube_api()

    def _get(self) -> dict:
        try:
            return self.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name)
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                raise TellerError(
                    f"no InferenceService {self.name!r}", f"namespace {self.namespace}", "install the chart first"
                ) from None
            raise

    def _patch(self, body: dict) -> None:
        self.api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name, body)

    def status(self) -> TrafficSplit:
        isvc = self._get()
        predictor = isvc.get("status", {}).get("components", {}).get("predictor", {})
        conditions = isvc.get("status", {}).get("conditions", [])
        return TrafficSplit(
            name=self.name,
            model_version=isvc["metadata"].get("labels", {}).get(VERSION_LABEL),
            canary_percent=isvc["spec"]["predictor"].get("canaryTrafficPercent"),
            ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions),
            traffic=[
                RevisionShare(
                    revision=t.get("revisionName"), percent=t.get("percent", 0), latest=t.get("latestRevision", False)
                )
                for t in predictor.get("traffic", [])
            ],
        )

    def canary(self, version: str, percent: int) -> None:
        """Send `percent` of traffic to release `version`; the current revision keeps the rest."""
        if not 1 <= percent <= 99:
            raise TellerError(f"canary percent {percent} is out of range", "--percent", "use 1-99; promote for 100")
        isvc = self._get()
        predictor = copy.deepcopy(isvc["spec"]["predictor"])
        current = isvc["metadata"].get("labels", {}).get(VERSION_LABEL)
        if current == version:
            raise TellerError(f"release {version} is already the predictor's release", "--version", "give a new one")
        for uri in predictor.get("storageUris", []):
            if current:
                uri["uri"] = uri["uri"].replace(f"/{current}/", f"/{version}/")
        _set_env(predictor, {"TELLER_SERVE__ROLE": "canary", "TELLER_SERVE__TRAFFIC_PERCENT": str(percent)})
        predictor["canaryTrafficPercent"] = percent
        self._patch({"metadata": {"labels": {VERSION_LABEL: version}}, "spec": {"predictor": predictor}})

    def promote(self) -> None:
        """Send all traffic to the canary's release, which becomes the champion."""
        predictor = copy.deepcopy(self._get()["spec"]["predictor"])
        _set_env(predictor, {"TELLER_SERVE__ROLE": "champion", "TELLER_SERVE__TRAFFIC_PERCENT": "100"})
        predictor["canaryTrafficPercent"] = 100
        self._patch({"spec": {"predictor": predictor}})

    def rollback(self) -> None:
        """Send all traffic back to the last fully rolled-out revision."""
        self._patch({"spec": {"predictor": {"canaryTrafficPercent": 0}}})


def _set_env(predictor: dict, values: dict[str, str]) -> None:
    container = predictor["containers"][0]
    env = [e for e in container.get("env", []) if e["name"] not in values]
    container["env"] = env + [{"name": k, "value": v} for k, v in values.items()]
