"""What docs/operations.md promises of a restart and of SIGTERM, on a real `switchboard serve`.

"Crash and restart": events that expected BXML for the calls a restart ends are `abandoned`.
"Stopping: SIGTERM": queued calls stay queued for the next start; an event waiting out a retry
backoff stays `pending` and the next start delivers it; a second signal stops at once.

Each test runs the server as a separate process on a scaled clock (time_scale 0.1) and waits
for it in real time, bounded and polling, as test_crash_and_drain.py does.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx

from tests.integration.reliability.operator import calls_show, metric, outbox
from tests.integration.reliability.process import ServerProcess, free_port, wait_until
from tests.support.receiver import Hold, Receiver

LIVE_ACCOUNT = "9900021"
QUEUE_ACCOUNT = "9900022"
APPLICATION = "7fc9698a-b04a-468b-9e8f-91238c0d0021"
QUEUE_APPLICATION = "7fc9698a-b04a-468b-9e8f-91238c0d0022"
AUTH = ("live21", "live-password-21")
QUEUE_AUTH = ("queue21", "queue-password-21")
LIVE_NUMBER = "+15555550400"
QUEUE_NUMBER = "+15555550401"
CALLEE = "+15555550410"
DIGITS_CALLEE = "+15555550411"  # presses 1# whenever a Gather listens

HANGUP = "<Response><Hangup/></Response>"
PAUSE = "<Response><Pause duration='3600'/></Response>"


def config(
    directory: Path, *, drain_seconds: float = 30.0, webhooks: str = "", queue_cps: float = 100
) -> Path:
    """Two accounts: one whose calls start at once, and one that runs two calls at a time:
    once its queue holds calls, they wait for one of those to end."""
    path = directory / "switchboard.toml"
    path.write_text(
        f"""
[server]
data_dir = "data"
drain_seconds = {drain_seconds}

[webhooks]
{webhooks}

[simulator]
time_scale = 0.1

[simulator.default]
answer_after = 1.0

[[simulator.phones]]
number = "{DIGITS_CALLEE}"
digits = "1#"

[[accounts]]
id = "{LIVE_ACCOUNT}"
numbers = ["{LIVE_NUMBER}"]
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
numbers = ["{QUEUE_NUMBER}"]
  [accounts.limits]
  calls_per_second = {queue_cps}
  concurrent_calls = 2
  [[accounts.users]]
  username = "{QUEUE_AUTH[0]}"
  password = "{QUEUE_AUTH[1]}"
  [[accounts.applications]]
  id = "{QUEUE_APPLICATION}"
  name = "queued"
"""
    )
    return path


def create(
    server: ServerProcess,
    answer_url: str,
    disconnect_url: str,
    *,
    queued: bool = False,
    to: str = CALLEE,
) -> str:
    account, auth, application, number = (
        (QUEUE_ACCOUNT, QUEUE_AUTH, QUEUE_APPLICATION, QUEUE_NUMBER)
        if queued
        else (LIVE_ACCOUNT, AUTH, APPLICATION, LIVE_NUMBER)
    )
    response = httpx.post(
        f"{server.base_url}/api/v2/accounts/{account}/calls",
        auth=auth,
        json={
            "from": number,
            "to": to,
            "answerUrl": answer_url,
            "disconnectUrl": disconnect_url,
            "applicationId": application,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["callId"])


def state(server: ServerProcess, call_id: str, *, queued: bool = False) -> dict[str, Any]:
    account, auth = (QUEUE_ACCOUNT, QUEUE_AUTH) if queued else (LIVE_ACCOUNT, AUTH)
    response = httpx.get(f"{server.base_url}/api/v2/accounts/{account}/calls/{call_id}", auth=auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


def disconnects(app: Receiver, call_id: str) -> list[dict[str, Any]]:
    return [e for e in app.events("disconnect") if e["callId"] == call_id]


def events_of(app: Receiver, call_id: str) -> list[str]:
    return [e["eventType"] for e in app.events() if e.get("callId") == call_id]


def readyz(server: ServerProcess) -> int | None:
    """/readyz's status, or None once nothing listens (the process is gone)."""
    try:
        return httpx.get(f"{server.base_url}/readyz", timeout=2).status_code
    except httpx.TransportError:
        return None


def test_a_restart_marks_the_events_that_expected_bxml_of_the_calls_it_ended_abandoned(
    tmp_path: Path,
) -> None:
    app = Receiver().start()
    held_answer, held_gather = Hold(), Hold()
    app.on("/answer/held", held_answer)
    app.on(
        "/answer/gather",
        f"<Response><Gather gatherUrl='{app.url('/gather')}' terminatingDigits='#'/></Response>",
    )
    app.on("/gather", held_gather)
    path = config(tmp_path)
    server = ServerProcess(path, free_port()).start()
    restarted: ServerProcess | None = None
    try:
        answering = create(server, app.url("/answer/held"), app.url("/disconnect"))
        gathering = create(
            server, app.url("/answer/gather"), app.url("/disconnect"), to=DIGITS_CALLEE
        )
        assert held_answer.arrived.wait(20), "the answer webhook never arrived"
        assert held_gather.arrived.wait(20), "the gather webhook never arrived"
        # Both events wait for their BXML: recorded, not yet delivered.
        assert metric(server.base_url, "switchboard_outbox_depth") == 2
        server.kill()  # the calls' media dies with the process; the webhooks stay unanswered
        held_answer.release.set()
        held_gather.release.set()

        restarted = ServerProcess(path, server.port).start()
        wait_until(
            lambda: disconnects(app, answering) and disconnects(app, gathering),
            20,
            "the restart to end both calls",
        )
        for call_id in (answering, gathering):
            (event,) = disconnects(app, call_id)
            assert event["cause"] == "error"
            assert "its media was lost" in event["errorMessage"]
        wait_until(
            lambda: metric(restarted.base_url, "switchboard_outbox_depth") == 0,  # type: ignore[union-attr]
            10,
            "every event to be delivered or given up on",
        )
        assert outbox(tmp_path / "data", answering) == [
            ("answer", "abandoned"),
            ("disconnect", "delivered"),
        ]
        assert outbox(tmp_path / "data", gathering) == [
            ("answer", "delivered"),
            ("gather", "abandoned"),
            ("disconnect", "delivered"),
        ]
        # Abandoned, not sent again: the app saw each of them once, before the crash.
        assert events_of(app, answering) == ["answer", "disconnect"]
        assert events_of(app, gathering) == ["answer", "gather", "disconnect"]
    finally:
        held_answer.release.set()
        held_gather.release.set()
        if restarted is not None:
            restarted.stop()
        server.stop()
        app.stop()


def test_sigterm_leaves_queued_calls_queued_and_a_backing_off_event_pending_for_the_next_start(
    tmp_path: Path,
) -> None:
    app = Receiver().start()
    app.on("/answer/pause", PAUSE)
    app.on("/answer/hangup", HANGUP)
    app.on("/disconnect/down", (500, ""))  # the app's disconnect handler is failing for now
    # Retries on, with a backoff no test run lasts through: the event is still waiting at exit.
    retries = "retries = 3\nbackoff_seconds = 600.0\nmax_backoff_seconds = 600.0"
    # The queue account starts one call per 25 s of call time (2.5 s real), two at a time.
    path = config(tmp_path, drain_seconds=3.0, webhooks=retries, queue_cps=0.04)
    server = ServerProcess(path, free_port()).start()
    restarted: ServerProcess | None = None
    try:
        # The rate lets one call start now and holds the next ones in the queue for 2.5 s;
        # then `second` takes the account's other place, and the rest wait for one to end.
        running, second = (
            create(server, app.url("/answer/pause"), app.url("/disconnect"), queued=True)
            for _ in range(2)
        )
        waiting = [
            create(server, app.url("/answer/hangup"), app.url("/disconnect"), queued=True)
            for _ in range(2)
        ]
        assert state(server, second, queued=True)["state"] == "queued"
        wait_until(
            lambda: state(server, second, queued=True)["state"] == "answered",
            20,
            "the second call to leave the queue",
        )
        assert state(server, running, queued=True)["state"] == "answered"
        assert [state(server, c, queued=True)["state"] for c in waiting] == ["queued"] * 2
        # A call of the other account ends at once; its disconnect meets the failing handler.
        backing_off = create(server, app.url("/answer/hangup"), app.url("/disconnect/down"))
        wait_until(lambda: disconnects(app, backing_off), 20, "the first disconnect attempt")
        # Nothing in flight and one event owed: it is waiting out its backoff.
        wait_until(
            lambda: metric(server.base_url, "switchboard_webhooks_in_flight") == 0,
            10,
            "the failed attempt to finish",
        )
        assert metric(server.base_url, "switchboard_outbox_depth") == 1

        server.terminate()
        # The drain ends both live calls after 3 s (the rate would let the next call start by
        # then), which frees the account's places: the queued calls must not take them. And the
        # exit does not wait out the backoff.
        assert server.wait(60) == 0
        for call_id in (running, second):
            (ended,) = disconnects(app, call_id)
            assert ended["cause"] == "error"
            assert "shut down before the call ended" in ended["errorMessage"]
        assert [calls_show(path, c)["state"] for c in waiting] == ["queued"] * 2
        assert [events_of(app, c) for c in waiting] == [[], []]
        assert outbox(tmp_path / "data", backing_off) == [
            ("answer", "delivered"),
            ("disconnect", "pending"),
        ]
        assert len(disconnects(app, backing_off)) == 1

        app.on("/disconnect/down", "")  # the handler is fixed before the next start
        config(tmp_path, webhooks=retries)  # and the queue account may run its calls quickly
        restarted = ServerProcess(path, server.port).start()
        wait_until(lambda: len(disconnects(app, backing_off)) == 2, 20, "the owed disconnect")
        first_attempt, delivered = disconnects(app, backing_off)
        assert delivered == first_attempt  # the same event, delivered again
        wait_until(lambda: all(disconnects(app, c) for c in waiting), 20, "the queued calls to run")
        for call_id in waiting:
            assert events_of(app, call_id) == ["answer", "disconnect"]
            final = state(restarted, call_id, queued=True)
            assert (final["state"], final["disconnectCause"]) == ("disconnected", "hangup")
        wait_until(
            lambda: outbox(tmp_path / "data", backing_off)[-1] == ("disconnect", "delivered"),
            10,
            "the owed disconnect to be marked delivered",
        )
    finally:
        if restarted is not None:
            restarted.stop()
        server.stop()
        app.stop()


def test_a_second_sigterm_stops_at_once(tmp_path: Path) -> None:
    app = Receiver().start()
    app.on("/answer/pause", PAUSE)
    path = config(tmp_path, drain_seconds=600.0)  # the first signal alone would wait 10 minutes
    server = ServerProcess(path, free_port()).start()
    restarted: ServerProcess | None = None
    try:
        live = create(server, app.url("/answer/pause"), app.url("/disconnect"))
        wait_until(lambda: state(server, live)["state"] == "answered", 20, "an answer")
        server.terminate()
        wait_until(lambda: readyz(server) == 503, 10, "the drain to start")
        server.terminate()
        # uvicorn shuts down, then raises the signal again: the status of a process a signal
        # stopped (143 in a shell), where a finished drain exits 0.
        assert server.wait(15) == -signal.SIGTERM
        # Stopped, not drained: the live call was neither waited for nor ended...
        assert disconnects(app, live) == []
        assert calls_show(path, live)["state"] == "answered"
        # ...but left for the next start to end, as after a crash.
        restarted = ServerProcess(path, server.port).start()
        wait_until(lambda: disconnects(app, live), 20, "the next start to end the call")
        (event,) = disconnects(app, live)
        assert event["cause"] == "error"
        assert "restarted while the call was answered" in event["errorMessage"]
    finally:
        if restarted is not None:
            restarted.stop()
        server.stop()
        app.stop()
