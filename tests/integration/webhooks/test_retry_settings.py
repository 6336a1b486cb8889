"""`[webhooks] retries / backoff_seconds / max_backoff_seconds` from the config file to the
deliveries a webhook app receives (docs/operations.md, "Nothing lost: the outbox"), and the
message `switchboard serve` stops with when one of them is wrong.

The server runs on a virtual clock: the backoff is measured in the clock's seconds, so the test
can tell a 2 s backoff from the 1 s default and a capped 3 s round from an uncapped 4 s one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.reliability.operator import outbox
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CONFIG,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    start_virtual_server,
)

RETRIES = """
[simulator.default]
answer_after = 1.0

[webhooks]
retries = 3
backoff_seconds = 2.0
max_backoff_seconds = 3.0
"""


def test_the_retry_settings_decide_how_often_and_when_a_failed_disconnect_is_sent_again(
    tmp_path: Path, app: Receiver
) -> None:
    app.on("/answer", "<Response><Hangup/></Response>")
    app.on("/disconnect", (503, ""))  # the app's disconnect handler keeps failing
    server = start_virtual_server(tmp_path, CONFIG + RETRIES)
    try:
        response = httpx.post(
            f"{server.api_url}/accounts/{ACCOUNT_ID}/calls",
            auth=(USERNAME, PASSWORD),
            json={
                "from": FROM_NUMBER,
                "to": "+15555551313",
                "answerUrl": app.url("/answer"),
                "disconnectUrl": app.url("/disconnect"),
                "applicationId": APPLICATION_ID,
            },
        )
        assert response.status_code == 201, response.text
        call_id = response.json()["callId"]

        def attempts_after(seconds: float) -> int:
            server.advance(seconds)
            return len(app.requests("/disconnect"))

        # The call is answered and hangs up 1 s in: the first attempt (t = 0 below) fails.
        # Rounds follow after 2 s, then 2 x 2 = 4 s capped at 3 s, then 3 s again: at t = 2, 5
        # and 8. Each check falls half a second either side of one of those moments.
        assert attempts_after(1.5) == 1  # t = 0.5
        assert attempts_after(1.0) == 1  # t = 1.5: not the default 1 s backoff
        assert attempts_after(1.0) == 2  # t = 2.5
        assert attempts_after(2.0) == 2  # t = 4.5
        assert attempts_after(1.0) == 3  # t = 5.5: not 4 s, the uncapped round
        assert attempts_after(2.0) == 3  # t = 7.5
        assert attempts_after(1.0) == 4  # t = 8.5
        assert attempts_after(600.0) == 4  # three retries, then it gives up
        assert outbox(server.data_dir, call_id) == [
            ("answer", "delivered"),
            ("disconnect", "failed"),
        ]
        # Each attempt is on the call's timeline, as the docs promise.
        timeline = httpx.get(
            f"{server.base_url}/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline",
            auth=(USERNAME, PASSWORD),
        ).json()["timeline"]
        statuses = [
            e["status"]
            for e in timeline
            if e["kind"] == "webhook" and e["eventType"] == "disconnect"
        ]
        assert statuses == [503] * 4
    finally:
        server.stop()


def test_serve_stops_with_the_setting_named_when_one_is_wrong(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(CONFIG + "\n[webhooks]\nretries = 3\nmax_backoff_seconds = -60\n")
    serve = subprocess.run(
        [sys.executable, "-m", "switchboard.cli", "serve", "--config", str(config)],
        capture_output=True,
        timeout=60,
    )
    assert serve.returncode == 2
    assert serve.stderr.decode() == (
        "switchboard: webhooks.max_backoff_seconds must be a number of seconds >= 0, got -60\n"
    )
    assert not (tmp_path / "data").exists()  # stopped before it touched anything
