"""The ASGI application: routes, error handlers, and the catch-all that keeps bodies Bandwidth's."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.api import routes_call_control, routes_calls, routes_oauth, routes_recordings
from switchboard.api.context import ApiContext, context_of
from switchboard.api.create_call_path import CreateCallPath
from switchboard.api.early_refusal import EarlyRefusal
from switchboard.api.redirects import HostFreeRedirects
from switchboard.api.responses import (
    JsonResponse,
    error_response,
    handle_http_exception,
    handle_switchboard_error,
    handle_unexpected,
    logger,
)
from switchboard.errors import SwitchboardError
from switchboard.observability.middleware import RequestObserver

CALLS = "/api/v2/accounts/{account_id}/calls"


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the store is open, the engine runs, the server is not draining, and (several
    nodes) it holds its lease."""
    context = context_of(request)
    if context.extra.get("ready") and context.holds_node_lease():
        return JsonResponse({"status": "ready"})
    if context.extra.get("draining"):
        state = "draining"
    elif context.extra.get("ready"):
        state = "not holding its node lease (the database is unreachable)"
    else:
        state = "starting"
    return JsonResponse(
        {"type": "system-overloaded", "description": f"Switchboard is {state}", "id": None},
        status_code=503,
    )


async def metrics(request: Request) -> Response:
    context = context_of(request)
    if context.metrics is None:
        return Response(status_code=404)
    settings = context.settings
    refused = settings.metrics_access.refusal(
        request.headers.get("authorization"), settings.profile == "production"
    )
    if refused is not None:  # its labels carry account ids (issue 23)
        status, description = refused
        return JsonResponse(
            {
                "type": "unauthorized" if status == 401 else "not-found",
                "description": description,
                "id": None,
            },
            status_code=status,
        )
    return Response(context.metrics.render(), media_type="text/plain; version=0.0.4")


def build_app(
    context: ApiContext,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
    extra_routes: list[Route] | None = None,
) -> ASGIApp:
    create_route = Route(CALLS, routes_calls.create_call, methods=["POST"])
    routes = [
        create_route,
        Route(CALLS + "/", routes_calls.create_call, methods=["POST"]),
        Route(CALLS, routes_call_control.list_calls, methods=["GET"]),
        Route(CALLS + "/", routes_call_control.list_calls, methods=["GET"]),
        Route(CALLS + "/{call_id}", routes_call_control.get_call, methods=["GET"]),
        Route(CALLS + "/{call_id}", routes_call_control.update_call, methods=["POST"]),
        Route(CALLS + "/{call_id}/bxml", routes_call_control.update_call_bxml, methods=["PUT"]),
        *recording_routes(),
        Route(
            "/api/v2/accounts/{account_id}/statistics",
            routes_call_control.get_statistics,
            methods=["GET"],
        ),
        Route("/api/v1/oauth2/token", routes_oauth.issue_token, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *(extra_routes or []),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            SwitchboardError: handle_switchboard_error,
            HTTPException: handle_http_exception,
            # Starlette's ServerErrorMiddleware renders this, then re-raises (see CatchAll).
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.context = context
    # createCall skips Starlette's request cycle (see api/create_call_path.py).
    served: ASGIApp = CreateCallPath(CatchAll(app), context, create_route)
    # Redirects never point at the host a client's Host header named (issue 23).
    served = HostFreeRedirects(served, context.settings.public_url)
    outer: RequestObserver | WithState
    if context.metrics is not None:
        outer = RequestObserver(served, context.metrics, app)
        app.state.early_refusal = EarlyRefusal(context, outer.record)
    else:
        outer = WithState(served, app)
        app.state.early_refusal = EarlyRefusal(context)
    return outer


def recording_routes() -> list[Route]:
    recording = CALLS + "/{call_id}/recordings/{recording_id}"
    return [
        Route(
            "/api/v2/accounts/{account_id}/recordings",
            routes_recordings.list_account_recordings,
            methods=["GET"],
        ),
        Route(
            CALLS + "/{call_id}/recording",
            routes_recordings.update_recording_state,
            methods=["PUT"],
        ),
        Route(
            CALLS + "/{call_id}/recordings",
            routes_recordings.list_call_recordings,
            methods=["GET"],
        ),
        Route(recording, routes_recordings.get_recording, methods=["GET"]),
        Route(recording, routes_recordings.delete_recording, methods=["DELETE"]),
        Route(recording + "/media", routes_recordings.download_media, methods=["GET"]),
        Route(recording + "/media", routes_recordings.delete_media, methods=["DELETE"]),
        Route(recording + "/transcription", routes_recordings.get_transcription, methods=["GET"]),
        Route(
            recording + "/transcription",
            routes_recordings.request_transcription,
            methods=["POST"],
        ),
        Route(
            recording + "/transcription",
            routes_recordings.delete_transcription,
            methods=["DELETE"],
        ),
    ]


class WithState:
    """The outermost layer exposes the Starlette app's `state` (server.py reads the context
    from it)."""

    def __init__(self, app: ASGIApp, starlette: Starlette) -> None:
        self.app = app
        self._starlette = starlette

    @property
    def state(self) -> Any:
        return self._starlette.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class CatchAll:
    """Outermost layer: an exception nothing else handled becomes Bandwidth's 500 body, with an
    id that is logged beside the traceback. (Starlette's own handler would re-raise it.)"""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                return  # handle_unexpected already answered and logged it
            error_id = str(uuid.uuid4())
            logger.error(
                "internal error %s on %s %s",
                error_id,
                scope.get("method"),
                scope.get("path"),
                exc_info=exc,
            )
            await error_response(SwitchboardError(), error_id)(scope, receive, send)
