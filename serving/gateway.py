"""The HTTP gateway: one `TellerService` behind thin routers (public API, agent API, KServe, SageMaker, health)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.memory import SessionStore
from serving.backends import Backends
from serving.errors import add_exception_handlers
from serving.routers import agent, api, health, kserve, sagemaker
from serving.service import TellerService
from teller.settings import ServeSettings
from teller.store import Store


def create_app(
    backends: Backends, store: Store, settings: ServeSettings, memory_turns: int = 4, warm_up: bool = False
) -> FastAPI:
    """The gateway app over any `Backends`; typed service errors map to HTTP status codes in `serving.errors`."""
    service = TellerService(backends, store, settings, SessionStore(max_turns=memory_turns))
    return build_app(service, settings, warm_up)


def build_app(service: TellerService, settings: ServeSettings, warm_up: bool = False) -> FastAPI:
    """Mount every router over `service`, count requests, and serve the built web app at / when present.

    With `warm_up`, startup (and so readiness) waits until one text has been through every stage.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        service.start()
        if warm_up:
            await service.warm_up()
        yield

    app = FastAPI(
        title="Teller",
        version="1",
        description="Complaint triage and CSR chat for a retail bank.",
        lifespan=lifespan,
    )
    app.state.service = service
    add_exception_handlers(app)
    for surface in (api, agent, kserve, sagemaker, health):
        app.include_router(surface.router)

    app.add_middleware(RequestCounter, requests=service.metrics.requests)
    if (settings.web_dist / "index.html").is_file():  # the single-page app, once `make web` has built it
        app.mount("/", StaticFiles(directory=settings.web_dist, html=True), name="web")
    return app


class RequestCounter:
    """Counts HTTP requests by route and status as plain ASGI: Starlette's `BaseHTTPMiddleware` costs ~0.4 ms of the
    event loop per request (a task and a stream per response), this nothing measurable."""

    def __init__(self, app: ASGIApp, requests: Counter) -> None:
        self.app, self.requests = app, requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before it responds

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:  # the router has put the matched route in the shared scope by now
            self.requests.labels(getattr(scope.get("route"), "path", "unmatched"), str(status)).inc()


class _SpecOnly:
    """Backends that only name a model: enough to build the app for its OpenAPI spec."""

    model_name = "teller-triage"
    model_version = "spec"


def openapi_spec() -> dict:
    """The gateway's OpenAPI spec without loading a model or touching a database (the web client's types)."""
    return create_app(_SpecOnly(), Store("sqlite://", migrate=False), ServeSettings()).openapi()  # type: ignore[arg-type]
