"""The agent API (bearer token): the triage queues, corrections, explanations, the model dashboard and label reports."""

from __future__ import annotations

from fastapi import APIRouter, Query

from serving.routers import AGENT, Service
from serving.runtime import Attribution
from serving.schemas import ComplaintView, Dashboard, ExplainRequest, FeedbackAck, FeedbackRequest, LabelReports

router = APIRouter(tags=["agent"], dependencies=AGENT)


@router.get("/api/complaints", response_model=list[ComplaintView])
def list_complaints(
    service: Service, queue: str | None = None, status: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> list[ComplaintView]:
    return service.complaints(queue, status, limit)


@router.get("/api/complaints/{complaint_id}", response_model=ComplaintView)
def get_complaint(complaint_id: str, service: Service) -> ComplaintView:
    return service.complaint(complaint_id)


@router.post("/api/complaints/{complaint_id}/feedback", status_code=201)
def feedback(complaint_id: str, body: FeedbackRequest, service: Service) -> FeedbackAck:
    return service.feedback(complaint_id, body)


@router.post("/api/explain", response_model=Attribution)
async def explain(body: ExplainRequest, service: Service) -> Attribution:
    """Word attributions by occlusion, computed on request (regulator use); the text is masked first."""
    (attribution,) = await service.explain([body.narrative], body.head)
    return attribution


@router.get("/api/dashboard", response_model=Dashboard)
def dashboard(
    service: Service, limit: int = Query(500, ge=1, le=10_000, description="How many recent decisions")
) -> Dashboard:
    """Rollout shares, label distributions, confidence histogram and agreement with agents' corrections."""
    return service.dashboard(limit)


@router.get("/api/labels", response_model=LabelReports)
def labels(service: Service) -> LabelReports:
    """Labels proposed zero-shot (distribution and confidence before/after) and discovered clusters of unsure texts."""
    return service.label_reports()
