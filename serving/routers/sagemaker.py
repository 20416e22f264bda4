"""The SageMaker container contract: GET /ping and POST /invocations (JSON or CSV)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from serving import protocols
from serving.routers import Service

router = APIRouter(tags=["sagemaker"])


@router.get("/ping")
def ping() -> dict:
    return {"status": "healthy"}


@router.post("/invocations")
async def invocations(request: Request, service: Service) -> dict:
    texts = protocols.sagemaker_texts(await request.body(), request.headers.get("content-type", ""))
    return protocols.v1_predictions(await service.triage_texts(texts))
