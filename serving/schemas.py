"""Request and response bodies of the Teller HTTP API (one OpenAPI spec at /docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.answer import Citation


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChatRequest(Strict):
    session_id: str | None = Field(None, max_length=100, description="Keeps follow-up context; any opaque id.")
    message: str = Field(min_length=1, description="The visitor's message (masked before anything else sees it).")


class ChatResponse(Strict):
    session_id: str
    masked_message: str
    intent: str
    topic: str
    confidence: float
    answer: str | None = Field(description="Answer text, None when handed off.")
    sources: list[Citation]
    handoff: bool
    handoff_reason: str | None = Field(
        description="out_of_scope, handoff_topic, low_confidence, asked_for_human or no_relevant_answer."
    )
    kb_version: str | None
    model_version: str


class ComplaintRequest(Strict):
    narrative: str = Field(min_length=1, description="The consumer's complaint text.")
    product: str | None = Field(None, max_length=200, description="Product the consumer chose, if any.")
    channel: str | None = Field(None, max_length=50, description="web, phone, email, ...")


class ComplaintDecision(Strict):
    complaint_id: str
    team: str
    issue: str
    vulnerable: bool
    queue: str
    probabilities: dict[str, dict[str, float]]
    model_name: str
    model_version: str
    latency_ms: float


class ComplaintView(Strict):
    complaint_id: str
    created_at: datetime
    narrative: str = Field(description="Masked narrative.")
    product: str | None
    channel: str | None
    queue: str
    status: str
    decisions: list[dict]
    feedback: list[dict]


class FeedbackRequest(Strict):
    agent_id: str = Field(min_length=1, max_length=100)
    team: str | None = None
    issue: str | None = None
    vulnerable: bool | None = None


class ExplainRequest(Strict):
    narrative: str = Field(min_length=1, description="Complaint text to explain (masked before the model sees it).")
    head: Literal["team", "issue", "vulnerable", "intent"] = Field("team", description="Which decision to explain.")
