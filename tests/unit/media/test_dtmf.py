"""RFC 4733 payloads, the end-packet de-duplication, and in-band detection of generated tones."""

from __future__ import annotations

import array
import math
import random
import shutil
import subprocess

import pytest

from switchboard.media import dtmf
from switchboard.media.decode import decode_audio


def test_event_payload_encoding() -> None:
    assert dtmf.encode_event(11, True, 10, 800) == bytes([11, 0x80 | 10, 0x03, 0x20])
    assert dtmf.encode_event(1, False, 63, 160) == bytes([1, 63, 0x00, 0xA0])
    assert dtmf.decode_event(bytes([11, 0x8A, 0x03, 0x20])) == dtmf.TelephoneEvent(
        11, True, 10, 800
    )
    assert dtmf.decode_event(b"\x01\x02") is None
    with pytest.raises(ValueError):
        dtmf.encode_event(1, False, 64, 0)


def test_event_codes() -> None:
    assert [dtmf.event_code(d) for d in "0123456789*#ABCD"] == list(range(16))
    assert dtmf.event_code("a") == 12
    with pytest.raises(ValueError, match="not a DTMF digit"):
        dtmf.event_code("x")


def test_event_packets_for_one_key_press() -> None:
    packets = dtmf.event_packets("#", 4)
    events = [dtmf.decode_event(payload) for _, payload in packets]
    assert [first for first, _ in packets] == [True, False, False, False, False, False]
    assert [(e.end, e.duration) for e in events if e] == [
        (False, 160),
        (False, 320),
        (False, 480),
        (True, 640),
        (True, 640),
        (True, 640),
    ]
    assert all(e is not None and e.digit == "#" for e in events)
    single = dtmf.event_packets("1", 1)
    assert [first for first, _ in single] == [True, False, False]


def test_receiver_reports_each_event_once() -> None:
    receiver = dtmf.EventReceiver()
    heard: list[str] = []
    for timestamp, digit in ((1000, "1"), (9000, "2"), (17000, "#")):
        for _, payload in dtmf.event_packets(digit, 5):
            heard += receiver.feed(timestamp, payload)
        heard += receiver.feed(timestamp, dtmf.event_packets(digit, 5)[-1][1])  # late duplicate
    assert heard == ["1", "2", "#"]


def test_same_digit_twice_is_two_events() -> None:
    receiver = dtmf.EventReceiver()
    end = dtmf.encode_event(5, True, 10, 800)
    assert receiver.feed(100, end) == ["5"]
    assert receiver.feed(100, end) == []
    assert receiver.feed(2000, end) == ["5"]


def test_an_event_whose_end_packets_were_lost_is_reported_when_the_next_begins() -> None:
    receiver = dtmf.EventReceiver()
    assert receiver.feed(100, dtmf.encode_event(1, False, 10, 160)) == []
    assert receiver.feed(100, dtmf.encode_event(1, False, 10, 320)) == []
    assert receiver.feed(5000, dtmf.encode_event(2, False, 10, 160)) == ["1"]
    assert receiver.feed(5000, dtmf.encode_event(2, True, 10, 800)) == ["2"]
    assert receiver.feed(100, dtmf.encode_event(1, True, 10, 800)) == []  # very late end of "1"


def test_unknown_events_are_ignored() -> None:
    assert dtmf.EventReceiver().feed(1, dtmf.encode_event(40, True, 10, 800)) == []


@pytest.mark.parametrize("digit", list(dtmf.DIGITS))
def test_detector_hears_every_key_once_per_press(digit: str) -> None:
    detector = dtmf.ToneDetector()
    pcm = dtmf.silence(30) + dtmf.tone(digit, 80) + dtmf.silence(60) + dtmf.tone(digit, 200)
    heard = []
    for start in range(0, len(pcm), 320):  # as 20 ms RTP frames arrive
        heard += detector.feed(pcm[start : start + 320])
    heard += detector.feed(dtmf.silence(100))
    assert heard == [digit, digit]


def test_detector_hears_quiet_keys_with_twist_and_noise() -> None:
    rng = random.Random(7)
    low, high = 770.0, 1477.0  # "6"
    samples = [
        round(
            1500 * math.sin(2 * math.pi * low * n / 8000)
            + 2500 * math.sin(2 * math.pi * high * n / 8000)
            + rng.gauss(0, 150)
        )
        for n in range(800)
    ]
    assert dtmf.ToneDetector().feed(array.array("h", samples).tobytes()) == ["6"]


def test_detector_ignores_silence_noise_and_single_tones() -> None:
    rng = random.Random(1)
    noise = array.array("h", [round(rng.gauss(0, 3000)) for _ in range(8000)]).tobytes()
    one_tone = array.array(
        "h", [round(9000 * math.sin(2 * math.pi * 941 * n / 8000)) for n in range(8000)]
    ).tobytes()
    detector = dtmf.ToneDetector()
    assert detector.feed(dtmf.silence(1000) + noise + one_tone) == []


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_detector_ignores_speech() -> None:
    text = "Thank you for calling. Press one for sales, two for support, or hold the line."
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", "en-us+f3", text], capture_output=True, check=True
    ).stdout
    assert dtmf.ToneDetector().feed(decode_audio(wav, "audio/wav")) == []


def test_tone_is_the_two_frequencies() -> None:
    pcm = array.array("h", dtmf.tone("9", 100))
    assert len(pcm) == 800
    assert max(pcm) <= 32767 * 0.6 + 1
