"""The energy voice activity detector on synthetic audio: tones are voice, silence is not."""

from __future__ import annotations

import math
import struct

from switchboard.media.vad import EnergyVad, rms


def tone(seconds: float, amplitude: int = 3000, frequency: float = 300.0) -> bytes:
    count = round(seconds * 8000)
    return struct.pack(
        f"<{count}h",
        *(round(amplitude * math.sin(2 * math.pi * frequency * n / 8000)) for n in range(count)),
    )


def silence(seconds: float) -> bytes:
    return bytes(2 * round(seconds * 8000))


def test_rms_of_a_sine_is_its_amplitude_over_root_two() -> None:
    assert abs(rms(tone(0.02)) - 3000 / math.sqrt(2)) < 30
    assert rms(silence(0.02)) == 0


def test_speech_between_silences_is_one_segment_reported_while_it_goes_on() -> None:
    vad = EnergyVad()
    assert vad.feed(10.0, silence(0.5)) == []
    # Fed in 100 ms pieces, as the SIP tap does: the open segment is reported as it grows.
    reports = []
    for n in range(10):
        reports += vad.feed(10.5 + n * 0.1, tone(0.1))
    assert all(start == 10.5 and ongoing for start, _, ongoing in reports)
    assert [round(end, 3) for _, end, _ in reports] == [round(10.6 + n * 0.1, 3) for n in range(10)]
    # Pauses shorter than the hangover stay inside; a longer silence ends it where voice ended.
    assert vad.feed(11.5, silence(0.2) + tone(0.2)) == [(10.5, 11.9, True)]
    (ended,) = vad.feed(11.9, silence(0.5))
    assert ended[:2] == (10.5, 11.9) and not ended[2]


def test_a_click_shorter_than_the_onset_is_not_speech() -> None:
    vad = EnergyVad()
    assert vad.feed(0.0, silence(0.1) + tone(0.02) + silence(0.5)) == []
    assert vad.finish(0.62) == []


def test_quiet_audio_is_not_speech_and_finish_closes_an_open_segment() -> None:
    vad = EnergyVad()
    assert vad.feed(0.0, tone(1.0, amplitude=200)) == []  # RMS 141, under the threshold
    assert vad.feed(1.0, tone(0.3)) == [(1.0, 1.3, True)]
    assert vad.finish(1.3) == [(1.0, 1.3, False)]
