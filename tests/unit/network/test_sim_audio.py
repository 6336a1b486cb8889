"""The pure parts of the simulated network's audio: fitting, cutting, the phone's schedule,
tones; and the phone's `speech` key."""

from __future__ import annotations

import array
import math

import pytest

from switchboard.media.dtmf import ToneDetector
from switchboard.network.phones import (
    PhoneBehaviour,
    PhoneConfigError,
    SpokenLine,
    parse_behaviour,
)
from switchboard.network.sim_audio import (
    Piece,
    ScheduledLine,
    dtmf_pcm,
    fit,
    key_pcm,
    plain_text,
    schedule_speech,
    span,
)
from switchboard.network.simulated import dtmf_seconds


def rms(pcm: bytes) -> float:
    samples = array.array("h")
    samples.frombytes(pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def test_fit_pads_with_silence_or_cuts_to_the_exact_duration() -> None:
    tone = key_pcm("5")  # 0.1 s: 800 samples
    assert len(tone) == 1600
    longer = fit(tone, 0.25)
    assert len(longer) == 4000
    assert longer[:1600] == tone and longer[1600:] == bytes(2400)
    shorter = fit(tone, 0.05)
    assert shorter == tone[:800]
    assert fit(tone, 0.1) == tone


def test_span_is_the_part_played_between_two_moments() -> None:
    pcm = bytes(range(256)) * 125  # 32000 bytes: 2 s at 8 kHz, starting at t=10
    assert span(pcm, 10.0, 10.0, 12.0) == pcm
    assert span(pcm, 10.0, 10.5, 11.0) == pcm[8000:16000]
    assert span(pcm, 10.0, 11.5, 99.0) == pcm[24000:]  # past its end: what there is
    assert span(pcm, 10.0, 11.0, 11.0) == b""


def test_speech_schedule_is_at_seconds_after_the_answer_one_line_at_a_time() -> None:
    lines = (SpokenLine(4.0, "later"), SpokenLine(0.0, "hello"), SpokenLine(1.0, "overlap"))
    seconds = {"hello": 1.5, "overlap": 2.0, "later": 1.0}
    assert schedule_speech(lines, seconds, answered_at=10.0) == [
        ScheduledLine(10.0, 11.5, "hello"),
        ScheduledLine(11.5, 13.5, "overlap"),  # due at 11.0 while "hello" still goes on
        ScheduledLine(14.0, 15.0, "later"),
    ]


def test_speech_rendered_late_starts_when_ready() -> None:
    lines = (SpokenLine(0.0, "hello"), SpokenLine(3.0, "bye"))
    seconds = {"hello": 1.0, "bye": 1.0}
    assert schedule_speech(lines, seconds, answered_at=10.0, not_before=10.4) == [
        ScheduledLine(10.4, 11.4, "hello"),
        ScheduledLine(13.0, 14.0, "bye"),
    ]


@pytest.mark.parametrize(
    ("digits", "tone_ms", "interval_ms"),
    [("1", 100, 100), ("123#", 300, 50), ("1w2", 100, 300), ("W", 100, 100), (",9,", 200, 70)],
)
def test_dtmf_tones_last_as_long_as_the_network_times_them(
    digits: str, tone_ms: float, interval_ms: float
) -> None:
    pcm = dtmf_pcm(digits, tone_ms, interval_ms)
    expected = dtmf_seconds(digits, tone_ms, interval_ms)
    assert len(pcm) == round(expected * 8000) * 2
    detected = ToneDetector().feed(pcm + bytes(800))
    assert detected == [key for key in digits if key not in ",wW"]


def test_dtmf_tones_sound_where_keys_are_and_are_silent_between() -> None:
    pcm = dtmf_pcm("12", 100, 200)  # 1: 0-0.1 s, gap to 0.3, 2: 0.3-0.4, gap to 0.6
    assert rms(pcm[:1600]) > 5000
    assert rms(pcm[1600:4800]) == 0
    assert rms(pcm[4800:6400]) > 5000
    assert rms(pcm[6400:]) == 0


def test_plain_text_drops_ssml() -> None:
    assert plain_text('<speak>Hello <break time="1s"/> <emphasis>there</emphasis></speak>') == (
        "Hello there"
    )
    assert plain_text("Tom &amp; Jerry") == "Tom & Jerry"


def test_speech_key_said_once_answered_or_at_times() -> None:
    base = PhoneBehaviour()
    assert parse_behaviour({"speech": "Hi, this is Ann"}, base, "p").speech == (
        SpokenLine(0.0, "Hi, this is Ann"),
    )
    timed = parse_behaviour(
        {"speech": [{"at": 1.5, "text": "Hello"}, {"at": 4, "text": "Bye"}]}, base, "p"
    )
    assert timed.speech == (SpokenLine(1.5, "Hello"), SpokenLine(4.0, "Bye"))
    assert parse_behaviour({"speech": ""}, timed, "p").speech == ()  # a default turned off


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (3, "p.speech must be a string or a list of {at, text} tables"),
        ([{"at": 1}], "p.speech[0].text must be some text to say, got None"),
        (
            [{"at": -1, "text": "x"}],
            "p.speech[0].at must be a number of seconds from 0 to 14400, got -1",
        ),
        (
            [{"text": "x", "voice": "y"}],
            "p.speech[0]: unknown key(s) voice; known keys are at, text",
        ),
        (["x"], "p.speech must be a string or a list of {at, text} tables"),
    ],
)
def test_speech_key_errors_say_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(PhoneConfigError) as raised:
        parse_behaviour({"speech": value}, PhoneBehaviour(), "p")
    assert str(raised.value) == message


def test_a_piece_makes_its_audio_only_when_read_and_fits_it_to_its_time() -> None:
    made: list[int] = []

    def make() -> bytes:
        made.append(1)
        return key_pcm("1")  # 0.1 s

    piece = Piece("outbound", 3.0, 0.5, make=make)
    assert piece.settled and made == []  # nobody listened: nothing was made
    assert piece.pcm is not None and len(piece.pcm) == 8000  # 0.5 s: the tone, then silence
    assert piece.pcm is piece.pcm and made == [1]
