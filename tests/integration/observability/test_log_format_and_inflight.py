"""A promise of docs/operations.md, "Health, metrics and logs": `switchboard_webhooks_in_flight`
counts the webhook deliveries and audio fetches not yet finished.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.reliability.operator import metric
from tests.integration.reliability.process import wait_until
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
