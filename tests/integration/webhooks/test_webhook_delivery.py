"""Webhook delivery against real HTTP receivers on 127.0.0.1: what they get and what we record."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from types import SimpleNamespace

import orjson
import pytest
from aiohttp import web
from aiohttp.abc import ResolveResult

from switchboard.webhooks import delivery
from switchboard.webhooks.delivery import USER_AGENT, HttpWebhookSender, deliver
from switchboard.webhooks.guard import GuardedConnector
from switchboard.webhooks.request import Failure, WebhookRequest
from tests.unit.webhooks.test_guard import FakeDns

HUGE_BODY_BYTES = 10 * 1024 * 1024
# A callbackTimeout far longer than any stall of a loaded machine: tests that need one to expire
# move the loop's clock past it (LoopClock.forward) once the receiver holds the request.
TIMEOUT = 5.0
BXML = b"<Response><SpeakSentence>hello</SpeakSentence></Response>"

ANSWER_EVENT: dict[str, object] = {
    "eventType": "answer",
    "accountId": "9900000",
    "from": "+15551112222",
    "to": "+15553334444",
    "direction": "outbound",
    "callId": "c-1234",
    "tag": None,
    "machineDetectionResult": {"value": "human", "duration": "PT4.9S"},
}


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client_port: int


@dataclass
class Receiver:
    """An aiohttp server that records every request and answers according to the path."""

    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    # Set at teardown so handlers that never answer can finish and the server stops cleanly.
    release: asyncio.Event = field(default_factory=asyncio.Event)
    huge_aborted: asyncio.Event = field(default_factory=asyncio.Event)
    huge_bytes_sent: int = 0
    # Called when a /hang request has arrived and is being held, e.g. to move the clock on.
    on_hang: Callable[[], None] = lambda: None

    def url(self, path: str) -> str:
        return self.base_url + path

    def paths(self) -> list[str]:
        return [r.path for r in self.received]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.received.append(
            Received(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=await request.read(),
                client_port=peer[1] if peer else 0,
            )
        )
        match request.path.split("/")[1:]:
            case ["ok"]:
                return web.Response(status=204)
            case ["bxml"]:
                return web.Response(body=BXML, content_type="application/xml")
            case ["status", code]:
                return web.Response(status=int(code), text="nope")
            case ["redirect"]:
                raise web.HTTPFound("/ok")
            case ["hang"]:
                self.on_hang()
                await self.release.wait()
                return web.Response(status=204)
            case ["huge"]:
                return await self.stream_huge(request, declare="declare" in request.query)
        return web.Response(status=404)

    async def stream_huge(self, request: web.Request, *, declare: bool) -> web.StreamResponse:
        response = web.StreamResponse()
        if declare:
            response.content_length = HUGE_BODY_BYTES
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            while self.huge_bytes_sent < HUGE_BODY_BYTES:
                await response.write(chunk)
                self.huge_bytes_sent += len(chunk)
        except ConnectionError:  # the client hung up mid-body
            self.huge_aborted.set()
        return response


class LoopClock:
    """The test loop's clock: real time, plus whatever the test skipped with `forward`.

    Real time goes on as usual, so sockets and the receiver work as they would; a jump moves
    every timer of the loop (the sender's callbackTimeout included) and the sender's latency,
    measured here on the same clock. A test moves the clock only after the fact it waits for
    (the receiver holding the request), so no stall of the machine can expire a timeout early.
    (Not tests/support/virtual_loop.py: that one jumps by itself whenever the loop is idle,
    which would be before a TCP exchange the kernel has not delivered yet.)"""

    def __init__(self, real_time: Callable[[], float]) -> None:
        self._real_time = real_time
        self.skipped = 0.0

    def time(self) -> float:
        return self._real_time() + self.skipped

    def forward(self, seconds: float) -> None:
        assert seconds >= 0, "the clock cannot go back"
        self.skipped += seconds


@pytest.fixture
async def loop_clock(monkeypatch: pytest.MonkeyPatch) -> LoopClock:
    loop = asyncio.get_running_loop()
    clock = LoopClock(loop.time)
    monkeypatch.setattr(loop, "time", clock.time)
    monkeypatch.setattr(delivery, "time", SimpleNamespace(perf_counter=clock.time))
    return clock


@pytest.fixture
async def receiver(loop_clock: LoopClock) -> AsyncIterator[Receiver]:
    # Depends on the clock so that the clock is put back only after the server has stopped.
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.base_url = f"http://{host}:{port}"
    yield receiver
    receiver.release.set()
    await runner.cleanup()


@pytest.fixture
async def sender(receiver: Receiver) -> AsyncIterator[HttpWebhookSender]:
    # Depends on the receiver so that it is closed first, while the server still runs.
    async with HttpWebhookSender() as sender:
        yield sender


@pytest.fixture
def refused_url() -> str:
    """A URL on a port that was just free: nothing listens there, so connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/answer"


@dataclass
class RawServer:
    """A TCP server speaking whatever each connection's script says, for broken receivers."""

    url: str
    script: list[str]
    connections: int = 0


StartRawServer = Callable[[list[str]], Awaitable[RawServer]]


@pytest.fixture
async def raw_server() -> AsyncIterator[StartRawServer]:
    servers: list[asyncio.Server] = []

    async def serve(
        raw: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        raw.connections += 1
        action = raw.script.pop(0) if raw.script else "close"
        if action in ("garbage", "ok"):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            if action == "ok":
                writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            else:
                writer.write(b"THIS IS NOT HTTP\r\n\r\n")
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def start(script: list[str]) -> RawServer:
        raw = RawServer(url="", script=script)
        server = await asyncio.start_server(lambda r, w: serve(raw, r, w), host="127.0.0.1", port=0)
        servers.append(server)
        raw.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/answer"
        return raw

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def post(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 15.0,
) -> WebhookRequest:
    return WebhookRequest(url, "POST", ANSWER_EVENT, username, password, timeout)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# --- what the receiver gets ---------------------------------------------------------------


async def test_post_sends_the_payload_as_json(
    receiver: Receiver, sender: HttpWebhookSender
) -> None:
    attempt = await sender.send(post(receiver.url("/ok")))

    assert attempt.ok
    assert (attempt.status, attempt.error, attempt.failure) == (204, None, None)
    assert attempt.latency_ms > 0
    [got] = receiver.received
    assert got.method == "POST"
    assert orjson.loads(got.body) == ANSWER_EVENT
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"] == USER_AGENT == "Switchboard/0.1"


async def test_get_sends_the_payload_as_query_parameters(
    receiver: Receiver, sender: HttpWebhookSender
) -> None:
    payload: dict[str, object] = {**ANSWER_EVENT, "isMachine": False, "duration": 3}
    request = WebhookRequest(url=receiver.url("/ok?app=7"), method="GET", payload=payload)

    attempt = await sender.send(request)

    assert attempt.ok
    [got] = receiver.received
    assert got.method == "GET"
    assert got.body == b""
    assert got.query == {
        "app": "7",  # the URL's own parameters are kept
        "eventType": "answer",
        "accountId": "9900000",
        "from": "+15551112222",  # '+' survives encoding instead of turning into a space
        "to": "+15553334444",
        "direction": "outbound",
        "callId": "c-1234",
        "machineDetectionResult": '{"value":"human","duration":"PT4.9S"}',
        "isMachine": "false",
        "duration": "3",
    }  # "tag" is None, so it is left out


async def test_basic_auth_is_sent_when_a_username_is_set(
    receiver: Receiver, sender: HttpWebhookSender
) -> None:
    await sender.send(post(receiver.url("/ok"), username="app", password="s3:cret"))

    assert receiver.received[0].headers["Authorization"] == basic("app", "s3:cret")


async def test_no_auth_header_without_a_username(
    receiver: Receiver, sender: HttpWebhookSender
) -> None:
    await sender.send(post(receiver.url("/ok"), password="ignored without a username"))

    assert "Authorization" not in receiver.received[0].headers


async def test_the_answer_body_and_its_content_type_are_recorded(
    receiver: Receiver, sender: HttpWebhookSender
) -> None:
    attempt = await sender.send(post(receiver.url("/bxml")))

    assert attempt.ok
    assert attempt.status == 200
    assert attempt.body == BXML
    assert attempt.content_type is not None
    assert attempt.content_type.startswith("application/xml")


async def test_connections_are_pooled(receiver: Receiver, sender: HttpWebhookSender) -> None:
    await sender.send(post(receiver.url("/ok")))
    await sender.send(post(receiver.url("/bxml")))

    first, second = receiver.received
    assert first.client_port == second.client_port


# --- what counts as success and failure ---------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_any_2xx_is_ok(receiver: Receiver, sender: HttpWebhookSender, status: int) -> None:
    attempt = await sender.send(post(receiver.url(f"/status/{status}")))

    assert attempt.ok
    assert attempt.status == status


@pytest.mark.parametrize("status", [400, 404, 500, 503])
async def test_other_statuses_fail_with_the_status_in_the_error(
    receiver: Receiver, sender: HttpWebhookSender, status: int
) -> None:
    url = receiver.url(f"/status/{status}")

    attempt = await sender.send(post(url))

    assert not attempt.ok
    assert attempt.status == status
    assert attempt.error == f"{url} answered HTTP {status}"
    assert attempt.failure is Failure.HTTP_STATUS
    assert attempt.body == b"nope"  # kept for the timeline


async def test_redirects_are_not_followed(receiver: Receiver, sender: HttpWebhookSender) -> None:
    url = receiver.url("/redirect")

    attempt = await sender.send(post(url))

    assert not attempt.ok
    assert attempt.status == 302
    assert attempt.failure is Failure.REDIRECT
    assert attempt.error == (
        f"{url} answered a redirect (HTTP 302) — webhook URLs must answer directly"
    )
    assert receiver.paths() == ["/redirect"]


async def test_connection_refused(sender: HttpWebhookSender, refused_url: str) -> None:
    attempt = await sender.send(post(refused_url))

    assert not attempt.ok
    assert attempt.status is None
    assert attempt.error == f"{refused_url}: connection refused"
    assert attempt.is_connection_error


async def test_timeout_covers_a_receiver_that_never_answers(
    receiver: Receiver, sender: HttpWebhookSender, loop_clock: LoopClock
) -> None:
    url = receiver.url("/hang")
    # Once the receiver holds the request, all but the last 0.2 s of the timeout pass at once;
    # those go by in real time, so a timeout that fired early would show in the latency.
    receiver.on_hang = lambda: loop_clock.forward(TIMEOUT - 0.2)

    # Bounds the test if the timeout is not applied; much less than the default 15 s.
    async with asyncio.timeout(TIMEOUT + 5):
        attempt = await sender.send(post(url, timeout=TIMEOUT))

    assert not attempt.ok
    assert attempt.status is None
    assert attempt.error == f"{url}: no response within 5.0 s (callbackTimeout)"
    assert attempt.failure is Failure.TIMEOUT
    assert not attempt.is_connection_error  # the receiver got it: no retry
    assert receiver.paths() == ["/hang"]
    assert TIMEOUT * 1000 <= attempt.latency_ms < (TIMEOUT + 5) * 1000


@pytest.mark.parametrize("declare_length", [False, True], ids=["streamed", "content-length"])
async def test_a_huge_body_is_refused_without_reading_it(
    receiver: Receiver, sender: HttpWebhookSender, declare_length: bool
) -> None:
    url = receiver.url("/huge?declare=1" if declare_length else "/huge")

    attempt = await sender.send(post(url))

    assert not attempt.ok
    assert attempt.status == 200
    assert attempt.failure is Failure.BODY_TOO_LARGE
    if declare_length:
        assert attempt.error == (
            f"{url} answered HTTP 200 with a body of {HUGE_BODY_BYTES} bytes (its "
            "Content-Length), over the 65536-byte limit; Switchboard read no further"
        )
    else:
        assert attempt.error == (
            f"{url} answered HTTP 200 with a body over 65536 bytes; "
            "Switchboard stopped reading it there"
        )
    assert len(attempt.body) <= 65536
    # We hung up on it: the receiver's writes failed long before it sent all 10 MB.
    await asyncio.wait_for(receiver.huge_aborted.wait(), timeout=5)
    assert receiver.huge_bytes_sent < HUGE_BODY_BYTES


async def test_the_body_cap_is_configurable(receiver: Receiver) -> None:
    async with HttpWebhookSender(max_body_bytes=10) as sender:
        attempt = await sender.send(post(receiver.url("/bxml")))

    assert attempt.failure is Failure.BODY_TOO_LARGE
    assert attempt.body == BXML[:10]


async def test_a_reply_that_is_not_http(
    raw_server: StartRawServer, sender: HttpWebhookSender
) -> None:
    server = await raw_server(["garbage"])

    attempt = await sender.send(post(server.url))

    assert attempt.failure is Failure.BAD_RESPONSE
    assert attempt.error is not None
    assert attempt.error.startswith(f"{server.url} answered something that is not valid HTTP")


async def test_a_receiver_that_hangs_up_without_answering(
    raw_server: StartRawServer, sender: HttpWebhookSender
) -> None:
    server = await raw_server(["close"])

    attempt = await sender.send(post(server.url))

    assert attempt.error == f"{server.url}: closed the connection without answering"
    assert attempt.is_connection_error


async def test_tls_to_a_plain_http_receiver_fails_the_handshake(
    receiver: Receiver, sender: HttpWebhookSender
) -> None:
    url = receiver.url("/ok").replace("http://", "https://")

    attempt = await sender.send(post(url))

    assert attempt.failure is Failure.TLS
    assert attempt.error is not None
    assert attempt.error.startswith(f"{url}: TLS handshake failed")


@pytest.mark.parametrize(
    "url", ["not a url", "/answer", "ftp://example.com/answer", "http://", "http://[::1/x"]
)
async def test_an_invalid_url_fails_without_raising(sender: HttpWebhookSender, url: str) -> None:
    attempt = await sender.send(post(url))

    assert attempt.failure is Failure.INVALID_URL
    assert attempt.error == f"{url!r} is not an absolute http:// or https:// URL"


async def test_url_guard_blocks_before_connecting(receiver: Receiver) -> None:
    seen: list[str] = []

    def guard(url: str) -> str | None:
        seen.append(url)
        return f"{url}: private destinations are not allowed" if "/private" in url else None

    async with HttpWebhookSender(url_guard=guard) as sender:
        blocked = await sender.send(post(receiver.url("/private")))
        allowed = await sender.send(post(receiver.url("/ok")))

    assert blocked.failure is Failure.BLOCKED
    assert blocked.error == f"{receiver.url('/private')}: private destinations are not allowed"
    assert allowed.ok
    assert seen == [receiver.url("/private"), receiver.url("/ok")]
    assert receiver.paths() == ["/ok"]


async def test_a_slow_receiver_does_not_hold_up_another_delivery(
    receiver: Receiver, sender: HttpWebhookSender, loop_clock: LoopClock
) -> None:
    held = asyncio.Event()
    receiver.on_hang = held.set
    slow = asyncio.create_task(sender.send(post(receiver.url("/hang"), timeout=3 * TIMEOUT)))
    await held.wait()

    # Sent while the slow receiver holds its request, and answered before it lets go: a
    # delivery that waited for the slow one would time out here instead.
    fast = await sender.send(post(receiver.url("/ok"), timeout=TIMEOUT))

    assert fast.ok
    assert not slow.done()
    assert receiver.paths() == ["/hang", "/ok"]
    loop_clock.forward(3 * TIMEOUT)
    async with asyncio.timeout(5):  # bounds the test if the timeout is not applied
        assert (await slow).failure is Failure.TIMEOUT


async def test_a_closed_sender_refuses_to_send(receiver: Receiver) -> None:
    sender = HttpWebhookSender()
    await sender.send(post(receiver.url("/ok")))
    await sender.close()
    await sender.close()  # closing twice is harmless

    with pytest.raises(RuntimeError, match="closed"):
        await sender.send(post(receiver.url("/ok")))


def test_requests_are_checked_and_keep_the_password_out_of_repr() -> None:
    with pytest.raises(ValueError, match="GET or POST"):
        WebhookRequest(url="http://x/", method="PUT", payload={})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        WebhookRequest(url="http://x/", method="POST", payload={}, timeout=0)

    request = WebhookRequest(url="http://x/", method="POST", payload={}, password="hunter2")
    assert "hunter2" not in repr(request)


# --- deliver: fallback and retries --------------------------------------------------------


@pytest.mark.parametrize("primary_path", ["/status/500", "/redirect", "/hang"])
async def test_fallback_is_used_with_its_own_method_and_credentials(
    receiver: Receiver, sender: HttpWebhookSender, loop_clock: LoopClock, primary_path: str
) -> None:
    receiver.on_hang = lambda: loop_clock.forward(TIMEOUT)
    primary = post(receiver.url(primary_path), username="main", password="one", timeout=TIMEOUT)
    fallback = WebhookRequest(
        url=receiver.url("/bxml"),
        method="GET",
        payload=ANSWER_EVENT,
        username="backup",
        password="two",
    )

    async with asyncio.timeout(TIMEOUT + 5):  # bounds the test if the timeout is not applied
        result = await deliver(sender, primary, fallback)

    assert [a.url for a in result.attempts] == [primary.url, fallback.url]
    assert not result.attempts[0].ok
    assert result.ok
    assert result.final.body == BXML
    first, second = receiver.received
    assert (first.method, first.headers["Authorization"]) == ("POST", basic("main", "one"))
    assert (second.method, second.headers["Authorization"]) == ("GET", basic("backup", "two"))


async def test_fallback_is_not_used_when_the_primary_answers(
    receiver: Receiver, sender: HttpWebhookSender
) -> None:
    result = await deliver(sender, post(receiver.url("/bxml")), post(receiver.url("/ok")))

    assert result.ok
    assert len(result.attempts) == 1
    assert receiver.paths() == ["/bxml"]


async def test_without_fallback_the_failure_is_final(
    receiver: Receiver, sender: HttpWebhookSender
) -> None:
    result = await deliver(sender, post(receiver.url("/status/500")), None)

    assert not result.ok
    assert result.final.error == f"{receiver.url('/status/500')} answered HTTP 500"


@pytest.mark.parametrize(("retries", "per_url"), [(0, 1), (1, 2), (2, 3)])
async def test_connection_errors_are_retried_to_the_same_url(
    sender: HttpWebhookSender, refused_url: str, retries: int, per_url: int
) -> None:
    fallback_url = refused_url.replace("/answer", "/fallback")

    result = await deliver(
        sender, post(refused_url), post(fallback_url), retry_connection_errors=retries
    )

    assert [a.url for a in result.attempts] == [refused_url] * per_url + [fallback_url] * per_url
    assert all(a.is_connection_error for a in result.attempts)
    assert not result.ok


async def test_a_retry_after_a_dropped_connection_can_succeed(
    raw_server: StartRawServer, sender: HttpWebhookSender
) -> None:
    server = await raw_server(["close", "ok"])

    result = await deliver(sender, post(server.url), None, retry_connection_errors=1)

    assert [a.is_connection_error for a in result.attempts] == [True, False]
    assert result.ok
    assert result.final.status == 204
    assert server.connections == 2


@pytest.mark.parametrize("path", ["/status/500", "/redirect", "/hang"])
async def test_answers_and_timeouts_are_not_retried(
    receiver: Receiver, sender: HttpWebhookSender, loop_clock: LoopClock, path: str
) -> None:
    receiver.on_hang = lambda: loop_clock.forward(TIMEOUT)

    async with asyncio.timeout(TIMEOUT + 5):  # bounds the test if the timeout is not applied
        result = await deliver(
            sender, post(receiver.url(path), timeout=TIMEOUT), None, retry_connection_errors=1
        )

    assert len(result.attempts) == 1
    assert receiver.paths() == [path]


async def test_a_full_connection_pool_is_reported_as_such(
    receiver: Receiver, loop_clock: LoopClock
) -> None:
    # Both requests start at once; when the receiver holds the first, the clock passes the
    # second's timeout (it started no later than now) but not the first's, twice as long.
    receiver.on_hang = lambda: loop_clock.forward(TIMEOUT)
    async with HttpWebhookSender(limit=1) as sender:
        busy = asyncio.create_task(sender.send(post(receiver.url("/hang"), timeout=2 * TIMEOUT)))
        queued = asyncio.create_task(sender.send(post(receiver.url("/ok"), timeout=TIMEOUT)))
        async with asyncio.timeout(TIMEOUT + 5):  # bounds the test if no timeout is applied
            waiting = await queued
        assert not busy.done()  # it still has the only connection
        loop_clock.forward(2 * TIMEOUT)
        async with asyncio.timeout(5):
            held = await busy

    assert held.error == f"{receiver.url('/hang')}: no response within 10.0 s (callbackTimeout)"
    assert waiting.failure is Failure.TIMEOUT
    assert waiting.error == (
        f"{receiver.url('/ok')}: no free outgoing connection within 5.0 s (callbackTimeout); "
        "all 1 of Switchboard's webhook connections are busy"
    )
    assert receiver.paths() == ["/hang"]


class NoSuchNames(FakeDns):
    """A DNS zone that holds no name: every question fails as aiohttp's own resolver fails for
    a name that does not exist (getaddrinfo's error), on any machine, and no query is sent."""

    def __init__(self) -> None:
        super().__init__({})
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


async def test_an_unresolvable_host_is_a_connection_error(
    sender: HttpWebhookSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sender builds its connector on first use: this one asks the table, not the machine.
    dns = NoSuchNames()
    monkeypatch.setattr(delivery, "GuardedConnector", partial(GuardedConnector, resolver=dns))
    url = "http://switchboard-test.invalid/answer"

    attempt = await sender.send(post(url))

    assert attempt.failure is Failure.CONNECTION
    assert attempt.is_connection_error  # so `deliver` may retry it
    assert attempt.status is None
    assert attempt.error == f"{url}: could not resolve host 'switchboard-test.invalid'"
    assert dns.asked == ["switchboard-test.invalid"]
