"""Admission control of one node (issue 18, "No collapse under overload"), end to end: a real
server on 127.0.0.1 on a virtual clock, a real webhook app, the official SDK as the client.

The node's capacity here is 2 live calls. At it, createCall is Bandwidth's 503 (errors.mdx:
`system-overloaded`, "Managing too many concurrent calls", id null) with Retry-After, until a
call ends; an inbound call is refused the same way; a queued call whose turn comes while the
node is full waits, and ends with `node-capacity-exceeded` (disconnect.mdx) when the node stays
full longer than `[overload] queued_call_wait_seconds`, with exactly one disconnect event. A
node falling behind (its loop lag, measured by the probe) refuses new calls with the same 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import ServiceException
from bandwidth.models.bxml import Pause, Response
from bandwidth.models.create_call import CreateCall
from bandwidth.models.update_call import UpdateCall

from switchboard.limits.overload import OverloadGate
from tests.e2e.control import calls_api_for, header
from tests.e2e.flow import now
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CONFIG,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

CALLEE = "+15555550180"  # every number answers after 1 s (the default phone below)
QUEUE_ACCOUNT = "9900021"
QUEUE_USER = "queue-user"
QUEUE_PASSWORD = "queue-user-password"
QUEUE_APPLICATION = "0b1c1d0e-0000-4000-8000-000009900021"
QUEUE_NUMBER = "+15555550210"
INBOUND_NUMBER = "+15555550211"
CAPACITY = (
    "Managing too many concurrent calls: this Switchboard node is running 2 calls, its "
    "capacity ([overload] max_live_calls); retry in a few seconds, or on another node"
)
OVERLOAD = """
[overload]
max_live_calls = 2
queued_call_wait_seconds = 10
# The probe stays out of the way (its real-time lag would be a race here): the lag test below
# hands the gate the measurements the probe would (tests/unit/limits: the probe itself).
probe_interval_seconds = 60

[simulator.default]
answer_after = 1.0
"""


def config(app_url: str) -> str:
    return (
        CONFIG
        + OVERLOAD
        + f"""
[[accounts]]
id = "{QUEUE_ACCOUNT}"
numbers = ["{QUEUE_NUMBER}", "{INBOUND_NUMBER}"]
  [[accounts.users]]
  username = "{QUEUE_USER}"
  password = "{QUEUE_PASSWORD}"
  [[accounts.applications]]
  id = "{QUEUE_APPLICATION}"
  numbers = ["{INBOUND_NUMBER}"]
  call_initiated_callback_url = "{app_url}/initiate"
  [accounts.limits]
  calls_per_second = 1
  queue = true
"""
    )


@pytest.fixture(scope="module")
def inbound_app() -> Iterator[Receiver]:
    receiver = Receiver().start()
    receiver.on("/initiate", Response([Pause(60)]).to_bxml())
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def vserver(
    tmp_path_factory: pytest.TempPathFactory, inbound_app: Receiver
) -> Iterator[VirtualTimeServer]:
    """This module's own server (it also serves the e2e suite's every-call-ends check)."""
    directory: Path = tmp_path_factory.mktemp("overload")
    running = start_virtual_server(directory, config(inbound_app.url("")))
    yield running
    running.stop()


@pytest.fixture
def alice(vserver: VirtualTimeServer) -> Iterator[CallsApi]:
    with calls_api_for(vserver, USERNAME, PASSWORD) as api:
        yield api


@pytest.fixture
def queue_user(vserver: VirtualTimeServer) -> Iterator[CallsApi]:
    with calls_api_for(vserver, QUEUE_USER, QUEUE_PASSWORD) as api:
        yield api


def create(api: CallsApi, app: Receiver, account: str = ACCOUNT_ID) -> str:
    body = CreateCall(
        to=CALLEE,
        var_from=FROM_NUMBER if account == ACCOUNT_ID else QUEUE_NUMBER,
        application_id=APPLICATION_ID if account == ACCOUNT_ID else QUEUE_APPLICATION,
        answer_url=app.url("/answer"),
        disconnect_url=app.url("/disconnect"),
    )
    return str(api.create_call(account, body).call_id)


def hang_up(api: CallsApi, call_id: str, account: str = ACCOUNT_ID) -> None:
    api.update_call(account, call_id, UpdateCall(state="completed"))


def refused(api: CallsApi, app: Receiver, description: str | None = CAPACITY) -> None:
    """The next createCall is Bandwidth's 503 (with this description, unless None) and
    Retry-After: 1. The SDK raises ServiceException and, as for Bandwidth's own 503 (its
    createCall maps no 503 to a model), leaves the body unparsed."""
    with pytest.raises(ServiceException) as raised:
        create(api, app)
    error = raised.value
    assert error.status == 503
    body = orjson.loads(error.body or b"")
    assert set(body) == {"type", "description", "id"}, body
    assert (body["type"], body["id"]) == ("system-overloaded", None), body
    if description is not None:
        assert body["description"] == description
    assert header(error.headers, "Retry-After") == "1"


def state(api: CallsApi, call_id: str, account: str = ACCOUNT_ID) -> str:
    return str(api.get_call_state(account, call_id).state)


def metric(vserver: VirtualTimeServer, line_start: str) -> float:
    text = httpx.get(f"{vserver.base_url}/metrics").text
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(line_start)]
    return float(values[0]) if values else 0.0


def test_at_capacity_create_call_is_503_until_a_call_ends(
    vserver: VirtualTimeServer, app: Receiver, alice: CallsApi
) -> None:
    app.on("/answer", Response([Pause(60)]).to_bxml())
    refusals = 'switchboard_overload_refusals_total{path="create",reason="capacity"}'
    before = metric(vserver, refusals)
    first, second = create(alice, app), create(alice, app)
    vserver.advance(2)
    assert [state(alice, call) for call in (first, second)] == ["answered", "answered"]
    assert metric(vserver, "switchboard_node_live_calls ") == 2

    refused(alice, app)
    refused(alice, app)
    assert metric(vserver, refusals) == before + 2
    # The calls already running go on, untouched.
    vserver.advance(10)
    assert [state(alice, call) for call in (first, second)] == ["answered", "answered"]

    hang_up(alice, first)
    vserver.advance(1)
    third = create(alice, app)  # a place freed the moment the first call ended
    assert state(alice, third) == "initiated"
    refused(alice, app)
    hang_up(alice, second)
    hang_up(alice, third)
    vserver.advance(5)
    causes = {e["callId"]: e["cause"] for e in app.events("disconnect")}
    # The third was still ringing when it was ended: cancelled.
    assert [causes.get(call) for call in (first, second, third)] == ["hangup", "hangup", "cancel"]


def test_inbound_calls_are_refused_the_same_way(
    vserver: VirtualTimeServer, app: Receiver, alice: CallsApi, inbound_app: Receiver
) -> None:
    app.on("/answer", Response([Pause(60)]).to_bxml())
    held = [create(alice, app), create(alice, app)]
    dial = f"/switchboard/v1/phones/{CALLEE}/calls"
    with httpx.Client(base_url=vserver.base_url, auth=(USERNAME, PASSWORD)) as client:
        refusal = client.post(dial, json={"to": INBOUND_NUMBER})
        # The dial API's 503 is the SIP 503 a real caller gets: the same refusal.
        assert refusal.status_code == 503, refusal.text
        assert refusal.json() == {
            "type": "system-overloaded",
            "description": f"Call from {CALLEE} refused: {CAPACITY}",
            "id": None,
        }
        assert inbound_app.events("initiate") == []
        hang_up(alice, held[0])
        vserver.advance(1)
        accepted = client.post(dial, json={"to": INBOUND_NUMBER})
        assert accepted.status_code == 201, accepted.text
    inbound = accepted.json()["callId"]
    vserver.advance(1)
    assert [e["callId"] for e in inbound_app.events("initiate")] == [inbound]
    assert (
        metric(vserver, 'switchboard_overload_refusals_total{path="inbound",reason="capacity"}')
        == 1
    )
    hang_up(alice, held[1])
    with calls_api_for(vserver, QUEUE_USER, QUEUE_PASSWORD) as queue_user:
        hang_up(queue_user, inbound, QUEUE_ACCOUNT)
    vserver.advance(5)


def test_a_queued_call_waits_out_a_short_overload(
    vserver: VirtualTimeServer, app: Receiver, queue_user: CallsApi
) -> None:
    app.on("/answer", Response([Pause(60)]).to_bxml())
    created = now(vserver)
    # One call per second: the first starts, the other two queue (the node has room).
    calls = [create(queue_user, app, QUEUE_ACCOUNT) for _ in range(3)]
    assert [state(queue_user, c, QUEUE_ACCOUNT) for c in calls] == ["initiated", *["queued"] * 2]
    vserver.advance(1)  # the second's turn: placed, and the node is full
    vserver.advance(5)  # the third's turn came at 2 s: it waits for room
    assert [state(queue_user, c, QUEUE_ACCOUNT) for c in calls] == [
        "answered",
        "answered",
        "queued",
    ]
    hang_up(queue_user, calls[0], QUEUE_ACCOUNT)
    vserver.advance(2)
    assert state(queue_user, calls[2], QUEUE_ACCOUNT) == "answered"
    start = queue_user.get_call_state(QUEUE_ACCOUNT, calls[2]).start_time
    assert start is not None
    # Placed at the first look for room after the first call ended at 6 s (once a second).
    assert round((start - created).total_seconds(), 3) == 7.0
    for call in calls[1:]:
        hang_up(queue_user, call, QUEUE_ACCOUNT)
    vserver.advance(5)


def test_a_queued_call_ends_node_capacity_exceeded_when_the_node_stays_full(
    vserver: VirtualTimeServer, app: Receiver, queue_user: CallsApi
) -> None:
    app.on("/answer", Response([Pause(60)]).to_bxml())
    calls = [create(queue_user, app, QUEUE_ACCOUNT) for _ in range(3)]
    vserver.advance(1)
    vserver.advance(9.5)  # the third has waited 8.5 of its 10 s for room: still queued
    assert state(queue_user, calls[2], QUEUE_ACCOUNT) == "queued"
    vserver.advance(2)
    ended = queue_user.get_call_state(QUEUE_ACCOUNT, calls[2])
    assert (ended.state, ended.disconnect_cause) == ("disconnected", "node-capacity-exceeded")
    assert ended.error_message == (
        "The call could not be placed: this Switchboard node is running 2 calls, its capacity "
        "([overload] max_live_calls), for longer than the 10 s a queued call waits for room "
        "([overload] queued_call_wait_seconds)"
    )
    assert ended.error_id
    vserver.advance(5)
    disconnects = [e for e in app.events("disconnect") if e["callId"] == calls[2]]
    assert len(disconnects) == 1, disconnects  # exactly one
    assert disconnects[0]["cause"] == "node-capacity-exceeded"
    assert disconnects[0]["errorMessage"] == ended.error_message
    assert [e for e in app.events("answer") if e["callId"] == calls[2]] == []  # never placed
    assert (
        metric(vserver, 'switchboard_overload_refusals_total{path="queued",reason="capacity"}') == 1
    )
    for call in calls[:2]:
        hang_up(queue_user, call, QUEUE_ACCOUNT)
    vserver.advance(5)


async def _observe(gate: OverloadGate, lag: float) -> None:
    gate.observe(lag, 0)  # on the server's loop, where the probe would run it


def test_a_node_falling_behind_refuses_new_calls_and_takes_them_again_once_caught_up(
    vserver: VirtualTimeServer, app: Receiver, alice: CallsApi
) -> None:
    gate = vserver.engine.overload
    assert gate is not None
    for _ in range(2):  # two probes in a row 0.75 s late: the default limit is 0.5 s
        vserver.run(_observe(gate, 0.75))
    assert metric(vserver, "switchboard_overload_refusing ") == 1
    refused(
        alice,
        app,
        "Managing too many concurrent calls: this Switchboard node is falling behind (its "
        "event loop runs 750 ms late, over the 500 ms of [overload] max_loop_lag_seconds), so "
        "it takes no new calls until it catches up; retry in a few seconds, or on another node",
    )
    vserver.run(_observe(gate, 0.3))  # better, but not caught up: still refusing
    vserver.run(_observe(gate, 0.0))
    refused(alice, app, None)
    vserver.run(_observe(gate, 0.0))  # two in a row under half the limit
    call = create(alice, app)
    assert state(alice, call) == "initiated"
    hang_up(alice, call)
    vserver.advance(5)
