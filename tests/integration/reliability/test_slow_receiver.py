"""A webhook receiver that hangs holds up only its own call: others run their whole life meanwhile.

Runs on the real clock, scaled (time_scale 0.01), because a virtual clock waits for every webhook
in flight before it moves: exactly what this test must not do.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.reliability.process import wait_until
from tests.support.callback_timeouts import callback_timeouts
from tests.support.receiver import Hold, Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CONFIG,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    start_server,
)

SCALED = CONFIG + "\n[simulator]\ntime_scale = 0.01\n"


def create(base_url: str, answer_url: str, disconnect_url: str, **extra: object) -> str:
    response = httpx.post(
        f"{base_url}/api/v2/accounts/{ACCOUNT_ID}/calls",
        auth=(USERNAME, PASSWORD),
        json={
            "from": FROM_NUMBER,
            "to": "+15555551313",
            "answerUrl": answer_url,
            "disconnectUrl": disconnect_url,
            "applicationId": APPLICATION_ID,
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["callId"])


def test_a_hanging_answer_url_does_not_hold_up_other_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(tmp_path, SCALED)
    # The stuck call's callbackTimeout runs out only when the test says (after the other calls
    # ended), not on a machine-load-dependent real 5 s (tests/support/callback_timeouts.py).
    timeouts = callback_timeouts(server, monkeypatch)
    slow, fast = Receiver().start(), Receiver().start()
    hanging = Hold(limit=60)
    slow.on("/answer", hanging)
    fast.on("/answer", "<Response><SpeakSentence>quick</SpeakSentence><Hangup/></Response>")
    try:
        stuck = create(
            server.base_url, slow.url("/answer"), slow.url("/disconnect"), callbackTimeout=25
        )
        assert hanging.arrived.wait(5)
        others = [
            create(server.base_url, fast.url("/answer"), fast.url("/disconnect")) for _ in range(5)
        ]
        wait_until(lambda: len(fast.events("disconnect")) == 5, 20, "the other calls to end")
        assert not hanging.release.is_set() and slow.events("disconnect") == []
        assert {e["callId"] for e in fast.events("disconnect")} == set(others)
        assert {e["cause"] for e in fast.events("disconnect")} == {"hangup"}
        # The stuck call ends on its own callbackTimeout, with the reason.
        timeouts.forward(25.0)
        wait_until(lambda: slow.events("disconnect") != [], 10, "the stuck call to time out")
        (event,) = slow.events("disconnect")
        assert event["callId"] == stuck and event["cause"] == "callback-error"
        assert "no response within 25.0 s (callbackTimeout)" in event["errorMessage"]
    finally:
        hanging.release.set()
        slow.stop()
        fast.stop()
        server.stop()
