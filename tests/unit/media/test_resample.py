"""The resampler keeps the telephone band and removes what would alias into it."""

from __future__ import annotations

import array
import itertools
import math
import random

import pytest

from switchboard.media.resample import to_8k


def tone(frequency: float, rate: int, seconds: float = 0.5, amplitude: int = 10000) -> bytes:
    count = round(rate * seconds)
    return array.array(
        "h", [round(amplitude * math.sin(2 * math.pi * frequency * n / rate)) for n in range(count)]
    ).tobytes()


def rms(pcm: bytes) -> float:
    samples = array.array("h", pcm)[200:-200]  # leave out the filter's edges
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def strongest_frequency(pcm: bytes) -> float:
    # Count zero crossings: for a single tone, frequency = crossings / 2 / duration.
    samples = array.array("h", pcm)[200:-200]
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / 8000)


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000])
def test_a_1khz_tone_stays_1khz_at_full_level(rate: int) -> None:
    out = to_8k(tone(1000, rate), rate)
    assert abs(len(out) // 2 - 4000) <= 2
    assert abs(strongest_frequency(out) - 1000) < 10
    assert rms(out) == pytest.approx(10000 / math.sqrt(2), rel=0.05)


@pytest.mark.parametrize(
    ("rate", "frequency"),
    [
        (rate, frequency)
        for rate in (11025, 16000, 22050, 44100, 48000)
        for frequency in (4600, 5000, 7000)
        if frequency < rate / 2
    ],
)
def test_frequencies_above_the_band_are_removed_not_aliased(rate: int, frequency: int) -> None:
    out = to_8k(tone(frequency, rate), rate)
    assert rms(out) < 10000 / math.sqrt(2) / 300  # at least 50 dB down


def test_full_scale_overshoot_is_clipped_not_wrapped() -> None:
    # A full-scale 400 Hz square wave: the filter's overshoot (Gibbs) goes past int16.
    square = array.array("h", [32767 if (n // 20) % 2 else -32768 for n in range(16000)])
    out = array.array("h", to_8k(square.tobytes(), 16000))
    assert max(out) == 32767 and min(out) == -32768
    for index, sample in enumerate(out[100:-100], start=100):
        if index % 10 not in (0, 9):  # away from the edges, the sign is the square's
            assert (sample > 0) == bool((index // 10) % 2), index


def test_long_audio_is_filtered_in_chunks_without_seams() -> None:
    rng = random.Random(3)
    noise = array.array("h", [rng.randrange(-8000, 8000) for _ in range(16000 * 5)]).tobytes()
    whole = to_8k(noise, 16000)
    assert len(whole) == len(noise) // 2
    # Chunk boundaries (every 32768 input samples) must give the same result as any other point:
    # filter a slice that straddles the first boundary, its own way, and compare the middle.
    part = to_8k(noise[2 * 30000 : 2 * 36000], 16000)
    assert part[200:-200] == whole[15000 * 2 + 200 : 18000 * 2 - 200]


def test_upsampling_from_a_low_rate() -> None:
    out = to_8k(tone(1000, 6000), 6000)
    assert abs(len(out) // 2 - 4000) <= 2
    assert abs(strongest_frequency(out) - 1000) < 10
    assert rms(out) == pytest.approx(10000 / math.sqrt(2), rel=0.1)  # miniaudio's filter: -0.3 dB


def test_odd_bytes_and_bad_rates() -> None:
    assert to_8k(b"\x01\x00\x02", 8000) == b"\x01\x00"
    with pytest.raises(ValueError):
        to_8k(b"", 0)
