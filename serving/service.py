"""The one triage and chat service every protocol calls: input checks, masking, the model stages, the audit write.

Plain Python over `Backends`, a `Store` and chat memory; it raises `serving.errors` types and knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from rag.memory import SessionStore
from serving.backends import Backends
from serving.dashboard import summarise
from serving.errors import (
    BackendUnavailable,
    Disabled,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    Unauthorized,
)
from serving.labels import read_label_reports
from serving.runtime import Attribution, Decision, Intent
from serving.schemas import (
    ChatRequest,
    ChatResponse,
    ComplaintDecision,
    ComplaintRequest,
    ComplaintView,
    Dashboard,
    DecisionRecord,
    FeedbackAck,
    FeedbackRecord,
    FeedbackRequest,
    LabelReports,
    ModelRoute,
    Taxonomy,
)
from teller.decision import SPECIALIST_QUEUE
from teller.settings import ServeSettings, get_settings
from teller.store import Allocation, Complaint, Feedback, Store
from teller.taxonomy import load_taxonomy

log = logging.getLogger(__name__)
WARM_UP_TEXT = "Warm-up: my card was charged a late fee twice. How do I get it back?"
T = TypeVar("T")

EXPLAIN_HEADS = ("team", "issue", "vulnerable", "intent")
EXPLAIN_MAX_TEXTS = 8  # each explanation is one ONNX run over up to 257 variants of the text
_BACKEND = {"masking": "masker", "classification": "classifier", "explain": "classifier", "answer": "answerer"}


class Metrics:
    """Prometheus metrics of one server: requests, per-stage latency, batch sizes, labelled by model version."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("teller_requests", "HTTP requests", ["route", "status"], registry=self.registry)
        self.stage = Histogram(
            "teller_stage_seconds",
            "Latency per stage",
            ["stage", "model_version"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
        )
        self.batch = Histogram(
            "teller_batch_size",
            "Texts per request",
            ["route"],
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64),
        )

    def timed(self, stage: str, version: str):
        return self.stage.labels(stage, version).time()


class TellerService:
    """Chat, complaint triage, explanations, feedback and the agent console's reads; every decision is stored."""

    def __init__(
        self,
        backends: Backends,
        store: Store,
        settings: ServeSettings,
        sessions: SessionStore | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.backends, self.store, self.settings = backends, store, settings
        self.sessions = sessions if sessions is not None else SessionStore()
        self.metrics = metrics if metrics is not None else Metrics()
        self._token = settings.agent_token.get_secret_value() if settings.agent_token else None

    @property
    def model_name(self) -> str:
        return self.backends.model_name

    @property
    def model_version(self) -> str:
        return self.backends.model_version

    def start(self) -> None:
        """Record this server's model version, role and traffic share (the dashboard's configured rollout)."""
        settings = self.settings
        self._store(
            "record the model rollout",
            lambda: self.store.set_strategy(
                self.model_name, self.model_version, role=settings.role, traffic=settings.traffic_percent
            ),
        )

    async def warm_up(self) -> None:
        """One text through every stage (nothing stored or counted), so the first requests find them ready.

        Lazy setup on first use (handles to other replicas, batch queues) otherwise lands on the first users;
        a stage that fails here is only logged: real requests then get its 503.
        """
        timeout = self.settings.backend_timeout_s
        try:
            (masked,) = await asyncio.wait_for(self.backends.mask([WARM_UP_TEXT]), timeout)
            await asyncio.wait_for(self.backends.triage([masked]), timeout)
            await asyncio.wait_for(self.backends.intents([masked]), timeout)
            await asyncio.wait_for(self.backends.answer(masked, None), timeout)
        except Exception as exc:
            log.warning("warm-up did not finish (%s: %s)", type(exc).__name__, exc)

    def authorize(self, token: str | None) -> None:
        """Admit a caller of the agent operations (console, dashboard, explanations) only with the agent token."""
        if self._token is None:
            raise Disabled("agent endpoints are disabled", "server", "set TELLER_SERVE__AGENT_TOKEN on the server")
        if not hmac.compare_digest((token or "").encode(), self._token.encode()):
            raise Unauthorized(
                "missing or wrong agent token",
                "Authorization header",
                "send the header 'Authorization: Bearer <token>' with the token `teller serve` printed",
            )

    def check_model(self, name: str) -> None:
        """Refuse a protocol request addressed to another model."""
        if name != self.model_name:
            raise NotFound(f"no model {name!r}", "model name", f"this server serves {self.model_name!r}")

    def readiness(self) -> dict:
        return {"status": "ready", "model_name": self.model_name, "model_version": self.model_version}

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Mask, classify intent, hand off or answer from the KB with the session's earlier turns as context."""
        self._check_texts([request.message])
        session_id = request.session_id or str(uuid.uuid4())
        (masked,) = await self._stage("masking", self.backends.mask([request.message]))
        (intent,) = await self._stage("classification", self.backends.intents([masked]))
        reason = handoff_reason(intent, self.settings.handoff_confidence)
        memory = self.sessions.get(session_id)
        answer = None
        if reason is None:
            answer = await self._stage("answer", self.backends.answer(memory.contextualise(masked), intent.topic))
            if answer.handoff:
                reason = "low_confidence" if intent.confidence < self.settings.handoff_confidence else answer.reason
        memory.add(masked, reason is None)
        answered = answer is not None and not answer.handoff
        return ChatResponse(
            session_id=session_id,
            masked_message=masked,
            intent=intent.intent,
            topic=intent.topic,
            confidence=intent.confidence,
            answer=answer.text if answered else None,
            sources=answer.citations if answered else [],
            handoff=reason is not None,
            handoff_reason=reason,
            kb_version=answer.kb_version if answer else None,
            model_version=self.model_version,
        )

    async def triage(self, complaints: list[ComplaintRequest], ids: list[str] | None = None) -> list[ComplaintDecision]:
        """Mask, triage and durably record complaints; no decision is returned that is not stored.

        `ids` are caller-given complaint ids (a stream producer's, for idempotent intake); by default new UUIDs.
        """
        if not complaints:
            raise InvalidInput("empty batch", "body", "send one complaint or a non-empty list")
        if ids is not None and len(ids) != len(complaints):
            raise InvalidInput(f"{len(ids)} ids for {len(complaints)} complaints", "ids", "give one id per complaint")
        narratives = [c.narrative for c in complaints]
        self._check_texts(narratives)
        self.metrics.batch.labels("complaints").observe(len(complaints))
        start = time.perf_counter()
        fields = [(i, f, getattr(c, f)) for i, c in enumerate(complaints) for f in ("product", "channel")]
        given = [(i, f, v) for i, f, v in fields if v]
        masked = await self._stage("masking", self.backends.mask([*narratives, *(v for _, _, v in given)]))
        texts = masked[: len(narratives)]
        labels = {(i, f): m for (i, f, _), m in zip(given, masked[len(narratives) :], strict=True)}
        decisions = await self._stage("classification", self.backends.triage(texts))
        if len(decisions) != len(texts):
            fix = "check the classifier replicas"
            raise BackendUnavailable(f"{len(decisions)} decisions for {len(texts)} texts", "classifier stage", fix)
        latency = round((time.perf_counter() - start) * 1000 / len(texts), 2)
        rows = [
            Complaint(
                id=ids[i] if ids is not None else str(uuid.uuid4()),
                narrative=text,
                product=_clip(labels.get((i, "product")), 200),
                channel=_clip(labels.get((i, "channel")), 50),
                queue=d.queue,
            )
            for i, (text, d) in enumerate(zip(texts, decisions, strict=True))
        ]
        allocations = [
            Allocation(complaint_id=row.id, latency_ms=latency, **d.model_dump(exclude={"queue"}))
            for row, d in zip(rows, decisions, strict=True)
        ]
        with self.metrics.timed("audit_write", self.model_version):  # in a thread: the event loop serves others
            await asyncio.to_thread(
                self._store, "record the decisions", lambda: self.store.record_decisions(rows, allocations)
            )
        return [
            ComplaintDecision(complaint_id=row.id, latency_ms=latency, **d.model_dump())
            for row, d in zip(rows, decisions, strict=True)
        ]

    def stored(self, complaint_ids: list[str]) -> set[str]:
        """The complaint ids among these that the audit store already holds (decided before)."""
        if not complaint_ids:
            return set()
        return self._store("check which complaints are decided", lambda: self.store.stored_ids(complaint_ids))

    async def triage_texts(self, narratives: list[str]) -> list[Decision]:
        """`triage` for protocol payloads (KServe v1/v2, SageMaker), which carry narratives only."""
        made = await self.triage([ComplaintRequest.model_construct(narrative=n) for n in narratives])
        return [Decision(**d.model_dump(exclude={"complaint_id", "latency_ms"})) for d in made]

    async def explain(self, narratives: list[str], head: str = "team") -> list[Attribution]:
        """Word attributions by occlusion, the texts masked first (for regulators; callers must be `authorize`d)."""
        if head not in EXPLAIN_HEADS:
            raise InvalidInput(f"unknown head {head!r}", "head", f"use one of {list(EXPLAIN_HEADS)}")
        if not narratives:
            raise InvalidInput("nothing to explain", "body", "send at least one narrative")
        if len(narratives) > EXPLAIN_MAX_TEXTS:
            raise PayloadTooLarge(
                f"{len(narratives)} texts; one request explains at most {EXPLAIN_MAX_TEXTS}",
                "instances",
                "split the texts over several requests",
            )
        self._check_texts(narratives)
        masked = await self._stage("masking", self.backends.mask(narratives))
        return [await self._stage("explain", self.backends.explain(t, head)) for t in masked]

    def complaints(self, queue: str | None, status: str | None, limit: int) -> list[ComplaintView]:
        """The agent console's queue: newest first, optionally one queue or status."""
        found = self._store("read complaints", lambda: self.store.complaints(queue, status, limit))
        return [_view(c, c.allocations, c.feedback) for c in found]

    def complaint(self, complaint_id: str) -> ComplaintView:
        found = self._store("read the complaint", lambda: self.store.complaint(complaint_id))
        if found is None:
            raise NotFound(f"no complaint {complaint_id}", "complaint_id", "use an id from GET /api/complaints")
        return _view(*found)

    def feedback(self, complaint_id: str, correction: FeedbackRequest) -> FeedbackAck:
        """Record an agent's correction after checking its labels against the taxonomy."""
        if correction.team is None and correction.issue is None and correction.vulnerable is None:
            raise InvalidInput("feedback corrects nothing", "body", "correct at least one of team, issue, vulnerable")
        taxonomy = load_taxonomy()
        if correction.team is not None and correction.team not in taxonomy.team_labels:
            raise InvalidInput(f"unknown team {correction.team!r}", "team", f"use one of {taxonomy.team_labels}")
        if correction.issue is not None and correction.issue not in taxonomy.issue_labels:
            raise InvalidInput(f"unknown issue {correction.issue!r}", "issue", "see GET /api/taxonomy for the issues")
        row = Feedback(complaint_id=complaint_id, **correction.model_dump())
        if not self._store("record the feedback", lambda: self.store.add_feedback(row)):
            raise NotFound(f"no complaint {complaint_id}", "complaint_id", "use an id from GET /api/complaints")
        return FeedbackAck(complaint_id=complaint_id, status="corrected")

    def taxonomy(self) -> Taxonomy:
        taxonomy = load_taxonomy()
        return Taxonomy(
            teams=taxonomy.team_labels, issues=taxonomy.issue_labels, queues=[*taxonomy.team_labels, SPECIALIST_QUEUE]
        )

    def routes(self) -> list[ModelRoute]:
        """Which model version serves which share of traffic."""
        return [
            ModelRoute(role=r.role, model_name=r.model_name, model_version=r.model_version, traffic=r.traffic_percent)
            for r in self._store("read the model rollout", self.store.strategy)
        ]

    def dashboard(self, limit: int) -> Dashboard:
        """Rollout shares, label distributions, confidence histogram and agreement with agents' corrections."""
        recent = self._store("read recent decisions", lambda: self.store.recent_allocations(limit))
        corrections = [(f, a) for _, f, a in self._store("read corrections", self.store.corrections)]
        return summarise(recent, corrections, self._store("read the model rollout", self.store.strategy))

    def label_reports(self) -> LabelReports:
        """Proposed labels (accepted or not) and the latest clusters of texts the model is unsure of."""
        taxonomy = load_taxonomy()
        return read_label_reports(get_settings().labels_dir, set(taxonomy.custom_labels))

    def _check_texts(self, texts: list[str]) -> None:
        limit = self.settings.max_text_chars
        for i, text in enumerate(texts):
            if not text.strip():
                raise InvalidInput("blank", f"text {i}", "send the message or narrative text")
            if len(text) > limit:
                raise PayloadTooLarge(
                    f"{len(text)} characters; the limit is {limit}", f"text {i}", "shorten the text or split it"
                )

    async def _stage(self, stage: str, call: Awaitable[T]) -> T:
        """Await a model stage within the configured timeout; a failure or timeout becomes `BackendUnavailable`."""
        timeout = self.settings.backend_timeout_s
        where = f"{_BACKEND[stage]} stage"
        fix = f"retry shortly; if it persists, check the {_BACKEND[stage]} replicas and their logs"
        with self.metrics.timed(stage, self.model_version):
            try:
                return await asyncio.wait_for(call, timeout)
            except TimeoutError:
                raise BackendUnavailable(f"no answer within {timeout:g} s", where, fix) from None
            except Exception as exc:
                log.error("%s failed", where, exc_info=exc)
                raise BackendUnavailable(f"failed ({type(exc).__name__})", where, fix) from exc

    def _store(self, doing: str, operation: Callable[[], T]) -> T:
        """Run one store operation; any failure becomes `StoreUnavailable` (logged, the database URL never shown)."""
        try:
            return operation()
        except Exception as exc:
            log.error("audit store could not %s", doing, exc_info=exc)
            raise StoreUnavailable(
                f"could not {doing} ({type(exc).__name__})",
                "audit store",
                "retry shortly; if it persists, check the database at TELLER_SERVE__DATABASE_URL",
            ) from exc


def triage_service(bundle: Path | None = None) -> TellerService:
    """The triage service over in-process stages (real masker, the bundle's classifier) and the configured audit
    store: what the standalone KServe predictor and `teller intake` serve (triage never answers chat)."""
    from serving.backends import LocalBackends
    from serving.runtime import Classifier, resolve_bundle
    from teller.masking import Masker

    settings = get_settings()
    classifier = Classifier(resolve_bundle(bundle), spin=settings.serve.spin_threads)
    backends = LocalBackends(Masker(), classifier, answerer=None)
    return TellerService(backends, Store(settings.database_url), settings.serve)


def handoff_reason(intent: Intent, min_confidence: float) -> str | None:
    """Hand off before answering: on request, or when the classifier is sure the topic is out of scope or risky.

    An unsure classifier does not hand off by itself: the KB's calibrated relevance decides next.
    """
    if intent.asks_for_human:
        return "asked_for_human"
    if intent.confidence >= min_confidence and intent.topic == "out_of_scope":
        return "out_of_scope"
    if intent.confidence >= min_confidence and intent.handoff_topic:
        return "handoff_topic"
    return None


def _clip(value: str | None, length: int) -> str | None:
    return value[:length] if value else None


def _view(complaint: Complaint, allocations: list[Allocation], feedback: list[Feedback]) -> ComplaintView:
    return ComplaintView(
        complaint_id=complaint.id,
        created_at=complaint.created_at,
        narrative=complaint.narrative,
        product=complaint.product,
        channel=complaint.channel,
        queue=complaint.queue,
        status=complaint.status,
        decisions=[DecisionRecord.model_validate(a, from_attributes=True) for a in allocations],
        feedback=[FeedbackRecord.model_validate(f, from_attributes=True) for f in feedback],
    )
