"""SIGKILL in the middle of a recording, then a restart (issue 13: "a crash during a recording
(SIGKILL, restart: the call ends as today and the recording is either complete or marked
failed)").

A real `switchboard serve` process on a scaled clock (time_scale 0.1), as in
test_crash_and_drain.py: a phone that talks is recorded by <Record>; the server is killed while
the recording runs; after the restart the call has ended with cause `error` ("its media was
lost") and the recording, stored `processing` when it began, reads `error` with no media: never
a torn file, never a recording that says `complete` without one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.integration.reliability.process import ServerProcess, free_port, wait_until
from tests.support.receiver import Receiver

ACCOUNT = "9900041"
APPLICATION = "7fc9698a-b04a-468b-9e8f-91238c0d0041"
AUTH = ("recorder", "recorder-password-1")
FROM = "+15555550400"
TALKER = "+15555550401"
CALLS = f"/api/v2/accounts/{ACCOUNT}/calls"


def config(directory: Path) -> Path:
    path = directory / "switchboard.toml"
    path.write_text(
        f"""
[server]
data_dir = "data"

[simulator]
time_scale = 0.1

[[simulator.phones]]
number = "{TALKER}"
answer_after = 1.0
speech = [{{at = 0.5, text = "This message will never be saved whole"}}]

[[accounts]]
id = "{ACCOUNT}"
numbers = ["{FROM}"]
  [[accounts.users]]
  username = "{AUTH[0]}"
  password = "{AUTH[1]}"
  [[accounts.applications]]
  id = "{APPLICATION}"
  name = "voicemail"
"""
    )
    return path


def get(server: ServerProcess, path: str) -> Any:
    response = httpx.get(f"{server.base_url}{path}", auth=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_sigkill_during_a_record_leaves_the_recording_marked_error_never_torn(
    tmp_path: Path, app: Receiver
) -> None:
    app.on("/answer", "<Response><Record maxDuration='600' terminatingDigits=''/></Response>")
    server = ServerProcess(config(tmp_path), free_port()).start()
    try:
        created = httpx.post(
            f"{server.base_url}{CALLS}",
            auth=AUTH,
            json={
                "from": FROM,
                "to": TALKER,
                "answerUrl": app.url("/answer"),
                "disconnectUrl": app.url("/disconnect"),
                "applicationId": APPLICATION,
            },
            timeout=10,
        )
        assert created.status_code == 201, created.text
        call_id = created.json()["callId"]
        recordings = f"{CALLS}/{call_id}/recordings"
        wait_until(
            lambda: get(server, recordings) != [], 20, "the recording to begin", server=server
        )
        (during,) = get(server, recordings)
        assert during["status"] == "processing" and during["mediaUrl"] is None
        server.kill()  # SIGKILL: the recording's audio was only in the server's memory
        restarted = ServerProcess(config(tmp_path), server.port).start()
        try:
            wait_until(
                lambda: app.events("disconnect") != [], 20, "the call's end", server=restarted
            )
            (disconnect,) = app.events("disconnect")
            assert disconnect["cause"] == "error"
            assert "its media was lost" in disconnect["errorMessage"]
            (after,) = get(restarted, recordings)
            assert after["recordingId"] == during["recordingId"]
            assert after["status"] == "error" and after["mediaUrl"] is None
            media = httpx.get(
                f"{restarted.base_url}{recordings}/{during['recordingId']}/media",
                auth=AUTH,
                timeout=10,
            )
            assert media.status_code == 404
            assert not list((tmp_path / "data" / "recordings").glob(".partial-*"))
        finally:
            restarted.stop()
    finally:
        server.stop()
