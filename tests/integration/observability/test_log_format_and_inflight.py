"""Two promises of docs/operations.md, "Health, metrics and logs":

- `[server] log_format = "json"` in the config file makes every line a `switchboard serve`
  process writes to standard error one JSON object, with the documented fields;
- `switchboard_webhooks_in_flight` counts the webhook deliveries and audio fetches under way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.integration.reliability.operator import metric
from tests.integration.reliability.process import ServerProcess, free_port, wait_until
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

SCALED = CONFIG + "\n[simulator]\ntime_scale = 0.1\n"  # calls ring for 0.2 s
CREATE_ROUTE = "/api/v2/accounts/{account_id}/calls"


def create(base_url: str, answer_url: str, disconnect_url: str) -> str:
    response = httpx.post(
        f"{base_url}/api/v2/accounts/{ACCOUNT_ID}/calls",
        auth=(USERNAME, PASSWORD),
        json={
            "from": FROM_NUMBER,
            "to": "+15555551313",
            "answerUrl": answer_url,
            "disconnectUrl": disconnect_url,
            "applicationId": APPLICATION_ID,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["callId"])


def test_json_log_format_from_the_config_file_to_every_line_of_a_server(
    tmp_path: Path, app: Receiver
) -> None:
    app.on("/answer", "<Response><Hangup/></Response>")
    config = tmp_path / "switchboard.toml"
    config.write_text(SCALED.replace("[server]\n", '[server]\nlog_format = "json"\n', 1))
    server = ServerProcess(config, free_port()).start()  # its stderr goes to a file
    try:
        # Credentials in a webhook URL must not reach the log.
        answer_url = app.url("/answer").replace("http://", "http://hook:hook-secret-41@")
        call_id = create(server.base_url, answer_url, app.url("/disconnect"))
        wait_until(lambda: app.events("disconnect"), 20, "the call to end", server=server)
        server.terminate()
        assert server.wait(30) == 0
    finally:
        server.stop()

    text = server.stderr_path.read_text()
    assert "hook-secret-41" not in text
    lines: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:  # every line is one JSON object, uvicorn's own too
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= set(record), line
        lines.append(record)
    assert any(
        r["logger"].startswith("uvicorn") and r["message"].startswith("Uvicorn running on")
        for r in lines
    )
    (created,) = [r for r in lines if r.get("event") == "api-request" and r["status"] == 201]
    latency = created.pop("latency_ms")
    assert isinstance(latency, float) and latency > 0
    assert created == {
        "time": created["time"],
        "level": "info",
        "logger": "switchboard.access",
        "message": created["message"],
        "event": "api-request",
        "method": "POST",
        "path": f"/api/v2/accounts/{ACCOUNT_ID}/calls",
        "route": CREATE_ROUTE,
        "status": 201,
        "account_id": ACCOUNT_ID,
        "call_id": call_id,
    }
    webhooks = [r for r in lines if r.get("event") == "webhook"]
    assert [(r["event_type"], r["url"], r["status"], r["outcome"]) for r in webhooks] == [
        ("answer", app.url("/answer"), 200, "ok"),
        ("disconnect", app.url("/disconnect"), 204, "ok"),
    ]
    for record in webhooks:
        assert (record["account_id"], record["call_id"]) == (ACCOUNT_ID, call_id)
        assert record["level"] == "info" and record["logger"] == "switchboard.webhooks"
        assert isinstance(record["latency_ms"], float) and record["latency_ms"] > 0


def test_webhooks_in_flight_counts_the_deliveries_and_audio_fetches_not_yet_finished(
    tmp_path: Path, app: Receiver
) -> None:
    held_answer, held_audio = Hold(), Hold()
    app.on("/answer/held", held_answer)
    app.on("/answer/audio", f"<Response><PlayAudio>{app.url('/audio.wav')}</PlayAudio></Response>")
    app.on("/audio.wav", held_audio)
    server = start_server(tmp_path, SCALED)
    try:

        def in_flight() -> float:
            return metric(server.base_url, "switchboard_webhooks_in_flight")

        wait_until(lambda: in_flight() == 0, 10, "a server with nothing in flight")
        answering = create(server.base_url, app.url("/answer/held"), app.url("/disconnect"))
        assert held_answer.arrived.wait(20), "the answer webhook never arrived"
        assert in_flight() == 1
        playing = create(server.base_url, app.url("/answer/audio"), app.url("/disconnect"))
        assert held_audio.arrived.wait(20), "the audio fetch never arrived"
        assert in_flight() == 2

        held_answer.release.set()  # an empty answer: that call hangs up
        wait_until(
            lambda: [e["callId"] for e in app.events("disconnect")] == [answering],
            20,
            "the first call to end",
        )
        wait_until(lambda: in_flight() == 1, 10, "the finished webhooks to leave the count")
        held_audio.release.set()  # no audio in the answer: that call ends too
        wait_until(lambda: len(app.events("disconnect")) == 2, 20, "the second call to end")
        assert app.events("disconnect")[1]["callId"] == playing
        wait_until(lambda: in_flight() == 0, 10, "nothing left in flight")
    finally:
        held_answer.release.set()
        held_audio.release.set()
        server.stop()
