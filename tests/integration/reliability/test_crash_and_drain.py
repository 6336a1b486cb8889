"""201 means it will happen: SIGKILL and SIGTERM of a real Switchboard process.

These tests run `switchboard serve` as a separate process on a scaled clock (time_scale 0.1),
so they wait for another process in real time (bounded, polling) — the one place the suite does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.reliability.process import ServerProcess, free_port, wait_until
from tests.support.receiver import Hold, Receiver

LIVE_ACCOUNT = "9900011"
QUEUE_ACCOUNT = "9900012"
APPLICATION = "7fc9698a-b04a-468b-9e8f-91238c0d0011"
QUEUE_APPLICATION = "7fc9698a-b04a-468b-9e8f-91238c0d0012"
AUTH = ("live", "live-password-1")
QUEUE_AUTH = ("queue", "queue-password-1")


def config(directory: Path, queue_cps: float, drain_seconds: float = 1.0) -> Path:
    path = directory / "switchboard.toml"
    path.write_text(
        f"""
[server]
data_dir = "data"
drain_seconds = {drain_seconds}

[simulator]
time_scale = 0.1

[simulator.default]
answer_after = 1.0

[[simulator.phones]]
number = "+15555550201"
outcome = "no-answer"

[[simulator.phones]]
number = "+15555550202"
answer_after = 1.0
hangup_after = 1.0

[[accounts]]
id = "{LIVE_ACCOUNT}"
numbers = ["+15555550300"]
  [accounts.limits]
  calls_per_second = 100
  [[accounts.users]]
  username = "{AUTH[0]}"
  password = "{AUTH[1]}"
  [[accounts.applications]]
  id = "{APPLICATION}"
  name = "live"

[[accounts]]
id = "{QUEUE_ACCOUNT}"
numbers = ["+15555550301"]
  [accounts.limits]
  calls_per_second = {queue_cps}
  [[accounts.users]]
  username = "{QUEUE_AUTH[0]}"
  password = "{QUEUE_AUTH[1]}"
  [[accounts.applications]]
  id = "{QUEUE_APPLICATION}"
  name = "queued"
"""
    )
    return path


@pytest.fixture
def app() -> Iterator[Receiver]:
    receiver = Receiver().start()
    receiver.on("/answer", "<Response><Pause duration='3600'/></Response>")
    yield receiver
    for handler in receiver.routes.values():
        reply = handler(None)  # type: ignore[arg-type]
        if isinstance(reply, Hold):
            reply.release.set()
    receiver.stop()


def create(server: ServerProcess, app: Receiver, to: str, *, queued: bool = False) -> str:
    account, auth, application, number = (
        (QUEUE_ACCOUNT, QUEUE_AUTH, QUEUE_APPLICATION, "+15555550301")
        if queued
        else (LIVE_ACCOUNT, AUTH, APPLICATION, "+15555550300")
    )
    response = httpx.post(
        f"{server.base_url}/api/v2/accounts/{account}/calls",
        auth=auth,
        json={
            "from": number,
            "to": to,
            "answerUrl": app.url("/answer"),
            "disconnectUrl": app.url(f"/disconnect/{to[-3:]}"),
            "applicationId": application,
            "callTimeout": 300,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["callId"])


def state(server: ServerProcess, call_id: str, queued: bool = False) -> dict[str, Any]:
    account, auth = (QUEUE_ACCOUNT, QUEUE_AUTH) if queued else (LIVE_ACCOUNT, AUTH)
    response = httpx.get(f"{server.base_url}/api/v2/accounts/{account}/calls/{call_id}", auth=auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


def disconnects(app: Receiver, call_id: str) -> list[dict[str, Any]]:
    return [e for e in app.events("disconnect") if e["callId"] == call_id]


def test_sigkill_then_restart_every_created_call_ends_and_its_disconnect_arrives(
    tmp_path: Path, app: Receiver
) -> None:
    held = Hold()
    app.on("/disconnect/202", held)  # the callee of +15555550202 hangs up: its event is held
    server = ServerProcess(config(tmp_path, queue_cps=0.01), free_port()).start()
    try:
        answered = [create(server, app, "+15555550200"), create(server, app, "+15555550203")]
        ringing = create(server, app, "+15555550201")
        ending = create(server, app, "+15555550202")
        queued = [create(server, app, "+15555550204", queued=True) for _ in range(3)]
        wait_until(
            lambda: all(state(server, c)["state"] == "answered" for c in answered),
            10,
            "two answered calls",
        )
        assert state(server, ringing)["state"] == "initiated"
        assert held.arrived.wait(10), "the held disconnect never arrived"
        assert [state(server, c, queued=True)["state"] for c in queued[1:]] == ["queued"] * 2
        server.kill()  # SIGKILL: no shutdown code runs
        held.release.set()
        app.on("/disconnect/202", "")  # after the restart the receiver answers normally
        restarted = ServerProcess(config(tmp_path, queue_cps=100), server.port).start()
        try:
            everything = [*answered, ringing, ending]
            wait_until(
                lambda: all(disconnects(app, c) for c in everything + queued[:1]),
                20,
                "a disconnect event for every live call",
            )
            for call_id in [*answered, ringing]:
                final = state(restarted, call_id)
                assert final["state"] == "disconnected"
                assert final["disconnectCause"] == "error"
                assert "its media was lost" in final["errorMessage"]
                (event,) = disconnects(app, call_id)
                assert event["cause"] == "error" and event["errorId"]
            # The held event was owed when Switchboard died: delivered again after the restart.
            assert [e["cause"] for e in disconnects(app, ending)] == ["hangup", "hangup"]
            # Calls still in the queue at the kill (queued[0] had left it: it ended above) start
            # normally after the restart: answered, their answer webhook asked, and ended with
            # an ordinary hangup, not an error.
            waiting = queued[1:]
            wait_until(
                lambda: (
                    sorted(e["callId"] for e in app.events("answer") if e["callId"] in waiting)
                    == sorted(waiting)
                ),
                10,
                "an answer webhook for each queued call",
            )
            for call_id in waiting:
                assert state(restarted, call_id, queued=True)["state"] == "answered"
            for call_id in waiting:
                hangup = httpx.post(
                    f"{restarted.base_url}/api/v2/accounts/{QUEUE_ACCOUNT}/calls/{call_id}",
                    auth=QUEUE_AUTH,
                    json={"state": "completed"},
                )
                assert hangup.status_code == 200, hangup.text
            wait_until(
                lambda: all(disconnects(app, c) for c in waiting), 10, "their disconnect events"
            )
            for call_id in waiting:
                final = state(restarted, call_id, queued=True)
                assert (final["state"], final["disconnectCause"]) == ("disconnected", "hangup")
                assert final["errorMessage"] is None
                (event,) = disconnects(app, call_id)
                assert event["cause"] == "hangup" and "errorMessage" not in event
        finally:
            restarted.stop()
    finally:
        server.stop()


def test_sigterm_drains_refuses_new_calls_and_exits_cleanly(tmp_path: Path, app: Receiver) -> None:
    # The call outlives the 1 s drain, so it is ended and its disconnect goes out; the receiver
    # holds that disconnect, and with it the server, still draining, until this test has seen
    # the refusal. No stall of a loaded machine can let the server exit first.
    held = Hold()
    app.on("/disconnect/200", held)
    server = ServerProcess(config(tmp_path, queue_cps=100, drain_seconds=1.0), free_port())
    server.start()
    try:
        long_call = create(server, app, "+15555550200")
        wait_until(
            lambda: state(server, long_call)["state"] == "answered", 20, "an answer", server=server
        )
        server.terminate()
        wait_until(
            lambda: httpx.get(f"{server.base_url}/readyz").status_code == 503,
            20,
            "draining",
            server=server,
        )
        refused = httpx.post(
            f"{server.base_url}/api/v2/accounts/{LIVE_ACCOUNT}/calls",
            auth=AUTH,
            json={
                "from": "+15555550300",
                "to": "+15555550200",
                "answerUrl": app.url("/a"),
                "applicationId": APPLICATION,
            },
        )
        assert refused.status_code == 503
        assert refused.json() == {
            "type": "system-overloaded",
            "description": "Switchboard is shutting down and not accepting new calls",
            "id": None,
        }
        assert held.arrived.wait(20), "the ended call's disconnect never arrived"
        assert server.exit_code() is None  # it waits for the disconnect to be delivered
        held.release.set()
        assert server.wait(30) == 0
        (event,) = disconnects(app, long_call)
        assert event["cause"] == "error"
        assert event["errorMessage"] == (
            "Switchboard shut down before the call ended (it waited 1 s for calls to finish)"
        )
        assert app.requests("/a") == []
    finally:
        held.release.set()
        server.stop()
