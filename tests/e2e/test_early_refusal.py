"""createCall refused by the HTTP protocol itself while the node is full (api/early_refusal.py):
the same answer as the app's, counted the same, the connection still usable after it, and
nothing it cannot vouch for (unknown or wrong credentials, another account) answered early.

The server here runs the protocol `switchboard serve` runs (http_guard.py), with a capacity of
one live call, on a virtual clock; a real webhook app; the official SDK, and raw sockets where
what matters is the bytes on one connection.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import orjson
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import ServiceException
from bandwidth.models.bxml import Pause, Response
from bandwidth.models.create_call import CreateCall
from bandwidth.models.update_call import UpdateCall

from tests.e2e.control import calls_api_for, header
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CONFIG,
    FROM_NUMBER,
    OTHER_ACCOUNT_ID,
    OTHER_PASSWORD,
    OTHER_USERNAME,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

CALLEE = "+15555550180"
PATH = f"/api/v2/accounts/{ACCOUNT_ID}/calls"
CAPACITY = (
    "Managing too many concurrent calls: this Switchboard node is running 1 calls, its "
    "capacity ([overload] max_live_calls); retry in a few seconds, or on another node"
)
OVERLOAD = """
[overload]
max_live_calls = 1
probe_interval_seconds = 60

[simulator.default]
answer_after = 1.0
"""
REFUSALS = 'switchboard_overload_refusals_total{path="create",reason="capacity"}'
REQUESTS_503 = (
    'switchboard_api_requests_total{method="POST",route="/api/v2/accounts/{account_id}/calls",'
    'status="503"}'
)


@pytest.fixture(scope="module")
def vserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    directory: Path = tmp_path_factory.mktemp("early-refusal")
    running = start_virtual_server(directory, CONFIG + OVERLOAD, guarded_http=True)
    yield running
    running.stop()


@pytest.fixture
def alice(vserver: VirtualTimeServer) -> Iterator[CallsApi]:
    with calls_api_for(vserver, USERNAME, PASSWORD) as api:
        yield api


@pytest.fixture
def full(vserver: VirtualTimeServer, app: Receiver, alice: CallsApi) -> Iterator[str]:
    """The node at its capacity: one answered call, held; alice's credentials known (the
    call's createCall checked them). Hung up after the test."""
    app.on("/answer", Response([Pause(600)]).to_bxml())
    held = create(alice, app)
    vserver.advance(2)
    assert str(alice.get_call_state(ACCOUNT_ID, held).state) == "answered"
    yield held
    alice.update_call(ACCOUNT_ID, held, UpdateCall(state="completed"))
    vserver.advance(2)


def create(api: CallsApi, app: Receiver) -> str:
    body = CreateCall(
        to=CALLEE,
        var_from=FROM_NUMBER,
        application_id=APPLICATION_ID,
        answer_url=app.url("/answer"),
        disconnect_url=app.url("/disconnect"),
    )
    return str(api.create_call(ACCOUNT_ID, body).call_id)


def metric(vserver: VirtualTimeServer, line_start: str) -> float:
    text = httpx.get(f"{vserver.base_url}/metrics").text
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(line_start)]
    return float(values[0]) if values else 0.0


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def request(
    body: bytes,
    *,
    authorization: str | None = None,
    extra: str = "",
    version: str = "HTTP/1.1",
    path: str = PATH,
) -> bytes:
    auth = f"Authorization: {authorization or basic(USERNAME, PASSWORD)}\r\n"
    return (
        f"POST {path} {version}\r\nHost: 127.0.0.1\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def read_response(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length (all of this server's)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, f"the connection closed before a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = connection.recv(65536)
        assert chunk, "the connection closed in the middle of a body"
        rest += chunk
    assert len(rest) == length, f"bytes after the response: {rest[length:]!r}"
    return status, headers, rest


def connect(vserver: VirtualTimeServer) -> socket.socket:
    host, port = vserver.base_url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=10)
    return connection


BODY = orjson.dumps(
    {
        "from": FROM_NUMBER,
        "to": CALLEE,
        "answerUrl": "http://127.0.0.1:9/answer",
        "applicationId": APPLICATION_ID,
    }
)


def count_app_checks(vserver: VirtualTimeServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The account ids the app checked credentials for from now on: a request the protocol
    answered early never reaches that check."""
    auth = vserver.server.config.app.state.context.auth
    checked: list[str] = []
    authorize = auth.authorize

    async def counting(authorization: str | None, account_id: str, source: str | None = None):  # type: ignore[no-untyped-def]
        checked.append(account_id)
        return await authorize(authorization, account_id, source)

    monkeypatch.setattr(auth, "authorize", counting)
    return checked


def test_a_full_node_refuses_create_call_early_with_the_apps_answer(
    vserver: VirtualTimeServer,
    app: Receiver,
    alice: CallsApi,
    full: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked = count_app_checks(vserver, monkeypatch)
    early = vserver.server.config.app.state.early_refusal
    headers = [(b"authorization", basic(USERNAME, PASSWORD).encode())]

    async def ask() -> object:
        return early.answer(b"POST", PATH.encode(), headers)

    assert vserver.run(ask()) is not None  # this request would not reach the app
    refusals, requests_503 = metric(vserver, REFUSALS), metric(vserver, REQUESTS_503)

    with pytest.raises(ServiceException) as raised:  # the official SDK sees Bandwidth's 503
        create(alice, app)
    error = raised.value
    assert error.status == 503
    assert orjson.loads(error.body or b"") == {
        "type": "system-overloaded",
        "description": CAPACITY,
        "id": None,
    }
    assert header(error.headers, "Retry-After") == "1"
    assert header(error.headers, "Content-Type") == "application/json;charset=UTF-8"
    assert metric(vserver, REFUSALS) == refusals + 1
    assert metric(vserver, REQUESTS_503) == requests_503 + 1
    assert checked == []  # answered by the protocol: the app never saw it

    # The app's own answer to the same request (Expect: 100-continue sends it to the app,
    # which refuses before it reads the body): the same status, headers and body.
    with connect(vserver) as connection:
        connection.sendall(request(BODY))
        early_answer = read_response(connection)
    with connect(vserver) as connection:
        connection.sendall(request(BODY, extra="Expect: 100-continue\r\n")[: -len(BODY)])
        app_answer = read_response(connection)
    assert checked == [ACCOUNT_ID]  # only the second reached the app
    for answer in (early_answer, app_answer):
        answer[1].pop("date")
    assert early_answer == app_answer
    assert metric(vserver, REFUSALS) == refusals + 3
    vserver.advance(2)
    assert len(app.events("answer")) == 1  # only the held call: no refused one was placed


def test_the_connection_stays_usable_after_early_refusals(
    vserver: VirtualTimeServer, full: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = count_app_checks(vserver, monkeypatch)
    chunked = b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (BODY[:10], BODY[10:])
    )
    with connect(vserver) as connection:
        connection.sendall(request(BODY))
        assert read_response(connection)[0] == 503
        # A body sent in pieces, and chunked: dropped exactly, the next request parsed whole.
        whole = request(BODY)
        connection.sendall(whole[:40])
        connection.sendall(whole[40:])
        assert read_response(connection)[0] == 503
        head = request(b"").replace(b"Content-Length: 0\r\n", b"Transfer-Encoding: chunked\r\n")
        connection.sendall(head + chunked + b"0\r\n\r\n")
        assert read_response(connection)[0] == 503
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, body = read_response(connection)
        assert (status, orjson.loads(body)["status"]) == (200, "ok")
    assert checked == []

    # HTTP/1.0 (no keep-alive): answered, then closed.
    with connect(vserver) as connection:
        connection.sendall(request(BODY, version="HTTP/1.0"))
        status, headers, _ = read_response(connection)
        assert (status, headers.get("connection")) == (503, "close")
        assert connection.recv(1) == b""
    assert checked == []


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (basic(USERNAME, "not-the-password"), 401),
        (basic("nobody", PASSWORD), 401),
        (basic(OTHER_USERNAME, OTHER_PASSWORD), 403),  # good credentials, another account
        ("Bearer not-a-token", 401),
    ],
)
def test_credentials_it_cannot_vouch_for_go_to_the_app(
    vserver: VirtualTimeServer, full: str, authorization: str, status: int
) -> None:
    early = vserver.server.config.app.state.early_refusal

    async def ask() -> object:
        return early.answer(b"POST", PATH.encode(), [(b"authorization", authorization.encode())])

    assert vserver.run(ask()) is None
    refusals = metric(vserver, REFUSALS)
    with connect(vserver) as connection:
        connection.sendall(request(BODY, authorization=authorization))
        answer_status, _, body = read_response(connection)
    assert answer_status == status, body
    assert set(orjson.loads(body)) == {"type", "description", "id"}
    assert metric(vserver, REFUSALS) == refusals  # refused for its credentials, not capacity


def test_a_node_with_room_answers_in_the_app(
    vserver: VirtualTimeServer, app: Receiver, alice: CallsApi
) -> None:
    app.on("/answer", Response([Pause(600)]).to_bxml())
    first = create(alice, app)  # alice's credentials are known from here on
    vserver.advance(2)
    early = vserver.server.config.app.state.early_refusal
    headers = [(b"authorization", basic(USERNAME, PASSWORD).encode())]

    async def ask() -> object:
        return early.answer(b"POST", PATH.encode(), headers)

    assert vserver.run(ask()) is not None  # full: one call alive
    alice.update_call(ACCOUNT_ID, first, UpdateCall(state="completed"))
    vserver.advance(2)
    assert vserver.run(ask()) is None  # room again: the app answers (201)
    second = create(alice, app)
    assert str(alice.get_call_state(ACCOUNT_ID, second).state) == "initiated"
    alice.update_call(ACCOUNT_ID, second, UpdateCall(state="completed"))
    vserver.advance(2)


def test_a_request_read_with_an_early_refusal_is_not_cut_off_by_the_idle_timeout(
    tmp_path: Path, app: Receiver
) -> None:
    # The idle (keep-alive) timeout must not start while the app answers a request that came
    # in the same read as an early refusal. Made observable with a request the app answers
    # after 2 s (a throttled login's 429 waits [auth] throttled_delay_seconds) on a server
    # whose idle timeout is 1 s: cut off, the connection would close at 1 s with no answer.
    config = CONFIG + OVERLOAD + "\n[auth]\nfailures_per_address = 1\nthrottled_delay_seconds = 2\n"
    running = start_virtual_server(tmp_path, config, guarded_http=True, keep_alive_seconds=1)
    try:
        with calls_api_for(running, USERNAME, PASSWORD) as api:
            app.on("/answer", Response([Pause(600)]).to_bxml())
            held = create(api, app)  # the node is full, alice's credentials known
            running.advance(2)
            with connect(running) as connection:
                connection.sendall(request(BODY, authorization=basic(OTHER_USERNAME, "wrong")))
                assert read_response(connection)[0] == 401  # the address's one failure
            throttled = (
                f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: {basic(OTHER_USERNAME, 'wrong-again')}\r\n\r\n"
            ).encode()
            with connect(running) as connection:
                connection.sendall(request(BODY) + throttled)  # one read: both requests
                assert read_response(connection)[0] == 503  # early
                status, headers, _ = read_response(connection)  # 2 s later, not cut off
                assert status == 429 and headers["retry-after"]
            api.update_call(ACCOUNT_ID, held, UpdateCall(state="completed"))
            running.advance(2)
    finally:
        running.stop()


def test_a_provisioning_change_sends_requests_to_the_app_until_it_is_loaded(
    vserver: VirtualTimeServer, full: str
) -> None:
    # The SQLite store says "changed" once per loop turn: every request read in that turn
    # must wait for the new accounts, not be answered from the old cached credentials.
    context = vserver.server.config.app.state.context
    early = vserver.server.config.app.state.early_refusal
    headers = [(b"authorization", basic(USERNAME, PASSWORD).encode())]

    async def change_then_ask() -> list[bool]:
        # Any provisioning write: here the other account's application gets a new name.
        await context.store.provision(
            lambda connection: connection.execute(
                "UPDATE applications SET name = 'renamed' WHERE account_id = ?",
                (OTHER_ACCOUNT_ID,),
            )
        )
        return [early.answer(b"POST", PATH.encode(), headers) is not None for _ in range(3)]

    assert vserver.run(change_then_ask()) == [False, False, False]

    async def later() -> bool:
        await asyncio.gather(*list(context._reloads))  # the new accounts, loaded
        return early.answer(b"POST", PATH.encode(), headers) is not None

    # Loaded: the new accounts cleared the cache of checked credentials, so alice's next
    # request goes to the app, which checks her password again (and refuses: full) ...
    assert vserver.run(later()) is False
    with connect(vserver) as connection:
        connection.sendall(request(BODY))
        assert read_response(connection)[0] == 503
    # ... and from then on she is known again.
    assert vserver.run(later()) is True


@pytest.mark.slow
def test_a_client_that_reads_no_answers_is_not_buffered_without_bound(
    vserver: VirtualTimeServer, full: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Early answers are written only while the connection's send buffer has room; past that
    # the app's path takes the requests, and it stops reading until the client reads.
    checked = count_app_checks(vserver, monkeypatch)
    # About 7 MB of 503s: past what the kernel's socket buffers take on loopback (a few MB),
    # so the rest piles up in the server's own send buffer, past its high-water mark.
    count = 20_000
    host, port = vserver.base_url.removeprefix("http://").split(":")
    with socket.socket() as connection:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.settimeout(30)
        connection.connect((host, int(port)))
        sender = threading.Thread(
            target=connection.sendall, args=(request(BODY) * count,), daemon=True
        )
        sender.start()
        deadline = time.monotonic() + 30
        while not checked and time.monotonic() < deadline:
            threading.Event().wait(0.01)  # the server is busy with the flood; nothing to tick
        assert checked, "every request was answered early although nobody read the answers"
        answers = connection.makefile("rb")
        statuses = [next_status(answers) for _ in range(count)]
        sender.join(10)
    assert statuses == [503] * count  # all answered, in order, once the client read


def next_status(answers: BinaryIO) -> int:
    """The status of the next response on a buffered stream of pipelined answers."""
    status = int(answers.readline().split(b" ")[1])
    length = 0
    while (line := answers.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    answers.read(length)
    return status
