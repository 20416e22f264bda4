"""Typed serving errors and the one place they become HTTP responses (every route and the KServe predictor).

Each error says what went wrong, where, and how to fix it; the body is `{"detail", "error", "where", "fix"}`.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from teller.errors import TellerError

log = logging.getLogger(__name__)


class ServiceError(TellerError):
    """A request the service cannot carry out; `status` is its HTTP status code."""

    status: ClassVar[int] = 500

    @property
    def headers(self) -> dict[str, str]:
        return {}

    @property
    def detail(self) -> str:
        """One line for people: where, what, and the fix."""
        what = f"{self.where}: {self.what}" if self.where else self.what
        return f"{what}. Fix: {self.fix}" if self.fix else what

    def body(self) -> dict:
        return {"detail": self.detail, "error": self.what, "where": self.where, "fix": self.fix}


class InvalidInput(ServiceError):
    """Decoded, but not what the route expects (a blank narrative, no instances, an unknown label)."""

    status = 422


class MalformedPayload(InvalidInput):
    """A body that cannot be decoded at all: not UTF-8, not JSON or CSV, nested too deeply."""

    status = 400


class PayloadTooLarge(ServiceError):
    """A text or batch over the configured limit."""

    status = 413


class Unauthorized(ServiceError):
    """An agent route called without the agent token."""

    status = 401

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class NotFound(ServiceError):
    """No such complaint or model."""

    status = 404


class Disabled(ServiceError):
    """A feature this server was started without (the agent routes when no token is set)."""

    status = 503


class Unavailable(ServiceError):
    """A stage the request needs failed or did not answer in time; the client may retry."""

    status = 503
    retry_after_s: ClassVar[int] = 5

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class BackendUnavailable(Unavailable):
    """A model stage (masker, classifier, answerer) failed or timed out."""


class StoreUnavailable(Unavailable):
    """The audit store could not be read or written; no decision is returned that is not stored."""


def error_response(exc: ServiceError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def service_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """A typed error as its status code, headers and body (also installed on the KServe model server)."""
    assert isinstance(exc, ServiceError)
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()]
    return JSONResponse({"error": "invalid request", "problems": problems}, status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = {
        "detail": f"internal error ({type(exc).__name__}) on {request.url.path}. Fix: retry; if it persists, "
        "send the operator the time of the request (the server log has the details)",
        "error": "internal error",
        "where": request.url.path,
        "fix": "retry; if it persists, report it with the time of the request",
    }
    return JSONResponse(body, status_code=500)


def add_exception_handlers(app: FastAPI) -> None:
    """Map typed errors to their status codes, request validation to 422, anything else to a 500 without a trace."""
    app.add_exception_handler(ServiceError, service_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
