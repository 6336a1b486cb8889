"""SIGKILL in the middle of a <Transfer>, then a restart (issue 12: "A crash during ringing and
during a bridge: after restart each call ends from its own row, every owed event is delivered
once, no leg is left ringing").

The relationship between the calls lives only in the memory of the original call's runner; each
call's row holds what it needs to end alone (a target's row: its parentCallId and its
transferDisconnect URL). So after the kill, the restart ends every call from its own row: cause
`error`, "its media was lost"; A gets one `disconnect`, each target one `transferDisconnect`,
and no transferComplete is sent for a transfer nobody can finish.

A real `switchboard serve` process on a scaled clock (time_scale 0.1), as in
test_crash_and_drain.py; the tests wait for it in real time, bounded, polling.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.reliability.process import ServerProcess, free_port, wait_until
from tests.support.receiver import Receiver

ACCOUNT = "9900031"
APPLICATION = "7fc9698a-b04a-468b-9e8f-91238c0d0031"
AUTH = ("transfer", "transfer-password-1")
FROM = "+15555550300"
CALLER = "+15555550200"  # A: answers after 1 s and stays
RINGS = ("+15555550201", "+15555550203")  # ring until callTimeout
ANSWERS = "+15555550205"  # answers after 1 s and stays
CALLS = f"/api/v2/accounts/{ACCOUNT}/calls"


def config(directory: Path) -> Path:
    path = directory / "switchboard.toml"
    path.write_text(
        f"""
[server]
data_dir = "data"

[simulator]
time_scale = 0.1

[simulator.default]
answer_after = 1.0

[[simulator.phones]]
number = "{RINGS[0]}"
outcome = "no-answer"

[[simulator.phones]]
number = "{RINGS[1]}"
outcome = "no-answer"

[[accounts]]
id = "{ACCOUNT}"
numbers = ["{FROM}"]
  [accounts.limits]
  calls_per_second = 100
  [[accounts.users]]
  username = "{AUTH[0]}"
  password = "{AUTH[1]}"
  [[accounts.applications]]
  id = "{APPLICATION}"
  name = "transfer"
"""
    )
    return path


def transfer_to(app: Receiver, *numbers: str) -> str:
    targets = "".join(
        f'<PhoneNumber transferAnswerUrl="{app.url("/whisper")}" '
        f'transferDisconnectUrl="{app.url("/transfer-disconnect")}">{number}</PhoneNumber>'
        for number in numbers
    )
    # callTimeout 300 s: 30 s of real time, far more than the test takes to kill the server.
    return (
        f'<Response><Transfer callTimeout="300" transferCompleteUrl="{app.url("/complete")}">'
        f"{targets}</Transfer></Response>"
    )


@pytest.fixture
def app() -> Iterator[Receiver]:
    receiver = Receiver().start()
    receiver.on("/whisper", "")  # no whisper: joined at once
    receiver.on("/complete", "<Response><Hangup/></Response>")
    yield receiver
    receiver.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    started = ServerProcess(config(tmp_path), free_port()).start()
    yield started
    started.stop()


def create(server: ServerProcess, app: Receiver) -> str:
    response = httpx.post(
        f"{server.base_url}{CALLS}",
        auth=AUTH,
        json={
            "from": FROM,
            "to": CALLER,
            "answerUrl": app.url("/answer"),
            "disconnectUrl": app.url("/disconnect"),
            "applicationId": APPLICATION,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["callId"])


def state(server: ServerProcess, call_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}{CALLS}/{call_id}", auth=AUTH)
    assert response.status_code == 200, response.text
    return dict(response.json())


def listed(server: ServerProcess, to: str | None = None) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.base_url}{CALLS}", auth=AUTH, params={"to": to} if to else {})
    assert response.status_code == 200, response.text
    return list(response.json())


def timeline(server: ServerProcess, call_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.base_url}/switchboard/v1/accounts/{ACCOUNT}/calls/{call_id}/timeline", auth=AUTH
    )
    assert response.status_code == 200, response.text
    return list(response.json()["timeline"])


def events_of(app: Receiver, call_id: str) -> list[str]:
    return [e["eventType"] for e in app.events() if e.get("callId") == call_id]


def outbox_depth(server: ServerProcess) -> float:
    text = httpx.get(f"{server.base_url}/metrics").text
    match = re.search(r"^switchboard_outbox_depth ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, "no switchboard_outbox_depth in /metrics"
    return float(match.group(1))


def restart_and_check(
    server: ServerProcess, app: Receiver, a: str, targets: dict[str, str]
) -> None:
    """SIGKILL the server, start another on the same data, and check that every call ended
    from its own row with the events it owed, each delivered once. `targets`: each target's
    callId and the state it was in at the kill ("ringing" or "answered")."""
    was = {a: "answered", **targets}
    before = {call_id: events_of(app, call_id) for call_id in (a, *targets)}
    server.kill()  # SIGKILL: no shutdown code runs, the transfer dies in memory
    restarted = ServerProcess(server.config, server.port).start()
    try:
        wait_until(
            lambda: (
                "disconnect" in events_of(app, a)
                and all("transferDisconnect" in events_of(app, t) for t in targets)
            ),
            20,
            "A's disconnect and every target's transferDisconnect",
            server=restarted,
        )
        # Nothing owed is left in the outbox: what arrived is all that will arrive.
        wait_until(lambda: outbox_depth(restarted) == 0, 10, "an empty outbox", server=restarted)

        after = {c: events_of(app, c)[len(before[c]) :] for c in (a, *targets)}
        assert after[a] == ["disconnect"], after  # once, and no transferComplete
        for target in targets:
            assert after[target] == ["transferDisconnect"], after
        for call_id in (a, *targets):
            final = state(restarted, call_id)
            assert (final["state"], final["disconnectCause"]) == ("disconnected", "error")
            message = final["errorMessage"]
            assert f"while the call was {was[call_id]}; its media was lost" in message, message
        (disconnect,) = [e for e in app.events("disconnect") if e["callId"] == a]
        assert disconnect["cause"] == "error" and disconnect["errorId"]
        assert "its media was lost" in disconnect["errorMessage"]
        for target in targets:
            (gone,) = [e for e in app.events("transferDisconnect") if e["callId"] == target]
            assert (gone["cause"], gone["parentCallId"]) == ("error", a)
            assert "its media was lost" in gone["errorMessage"]
            assert state(restarted, target)["parentCallId"] == a
        assert state(restarted, a)["parentCallId"] is None
        assert app.events("transferComplete") == []
        # No leg is left ringing (or up): every call of the account has ended.
        assert {c["state"] for c in listed(restarted)} == {"disconnected"}
    finally:
        restarted.stop()


def test_sigkill_while_the_targets_ring(server: ServerProcess, app: Receiver) -> None:
    app.on("/answer", transfer_to(app, *RINGS))
    a = create(server, app)

    def ringing() -> bool:
        rows = [row for number in RINGS for row in listed(server, number)]
        return len(rows) == 2 and all(r["state"] == "initiated" for r in rows)

    wait_until(ringing, 10, "both targets ringing", server=server)
    targets = [row["callId"] for number in RINGS for row in listed(server, number)]
    for target in targets:
        assert state(server, target)["parentCallId"] == a
    assert state(server, a)["state"] == "answered"
    assert events_of(app, a) == ["answer"]
    restart_and_check(server, app, a, dict.fromkeys(targets, "ringing"))


def test_sigkill_while_the_call_and_its_target_are_joined(
    server: ServerProcess, app: Receiver
) -> None:
    app.on("/answer", transfer_to(app, ANSWERS))
    a = create(server, app)

    def joined() -> bool:
        return any(
            e["kind"] == "transfer" and e.get("event") == "joined" for e in timeline(server, a)
        )

    wait_until(joined, 10, "A joined to its target", server=server)
    (answer,) = app.events("transferAnswer")
    target = str(answer["callId"])
    assert answer["parentCallId"] == a
    assert state(server, target)["state"] == "answered"
    assert events_of(app, target) == ["transferAnswer"]
    restart_and_check(server, app, a, {target: "answered"})
