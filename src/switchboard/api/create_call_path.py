"""POST /api/v2/accounts/{accountId}/calls as a raw ASGI handler, in front of Starlette.

Why: creating calls is the hot path of the API, and Starlette's request cycle (its middleware
stack, routing, Request and Response objects) cost more CPU per request than the whole of
creating a call (see docs/benchmarks.md, "Create call"). This layer answers exactly that method
and path; every other request, and this path behind a root_path, goes on to the Starlette app.

What a client sees is the same as through `routes_calls.create_call` (which stays, for the
requests this layer passes on): the same checks in the same order (credentials, draining,
Content-Type, Content-Length, size, JSON, the body's fields, the account's limits), the same
error bodies (rendered by `responses.error_response`), the same 500 with a logged id for a bug,
and a 201 with the same headers and body. The request observer still sees the route and the
account id (scope["route"], scope["path_params"]), as Starlette would have set them.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from switchboard.api.body import (
    MAX_BODY_BYTES,
    check_declared_length,
    check_json_content_type,
    json_object,
    too_large,
)
from switchboard.api.context import ApiContext
from switchboard.api.responses import JSON_TYPE, error_response, logger
from switchboard.errors import SwitchboardError

# Starlette's pattern for "/api/v2/accounts/{account_id}/calls" and ".../calls/": a path
# parameter is anything up to the next slash.
_PATH = re.compile(r"^/api/v2/accounts/([^/]+)/calls/?$")
_CONTENT_TYPE = (b"content-type", JSON_TYPE.encode("latin-1"))
_WANTED = frozenset(
    {
        b"authorization",
        b"content-type",
        b"content-length",
        b"host",
        b"x-forwarded-proto",
        b"x-forwarded-host",
    }
)


class CreateCallPath:
    """ASGI middleware: serves createCall itself, passes everything else to `app`."""

    def __init__(self, app: ASGIApp, context: ApiContext, route: BaseRoute | None) -> None:
        self.app = app
        self.context = context
        self.route = route  # what scope["route"] names for the request observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope.get("root_path")
            or (match := _PATH.match(scope["path"])) is None
        ):
            await self.app(scope, receive, send)
            return
        account_id = match.group(1)
        scope["route"] = self.route
        scope["path_params"] = {"account_id": account_id}
        try:
            await self._create(scope, receive, send, account_id)
        except SwitchboardError as error:
            await error_response(error)(scope, receive, send)
        except Exception as error:
            # As responses.handle_unexpected: a 500 whose id is logged beside the traceback.
            error_id = str(uuid.uuid4())
            logger.error(
                "internal error %s on %s %s",
                error_id,
                scope["method"],
                scope["path"],
                exc_info=error,
            )
            await error_response(SwitchboardError(), error_id)(scope, receive, send)

    async def _create(self, scope: Scope, receive: Receive, send: Send, account_id: str) -> None:
        context = self.context
        # The first of each header, as Starlette's Headers.get reads them.
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _WANTED and name not in headers:
                headers[name] = value

        await context.refresh_provisioning()
        client = scope.get("client")
        await context.auth.authorize(
            _text(headers.get(b"authorization")), account_id, client[0] if client else None
        )
        context.check_accepting_calls()
        check_json_content_type(_text(headers.get(b"content-type")))
        check_declared_length(_text(headers.get(b"content-length")))
        body = json_object(await _read_body(receive))

        base_url = context.base_url_of(
            scope.get("scheme", "http"),
            _text(headers.get(b"host")),
            _text(headers.get(b"x-forwarded-proto")),
            _text(headers.get(b"x-forwarded-host")),
        )
        call = await context.calls.create(account_id, body, context.auth.snapshot, base_url)
        content = orjson.dumps(call.create_response())
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [
                    (b"location", call.call_url.encode("latin-1")),
                    (b"content-length", str(len(content)).encode("latin-1")),
                    _CONTENT_TYPE,
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


async def _read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refusing (413) more than `limit` bytes as soon as they arrive."""
    message: Any = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")  # the usual case: the whole body in one message
        if len(body) > limit:
            raise too_large(limit)
        return body
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
        message = await receive()
