"""Recording real calls (issue 13): the callee is baresip, which says a 300 Hz hum (conftest's
write_peer_audio) and presses keys when told; the recording is downloaded through the
recordings API, as an app would, and its audio is measured: its loudness and the hum's pitch
(Goertzel), per channel - not the file's size."""

from __future__ import annotations

import array
import io
import math
import time
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import (
    Hangup,
    Pause,
    PlayAudio,
    Record,
    Response,
    SipUri,
    SpeakSentence,
    StartRecording,
    StopRecording,
    Transfer,
)

from tests.e2e.flow import create_call
from tests.e2e_sip.conftest import write_peer_audio
from tests.e2e_sip.test_baresip import tone_wav
from tests.e2e_sip.test_rooms import AGENT_HUM, hum_wav
from tests.e2e_sip.timeline import wait_for_timeline
from tests.support.baresip import BaresipPhone, start_baresip
from tests.support.receiver import Raw, Receiver

RATE = 8000
HUM = 300.0  # Hz: what baresip says


def download(switchboard: httpx.Client, media_url: str) -> tuple[int, list[array.array[int]]]:
    """The recording's channels, through the recordings API's media endpoint."""
    path = media_url[media_url.index("/api/v2/") :]
    response = switchboard.get(path, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/vnd.wave"
    with wave.open(io.BytesIO(response.content)) as file:
        assert (file.getsampwidth(), file.getframerate()) == (2, RATE)
        channels = file.getnchannels()
        interleaved = array.array("h")
        interleaved.frombytes(file.readframes(file.getnframes()))
    return channels, [interleaved[c::channels] for c in range(channels)]


def loudness(samples: array.array[int], start: float, end: float) -> float:
    window = samples[round(start * RATE) : round(end * RATE)]
    return math.sqrt(sum(s * s for s in window) / len(window)) if window else 0.0


def pitch_power(samples: array.array[int], frequency: float, start: float, end: float) -> float:
    """The Goertzel power at `frequency` of a span, per sample (a sine of amplitude A: A²/4)."""
    window = samples[round(start * RATE) : round(end * RATE)]
    coefficient = 2 * math.cos(2 * math.pi * frequency / RATE)
    before = earlier = 0.0
    for sample in window:
        before, earlier = sample + coefficient * before - earlier, before
    power = before * before + earlier * earlier - coefficient * before * earlier
    return power / len(window) ** 2


def longest_run(times: list[float], step: float) -> tuple[float, float]:
    """The longest run of consecutive windows (`step` apart): where it starts and ends."""
    best = (times[0], times[0] + step)
    first = previous = times[0]
    for time_ in times[1:]:
        if time_ - previous > step * 1.5:
            first = time_
        previous = time_
        if time_ + step - first > best[1] - best[0]:
            best = (first, time_ + step)
    return best


def assert_hum(samples: array.array[int], start: float, end: float) -> None:
    """The span holds baresip's hum: loud throughout, at 300 Hz and not at other pitches."""
    for second in range(math.floor(end - start)):
        assert loudness(samples, start + second, start + second + 1) > 300  # 600 peak: 424 RMS
    hum = pitch_power(samples, HUM, start, end)
    assert hum > 50_000  # ~ 600² / 4, after G.711 and a frame lost at either end
    for other in (200.0, 450.0, 1000.0):
        assert pitch_power(samples, other, start, end) < hum / 50


def test_a_recording_of_a_call_to_baresip_holds_what_baresip_said(
    app: Receiver, calls_api: CallsApi, switchboard: httpx.Client, phone: BaresipPhone
) -> None:
    record = Record(
        max_duration=3,
        record_complete_url="/record-complete",
        recording_available_url="/recording-available",
    )
    app.on("/answer", Response([record]).to_bxml())
    app.on("/record-complete", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, phone.uri)

    (complete,) = app.wait_events("recordComplete", timeout=30)
    assert complete["callId"] == call_id
    # maxDuration's timer is real time here: it fires at 3 s plus the event loop's lag
    assert 3.0 <= _iso_seconds(complete["duration"]) < 3.1
    (available,) = app.wait_events("recordingAvailable", timeout=30)
    assert available["status"] == "complete"
    channels, (samples,) = download(switchboard, available["mediaUrl"])
    assert channels == 1 and abs(len(samples) - 3 * RATE) < 0.05 * RATE  # a real timer
    assert_hum(samples, 0.2, 2.9)  # (baresip's first packets may come after the Record began)


def test_a_record_ends_at_the_key_the_callee_presses(
    app: Receiver, calls_api: CallsApi, switchboard: httpx.Client, phone: BaresipPhone
) -> None:
    record = Record(terminating_digits="#", max_duration=30, record_complete_url="/record-complete")
    app.on("/answer", Response([record]).to_bxml())
    app.on("/record-complete", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, phone.uri)
    started = wait_for_timeline(switchboard, call_id, "recording", event="started")
    assert started["verb"] == "Record"
    _wait_until(_parse(started["at"]) + timedelta(seconds=2.0))  # two seconds recorded
    phone.command("sndcode", "#")  # RFC 4733, as baresip sends keys

    (complete,) = app.wait_events("recordComplete", timeout=20)
    seconds = _iso_seconds(complete["duration"])
    assert 2.0 <= seconds < 10.0  # the key ended it, not maxDuration's 30 s
    channels, (samples,) = download(switchboard, complete["mediaUrl"])
    assert channels == 1
    assert_hum(samples, 0.3, 1.9)
    (disconnect,) = app.wait_events("disconnect", timeout=20)
    assert disconnect["cause"] == "hangup"


def test_multichannel_puts_the_callee_on_channel_0_and_our_audio_on_channel_1(
    app: Receiver, calls_api: CallsApi, switchboard: httpx.Client, phone: BaresipPhone
) -> None:
    app.on("/media/tone.wav", Raw(tone_wav(1.5, frequency=1000.0), content_type="audio/wav"))
    app.on(
        "/answer",
        Response(
            [
                StartRecording(multi_channel=True, recording_available_url="/recording-available"),
                SpeakSentence("This call is recorded."),
                PlayAudio("/media/tone.wav"),
                Pause(duration=1),
                StopRecording(),
                Hangup(),
            ]
        ).to_bxml(),
    )
    call_id = create_call(calls_api, app, phone.uri)

    (available,) = app.wait_events("recordingAvailable", timeout=40)
    assert available["status"] == "complete" and available["channels"] == 2
    channels, (callee, ours) = download(switchboard, available["mediaUrl"])
    assert channels == 2
    seconds = len(ours) / RATE
    # Our side: the speech, then the 1.5 s tone, then the Pause's silence. Where the tone is
    # is found in the audio itself (espeak-ng's speech has no fixed length).
    tone_at = [
        t / 10
        for t in range(int(seconds * 10) - 1)
        if pitch_power(ours, 1000.0, t / 10, t / 10 + 0.1) > 8_000_000  # 8000 peak: 16e6
    ]
    assert tone_at, "our tone should be on channel 1"
    tone_from, tone_to = longest_run(tone_at, 0.1)
    assert 1.3 <= tone_to - tone_from <= 1.7
    assert loudness(ours, 0.1, tone_from - 0.1) > 300, "our speech should be on channel 1"
    assert loudness(ours, tone_to + 0.1, seconds - 0.1) < 50, "the Pause should be silent"
    # The callee: its hum all along, and none of our audio (a phone does not echo here).
    assert_hum(callee, 0.3, seconds - 0.3)
    assert pitch_power(callee, 1000.0, tone_from, tone_to) < 1000
    assert pitch_power(ours, HUM, tone_to + 0.1, seconds - 0.1) < 1000
    wait_for_timeline(switchboard, call_id, "recording", event="saved")


@pytest.fixture
def hums_then_stops(tmp_path: Path) -> Iterator[BaresipPhone]:
    """A phone that hums for 3 s after answering, then says nothing (silence) for 87 s."""
    hum = write_peer_audio(tmp_path / "hum.wav", seconds=3.0)
    with wave.open(str(hum)) as file:
        frames = file.readframes(file.getnframes())
    peer = tmp_path / "peer.wav"
    with wave.open(str(peer), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(frames + bytes(2 * RATE * 87))
    running = start_baresip(tmp_path / "baresip", peer)
    yield running
    running.stop()


def test_silence_timeout_waits_for_the_callee_to_stop(
    app: Receiver, calls_api: CallsApi, switchboard: httpx.Client, hums_then_stops: BaresipPhone
) -> None:
    record = Record(silence_timeout=1.5, max_duration=20, record_complete_url="/record-complete")
    app.on("/answer", Response([record]).to_bxml())
    app.on("/record-complete", Response([Hangup()]).to_bxml())
    create_call(calls_api, app, hums_then_stops.uri)

    (complete,) = app.wait_events("recordComplete", timeout=30)
    # The hum (3 s from the answer) held the recording open; 1.5 s of silence after it
    # ended it: not 1.5 s after the Record began, and not at maxDuration.
    seconds = _iso_seconds(complete["duration"])
    assert 3.8 <= seconds <= 6.0, complete
    _, (samples,) = download(switchboard, complete["mediaUrl"])
    assert_hum(samples, 0.3, 2.3)
    assert loudness(samples, seconds - 1.2, seconds - 0.1) < 50


def _iso_seconds(duration: Any) -> float:
    assert isinstance(duration, str) and duration.startswith("PT") and duration.endswith("S")
    return float(duration[2:-1])


def _parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def _wait_until(when: datetime) -> None:
    """Until the server's clock (this machine's) says `when`: a real call runs in real time."""
    while (left := (when - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(left, 0.05))


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[BaresipPhone]:
    """The transfer's target: PCMA only (the relay re-encodes), a 700 Hz hum for 6 s, then it
    hangs up."""
    wav = hum_wav(tmp_path / "agent.wav", AGENT_HUM, 6.0)
    running = start_baresip(tmp_path / "agent", wav, codecs="PCMA/8000/1")
    yield running
    running.stop()


def test_a_recorded_transfer_has_the_callee_on_channel_0_and_the_target_on_channel_1(
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    phone: BaresipPhone,
    agent: BaresipPhone,
) -> None:
    start = StartRecording(multi_channel=True, recording_available_url="/recording-available")
    app.on("/answer", Response([start, Transfer([SipUri(agent.uri)]), Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, phone.uri)
    wait_for_timeline(switchboard, call_id, "transfer", event="joined", timeout=20)

    (available,) = app.wait_events("recordingAvailable", timeout=40)  # the agent hangs up at 6 s
    assert available["status"] == "complete" and available["callId"] == call_id
    channels, (callee, heard) = download(switchboard, available["mediaUrl"])
    assert channels == 2
    seconds = len(heard) / RATE
    # startRecording.mdx: during a Transfer the A-leg on channel 0, the B-leg on channel 1.
    assert_hum(callee, 0.3, seconds - 0.3)
    joined = [
        t / 10
        for t in range(int(seconds * 10) - 1)
        if pitch_power(heard, AGENT_HUM, t / 10, t / 10 + 0.1) > 1_000_000  # 3000 peak: 2.25e6
    ]
    span = longest_run(joined, 0.1) if joined else (0.0, 0.0)
    assert span[1] - span[0] >= 4.0, f"the target's hum on channel 1 only over {span}"
    assert pitch_power(callee, AGENT_HUM, *span) < 1000  # each party on its own channel
    assert pitch_power(heard, HUM, *span) < 1000
