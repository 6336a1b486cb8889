"""The ringing tone <Ring> plays on a real call: North American ringback (ITU-T E.180 /
ANSI T1.401), 440 Hz + 480 Hz, two seconds on, four seconds off, as 8 kHz PCM16."""

from __future__ import annotations

import math
import struct
from functools import lru_cache

SAMPLE_RATE = 8000
CYCLE_ON_SECONDS = 2.0
CYCLE_SECONDS = 6.0
AMPLITUDE = 0.25 * 32767  # about -15 dBm0 per pair: clearly audible, never clipping


@lru_cache(maxsize=1)
def _one_cycle() -> bytes:
    on = int(CYCLE_ON_SECONDS * SAMPLE_RATE)
    total = int(CYCLE_SECONDS * SAMPLE_RATE)
    samples = [
        int(
            AMPLITUDE
            / 2
            * (
                math.sin(2 * math.pi * 440 * n / SAMPLE_RATE)
                + math.sin(2 * math.pi * 480 * n / SAMPLE_RATE)
            )
        )
        if n < on
        else 0
        for n in range(total)
    ]
    return struct.pack(f"<{total}h", *samples)


def ringback_pcm(seconds: float) -> bytes:
    """`seconds` of ringback, starting with a ring (as a caller hears it begin)."""
    wanted = max(0, int(seconds * SAMPLE_RATE)) * 2
    cycle = _one_cycle()
    repeats = wanted // len(cycle) + 1
    return (cycle * repeats)[:wanted]
