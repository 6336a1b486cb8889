"""Recordings made on the simulated network hold real audio: the phone's `speech` and what
Switchboard played, where they happened on the call's clock (a server on virtual time, a real
webhook app, the media downloaded through the API)."""

from __future__ import annotations

import array
import io
import math
import wave
from pathlib import Path

import httpx

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

ANN = "Hi, this is Ann, please call me back"
BOB = "Bob speaking"
PHONE = f"""
[[simulator.phones]]
number = "+15555551313"
answer_after = 1.0
hangup_after = 8.0
speech = [{{at = 2.5, text = "{ANN}"}}]
"""


def rms(samples: array.array[int], start: float, end: float) -> float:
    window = samples[round(start * 8000) : round(end * 8000)]
    return math.sqrt(sum(s * s for s in window) / len(window)) if window else 0.0


def channels_of(wav_bytes: bytes) -> tuple[int, float, list[array.array[int]]]:
    with wave.open(io.BytesIO(wav_bytes)) as file:
        assert (file.getsampwidth(), file.getframerate()) == (2, 8000)
        count = file.getnchannels()
        frames = file.readframes(file.getnframes())
        seconds = file.getnframes() / 8000
    interleaved = array.array("h")
    interleaved.frombytes(frames)
    return count, seconds, [interleaved[c::count] for c in range(count)]


def place_call(server_api: str, app: Receiver) -> str:
    response = httpx.post(
        f"{server_api}/accounts/{ACCOUNT_ID}/calls",
        auth=(USERNAME, PASSWORD),
        json={
            "from": FROM_NUMBER,
            "to": "+15555551313",
            "answerUrl": app.url("/answer"),
            "applicationId": APPLICATION_ID,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["callId"])


def media(server_api: str, event: dict[str, object]) -> bytes:
    response = httpx.get(
        f"{server_api}/accounts/{ACCOUNT_ID}/calls/{event['callId']}/recordings/"
        f"{event['recordingId']}/media",
        auth=(USERNAME, PASSWORD),
    )
    assert response.status_code == 200, response.text
    return response.content


def test_voicemail_of_a_talking_phone_holds_its_speech(tmp_path: Path) -> None:
    server = start_virtual_server(tmp_path, CONFIG + PHONE)
    app = Receiver().start()
    try:
        app.on(
            "/answer",
            "<Response><SpeakSentence>Please leave a message</SpeakSentence>"
            f"<Record maxDuration='60' recordingAvailableUrl='{app.url('/available')}'/>"
            "</Response>",
        )
        place_call(server.api_url, app)
        server.advance(30)
        [available] = [r.event for r in app.requests("/available")]
        count, seconds, [mono] = channels_of(media(server.api_url, available))
        # Answered at 1 s; the prompt is 4 words at 150 a minute (1.6 s), so the Record runs
        # from 2.6 s until the phone hangs up at 9 s. Ann speaks from 3.5 s (2.5 s after the
        # answer), for as long as espeak-ng's audio of her line lasts.
        assert count == 1
        assert abs(seconds - 6.4) < 0.01
        assert rms(mono, 0, 0.85) == 0  # 2.6-3.45 s: nobody talks yet
        assert rms(mono, 0.95, 2.0) > 500  # 3.55-4.6 s: Ann
        assert rms(mono, 5.0, 6.4) == 0  # long after her line
    finally:
        app.stop()
        server.stop()


def test_a_multichannel_recording_puts_the_phone_and_our_speech_apart(tmp_path: Path) -> None:
    server = start_virtual_server(tmp_path, CONFIG + PHONE)
    app = Receiver().start()
    try:
        app.on(
            "/answer",
            "<Response>"
            f"<StartRecording multiChannel='true' recordingAvailableUrl='{app.url('/available')}'/>"
            "<SpeakSentence>one two three four five</SpeakSentence>"  # 1-3 s on the clock
            "<Pause duration='30'/></Response>",
        )
        place_call(server.api_url, app)
        server.advance(30)
        [available] = [r.event for r in app.requests("/available")]
        count, seconds, [far_end, ours] = channels_of(media(server.api_url, available))
        assert count == 2
        assert abs(seconds - 8.0) < 0.01  # from the answer at 1 s to the hangup at 9 s
        assert rms(ours, 0.05, 1.0) > 500  # our sentence, fitted to its 2 s
        assert rms(ours, 2.0, 8.0) == 0
        assert rms(far_end, 0, 2.45) == 0  # Ann starts at 3.5 s: 2.5 s into the file
        assert rms(far_end, 2.55, 3.5) > 500
        assert rms(far_end, 6.5, 8.0) == 0
    finally:
        app.stop()
        server.stop()


def test_a_recording_of_a_transferred_call_has_both_parties(tmp_path: Path) -> None:
    bob = f"""
[[simulator.phones]]
number = "+15555551414"
answer_after = 1.0
speech = [{{at = 0.5, text = "{BOB}"}}]
"""
    server = start_virtual_server(tmp_path, CONFIG + PHONE + bob)
    app = Receiver().start()
    try:
        app.on(
            "/answer",
            "<Response>"
            f"<StartRecording multiChannel='true' recordingAvailableUrl='{app.url('/available')}'/>"
            "<Transfer><PhoneNumber>+15555551414</PhoneNumber></Transfer></Response>",
        )
        place_call(server.api_url, app)
        server.advance(30)
        [available] = [r.event for r in app.requests("/available")]
        count, seconds, [caller, callee] = channels_of(media(server.api_url, available))
        # Answered at 1 s: the recording starts; Bob answers at 2 s and talks from 2.5 s (1.5 s
        # into the file); Ann talks from 3.5 s (2.5 s in); she hangs up at 9 s.
        assert count == 2
        assert abs(seconds - 8.0) < 0.01
        assert rms(callee, 0, 1.45) == 0
        assert rms(callee, 1.55, 2.2) > 500  # Bob, on the B-leg's channel (startRecording.mdx)
        assert rms(caller, 0, 2.45) == 0
        assert rms(caller, 2.55, 3.5) > 500  # Ann, on the A-leg's
    finally:
        app.stop()
        server.stop()
