"""JSON responses rendered with orjson, and Bandwidth-shaped error bodies."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from switchboard.errors import (
    MethodNotAllowedError,
    NotFoundError,
    SwitchboardError,
    ValidationError,
)

logger = logging.getLogger("switchboard.api")
JSON_TYPE = "application/json;charset=UTF-8"


class JsonResponse(Response):
    media_type = JSON_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: SwitchboardError, error_id: str | None = None) -> JsonResponse:
    body = {
        "type": error.type,
        "description": error.description,
        "id": error.default_id if error_id is None else error_id,
    }
    return JsonResponse(body, status_code=error.status, headers=error.headers())


async def handle_switchboard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SwitchboardError)
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no route, wrong method) in Bandwidth's shape."""
    assert isinstance(exc, HTTPException)
    error: SwitchboardError
    allowed = ""
    if exc.status_code == 404:
        error = NotFoundError(f"No resource at {request.method} {request.url.path}")
    elif exc.status_code == 405:
        allowed = _allowed_methods(request) or (exc.headers or {}).get("Allow", "")
        error = MethodNotAllowedError(
            f"Method Not Allowed: {request.method} is not allowed on {request.url.path}"
            + (f"; allowed: {allowed}" if allowed else "")
        )
    else:
        error = ValidationError(str(exc.detail))
        error.status = exc.status_code
    response = error_response(error)
    if allowed:
        response.headers["Allow"] = allowed
    return response


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. (Starlette's 405 names only the methods of
    the first route whose path matched, e.g. POST for /calls, which GET also serves.)"""
    methods: set[str] = set()
    for route in getattr(request.scope.get("app"), "routes", ()):
        if (
            isinstance(route, Route)
            and route.methods
            and route.matches(request.scope)[0] is not Match.NONE
        ):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Any bug becomes a 500 whose id appears in the log next to the traceback."""
    error_id = str(uuid.uuid4())
    logger.error(
        "internal error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc
    )
    return error_response(SwitchboardError(), error_id)
