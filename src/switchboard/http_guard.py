"""uvicorn's httptools protocol, with the limits it lacks (issue 23, DESIGN.md "Performance
notes"): httptools reads a request's head whole, however large and however slowly it comes.

- The request line is capped (400) and the whole head (request line and headers) is capped
  (431): counted as bytes arrive, so a 100 MB header is refused after its first 16 KiB instead
  of being held in memory.
- A header-read timeout: from a connection's opening, or a request's first byte, to the end of
  that request's headers. A slow or incomplete request is answered 408 and closed. It is not
  the idle keep-alive between complete requests ([server] keep_alive_seconds), which stays.
- A cap on open connections. From `max_connections - reserved_connections` on, the oldest
  connection that has not yet sent the head of its first request is answered 503 and closed
  to make room for each new one (half-open connections cannot keep a client out, nor push it
  into the reserve; a real client sends its head at once, so it is the newest of them and the
  last to go). At the cap with none of them, the new connection is answered 503 and closed.
  The last `reserved_connections` below the cap serve only requests that carry an
  Authorization header (others get 503), and close after one response, so an API client still
  gets in while anonymous connections that did send requests fill the rest.

Every refusal is a Bandwidth-style body {"type", "description", "id"}. After a refusal the
connection stops writing and discards what the client still sends for a short while before it
closes ("lingering close"): closing with unread data would reset the connection, and the client
would see a reset instead of the answer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from switchboard.hardening import HttpLimits

if TYPE_CHECKING:
    from switchboard.api.early_refusal import EarlyRefusal

logger = logging.getLogger("switchboard.http")
LINGER_SECONDS = 2.0
_END_OF_HEAD = b"\r\n\r\n"


class RefusalLog:
    """At most one warning per second about refused connections, then how many more there
    were: a flood of 20,000 half-open connections must not become 20,000 log lines."""

    def __init__(self, interval: float = 1.0, now: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._now = now
        self._last = -math.inf
        self._unlogged = 0

    def note(self, client: tuple[str, int] | None, status: int, description: str) -> None:
        now = self._now()
        if now - self._last < self.interval:
            self._unlogged += 1
            return
        self._last = now
        more = f" (and {self._unlogged} more refused since the last line)" if self._unlogged else ""
        self._unlogged = 0
        peer = f"{client[0]}:{client[1]}" if client else "?"
        logger.warning("refused a connection from %s: %d %s%s", peer, status, description, more)


_refusal_log = RefusalLog()


class _Refused(Exception):
    """Stops httptools mid-parse once the connection has answered with a refusal."""


def guarded_protocol(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn.Config(http=...), with these limits."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


def refusal_bytes(status: int, error_type: str, description: str) -> bytes:
    body = orjson.dumps({"type": error_type, "description": description, "id": None})
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n",
            b"\r\n",
            body,
        ]
    )


async def _reserved_refusal(scope: Any, receive: Any, send: Any) -> None:
    body = orjson.dumps(
        {
            "type": "system-overloaded",
            "description": "The server is at its connection limit; only requests with an "
            "Authorization header are served now. Try again later.",
            "id": None,
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardedHttpProtocol(HttpToolsProtocol):
    limits: HttpLimits = HttpLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_bytes = 0
        self._tail = b""  # the last bytes of the head so far, to find its end across reads
        # When the head being read must be complete; None between requests. One timer per
        # connection checks it, re-armed only when it fires: a request costs no timer.
        self._head_deadline: float | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._reserved = False
        self._first_heads: OrderedDict[GuardedHttpProtocol, None] = OrderedDict()
        self._first_head_pending = False
        # A response the app's early refusal gave for the request being read: written once
        # its body has been read (and dropped), in place of running the app. See
        # api/early_refusal.py; found on the app's state, None for other apps.
        self._early_response: bytes | None = None
        self._early_keep_alive = True
        self._idle_after_read = False
        state = getattr(self.app, "state", None)
        self._early_refusal: EarlyRefusal | None = getattr(state, "early_refusal", None)

    # -- connections ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # Connections that have not yet sent the head of their first request, oldest first:
        # once the connections reach the reserve, the oldest of them makes room for a new
        # one. Half-open connections cannot keep a new client out, while one whose first head
        # is on its way (a real client sends it at once) is the newest there, the last to go.
        waiting: OrderedDict[GuardedHttpProtocol, None] | None = getattr(
            self.server_state, "switchboard_first_heads", None
        )
        if waiting is None:
            waiting = OrderedDict()
            self.server_state.switchboard_first_heads = waiting  # type: ignore[attr-defined]
        self._first_heads = waiting
        # From where the reserve starts: so half-open connections never push a new one into
        # the reserve (where only requests with credentials are served).
        room = self.limits.max_connections - self.limits.reserved_connections
        if len(self.connections) >= room and waiting:
            oldest = next(iter(waiting))
            oldest._evict()
        others = len(self.connections)
        super().connection_made(transport)
        if others >= self.limits.max_connections:
            # Not counted: it holds nothing but its socket, for the lingering close.
            self.connections.discard(self)
            self._refuse(
                503,
                "system-overloaded",
                "The server is at its connection limit; try again later",
            )
            return
        self._reserved = others >= self.limits.max_connections - self.limits.reserved_connections
        waiting[self] = None
        self._first_head_pending = True
        self._start_head()

    def _evict(self) -> None:
        self._first_heads.pop(self, None)
        self.connections.discard(self)  # it lingers uncounted, as a refused one does
        self._refuse(
            503,
            "system-overloaded",
            "The server is at its connection limit and this connection sent no request; "
            "try again later",
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._first_heads.pop(self, None)
        self._cancel_head_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)

    # -- reading ----------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: read and drop
        cycle = self.cycle
        reading_head = self._early_response is None and (cycle is None or not cycle.more_body)
        if reading_head:  # (a body's end was seen, or there was none)
            before = self._head_bytes
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                seen = self._tail + data
                end = seen.find(_END_OF_HEAD)
                if end < 0 or before - len(self._tail) + end + len(_END_OF_HEAD) > (
                    self.limits.max_header_bytes
                ):
                    self._refuse(
                        431,
                        "request-header-fields-too-large",
                        f"The request's headers exceed {self.limits.max_header_bytes} bytes",
                    )
                    return
            self._tail = data[-3:] if len(data) >= 3 else (self._tail + data)[-3:]
        super().data_received(data)
        if self._idle_after_read:
            self._idle_after_read = False
            self._start_idle_timeout()

    def _start_idle_timeout(self) -> None:
        """After early answers: the keep-alive timeout, if the connection is now idle."""
        cycle = self.cycle
        if (
            self._early_response is None
            and (cycle is None or cycle.response_complete)
            and self.timeout_keep_alive_task is None
            and not self.transport.is_closing()
        ):
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def send_400_response(self, msg: str) -> None:
        # httptools could not parse the request (or a callback refused it already).
        if not self._refused:
            self._refuse(400, "validation", "The request is not valid HTTP/1.1")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_deadline is None:
            self._start_head()

    def on_headers_complete(self) -> None:
        if self._first_head_pending:
            self._first_head_pending = False
            self._first_heads.pop(self, None)
        self._head_deadline = None
        self._head_bytes = 0  # what comes after this request's body is the next head
        self._tail = b""
        # "METHOD target HTTP/1.1": checked once the head is in (its own cap bounds it until
        # then), and only when the target alone could make it too long.
        if len(self.url) > self.limits.max_request_line_bytes - 18 and (
            len(self.url) + len(self.parser.get_method()) + 10 > self.limits.max_request_line_bytes
        ):
            self._refuse(
                400,
                "validation",
                f"The request line exceeds {self.limits.max_request_line_bytes} bytes",
            )
            raise _Refused
        if self._answer_early():
            return
        if self._reserved and not any(name == b"authorization" for name, _ in self.headers):
            app, self.app = self.app, _reserved_refusal
            try:
                super().on_headers_complete()
            finally:
                self.app = app
        else:
            super().on_headers_complete()
        if self._reserved and self.cycle is not None:
            # A reserved slot serves one request, then frees itself for the next client.
            self.cycle.keep_alive = False

    def _answer_early(self) -> bool:
        """Whether the app's early refusal answers this request (its body is then dropped)."""
        early = self._early_refusal
        if (
            early is None
            or self._reserved  # a reserved slot serves one request by the app, then closes
            or self.expect_100_continue  # the client waits for a 100 before its body
            or self.root_path
            or self.parser.should_upgrade()
            or (self.cycle is not None and not self.cycle.response_complete)  # pipelined
            # A client that does not read its answers: the app's path stops reading until
            # they drain, so what is buffered for it stays bounded.
            or self.flow.write_paused
        ):
            return False
        answer = early.answer(self.parser.get_method(), self.url, self.headers)
        if answer is None:
            return False
        status, headers, body = answer
        self._early_keep_alive = (
            self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        )
        head = [STATUS_LINE[status]]
        for name, value in [*self.server_state.default_headers, *headers]:
            head += [name, b": ", value, b"\r\n"]
        if not self._early_keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        self._early_response = b"".join(head) + body
        return True

    def on_body(self, body: bytes) -> None:
        if self._early_response is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        response = self._early_response
        if response is None:
            super().on_message_complete()
            return
        self._early_response = None
        if self.transport.is_closing():
            return
        self.transport.write(response)
        if not self._early_keep_alive:
            self.transport.close()
            return
        self.server_state.total_requests += 1
        # The idle timeout starts once this read is handled, and only if no request is then
        # being answered: the next one may have come in the same read (uvicorn's own path arms
        # it only when no request waits behind the response).
        self._idle_after_read = True

    # -- timers and refusals ----------------------------------------------------------------
    def _start_head(self) -> None:
        self._head_deadline = self.loop.time() + self.limits.header_timeout_seconds
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_deadline, self._check_head)

    def _cancel_head_timer(self) -> None:
        self._head_deadline = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _check_head(self) -> None:
        self._head_timer = None
        deadline = self._head_deadline
        if deadline is None or self.transport.is_closing() or self._refused:
            return  # no head being read: the next one arms the timer again
        if self.loop.time() < deadline:  # a later head than the one the timer was set for
            self._head_timer = self.loop.call_at(deadline, self._check_head)
            return
        self._head_deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            # A response is still being made on this connection (a pipelined request behind
            # it is what stalls): finish it, then close.
            self.cycle.keep_alive = False
            return
        self._refuse(
            408,
            "request-timeout",
            f"The request's headers did not arrive within {self.limits.header_timeout_seconds:g} s",
        )

    def _refuse(self, status: int, error_type: str, description: str) -> None:
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._first_heads.pop(self, None)
        self._cancel_head_timer()
        self._unset_keepalive_if_required()
        _refusal_log.note(self.client, status, description)
        self.transport.write(refusal_bytes(status, error_type, description))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)
