"""Request and response bodies of the Teller HTTP API (one OpenAPI spec at /docs)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from rag.answer import Citation

HandoffReason = Literal["asked_for_human", "out_of_scope", "handoff_topic", "low_confidence", "no_relevant_answer"]


_LABEL = re.compile(r"[\w .,'()/&:+-]*")


def _label(value: str | None) -> str | None:
    """A short free-text label (product, channel): plain words and punctuation only; blank means not given."""
    if value is None or not value.strip():
        return None
    if not _LABEL.fullmatch(value):
        raise ValueError("use letters, digits, spaces and . , ' ( ) / & : + - only")
    return " ".join(value.split())


Label = Annotated[str | None, AfterValidator(_label)]


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
    handoff_reason: HandoffReason | None = Field(description="Why a human takes over; None when answered.")
    kb_version: str | None
    model_version: str


class ComplaintRequest(Strict):
    narrative: str = Field(min_length=1, description="The consumer's complaint text.")
    product: Label = Field(
        None, max_length=200, description="Product the consumer chose, if any; masked like the narrative."
    )
    channel: Label = Field(None, max_length=50, description="web, phone, email, ...; masked like the narrative.")


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


class DecisionRecord(Strict):
    """A stored model decision, with the model version that made it."""

    model_name: str
    model_version: str
    team: str
    issue: str
    vulnerable: bool
    probabilities: dict[str, dict[str, float]]
    latency_ms: float
    created_at: datetime


class FeedbackRecord(Strict):
    """A stored agent correction; None means the agent left that decision as it was."""

    agent_id: str
    team: str | None
    issue: str | None
    vulnerable: bool | None
    created_at: datetime


class ComplaintView(Strict):
    complaint_id: str
    created_at: datetime
    narrative: str = Field(description="Masked narrative.")
    product: str | None
    channel: str | None
    queue: str
    status: str = Field(description="open, or corrected once an agent has given feedback.")
    decisions: list[DecisionRecord] = Field(description="Model decisions, oldest first.")
    feedback: list[FeedbackRecord] = Field(description="Agent corrections, oldest first.")


class FeedbackRequest(Strict):
    agent_id: str = Field(min_length=1, max_length=100)
    team: str | None = None
    issue: str | None = None
    vulnerable: bool | None = None


class FeedbackAck(Strict):
    complaint_id: str
    status: Literal["corrected"]


class Taxonomy(Strict):
    """The labels agents can choose from."""

    teams: list[str]
    issues: list[str]
    queues: list[str] = Field(description="Team queues plus the specialist queue for vulnerable customers.")


class ModelRoute(Strict):
    """A model version in the configured rollout and the share of traffic it gets."""

    role: str = Field(description="champion or canary.")
    model_name: str
    model_version: str
    traffic: int = Field(description="Configured share of traffic, percent.")


class ExplainRequest(Strict):
    narrative: str = Field(min_length=1, description="Complaint text to explain (masked before the model sees it).")
    head: Literal["team", "issue", "vulnerable", "intent"] = Field("team", description="Which decision to explain.")


class ModelShare(Strict):
    """A model version in the rollout: its configured role and share, and the share of decisions it made."""

    model_name: str
    model_version: str
    role: str | None = Field(description="champion or canary as configured; None for a version no longer configured.")
    traffic_percent: int | None = Field(description="Configured share of traffic.")
    observed_share: float = Field(description="Share of the recent decisions this version made (0-1).")


class Agreement(Strict):
    """How often agents' corrections agree with the model, per decision the agents reviewed."""

    head: Literal["team", "issue", "vulnerable"]
    reviewed: int = Field(description="Corrections that gave this decision.")
    agreed: int = Field(description="Of those, how many the model already had right.")
    rate: float | None = Field(description="agreed / reviewed; None before any review.")


class Dashboard(Strict):
    """What the ML engineers' dashboard shows about recent decisions."""

    decisions: int = Field(description="Decisions summarised (the newest `limit`).")
    models: list[ModelShare]
    teams: dict[str, int] = Field(description="Routing label distribution.")
    issues: dict[str, int] = Field(description="Issue label distribution (ten most frequent).")
    vulnerable: int = Field(description="Decisions flagged vulnerable.")
    confidence: list[int] = Field(description="Histogram of routing confidence in ten 0.1-wide bins from 0 to 1.")
    agreement: list[Agreement]


class LabelCount(Strict):
    """How many texts carry a label before and after a proposed label is applied."""

    label: str
    before: int
    after: int


class LabelProposal(Strict):
    """A label proposed zero-shot (`teller labels propose`), as its report describes it."""

    name: str
    head: Literal["issue", "topic"]
    description: str
    created: str = Field(description="When the proposal was scored (ISO 8601, UTC).")
    rows: int = Field(description="Texts scored.")
    proposed: int = Field(description="Texts at or above the threshold.")
    threshold: float = Field(description="Score threshold (calibrated on the examples unless given).")
    expected_precision: float | None = Field(description="Estimated from the examples; None without examples.")
    expected_recall: float | None = Field(description="Estimated from the examples; None without examples.")
    accepted: bool = Field(description="Whether the label is in the taxonomy (`teller labels accept`).")
    distribution: list[LabelCount] = Field(description="The largest labels and the new one, before and after.")
    confidence_before: list[int] = Field(description="Label confidence in ten 0.1-wide bins, before.")
    confidence_after: list[int] = Field(description="Label confidence in ten 0.1-wide bins, with the new label.")


class ClusterExample(Strict):
    text: str = Field(description="A masked text near the cluster's centre (truncated).")
    confidence: float = Field(description="The model's top probability on it.")


class DiscoveredCluster(Strict):
    """A group of texts the model is unsure of: a candidate new label for an analyst to name."""

    id: int
    size: int
    top_terms: list[str] = Field(description="Words and bigrams that set the cluster apart.")
    mean_confidence: float
    predicted: dict[str, int] = Field(description="What the model predicts for them today (three most frequent).")
    examples: list[ClusterExample]


class Discovery(Strict):
    """The latest `teller labels discover` run."""

    created: str
    model_version: str = Field(description="Bundle version that scored the texts.")
    head: Literal["issue", "topic"]
    scored: int
    uncertain: int = Field(description="Texts under max_confidence, clustered.")
    max_confidence: float
    clusters: list[DiscoveredCluster]


class LabelReports(Strict):
    """Everything `teller labels` has written: proposals, the latest discovery, and any file it could not read."""

    proposals: list[LabelProposal]
    discovery: Discovery | None
    unreadable: list[str] = Field(description="Report files that exist but could not be read (name only).")
