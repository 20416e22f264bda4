"""Thin routers, one per surface: each route decodes the request, calls `TellerService`, encodes the reply."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.service import TellerService

_BEARER = HTTPBearer(auto_error=False, description="The agent token printed by `teller serve`.")


def get_service(request: Request) -> TellerService:
    """The app's one service (set by `serving.gateway.create_app`)."""
    return request.app.state.service


Service = Annotated[TellerService, Depends(get_service)]


def require_agent(
    service: Service, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> None:
    """Admit requests carrying `Authorization: Bearer <agent token>`."""
    service.authorize(credentials.credentials if credentials else None)


AGENT = [Depends(require_agent)]
