"""The public API: CSR chat, filing complaints, the label taxonomy and the model rollout."""

from __future__ import annotations

from fastapi import APIRouter

from serving.routers import Service
from serving.schemas import ChatRequest, ChatResponse, ComplaintDecision, ComplaintRequest, ModelRoute, Taxonomy

router = APIRouter(tags=["public"])


@router.post("/api/chat", response_model=ChatResponse)
async def chat(body: ChatRequest, service: Service) -> ChatResponse:
    return await service.chat(body)


@router.post("/api/complaints", response_model=ComplaintDecision | list[ComplaintDecision])
async def complaints(body: ComplaintRequest | list[ComplaintRequest], service: Service):
    made = await service.triage(body if isinstance(body, list) else [body])
    return made if isinstance(body, list) else made[0]


@router.get("/api/taxonomy")
def taxonomy_labels(service: Service) -> Taxonomy:
    return service.taxonomy()


@router.get("/api/models")
def models(service: Service) -> list[ModelRoute]:
    """Which model version serves which share of traffic (for the ML engineers' dashboard)."""
    return service.routes()
