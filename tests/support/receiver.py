"""A real webhook application on 127.0.0.1 (aiohttp, in its own thread) that records every
request and answers with what the test says: the stand-in for a user's voice app."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web


@dataclass(frozen=True)
class Received:
    path: str
    method: str
    headers: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any] | None

    @property
    def event(self) -> dict[str, Any]:
        """The callback payload, from the JSON body (POST) or the query string (GET)."""
        return self.body if self.body is not None else dict(self.query)


@dataclass(frozen=True)
class Raw:
    """A reply of raw bytes with its own content type (an audio file, a non-BXML answer)."""

    data: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Content-Encoding


@dataclass
class Stream:
    """A 200 whose body of `size` bytes (`head`, then `filler` repeated) is written as the
    client reads it, recording how much went out and whether the client hung up first: the
    way to show that the client stopped reading early."""

    size: int
    head: bytes = b""
    filler: bytes = b" " * 65536
    content_type: str = "application/xml"
    declare_length: bool = False  # send Content-Length (else the body is chunked)
    sent: int = 0
    hung_up: bool = False
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Hold:
    """Keep the request open until `release` is set (or `limit` seconds pass), then answer
    204: a webhook in flight at the moment a test kills or stops Switchboard."""

    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    limit: float = 30.0


Reply = tuple[int, str] | str | Raw | Stream | Hold
Handler = Callable[[Received], Reply]


@dataclass
class Receiver:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    routes: dict[str, Handler] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def on(self, path: str, reply: Handler | Reply) -> None:
        """Answer requests to `path` with `reply` (BXML text, (status, body), Raw bytes, or a
        function of the request returning one of those)."""
        self.routes[path] = reply if callable(reply) else (lambda _r, value=reply: value)

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            items = list(self.received)
        return [
            r.event for r in items if event_type is None or r.event.get("eventType") == event_type
        ]

    def wait_events(
        self, event_type: str, count: int = 1, timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """The first `count` callbacks of `event_type`, waiting for them in real time (for
        tests on the SIP network, whose calls cannot run on a virtual clock)."""
        with self._lock:
            arrived = self._lock.wait_for(
                lambda: len(self._events_locked(event_type)) >= count, timeout
            )
            found = self._events_locked(event_type)
        if not arrived:
            raise AssertionError(
                f"{len(found)} of {count} {event_type} callbacks within {timeout} s; got "
                f"{[r.event.get('eventType') for r in self.received]}"
            )
        return found[:count]

    def _events_locked(self, event_type: str) -> list[dict[str, Any]]:
        return [r.event for r in self.received if r.event.get("eventType") == event_type]

    def requests(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = orjson.loads(raw) if raw and request.method == "POST" else None
        received = Received(
            request.path,
            request.method,
            dict(request.headers),
            dict(parse_qsl(request.query_string)),
            body,
        )
        with self._lock:
            self.received.append(received)
            self._lock.notify_all()
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=204)
        reply = handler(received)
        if isinstance(reply, Hold):
            reply.arrived.set()
            await asyncio.to_thread(reply.release.wait, reply.limit)
            return web.Response(status=204)
        if isinstance(reply, Stream):
            return await self._stream(request, reply)
        if isinstance(reply, Raw):
            return web.Response(
                status=reply.status,
                body=reply.data,
                content_type=reply.content_type,
                headers=reply.headers,
            )
        status, text = (200, reply) if isinstance(reply, str) else reply
        return web.Response(status=status, text=text, content_type="application/xml")

    async def _stream(self, request: web.Request, stream: Stream) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": stream.content_type})
        if stream.declare_length:
            response.content_length = stream.size
        try:
            await response.prepare(request)
            pending = stream.head
            while stream.sent < stream.size:
                chunk = (pending or stream.filler)[: stream.size - stream.sent]
                pending = b""
                await response.write(chunk)
                stream.sent += len(chunk)
        except ConnectionError:  # the client hung up mid-body
            stream.hung_up = True
        finally:
            stream.done.set()
        return response

    def start(self) -> Receiver:
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            sockets = site._server.sockets  # type: ignore[union-attr]
            self.base_url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="webhook-receiver", daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
