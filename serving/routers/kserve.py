"""KServe v1 and Open Inference Protocol v2 on the gateway; payload coding lives in `serving.protocols`."""

from __future__ import annotations

from fastapi import APIRouter

from serving import protocols
from serving.routers import AGENT, Service

router = APIRouter(tags=["kserve"])


@router.get("/v1/models/{name}")
@router.get("/v2/models/{name}/ready")
def model_ready(name: str, service: Service) -> dict:
    service.check_model(name)
    return {"name": name, "ready": True}


@router.post("/v1/models/{name}:predict")
async def v1_predict(name: str, body: dict, service: Service) -> dict:
    service.check_model(name)
    return protocols.v1_predictions(await service.triage_texts(protocols.v1_texts(body)))


@router.post("/v1/models/{name}:explain", dependencies=AGENT)
async def v1_explain(name: str, body: dict, service: Service) -> dict:
    """Occlusion attributions for the routing decision (agent token; a few texts per request)."""
    service.check_model(name)
    return protocols.v1_explanations(await service.explain(protocols.v1_texts(body)))


@router.get("/v2/health/ready")
def v2_ready() -> dict:
    return {"ready": True}


@router.get("/v2/models/{name}")
def v2_metadata(name: str, service: Service) -> dict:
    service.check_model(name)
    return protocols.v2_metadata(name, service.model_version)


@router.post("/v2/models/{name}/infer")
async def v2_infer(name: str, body: dict, service: Service) -> dict:
    service.check_model(name)
    texts, request_id = protocols.v2_texts(body, name)
    return protocols.v2_response(await service.triage_texts(texts), name, service.model_version, request_id)
