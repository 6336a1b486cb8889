"""The web console's routes (issue 14). Never Bandwidth's paths (DESIGN.md rule 6):

GET  /                                               the console page
GET  /console/{file}                                 its script, style sheet and icon
POST /switchboard/v1/accounts/{accountId}/events/tokens   -> {"token", "expiresIn"}
GET  /switchboard/v1/accounts/{accountId}/events?token=…  Server-Sent Events: the live feed
GET  /switchboard/v1/accounts/{accountId}/overview        numbers, applications, limits

Signing in is the browser keeping the account's API credentials in memory and sending them as
HTTP Basic like any client. EventSource cannot send an Authorization header, so the page first
asks for a stream token with those credentials (POST .../events/tokens) and opens the stream
with it in the query string. A token is random, names one account, is kept only in this
process's memory and opens streams for `TOKEN_SECONDS`; a stream it opened lives on. A token
never authenticates anything else, so one leaked from a URL (a log, the history) only shows
that account's call events for a minute. The stream also accepts an Authorization header
(curl, tests).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from switchboard.api.context import ApiContext, context_of
from switchboard.api.responses import JsonResponse
from switchboard.calls.feed import Subscription
from switchboard.calls.model import Call
from switchboard.calls.timeline import TimelineEntry
from switchboard.calls.views import call_state
from switchboard.errors import AuthenticationError, NotFoundError, UnavailableError

PREFIX = "/switchboard/v1/accounts/{account_id}"
TOKEN_SECONDS = 60
MAX_TOKENS = 10_000
HEARTBEAT_SECONDS = 15.0  # a comment line, so proxies and the browser see the stream alive
# The page's own files: a fixed list, so no path a client sends reaches the file system.
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
# Everything the page needs comes from this server; no inline script can run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class StreamTokens:
    """Short-lived tokens that open one account's event stream (see the module's docstring)."""

    def __init__(self, seconds: float = TOKEN_SECONDS, now: Any = time.monotonic) -> None:
        self.seconds = seconds
        self._now = now
        self._tokens: dict[str, tuple[str, float]] = {}

    def issue(self, account_id: str) -> str:
        now = self._now()
        if len(self._tokens) >= MAX_TOKENS:  # drop the expired; if none, the oldest half
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            if len(self._tokens) >= MAX_TOKENS:
                self._tokens = dict(list(self._tokens.items())[MAX_TOKENS // 2 :])
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (account_id, now + self.seconds)
        return token

    def account_of(self, token: str) -> str | None:
        found = self._tokens.get(token)
        if found is None:
            return None
        if found[1] <= self._now():
            del self._tokens[token]
            return None
        return found[0]


def stream_tokens(context: ApiContext) -> StreamTokens:
    tokens = context.extra.get("console_tokens")
    if not isinstance(tokens, StreamTokens):
        tokens = StreamTokens()
        context.extra["console_tokens"] = tokens
    return tokens


async def issue_stream_token(request: Request) -> Response:
    context = context_of(request)
    account_id = request.path_params["account_id"]
    await context.authorize(request, account_id)
    token = stream_tokens(context).issue(account_id)
    return JsonResponse({"token": token, "expiresIn": TOKEN_SECONDS}, status_code=201)


async def events(request: Request) -> Response:
    context = context_of(request)
    account_id = request.path_params["account_id"]
    token = request.query_params.get("token")
    if token is not None and request.headers.get("authorization") is None:
        if stream_tokens(context).account_of(token) != account_id:
            raise AuthenticationError(
                "The event stream token is unknown, expired or for another account: "
                "ask for a new one (POST .../events/tokens)"
            )
    else:
        await context.authorize(request, account_id)
    if context.engine is None:
        raise UnavailableError("This server runs no engine: there are no live calls")
    if context.engine.feed.closed:
        raise UnavailableError("Switchboard is shutting down")
    subscription = context.engine.feed.subscribe(account_id)
    return StreamingResponse(
        _stream(context, subscription),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(context: ApiContext, subscription: Subscription) -> AsyncIterator[bytes]:
    """`ready` once, then a `calls` event per batch: [{"call": callState + tag, "entry":
    timeline entry}] in the order they happened; `lagged` when entries were dropped (the page
    reloads what it shows); ends when the server stops."""
    assert context.engine is not None
    feed = context.engine.feed
    try:
        yield _event("ready", {"accountId": subscription.account_id})
        while not feed.closed:
            batch = await subscription.next_batch(HEARTBEAT_SECONDS)
            if subscription.lagged:
                subscription.lagged = False
                yield _event("lagged", {})
            if batch:
                yield _event("calls", await _describe(context, batch))
            elif not feed.closed:
                yield b": keep-alive\n\n"
    finally:
        subscription.close()


async def _describe(
    context: ApiContext, batch: list[tuple[str, TimelineEntry]]
) -> list[dict[str, Any]]:
    assert context.engine is not None
    calls: dict[str, dict[str, Any] | None] = {}
    described = []
    for call_id, entry in batch:
        if call_id not in calls:
            call = context.engine.current(call_id) or await context.store.get_call(call_id)
            calls[call_id] = summary(call) if call is not None else None
        described.append({"callId": call_id, "call": calls[call_id], "entry": entry.to_json()})
    return described


def summary(call: Call) -> dict[str, Any]:
    """What the console's list shows of a call: Bandwidth's callState and the call's tag."""
    return call_state(call) | {"tag": call.tag}


def _event(name: str, data: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def overview(request: Request) -> Response:
    """The account's numbers, applications and limits, read-only (no secret, no password)."""
    context = context_of(request)
    account_id = request.path_params["account_id"]
    await context.authorize(request, account_id)
    snapshot = context.auth.snapshot
    account = snapshot.accounts.get(account_id)
    if account is None:
        raise NotFoundError(f"Account {account_id} not found")
    limits = context.engine.limits_for(account_id) if context.engine else None
    return JsonResponse(
        {
            "accountId": account_id,
            "name": account.name,
            "limits": None
            if limits is None
            else {
                "callsPerSecond": limits.calls_per_second,
                "concurrentCalls": limits.concurrent_calls,
                "queueEnabled": limits.queue_enabled,
                "maxQueueSize": limits.max_queue_size,
            },
            "applications": [
                {
                    "applicationId": app.id,
                    "name": app.name,
                    "callInitiatedCallbackUrl": app.voice.call_initiated_callback_url,
                    "callInitiatedMethod": app.voice.call_initiated_method,
                    "callStatusCallbackUrl": app.voice.call_status_callback_url,
                }
                for app in sorted(snapshot.applications.values(), key=lambda a: a.name)
                if app.account_id == account_id
            ],
            "numbers": [
                {"number": number.number, "applicationId": number.application_id}
                for number in sorted(snapshot.numbers.values(), key=lambda n: n.number)
                if number.account_id == account_id
            ],
            "simulatedNetwork": context.simulator is not None,
        }
    )


_files: dict[str, bytes] = {}


def _static(name: str) -> Response:
    if name not in STATIC:
        raise NotFoundError(f"No console file {name!r}")
    if name not in _files:  # read once: the files ship inside the package
        _files[name] = resources.files("switchboard.console").joinpath("static", name).read_bytes()
    return Response(_files[name], media_type=STATIC[name], headers=SECURITY_HEADERS)


async def index(request: Request) -> Response:
    return _static("index.html")


async def static_file(request: Request) -> Response:
    return _static(request.path_params["name"])


def console_routes() -> list[Route]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/console/{name}", static_file, methods=["GET"]),
        Route(PREFIX + "/events/tokens", issue_stream_token, methods=["POST"]),
        Route(PREFIX + "/events", events, methods=["GET"]),
        Route(PREFIX + "/overview", overview, methods=["GET"]),
    ]
