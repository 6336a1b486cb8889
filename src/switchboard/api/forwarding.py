"""Requests about a call another node runs, answered by that node (issue 18, "Any node serves
any API request").

With several nodes on one PostgreSQL, a call's legs, media, timers and interpreter live in the
memory of the node that owns it. A request that reached another node (the load balancer picks
any) and needs the live call - updateCall, PUT .../bxml, GET of a live call, the callee controls,
the live timeline - is replayed to the owner, and the owner's answer goes back unchanged, so the
client sees what one node would have said.

The node the client reached still authenticates the request and checks the account first: a
stranger is refused there, as on one node, before anything is sent anywhere. The replayed request
carries `X-Switchboard-Forwarded: 1`; a node never forwards such a request again, and answers it
as one node would (404 or the stored state when the call is not, or no longer, its own), so a
request whose call just moved cannot bounce between nodes.

When the owner cannot be reached (refused, reset, no answer within the timeout), the answer is a
503 that says to retry: if that node is dead, the node registry moves its calls to a live node
within the lease, and the retry finds the call there.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

import aiohttp
from starlette.requests import Request
from starlette.responses import Response

from switchboard.api.body import MAX_BODY_BYTES, read_body
from switchboard.api.responses import error_response
from switchboard.calls.model import DISCONNECTED
from switchboard.errors import OverloadedError

if TYPE_CHECKING:
    from switchboard.api.context import ApiContext
    from switchboard.calls.model import Call

logger = logging.getLogger("switchboard.api.forwarding")

FORWARDED_HEADER = "X-Switchboard-Forwarded"
# What of the client's request the owner needs to answer it as it would have: credentials, the
# body's type, and what the client accepts. Nothing else (cookies, hop-by-hop headers, the Host
# the client used) is the owner's business.
REPLAYED_HEADERS = ("authorization", "content-type", "accept")
# What of the owner's answer the client would have seen from one node besides status, body and
# Content-Type: where to go next, when to retry, how to authenticate, what is allowed.
RETURNED_HEADERS = ("location", "retry-after", "link", "www-authenticate", "allow")
# The owner answers these requests from memory: seconds are already a node in trouble. Under the
# node lease (~10 s), so a client told to retry finds the call on its new owner soon after.
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 2.0
DEFAULT_CONNECTION_LIMIT = 200
RETRY_AFTER_SECONDS = 1


class CallOwners(Protocol):
    """Which node runs a call (the node registry, switchboard.nodes)."""

    async def forward_target(self, call_id: str) -> str | None:
        """The base URL (e.g. "http://10.0.0.2:8080") of the live node that owns the call when
        that is another node; None when this node owns it or no node runs it any more."""
        ...


class Forwarder:
    """One pooled aiohttp session per app for the requests replayed to other nodes.

    Created on first use, inside the running loop (most nodes never forward: one node, SQLite);
    `close()` it when the app stops."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        limit: int = DEFAULT_CONNECTION_LIMIT,
    ) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                timeout=aiohttp.ClientTimeout(
                    total=self.timeout, sock_connect=min(self.connect_timeout, self.timeout)
                ),
                # One session serves every account: nothing of one request may reach another.
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": "Switchboard-node-forwarding"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


async def answer_from_owner(
    request: Request, context: ApiContext, call: Call, *, ended_too: bool = False
) -> Response | None:
    """The owner's answer when another node runs `call`; None when this node answers: one node
    (no registry), a request already forwarded once, a call this node's engine runs or that no
    live node owns, or - unless `ended_too` - a call whose stored row says it has ended (that
    row is final; but its owner may still hold timeline entries it has not written yet)."""
    if context.nodes is None or request.headers.get(FORWARDED_HEADER):
        return None
    if call.state == DISCONNECTED and not ended_too:
        return None
    if context.engine is not None and context.engine.current(call.call_id) is not None:
        return None
    target = await context.nodes.forward_target(call.call_id)
    if target is None:
        return None
    return await forward(request, target)


async def forward(request: Request, base_url: str) -> Response:
    """Replay the client's request to the node at `base_url` and return its answer as it came:
    status, body, Content-Type and the headers in RETURNED_HEADERS. A 503 (Bandwidth's body,
    with Retry-After) when that node cannot be reached."""
    context: ApiContext = request.app.state.context
    forwarder = context.forwarder
    # The same cap as the route's own read: a body too large is refused here, as on one node,
    # and never held in memory whole.
    body = await read_body(request, limit=MAX_BODY_BYTES)
    headers = {name: value for name in REPLAYED_HEADERS if (value := request.headers.get(name))}
    headers[FORWARDED_HEADER] = "1"
    url = base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    try:
        # The session's timeout bounds connect and answer; this one also bounds reading the body.
        async with asyncio.timeout(forwarder.timeout):
            async with forwarder.session().request(
                request.method,
                url,
                data=body if body else None,
                headers=headers,
                allow_redirects=False,
            ) as answer:
                content = await answer.read()
                status = answer.status
                returned = {
                    name: value
                    for name in ("content-type", *RETURNED_HEADERS)
                    if (value := answer.headers.get(name))
                }
    except (TimeoutError, aiohttp.ClientError, OSError) as error:
        call_id = request.path_params.get("call_id", "")
        logger.warning(
            "node %s, which runs call %s, did not answer %s %s: %s",
            base_url,
            call_id,
            request.method,
            request.url.path,
            _describe(error),
        )
        return error_response(
            OverloadedError(
                f"The node that runs call {call_id} is unreachable: retry in a moment (if that "
                "node is gone, another node takes the call over within seconds)",
                RETRY_AFTER_SECONDS,
            )
        )
    # No media_type: the owner's Content-Type (or its absence, on a 204) goes back as it came.
    return Response(content=content, status_code=status, headers=returned)


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
