"""Real audio both ways with baresip as the callee: it hears our SpeakSentence (its recording
has speech energy where the timeline says we spoke), the keys it presses (RFC 4733) reach a
Gather, and our SendDtmf reaches it."""

from __future__ import annotations

import math
import struct
import wave
from datetime import datetime
from pathlib import Path

import httpx
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import (
    Gather,
    Hangup,
    Pause,
    PlayAudio,
    Response,
    SendDtmf,
    SpeakSentence,
)

from tests.e2e.flow import create_call
from tests.e2e_sip.timeline import wait_for_timeline
from tests.support.baresip import BaresipPhone
from tests.support.receiver import Raw, Receiver
from tests.support.server import ACCOUNT_ID

SAMPLE_RATE = 8000
WINDOW = 800  # 100 ms


def energy_windows(recording: Path) -> list[float]:
    """RMS of each 100 ms of the recording (8 kHz mono 16-bit, as baresip writes it)."""
    with wave.open(str(recording)) as heard:
        assert (heard.getframerate(), heard.getnchannels()) == (SAMPLE_RATE, 1)
        frames = heard.readframes(heard.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    return [
        math.sqrt(sum(s * s for s in samples[i : i + WINDOW]) / WINDOW)
        for i in range(0, len(samples) - WINDOW + 1, WINDOW)
    ]


def seconds_between(start: str, end: str) -> float:
    parse = datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def test_the_callee_hears_our_speech_where_the_timeline_says(
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    phone: BaresipPhone,
) -> None:
    text = "Hello. This is Switchboard calling to confirm your appointment tomorrow at nine."
    app.on("/answer", Response([SpeakSentence(text), Pause(duration=2), Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, phone.uri)
    (answer,) = app.wait_events("answer")
    (disconnect,) = app.wait_events("disconnect", timeout=30)
    assert disconnect["cause"] == "hangup"
    phone.wait_for("CALL_CLOSED")

    spoke = wait_for_timeline(switchboard, call_id, "verb", verb="SpeakSentence", event="started")
    done = wait_for_timeline(switchboard, call_id, "verb", verb="SpeakSentence", event="finished")
    speech_from = seconds_between(answer["answerTime"], spoke["at"])
    speech_to = seconds_between(answer["answerTime"], done["at"])
    assert speech_to - speech_from > 2.0  # espeak-ng says that sentence in about 4-5 s

    energy = energy_windows(phone.received_recording())
    # The recording starts when baresip answers: allow 0.3 s either side for the set-up.
    during = energy[int((speech_from + 0.3) * 10) : int((speech_to - 0.3) * 10)]
    after = energy[int((speech_to + 0.3) * 10) : int((speech_to + 1.7) * 10)]
    assert during and after
    speaking = sum(1 for rms in during if rms > 500) / len(during)
    assert speaking > 0.6, f"speech energy in only {speaking:.0%} of the spoken span"
    assert max(after) < 100, "the Pause after the speech should be silence"


def test_keys_the_callee_presses_reach_a_gather(
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    phone: BaresipPhone,
) -> None:
    gather = Gather(gather_url="/gather", max_digits=2, first_digit_timeout=15)
    app.on("/answer", Response([gather]).to_bxml())
    app.on("/gather", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, phone.uri)
    wait_for_timeline(switchboard, call_id, "verb", verb="Gather", event="started")
    phone.command("sndcode", "4")
    phone.command("sndcode", "2")

    (gathered,) = app.wait_events("gather")
    assert gathered["digits"] == "42"
    (disconnect,) = app.wait_events("disconnect")
    assert disconnect["cause"] == "hangup"


def test_send_dtmf_reaches_the_callee(
    app: Receiver, calls_api: CallsApi, phone: BaresipPhone
) -> None:
    app.on(
        "/answer",
        Response([Pause(duration=0.5), SendDtmf("57#"), Pause(duration=1), Hangup()]).to_bxml(),
    )
    create_call(calls_api, app, phone.uri)

    pressed = phone.wait_for("CALL_DTMF_START", count=3, timeout=20)
    assert [event["param"] for event in pressed] == ["5", "7", "#"]
    (disconnect,) = app.wait_events("disconnect")
    assert disconnect["cause"] == "hangup"


def test_get_call_state_of_a_real_call(
    app: Receiver, calls_api: CallsApi, phone: BaresipPhone
) -> None:
    app.on("/answer", Response([Pause(duration=0.5), Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, phone.uri)
    (disconnect,) = app.wait_events("disconnect")
    state = calls_api.get_call_state(ACCOUNT_ID, call_id)
    assert (state.state, state.disconnect_cause) == ("disconnected", "hangup")
    assert state.answer_time is not None and disconnect["cause"] == "hangup"


def tone_wav(seconds: float, frequency: float = 1000.0, rate: int = 16000) -> bytes:
    """A WAV of a tone at `rate` (resampled to 8 kHz by Switchboard before it is sent)."""
    import io

    count = int(seconds * rate)
    samples = [int(8000 * math.sin(2 * math.pi * frequency * n / rate)) for n in range(count)]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{count}h", *samples))
    return buffer.getvalue()


def test_play_audio_fetches_with_basic_auth_and_the_callee_hears_it(
    app: Receiver, calls_api: CallsApi, switchboard: httpx.Client, phone: BaresipPhone
) -> None:
    app.on("/media/tone.wav", Raw(tone_wav(2.0), content_type="audio/wav"))
    play = PlayAudio("/media/tone.wav", username="media-user", password="media-pass")
    app.on("/answer", Response([play, Pause(duration=1), Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, phone.uri)
    (answer,) = app.wait_events("answer")
    (disconnect,) = app.wait_events("disconnect", timeout=30)
    assert disconnect["cause"] == "hangup"
    phone.wait_for("CALL_CLOSED")

    (fetch,) = app.requests("/media/tone.wav")
    assert fetch.headers["Authorization"] == "Basic bWVkaWEtdXNlcjptZWRpYS1wYXNz"
    started = wait_for_timeline(switchboard, call_id, "verb", verb="PlayAudio", event="started")
    finished = wait_for_timeline(switchboard, call_id, "verb", verb="PlayAudio", event="finished")
    played_from = seconds_between(answer["answerTime"], started["at"])
    played_to = seconds_between(answer["answerTime"], finished["at"])
    assert 1.8 < played_to - played_from < 2.5  # the file's own duration, in real time

    energy = energy_windows(phone.received_recording())
    during = energy[int((played_from + 0.3) * 10) : int((played_to - 0.3) * 10)]
    after = energy[int((played_to + 0.3) * 10) : int((played_to + 0.8) * 10)]
    assert during and min(during) > 3000, "the tone should be heard throughout"
    assert after and max(after) < 100


def test_audio_that_is_not_wav_or_mp3_is_an_application_error(
    app: Receiver, calls_api: CallsApi, phone: BaresipPhone
) -> None:
    app.on("/media/clip.ogg", Raw(b"OggS\x00\x02" + bytes(200), content_type="audio/ogg"))
    app.on("/answer", Response([PlayAudio("/media/clip.ogg")]).to_bxml())
    create_call(calls_api, app, phone.uri)

    (disconnect,) = app.wait_events("disconnect", timeout=20)
    assert disconnect["cause"] == "application-error"
    assert "clip.ogg" in disconnect["errorMessage"]
