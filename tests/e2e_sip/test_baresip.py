"""Real audio both ways with baresip as the callee: it hears our SpeakSentence and PlayAudio (its
recording holds them for as long as the timeline says we spoke or played, and silence after),
the keys it presses (RFC 4733) reach a Gather, and our SendDtmf reaches it.

The recording is measured from the audio itself: where the sound starts in it, not when the
timeline says the verb started. baresip starts recording on its own clock, and lining that up
with Switchboard's timestamps would need both clocks to agree to a few hundred milliseconds,
which a loaded machine does not promise."""

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


def heard_samples(recording: Path) -> tuple[int, ...]:
    """The recording's samples (8 kHz mono 16-bit, as baresip writes it)."""
    with wave.open(str(recording)) as heard:
        assert (heard.getframerate(), heard.getnchannels()) == (SAMPLE_RATE, 1)
        frames = heard.readframes(heard.getnframes())
    return struct.unpack(f"<{len(frames) // 2}h", frames)


def sound_span(samples: tuple[int, ...], level: int) -> tuple[int, int]:
    """The first and last sample louder than `level`: where the sound starts and ends."""
    loud = [i for i, sample in enumerate(samples) if abs(sample) > level]
    assert loud, f"nothing louder than {level} in the recording"
    return loud[0], loud[-1]


def energy_windows(samples: tuple[int, ...], start: float, end: float) -> list[float]:
    """RMS of each whole 100 ms from `start` to `end`, in seconds of the recording."""
    first, last = int(start * SAMPLE_RATE), min(int(end * SAMPLE_RATE), len(samples))
    return [
        math.sqrt(sum(s * s for s in samples[i : i + WINDOW]) / WINDOW)
        for i in range(first, last - WINDOW + 1, WINDOW)
    ]


def seconds_between(start: str, end: str) -> float:
    parse = datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def test_the_callee_hears_our_speech_for_as_long_as_the_timeline_says(
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    phone: BaresipPhone,
) -> None:
    text = "Hello. This is Switchboard calling to confirm your appointment tomorrow at nine."
    app.on("/answer", Response([SpeakSentence(text), Pause(duration=2), Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, phone.uri)
    app.wait_events("answer")
    (disconnect,) = app.wait_events("disconnect", timeout=30)
    assert disconnect["cause"] == "hangup"
    phone.wait_for("CALL_CLOSED")

    spoke = wait_for_timeline(switchboard, call_id, "verb", verb="SpeakSentence", event="started")
    done = wait_for_timeline(switchboard, call_id, "verb", verb="SpeakSentence", event="finished")
    spoken = seconds_between(spoke["at"], done["at"])
    assert spoken > 2.0  # espeak-ng says that sentence in about 4-5 s

    samples = heard_samples(phone.received_recording())
    first, last = sound_span(samples, 500)
    speech_from, speech_to = first / SAMPLE_RATE, last / SAMPLE_RATE
    # The speech heard lasts as long as the timeline says we spoke, less the quiet espeak-ng
    # puts around the words (about 0.4 s here) and any lateness of a loaded machine in writing
    # "finished" (the verb's time includes both); never longer.
    assert spoken - 1.0 < speech_to - speech_from <= spoken + 0.1
    during = energy_windows(samples, speech_from, speech_to)
    speaking = sum(1 for rms in during if rms > 500) / len(during)
    assert speaking > 0.6, f"speech energy in only {speaking:.0%} of the spoken span"
    after = energy_windows(samples, speech_to + 0.2, speech_to + 1.7)
    assert len(after) >= 14, "the recording should go on through the Pause"
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
    app.wait_events("answer")
    (disconnect,) = app.wait_events("disconnect", timeout=30)
    assert disconnect["cause"] == "hangup"
    phone.wait_for("CALL_CLOSED")

    (fetch,) = app.requests("/media/tone.wav")
    assert fetch.headers["Authorization"] == "Basic bWVkaWEtdXNlcjptZWRpYS1wYXNz"
    started = wait_for_timeline(switchboard, call_id, "verb", verb="PlayAudio", event="started")
    finished = wait_for_timeline(switchboard, call_id, "verb", verb="PlayAudio", event="finished")
    assert 1.8 < seconds_between(started["at"], finished["at"]) < 2.5  # the file's 2 s

    samples = heard_samples(phone.received_recording())
    first, last = sound_span(samples, 1000)
    tone_from, tone_to = first / SAMPLE_RATE, last / SAMPLE_RATE
    # Every sample of the file reaches the phone: the tone lasts exactly its 2 s (to a
    # 20 ms packet), and is loud throughout.
    assert 1.98 <= tone_to - tone_from <= 2.02
    during = energy_windows(samples, tone_from, tone_to)
    assert len(during) >= 19 and min(during) > 3000, "the tone should be heard throughout"
    after = energy_windows(samples, tone_to + 0.05, tone_to + 0.8)
    assert len(after) >= 7, "the recording should go on through the Pause"
    assert max(after) < 100, "the Pause after the tone should be silence"


def test_audio_that_is_not_wav_or_mp3_is_an_application_error(
    app: Receiver, calls_api: CallsApi, phone: BaresipPhone
) -> None:
    app.on("/media/clip.ogg", Raw(b"OggS\x00\x02" + bytes(200), content_type="audio/ogg"))
    app.on("/answer", Response([PlayAudio("/media/clip.ogg")]).to_bxml())
    create_call(calls_api, app, phone.uri)

    (disconnect,) = app.wait_events("disconnect", timeout=20)
    assert disconnect["cause"] == "application-error"
    assert "clip.ogg" in disconnect["errorMessage"]
