"""Taps on the simulated network, on a virtual clock: what a tap receives of both tracks (real
espeak-ng speech, tones, ringback, decoded files), when, and cut where media stopped."""

from __future__ import annotations

import array
import io
import math
import wave
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from switchboard.activity import Activity
from switchboard.clock import VirtualClock
from switchboard.media.dtmf import ToneDetector
from switchboard.network import base as net
from switchboard.network.phones import parse_simulator
from switchboard.network.simulated import SimulatedLeg, SimulatedNetwork
from switchboard.webhooks.guard import DestinationPolicy

BYTES_PER_SECOND = 16000
ANN = "Hi, this is Ann"


def rms(pcm: bytes) -> float:
    samples = array.array("h")
    samples.frombytes(pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def at(seconds: float) -> int:
    """Byte offset of `seconds` into a piece."""
    return round(seconds * 8000) * 2


class Taps:
    def __init__(self) -> None:
        self.got: list[net.Audio | net.Voice] = []

    def __call__(self, piece: net.Audio | net.Voice) -> None:
        self.got.append(piece)

    def audio(self, track: net.Track | None = None) -> list[net.Audio]:
        return [p for p in self.got if isinstance(p, net.Audio) and track in (None, p.track)]

    def voices(self) -> list[net.Voice]:
        return [p for p in self.got if isinstance(p, net.Voice)]


def network(phones: list[dict[str, object]]) -> tuple[SimulatedNetwork, VirtualClock]:
    clock = VirtualClock()
    settings = parse_simulator({"simulator": {"default": {"answer_after": 2.0}, "phones": phones}})
    return SimulatedNetwork(settings, clock, Activity()), clock


def dial(sim: SimulatedNetwork, to: str, call_id: str = "c-1") -> SimulatedLeg:
    leg = sim.originate(call_id, to, "+15555551212", lambda event: None)
    assert isinstance(leg, SimulatedLeg)
    return leg


async def test_the_phone_says_its_line_once_answered_as_real_speech() -> None:
    sim, clock = network([{"number": "+1001", "speech": ANN}])
    seconds = len(await sim.phrases.render(ANN)) / BYTES_PER_SECOND
    assert 0.8 < seconds < 3.0  # espeak-ng's real duration, whatever it is exactly
    dial(sim, "+1001")
    taps = Taps()
    sim.open_tap("c-1", taps)
    clock.advance(2.0)  # answered: the phone starts talking, the segment is known
    clock.advance(0)
    assert taps.got == [net.Voice("inbound", 2.0, 2.0 + seconds, ANN)]
    clock.advance(seconds - 0.01)
    assert taps.audio() == []  # audio is delivered as the line ends
    clock.advance(0.01)
    [audio] = taps.audio()
    assert (audio.track, audio.start) == ("inbound", 2.0)
    assert len(audio.pcm) == round(seconds * BYTES_PER_SECOND)
    assert rms(audio.pcm) > 500  # speech, not silence
    clock.advance(30)
    assert len(taps.got) == 2  # nothing more is said


async def test_timed_lines_and_a_line_that_would_overlap_waits() -> None:
    lines = [{"at": 1.5, "text": "Hello"}, {"at": 1.6, "text": "Goodbye"}]
    sim, clock = network([{"number": "+1002", "answer_after": 1.0, "speech": lines}])
    hello = len(await sim.phrases.render("Hello")) / BYTES_PER_SECOND
    goodbye = len(await sim.phrases.render("Goodbye")) / BYTES_PER_SECOND
    dial(sim, "+1002")
    taps = Taps()
    sim.open_tap("c-1", taps)
    clock.advance(60)
    assert taps.voices() == [
        net.Voice("inbound", 2.5, 2.5 + hello, "Hello"),
        net.Voice("inbound", 2.5 + hello, 2.5 + hello + goodbye, "Goodbye"),
    ]
    assert [(a.start, a.seconds) for a in taps.audio()] == [
        (2.5, pytest.approx(hello)),
        (2.5 + hello, pytest.approx(goodbye)),
    ]


async def test_a_line_not_rendered_when_answered_is_said_once_it_is() -> None:
    sim, clock = network([{"number": "+1003", "answer_after": 0, "speech": "Just a moment"}])
    leg = dial(sim, "+1003")
    taps = Taps()
    sim.open_tap("c-1", taps)
    clock.advance(0)  # answered before espeak-ng is done
    assert taps.got == []
    clock.advance(0.7)  # the virtual clock moves on while espeak-ng works
    await sim.activity.wait_idle()
    seconds = len(sim.phrases.ready("Just a moment") or b"") / BYTES_PER_SECOND
    clock.advance(10)
    assert leg.answered
    assert taps.voices() == [net.Voice("inbound", 0.7, 0.7 + seconds, "Just a moment")]


async def test_speak_is_synthesised_and_fitted_to_its_time_on_the_clock() -> None:
    sim, clock = network([{"number": "+1004", "answer_after": 0}])
    leg = dial(sim, "+1004")
    clock.advance(1)
    taps = Taps()
    sim.open_tap("c-1", taps)
    text = "<speak>one two three four five</speak>"  # 2 s at 150 words a minute
    leg.speak(text, None, "male", "en_US")
    clock.advance(2.0)
    await sim.activity.wait_idle()
    clock.advance(0)
    [audio] = taps.audio()
    assert (audio.track, audio.start) == ("outbound", 1.0)
    assert len(audio.pcm) == 2 * BYTES_PER_SECOND
    assert rms(audio.pcm[: at(1.0)]) > 500
    assert taps.voices() == [net.Voice("outbound", 1.0, 3.0, "one two three four five")]


async def test_speech_cut_by_a_barge_in_is_heard_up_to_the_cut() -> None:
    sim, clock = network([{"number": "+1005", "answer_after": 0}])
    leg = dial(sim, "+1005")
    taps = Taps()
    sim.open_tap("c-1", taps)
    leg.speak("one two three four five six seven eight nine ten", None, None, None)  # 4 s
    clock.advance(1.5)
    leg.stop_media()
    await sim.activity.wait_idle()
    clock.advance(10)
    [audio] = taps.audio()
    assert (audio.start, len(audio.pcm)) == (0.0, at(1.5))
    assert rms(audio.pcm) > 500
    [voice] = taps.voices()
    assert (voice.start, voice.end) == (0.0, 1.5)


async def test_ring_is_ringback_and_a_pause_is_nothing() -> None:
    sim, clock = network([{"number": "+1006", "answer_after": 0}])
    leg = dial(sim, "+1006")
    taps = Taps()
    sim.open_tap("c-1", taps)
    leg.silence(1.0)
    clock.advance(1.0)
    leg.ring(3.0)
    clock.advance(3.0)
    [audio] = taps.audio()
    assert (audio.track, audio.start, len(audio.pcm)) == ("outbound", 1.0, at(3.0))
    assert rms(audio.pcm[: at(2.0)]) > 3000  # two seconds on
    assert rms(audio.pcm[at(2.0) :]) == 0  # then off
    assert taps.voices() == []


async def test_send_dtmf_is_tones_a_detector_reads() -> None:
    sim, clock = network([{"number": "+1007", "answer_after": 0}])
    leg = dial(sim, "+1007")
    taps = Taps()
    sim.open_tap("c-1", taps)
    clock.advance(0.5)
    leg.send_dtmf("12#", 100, 100)
    clock.advance(10)
    [audio] = taps.audio()
    assert (audio.track, audio.start, len(audio.pcm)) == ("outbound", 0.5, at(0.6))
    assert ToneDetector().feed(audio.pcm) == ["1", "2", "#"]


async def test_keys_the_phone_presses_are_inbound_tones_when_pressed() -> None:
    sim, clock = network(
        [{"number": "+1008", "answer_after": 0, "digits": "47", "digit_interval": 0.5}]
    )
    leg = dial(sim, "+1008")
    taps = Taps()
    sim.open_tap("c-1", taps)
    clock.advance(0)
    leg.gather_started()  # keys after digit_delay (1 s), half a second apart
    clock.advance(5)
    assert [(a.track, a.start, len(a.pcm)) for a in taps.audio()] == [
        ("inbound", 1.0, at(0.1)),
        ("inbound", 1.5, at(0.1)),
    ]
    assert [ToneDetector().feed(a.pcm) for a in taps.audio()] == [["4"], ["7"]]


async def test_a_tap_hears_from_when_it_is_opened_until_it_is_closed() -> None:
    sim, clock = network([{"number": "+1009", "answer_after": 0}])
    leg = dial(sim, "+1009")
    leg.ring(6.0)
    clock.advance(1.0)
    taps = Taps()
    tap = sim.open_tap("c-1", taps)
    clock.advance(2.5)
    tap.close()  # what played up to now is delivered, here
    [audio] = taps.audio()
    assert (audio.start, len(audio.pcm)) == (1.0, at(2.5))
    assert rms(audio.pcm[: at(1.0)]) > 3000 and rms(audio.pcm[at(1.0) :]) == 0
    clock.advance(10)
    leg.ring(1.0)
    clock.advance(10)
    assert len(taps.got) == 1


async def test_hangup_cuts_the_phone_mid_sentence_and_ends_the_tap() -> None:
    long_line = "I am calling about the invoice we sent you last month"
    sim, clock = network([{"number": "+1010", "answer_after": 0, "speech": long_line}])
    seconds = len(await sim.phrases.render(long_line)) / BYTES_PER_SECOND
    assert seconds > 1.5
    leg = dial(sim, "+1010")
    taps = Taps()
    sim.open_tap("c-1", taps)
    clock.advance(1.0)
    leg.hangup()
    clock.advance(60)
    assert taps.voices() == [net.Voice("inbound", 0.0, seconds, long_line)]
    [audio] = taps.audio()
    assert (audio.start, len(audio.pcm)) == (0.0, at(1.0))
    assert sim.open_tap("c-1", Taps()) is not None  # an ended leg: a tap that hears nothing


async def test_a_tap_opened_mid_line_gets_the_rest_of_its_segment() -> None:
    sim, clock = network([{"number": "+1011", "answer_after": 0, "speech": ANN}])
    seconds = len(await sim.phrases.render(ANN)) / BYTES_PER_SECOND
    dial(sim, "+1011")
    clock.advance(0.5)
    taps = Taps()
    sim.open_tap("c-1", taps)
    clock.advance(10)
    assert taps.voices() == [net.Voice("inbound", 0.5, seconds, ANN)]
    [audio] = taps.audio()
    assert (audio.start, len(audio.pcm)) == (0.5, round((seconds - 0.5) * BYTES_PER_SECOND))


async def test_joined_legs_hear_each_others_phone_on_the_outbound_track() -> None:
    sim, clock = network(
        [
            {"number": "+1012", "answer_after": 0},
            {"number": "+1013", "answer_after": 1.0, "speech": [{"at": 0.5, "text": ANN}]},
        ]
    )
    seconds = len(await sim.phrases.render(ANN)) / BYTES_PER_SECOND
    dial(sim, "+1012", "a")
    dial(sim, "+1013", "b")
    taps = Taps()
    sim.open_tap("a", taps)
    clock.advance(1.0)
    room = sim.open_room(("a", "b"))
    clock.advance(10)
    assert taps.voices() == [net.Voice("outbound", 1.5, 1.5 + seconds, ANN)]
    [audio] = taps.audio()
    assert (audio.track, audio.start) == ("outbound", 1.5)
    assert len(audio.pcm) == round(seconds * BYTES_PER_SECOND) and rms(audio.pcm) > 500
    room.close()


async def test_a_room_closed_mid_line_stops_the_other_leg_hearing_it() -> None:
    sim, clock = network(
        [{"number": "+1014", "answer_after": 0}, {"number": "+1015", "answer_after": 0}]
    )
    dial(sim, "+1014", "a")
    b = dial(sim, "+1015", "b")
    taps = Taps()
    sim.open_tap("a", taps)
    clock.advance(0)
    room = sim.open_room(("a", "b"))
    b.press("5")  # the other phone's key
    clock.advance(0.05)
    room.close()
    clock.advance(5)
    [audio] = taps.audio()
    assert (audio.track, audio.start, len(audio.pcm)) == ("outbound", 0.0, at(0.05))


@pytest.fixture
async def wav_server() -> AsyncIterator[str]:
    frames = array.array(
        "h", (round(8000 * math.sin(2 * math.pi * 440 * n / 16000)) for n in range(16000))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(16000)
        file.writeframes(frames.tobytes())
    body = buffer.getvalue()

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="audio/wav")

    app = web.Application()
    app.router.add_get("/tone.wav", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/tone.wav"
    await runner.cleanup()


async def test_play_audio_is_the_decoded_file(wav_server: str) -> None:
    clock = VirtualClock()
    settings = parse_simulator({"simulator": {"default": {"answer_after": 0}}})
    from switchboard.network.audio import AudioDurations

    audio_durations = AudioDurations(destinations=DestinationPolicy())
    sim = SimulatedNetwork(settings, clock, Activity(), audio_durations)
    events: list[object] = []
    leg = sim.originate("c-1", "+1016", "+15555551212", events.append)
    taps = Taps()
    sim.open_tap("c-1", taps)
    clock.advance(0.25)
    leg.play(wav_server, None, None)
    await sim.activity.wait_idle()  # the header is read: it plays for 1 s from now
    clock.advance(1.0)
    assert events[-1] == net.MediaFinished(leg.media_generation)
    await sim.activity.wait_idle()
    clock.advance(0)
    [audio] = taps.audio()
    assert (audio.track, audio.start, len(audio.pcm)) == ("outbound", 0.25, at(1.0))
    assert 4000 < rms(audio.pcm) < 6500  # the file's 440 Hz at amplitude 8000 (rms 5657)
    await sim.close()


async def test_a_phone_that_dials_in_talks_once_we_answer() -> None:
    sim, clock = network([{"number": "+1017", "speech": [{"at": 1.0, "text": ANN}]}])
    seconds = len(await sim.phrases.render(ANN)) / BYTES_PER_SECOND
    legs: list[net.InboundLeg] = []

    async def incoming(offer: net.InboundOffer, open_leg: net.OpenLeg) -> str:
        legs.append(open_leg("in-1", lambda event: None))
        return "in-1"

    await sim.start(incoming)
    assert await sim.dial("+1017", "+15555551212") == "in-1"
    taps = Taps()
    sim.open_tap("in-1", taps)
    clock.advance(5)  # ringing: the caller waits for us, silent
    assert taps.got == []
    legs[0].answer()
    clock.advance(10)
    assert taps.voices() == [net.Voice("inbound", 6.0, 6.0 + seconds, ANN)]
    assert [(a.track, a.start) for a in taps.audio()] == [("inbound", 6.0)]
