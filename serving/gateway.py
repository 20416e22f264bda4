"""The HTTP gateway: chat, complaint triage, the agent console API, health and metrics, over any `Backends`."""

from __future__ import annotations

import hmac
import time
import uuid
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from rag.memory import SessionStore
from serving import protocols
from serving.backends import Backends
from serving.dashboard import summarise
from serving.runtime import SPECIALIST_QUEUE, Attribution, Decision
from serving.schemas import (
    ChatRequest,
    ChatResponse,
    ComplaintDecision,
    ComplaintRequest,
    ComplaintView,
    Dashboard,
    DecisionRecord,
    ExplainRequest,
    FeedbackAck,
    FeedbackRecord,
    FeedbackRequest,
    Taxonomy,
)
from teller.settings import ServeSettings
from teller.store import Allocation, Complaint, Feedback, Store
from teller.taxonomy import load_taxonomy


class Metrics:
    """Prometheus metrics of one gateway: requests, per-stage latency, batch sizes, labelled by model version."""

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


_BEARER = HTTPBearer(auto_error=False, description="The agent token printed by `teller serve`.")


def agent_guard(token: str | None):
    """A dependency admitting requests that carry `Authorization: Bearer <token>`; refuses all without a token set."""

    def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if token is None:
            raise HTTPException(503, "agent endpoints are disabled: set TELLER_SERVE__AGENT_TOKEN on the server")
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(
                401,
                "agent endpoints need the header 'Authorization: Bearer <token>' with the token `teller serve` printed",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def create_app(backends: Backends, store: Store, settings: ServeSettings, memory_turns: int = 4) -> FastAPI:
    """The gateway app; every route validates input before any stage runs or anything is stored."""
    version = backends.model_version

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        store.set_strategy(backends.model_name, version, role=settings.role, traffic=settings.traffic_percent)
        yield

    app = FastAPI(
        title="Teller",
        version="1",
        description="Complaint triage and CSR chat for a retail bank.",
        lifespan=lifespan,
    )
    metrics = Metrics()
    sessions = SessionStore(max_turns=memory_turns)
    token = settings.agent_token.get_secret_value() if settings.agent_token else None
    agent = [Depends(agent_guard(token))]

    @app.middleware("http")
    async def count(request: Request, call_next):
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.requests.labels(getattr(route, "path", "unmatched"), str(response.status_code)).inc()
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "problems": problems}, status_code=422)

    def check_length(texts: list[str]) -> None:
        for i, text in enumerate(texts):
            if not text.strip():
                raise HTTPException(422, f"text {i} is blank: send the message or narrative text")
            if len(text) > settings.max_text_chars:
                raise HTTPException(413, f"text {i} has {len(text)} characters; the limit is {settings.max_text_chars}")

    @app.post("/api/chat", response_model=ChatResponse)
    async def chat(body: ChatRequest) -> ChatResponse:
        check_length([body.message])
        session_id = body.session_id or str(uuid.uuid4())
        with metrics.timed("masking", version):
            (masked,) = await backends.mask([body.message])
        with metrics.timed("classification", version):
            (intent,) = await backends.intents([masked])
        reason = _handoff_reason(intent, settings.handoff_confidence)
        memory = sessions.get(session_id)
        answer = None
        if reason is None:
            with metrics.timed("answer", version):
                answer = await backends.answer(memory.contextualise(masked), intent.topic)
            if answer.handoff:
                reason = "low_confidence" if intent.confidence < settings.handoff_confidence else answer.reason
        memory.add(masked, reason is None)
        return ChatResponse(
            session_id=session_id,
            masked_message=masked,
            intent=intent.intent,
            topic=intent.topic,
            confidence=intent.confidence,
            answer=answer.text if answer and not answer.handoff else None,
            sources=answer.citations if answer and not answer.handoff else [],
            handoff=reason is not None,
            handoff_reason=reason,
            kb_version=answer.kb_version if answer else None,
            model_version=version,
        )

    async def decide(items: list[ComplaintRequest]) -> list[ComplaintDecision]:
        """Mask, triage and durably record complaints; every protocol's triage goes through here."""
        if not items:
            raise HTTPException(422, "empty batch: send one complaint or a non-empty list")
        check_length([c.narrative for c in items])
        metrics.batch.labels("complaints").observe(len(items))
        start = time.perf_counter()
        with metrics.timed("masking", version):
            masked = await backends.mask([c.narrative for c in items])
        with metrics.timed("classification", version):
            decisions = await backends.triage(masked)
        latency = round((time.perf_counter() - start) * 1000 / len(items), 2)
        rows = [
            Complaint(id=str(uuid.uuid4()), narrative=text, product=c.product, channel=c.channel, queue=d.queue)
            for c, text, d in zip(items, masked, decisions, strict=True)
        ]
        allocations = [
            Allocation(complaint_id=row.id, latency_ms=latency, **d.model_dump(exclude={"queue"}))
            for row, d in zip(rows, decisions, strict=True)
        ]
        with metrics.timed("audit_write", version):
            store.record_decisions(rows, allocations)
        return [
            ComplaintDecision(complaint_id=row.id, latency_ms=latency, **d.model_dump())
            for row, d in zip(rows, decisions, strict=True)
        ]

    def check_model(name: str) -> None:
        if name != backends.model_name:
            raise HTTPException(404, f"no model {name!r}; this server serves {backends.model_name!r}")

    async def decide_texts(texts: list[str]) -> list[Decision]:
        made = await decide([ComplaintRequest(narrative=t) for t in texts])
        return [Decision(**d.model_dump(exclude={"complaint_id", "latency_ms"})) for d in made]

    @app.post("/api/complaints", response_model=ComplaintDecision | list[ComplaintDecision])
    async def complaints(body: ComplaintRequest | list[ComplaintRequest]):
        out = await decide(body if isinstance(body, list) else [body])
        return out if isinstance(body, list) else out[0]

    @app.post("/api/explain", response_model=Attribution, dependencies=agent)
    async def explain(body: ExplainRequest) -> Attribution:
        """Word attributions by occlusion, computed on request (regulator use); the text is masked first."""
        check_length([body.narrative])
        (masked,) = await backends.mask([body.narrative])
        return await backends.explain(masked, body.head)

    @app.get("/v1/models/{name}")
    @app.get("/v2/models/{name}/ready")
    def model_ready(name: str) -> dict:
        check_model(name)
        return {"name": name, "ready": True}

    @app.post("/v1/models/{name}:predict")
    async def v1_predict(name: str, body: dict) -> dict:
        check_model(name)
        return protocols.v1_predictions(await decide_texts(payload(protocols.v1_texts, body)))

    @app.post("/v1/models/{name}:explain")
    async def v1_explain(name: str, body: dict) -> dict:
        check_model(name)
        texts = payload(protocols.v1_texts, body)
        check_length(texts)
        masked = await backends.mask(texts)
        return {"explanations": [(await backends.explain(t, "team")).model_dump() for t in masked]}

    @app.get("/v2/health/ready")
    def v2_ready() -> dict:
        return {"ready": True}

    @app.get("/v2/models/{name}")
    def v2_metadata(name: str) -> dict:
        check_model(name)
        return protocols.v2_metadata(name, version)

    @app.post("/v2/models/{name}/infer")
    async def v2_infer(name: str, body: dict) -> dict:
        check_model(name)
        texts, request_id = payload(protocols.v2_texts, body, name)
        return protocols.v2_response(await decide_texts(texts), name, version, request_id)

    @app.get("/ping")
    def ping() -> dict:
        return {"status": "healthy"}

    @app.post("/invocations")
    async def invocations(request: Request) -> dict:
        texts = payload(protocols.sagemaker_texts, await request.body(), request.headers.get("content-type", ""))
        return protocols.v1_predictions(await decide_texts(texts))

    @app.get("/api/complaints", response_model=list[ComplaintView], dependencies=agent)
    def list_complaints(
        queue: str | None = None, status: str | None = None, limit: int = Query(100, ge=1, le=1000)
    ) -> list[ComplaintView]:
        return [_view(c, c.allocations, c.feedback) for c in store.complaints(queue, status, limit)]

    @app.get("/api/complaints/{complaint_id}", response_model=ComplaintView, dependencies=agent)
    def get_complaint(complaint_id: str) -> ComplaintView:
        found = store.complaint(complaint_id)
        if found is None:
            raise HTTPException(404, f"no complaint {complaint_id}")
        return _view(*found)

    @app.post("/api/complaints/{complaint_id}/feedback", status_code=201, dependencies=agent)
    def feedback(complaint_id: str, body: FeedbackRequest) -> FeedbackAck:
        if body.team is None and body.issue is None and body.vulnerable is None:
            raise HTTPException(422, "feedback must correct at least one of team, issue, vulnerable")
        taxonomy = load_taxonomy()
        if body.team is not None and body.team not in taxonomy.team_labels:
            raise HTTPException(422, f"unknown team {body.team!r}; use one of {taxonomy.team_labels}")
        if body.issue is not None and body.issue not in taxonomy.issue_labels:
            raise HTTPException(422, f"unknown issue {body.issue!r}; see GET /api/taxonomy for the issue list")
        if not store.add_feedback(Feedback(complaint_id=complaint_id, **body.model_dump())):
            raise HTTPException(404, f"no complaint {complaint_id}")
        return FeedbackAck(complaint_id=complaint_id, status="corrected")

    @app.get("/api/taxonomy")
    def taxonomy_labels() -> Taxonomy:
        taxonomy = load_taxonomy()
        return Taxonomy(
            teams=taxonomy.team_labels,
            issues=taxonomy.issue_labels,
            queues=[*taxonomy.team_labels, SPECIALIST_QUEUE],
        )

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict:
        return {"status": "ready", "model_name": backends.model_name, "model_version": version}

    @app.get("/api/models")
    def models() -> list[dict]:
        """Which model version serves which share of traffic (for the ML engineers' dashboard)."""
        return [
            {"role": r.role, "model_name": r.model_name, "model_version": r.model_version, "traffic": r.traffic_percent}
            for r in store.strategy()
        ]

    @app.get("/api/dashboard", response_model=Dashboard, dependencies=agent)
    def dashboard(limit: int = Query(500, ge=1, le=10_000, description="How many recent decisions")) -> Dashboard:
        """Rollout shares, label distributions, confidence histogram and agreement with agents' corrections."""
        corrections = [(f, a) for _, f, a in store.corrections()]
        return summarise(store.recent_allocations(limit), corrections, store.strategy())

    @app.get("/metrics")
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if (settings.web_dist / "index.html").is_file():  # the single-page app, once `make web` has built it
        app.mount("/", StaticFiles(directory=settings.web_dist, html=True), name="web")
    return app


def payload(parse, *args):
    """Run a protocol parser; its PayloadError becomes a 422 with the parser's message."""
    try:
        return parse(*args)
    except protocols.PayloadError as exc:
        raise HTTPException(422, str(exc)) from None


def _handoff_reason(intent, min_confidence: float) -> str | None:
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


class _SpecOnly:
    """Backends that only name a model: enough to build the app for its OpenAPI spec."""

    model_name = "teller-triage"
    model_version = "spec"


def openapi_spec() -> dict:
    """The gateway's OpenAPI spec without loading a model or touching a database (the web client's types)."""
    return create_app(_SpecOnly(), Store("sqlite://", migrate=False), ServeSettings()).openapi()  # type: ignore[arg-type]
