"""A request about a call another node runs is answered by that node (api/forwarding.py).

The node the client reaches is a real Switchboard on 127.0.0.1 (SQLite, a virtual clock nobody
advances); the owner is a little aiohttp server on 127.0.0.1 that records what it was sent and
answers what the test says, so every byte of the replay and of the answer can be checked. The
node registry is not here yet: `Owners` says which calls run elsewhere, through the same seam
(`ApiContext.nodes`, api/forwarding.CallOwners) the registry fills. Calls "run elsewhere" are
rows in the real store that this node's engine does not run - as a call of another node is.
The end-to-end test with two real nodes on PostgreSQL is test_forwarding_nodes.py.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from switchboard.api.context import ApiContext
from switchboard.api.forwarding import Forwarder
from switchboard.calls.create_request import parse_create_call
from switchboard.calls.ids import new_call_id
from switchboard.calls.model import ANSWERED, DISCONNECTED, Call
from tests.support.http import assert_error
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    OTHER_ACCOUNT_ID,
    OTHER_PASSWORD,
    OTHER_USERNAME,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

FORWARDED = "X-Switchboard-Forwarded"
# Headers any HTTP client adds by itself: not the replay's business.
CLIENT_OWN = {"host", "user-agent", "accept-encoding", "content-length"}


@dataclass(frozen=True)
class Seen:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes


Answer = Callable[[Seen], web.StreamResponse]


@dataclass
class StandInOwner:
    """The node that runs the calls: records each request, answers with `answer`."""

    answer: Answer = field(default=lambda seen: web.Response(status=204))
    hold: bool = False  # never answer (until stopped): a node that accepts but hangs
    seen: list[Seen] = field(default_factory=list)
    base_url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _release: asyncio.Event | None = None
    _thread: threading.Thread | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(request.method, request.path_qs, dict(request.headers), await request.read())
        self.seen.append(seen)
        if self.hold:
            assert self._release is not None
            await self._release.wait()
        return self.answer(seen)

    def start(self) -> StandInOwner:
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._release = asyncio.Event()
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            port = runner.addresses[0][1]
            self.base_url = f"http://127.0.0.1:{port}"
            started.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="stand-in-owner", daemon=True)
        self._thread.start()
        assert started.wait(10)
        return self

    def stop(self) -> None:
        assert self._loop is not None and self._release is not None
        self._loop.call_soon_threadsafe(self._release.set)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)


@dataclass
class Owners:
    """Which calls another node runs, and at what URL: the registry's answer to this node."""

    elsewhere: dict[str, str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def forward_target(self, call_id: str) -> str | None:
        self.asked.append(call_id)
        return self.elsewhere.get(call_id)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path_factory.mktemp("node-b"))
    yield running
    running.stop()


def context_of(node: VirtualTimeServer) -> ApiContext:
    app: Any = node.server.config.app  # the app create_app built (api/app.py WithState)
    context: ApiContext = app.state.context
    return context


@pytest.fixture
def owners(node: VirtualTimeServer) -> Iterator[Owners]:
    registry = Owners()
    context_of(node).nodes = registry
    yield registry
    context_of(node).nodes = None


@pytest.fixture
def owner() -> Iterator[StandInOwner]:
    stand_in = StandInOwner().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def client(node: VirtualTimeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.base_url, auth=(USERNAME, PASSWORD), timeout=10) as http:
        yield http


def stored_call(node: VirtualTimeServer, state: str = ANSWERED) -> str:
    """A call in the shared store that this node's engine does not run."""
    request = parse_create_call(
        {
            "from": FROM_NUMBER,
            "to": "+15555550100",
            "answerUrl": "http://127.0.0.1:9/answer",
            "applicationId": APPLICATION_ID,
        }
    )
    call_id = new_call_id()
    now = datetime.now(UTC).replace(microsecond=0)
    ended = state == DISCONNECTED
    call = Call(
        call_id=call_id,
        account_id=ACCOUNT_ID,
        request=request,
        call_url=f"{node.api_url}/accounts/{ACCOUNT_ID}/calls/{call_id}",
        enqueued_time=now,
        state=state,
        start_time=now,
        answer_time=now,
        end_time=now if ended else None,
        disconnect_cause="hangup" if ended else None,
        last_update=now,
    )
    node.run(context_of(node).store.insert_call(call))
    return call_id


def call_path(call_id: str, account_id: str = ACCOUNT_ID) -> str:
    return f"/api/v2/accounts/{account_id}/calls/{call_id}"


def json_answer(status: int, body: bytes, **headers: str) -> Answer:
    return lambda seen: web.Response(
        status=status,
        body=body,
        headers={"Content-Type": "application/json;charset=UTF-8", **headers},
    )


def test_update_call_is_replayed_to_the_owner_and_its_answer_returned_as_it_came(
    node: VirtualTimeServer, owners: Owners, owner: StandInOwner, client: httpx.Client
) -> None:
    call_id = stored_call(node)
    owners.elsewhere[call_id] = owner.base_url
    answer = b'{"type":"validation","description":"from the owner","id":""}'
    owner.answer = json_answer(409, answer, **{"Retry-After": "7", "Location": "/somewhere"})
    body = b'{"state": "active", "redirectUrl": "https://example.com/next"}'

    response = client.post(
        call_path(call_id) + "?a=1&b=two",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Cookie": "session=not-for-the-owner",
            "X-Something": "else",
        },
    )

    assert response.status_code == 409
    assert response.content == answer
    assert response.headers["content-type"] == "application/json;charset=UTF-8"
    assert response.headers["retry-after"] == "7"
    assert response.headers["location"] == "/somewhere"
    [seen] = owner.seen
    assert (seen.method, seen.path_qs, seen.body) == (
        "POST",
        call_path(call_id) + "?a=1&b=two",
        body,
    )
    replayed = {name.lower(): value for name, value in seen.headers.items()}
    # Nothing but what the owner needs: no cookie, no header of the client's own.
    assert set(replayed) - CLIENT_OWN == {
        "authorization",
        "content-type",
        "accept",
        FORWARDED.lower(),
    }
    assert replayed["authorization"] == response.request.headers["authorization"]
    assert replayed["content-type"] == "application/json"
    assert replayed["accept"] == "application/json"
    assert replayed[FORWARDED.lower()] == "1"
    assert owners.asked == [call_id]


def test_put_bxml_is_replayed_byte_for_byte_and_an_empty_204_comes_back_empty(
    node: VirtualTimeServer, owners: Owners, owner: StandInOwner, client: httpx.Client
) -> None:
    call_id = stored_call(node)
    owners.elsewhere[call_id] = owner.base_url
    owner.answer = lambda seen: web.Response(status=204)
    bxml = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b"<Bxml><SpeakSentence>hi \xc3\xa9</SpeakSentence></Bxml>"
    )

    response = client.put(
        call_path(call_id) + "/bxml", content=bxml, headers={"Content-Type": "application/xml"}
    )

    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers
    [seen] = owner.seen
    assert (seen.method, seen.path_qs, seen.body) == ("PUT", call_path(call_id) + "/bxml", bxml)
    assert seen.headers["Content-Type"] == "application/xml"


def test_get_of_a_live_call_is_the_owners_answer(
    node: VirtualTimeServer, owners: Owners, owner: StandInOwner, client: httpx.Client
) -> None:
    call_id = stored_call(node)
    owners.elsewhere[call_id] = owner.base_url
    state = b'{"callId":"%s","state":"answered","from":"owner memory"}' % call_id.encode()
    owner.answer = json_answer(200, state)

    response = client.get(call_path(call_id))

    assert response.status_code == 200
    assert response.content == state
    [seen] = owner.seen
    assert (seen.method, seen.path_qs, seen.body) == ("GET", call_path(call_id), b"")


def test_pausing_a_recording_is_the_owners_to_do(
    node: VirtualTimeServer, owners: Owners, owner: StandInOwner, client: httpx.Client
) -> None:
    call_id = stored_call(node)
    owners.elsewhere[call_id] = owner.base_url
    owner.answer = lambda seen: web.Response(status=200)

    response = client.put(f"{call_path(call_id)}/recording", json={"state": "paused"})

    assert response.status_code == 200
    [seen] = owner.seen
    assert (seen.method, seen.path_qs) == ("PUT", f"{call_path(call_id)}/recording")
    assert seen.body == b'{"state":"paused"}'


def test_get_of_an_ended_call_is_answered_from_the_store_without_asking_anyone(
    node: VirtualTimeServer, owners: Owners, owner: StandInOwner, client: httpx.Client
) -> None:
    call_id = stored_call(node, DISCONNECTED)
    owners.elsewhere[call_id] = owner.base_url

    response = client.get(call_path(call_id))

    assert response.status_code == 200
    assert response.json()["callId"] == call_id
    assert response.json()["state"] == DISCONNECTED
    assert response.json()["disconnectCause"] == "hangup"
    assert owner.seen == []
    assert owners.asked == []


def test_timeline_and_callee_controls_are_the_owners_answers(
    node: VirtualTimeServer, owners: Owners, owner: StandInOwner, client: httpx.Client
) -> None:
    live, ended = stored_call(node), stored_call(node, DISCONNECTED)
    owners.elsewhere.update({live: owner.base_url, ended: owner.base_url})
    page = b'{"callId":"x","state":"answered","timeline":[]}'
    link = '</switchboard/v1/next>; rel="next"'
    owner.answer = lambda seen: (
        web.Response(status=204)
        if seen.method == "POST"
        else web.Response(
            body=page, headers={"Content-Type": "application/json; charset=utf-8", "Link": link}
        )
    )
    base = f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls"

    timeline = client.get(f"{base}/{live}/timeline", params={"pageSize": 2})
    # An ended call's timeline too: its owner may hold entries it has not stored yet.
    ended_timeline = client.get(f"{base}/{ended}/timeline")
    callee = client.post(f"{base}/{live}/callee", json={"action": "press", "digits": "12#"})

    assert (timeline.status_code, timeline.content) == (200, page)
    assert timeline.headers["content-type"] == "application/json; charset=utf-8"
    assert timeline.headers["link"] == link
    assert (ended_timeline.status_code, ended_timeline.content) == (200, page)
    assert callee.status_code == 204
    assert [(s.method, s.path_qs) for s in owner.seen] == [
        ("GET", f"{base}/{live}/timeline?pageSize=2"),
        ("GET", f"{base}/{ended}/timeline"),
        ("POST", f"{base}/{live}/callee"),
    ]
    assert owner.seen[2].body == b'{"action":"press","digits":"12#"}'


@pytest.mark.parametrize(
    ("auth", "account_id", "status", "error_type"),
    [
        ((USERNAME, "wrong-password"), ACCOUNT_ID, 401, "authentication-error"),
        ((OTHER_USERNAME, OTHER_PASSWORD), ACCOUNT_ID, 403, "authorization-error"),
        ((OTHER_USERNAME, OTHER_PASSWORD), OTHER_ACCOUNT_ID, 404, "validation"),
    ],
)
def test_the_node_reached_refuses_strangers_itself_and_sends_nothing(
    node: VirtualTimeServer,
    owners: Owners,
    owner: StandInOwner,
    auth: tuple[str, str],
    account_id: str,
    status: int,
    error_type: str,
) -> None:
    call_id = stored_call(node)
    owners.elsewhere[call_id] = owner.base_url
    with httpx.Client(base_url=node.base_url, auth=auth, timeout=10) as stranger:
        for response in (
            stranger.get(call_path(call_id, account_id)),
            stranger.post(call_path(call_id, account_id), json={"state": "completed"}),
            stranger.put(
                call_path(call_id, account_id) + "/bxml",
                content=b"<Bxml/>",
                headers={"Content-Type": "application/xml"},
            ),
            stranger.post(
                f"/switchboard/v1/accounts/{account_id}/calls/{call_id}/callee",
                json={"action": "hangup"},
            ),
        ):
            assert_error(response, status, error_type)
    assert owner.seen == []
    assert owners.asked == []


def test_a_forwarded_request_is_answered_here_as_on_one_node_never_forwarded_again(
    node: VirtualTimeServer, owners: Owners, owner: StandInOwner, client: httpx.Client
) -> None:
    call_id = stored_call(node)
    owners.elsewhere[call_id] = owner.base_url  # the registry still names another node
    once = {FORWARDED: "1"}

    state = client.get(call_path(call_id), headers=once)
    update = client.post(call_path(call_id), json={"state": "completed"}, headers=once)

    # This node's own answers: the stored row, and a call its engine does not run.
    assert state.status_code == 200
    assert (state.json()["callId"], state.json()["state"]) == (call_id, ANSWERED)
    assert_error(
        update, 409, "validation", f"Call [{call_id}] cannot be modified in its current state"
    )
    assert owner.seen == []
    assert owners.asked == []


def test_a_body_over_the_limit_is_refused_here_before_anything_is_sent(
    node: VirtualTimeServer, owners: Owners, owner: StandInOwner, client: httpx.Client
) -> None:
    call_id = stored_call(node)
    owners.elsewhere[call_id] = owner.base_url

    response = client.put(
        call_path(call_id) + "/bxml",
        content=b"<Bxml>" + b" " * 70_000 + b"</Bxml>",
        headers={"Content-Type": "application/xml"},
    )

    assert_error(response, 413, "validation", "Request body too large: the limit is 64 KB")
    assert owner.seen == []


def unreachable_answer(response: httpx.Response, call_id: str) -> None:
    body = assert_error(response, 503, "system-overloaded")
    assert body["id"] is None
    assert response.headers["retry-after"] == "1"
    description = str(body["description"])
    assert description.startswith(f"The node that runs call {call_id} is unreachable: retry")


def test_an_owner_that_refuses_connections_gives_a_503_that_says_to_retry(
    node: VirtualTimeServer, owners: Owners, client: httpx.Client
) -> None:
    call_id = stored_call(node)
    # A port bound but never listening: a connection to it is refused, and no one else can
    # take the port while the test holds it.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        owners.elsewhere[call_id] = f"http://127.0.0.1:{closed.getsockname()[1]}"

        response = client.post(call_path(call_id), json={"state": "completed"})

    unreachable_answer(response, call_id)


@pytest.fixture
def quick_forwarder(node: VirtualTimeServer) -> Iterator[Forwarder]:
    context = context_of(node)
    usual, context.forwarder = context.forwarder, Forwarder(timeout=0.5)
    yield context.forwarder
    node.run(context.forwarder.close())
    context.forwarder = usual


def test_an_owner_that_never_answers_gives_a_503_after_the_timeout(
    node: VirtualTimeServer,
    owners: Owners,
    owner: StandInOwner,
    client: httpx.Client,
    quick_forwarder: Forwarder,
) -> None:
    call_id = stored_call(node)
    owners.elsewhere[call_id] = owner.base_url
    owner.hold = True

    response = client.get(call_path(call_id))

    unreachable_answer(response, call_id)
    assert [seen.path_qs for seen in owner.seen] == [call_path(call_id)]


def test_one_node_asks_no_registry_and_answers_itself(
    node: VirtualTimeServer, client: httpx.Client
) -> None:
    call_id = stored_call(node)
    assert context_of(node).nodes is None

    response = client.get(call_path(call_id))

    assert response.status_code == 200
    assert (response.json()["callId"], response.json()["state"]) == (call_id, ANSWERED)
