"""DTMF: RFC 4733 telephone-event payloads, an in-band tone detector, and a tone generator.

RFC 4733 is the normal path (the peer offered telephone-event). In-band tones are the fallback
for peers that did not: we detect digits in the decoded audio and send digits as dual tones.
"""

from __future__ import annotations

import array
import math
import operator
import struct
from collections import deque
from dataclasses import dataclass

SAMPLE_RATE = 8000
DIGITS = "0123456789*#ABCD"
_EVENT_OF = {digit: index for index, digit in enumerate(DIGITS)}
_EVENT_OF.update({"a": 12, "b": 13, "c": 14, "d": 15})
_EVENT = struct.Struct("!BBH")

ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
_KEYPAD = ("123A", "456B", "789C", "*0#D")
_TONES = {
    digit: (ROWS[row], COLUMNS[column])
    for row, keys in enumerate(_KEYPAD)
    for column, digit in enumerate(keys)
}


def event_code(digit: str) -> int:
    """The RFC 4733 event code of a DTMF digit (0-9, *, #, A-D)."""
    try:
        return _EVENT_OF[digit]
    except KeyError:
        raise ValueError(f"{digit!r} is not a DTMF digit") from None


# ---------------------------------------------------------------------------------------------
# RFC 4733 payloads


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int  # dBm0 below zero, 0-63
    duration: int  # in timestamp units (samples at 8 kHz)

    @property
    def digit(self) -> str | None:
        return DIGITS[self.event] if self.event < len(DIGITS) else None


def encode_event(event: int, end: bool, volume: int, duration: int) -> bytes:
    """One 4-byte RFC 4733 payload: event, E bit, reserved bit, volume, duration."""
    if not 0 <= event <= 255 or not 0 <= volume <= 63:
        raise ValueError("event must be 0-255 and volume 0-63")
    return _EVENT.pack(event, (0x80 if end else 0) | volume, min(duration, 0xFFFF))


def decode_event(payload: bytes) -> TelephoneEvent | None:
    """The event in a telephone-event payload, or None when it is too short to be one."""
    if len(payload) < 4:
        return None
    event, flags, duration = _EVENT.unpack_from(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def event_packets(
    digit: str, frames: int, volume: int = 10, end_packets: int = 3
) -> list[tuple[bool, bytes]]:
    """The payloads to send for one key press lasting `frames` 20 ms frames.

    One packet a frame with the duration so far, then `end_packets` copies of the final packet
    with the E bit: RFC 4733 §2.5.1.4 repeats the end so that one lost packet doesn't lose the
    digit's end. Each item is (first_packet, payload); the sender sets the marker on the first.
    All of an event's packets carry the timestamp of its first one.
    """
    code = event_code(digit)
    frames = max(frames, 1)
    packets = [
        (index == 0, encode_event(code, False, volume, (index + 1) * 160))
        for index in range(frames - 1)
    ]
    final = encode_event(code, True, volume, frames * 160)
    packets.extend((frames == 1 and index == 0, final) for index in range(end_packets))
    return packets


class EventReceiver:
    """Turns received telephone-event packets into digits, one per key press.

    An event is identified by its RTP timestamp (RFC 4733 §2.5.1.1: all packets of one event share
    it), so the repeated end packets and any late retransmissions report nothing new. A digit is
    reported at its first end packet; if every end packet of an event was lost, it is reported
    when the next event begins instead.
    """

    def __init__(self, remember: int = 16) -> None:
        self._reported: deque[int] = deque(maxlen=remember)
        self._pending: tuple[int, str] | None = None

    def feed(self, timestamp: int, payload: bytes) -> list[str]:
        event = decode_event(payload)
        if event is None or event.digit is None or timestamp in self._reported:
            return []
        digits: list[str] = []
        if self._pending is not None and self._pending[0] != timestamp:
            digits.append(self._pending[1])
            self._reported.append(self._pending[0])
            self._pending = None
        if event.end:
            self._pending = None
            self._reported.append(timestamp)
            digits.append(event.digit)
        else:
            self._pending = (timestamp, event.digit)
        return digits


# ---------------------------------------------------------------------------------------------
# In-band tones


def tone(digit: str, milliseconds: float, amplitude: float = 0.3) -> bytes:
    """PCM16 of one key's dual tone; each of the two tones at `amplitude` of full scale."""
    low, high = _TONES[digit.upper()]
    count = round(SAMPLE_RATE * milliseconds / 1000)
    scale = amplitude * 32767
    step_low = 2 * math.pi * low / SAMPLE_RATE
    step_high = 2 * math.pi * high / SAMPLE_RATE
    samples = array.array(
        "h",
        (round(scale * (math.sin(step_low * n) + math.sin(step_high * n))) for n in range(count)),
    )
    return samples.tobytes()


def silence(milliseconds: float) -> bytes:
    return bytes(2 * round(SAMPLE_RATE * milliseconds / 1000))


_BLOCK = 205
_CORRELATION_TABLES = tuple(
    (
        [math.cos(2 * math.pi * frequency * n / SAMPLE_RATE) for n in range(_BLOCK)],
        [math.sin(2 * math.pi * frequency * n / SAMPLE_RATE) for n in range(_BLOCK)],
    )
    for frequency in ROWS + COLUMNS
)


class ToneDetector:
    """In-band DTMF detection on PCM16 at 8 kHz: fed any chunk sizes, returns digits pressed.

    Works on blocks of 205 samples (25.6 ms, the classic choice: bins fine enough to tell the
    eight frequencies apart). For each block the power at the eight DTMF frequencies is the
    Goertzel quantity |X(f)|², here computed as a correlation with precomputed cosine/sine
    tables, since `sum(map(mul, ...))` runs in C and a per-sample Python Goertzel loop costs
    about four times as much. A block holds a digit when:
      - its level is above a floor (quiet line noise is not a key),
      - the strongest row and column tones carry most of the block's energy (speech and music
        spread energy over many frequencies; a key is two pure tones),
      - each of them dominates the other tones of its group (no ambiguous key),
      - the twist (row vs column level) is within 8 dB either way.
    A digit is reported once two consecutive blocks agree (≥ 40 ms of tone, as Q.24 asks), and
    again only after a block without it: one key press, one digit.
    """

    BLOCK = _BLOCK
    _MIN_RMS = 200.0  # about -44 dBFS
    _MIN_TONE_SHARE = 0.6
    _MIN_GROUP_DOMINANCE = 6.0  # about 8 dB above the next tone of the same group
    _MAX_TWIST = 10 ** (8 / 10)

    def __init__(self) -> None:
        self._buffer = array.array("h")
        self._candidate: str | None = None
        self._count = 0
        self._reported = False

    def feed(self, pcm: bytes) -> list[str]:
        self._buffer.frombytes(pcm)
        digits: list[str] = []
        while len(self._buffer) >= self.BLOCK:
            block = self._buffer[: self.BLOCK].tolist()
            del self._buffer[: self.BLOCK]
            digit = self._classify(block)
            if digit is not None and digit == self._candidate:
                self._count += 1
            else:
                self._candidate, self._count, self._reported = digit, 1, False
            if digit is not None and self._count >= 2 and not self._reported:
                self._reported = True
                digits.append(digit)
        return digits

    def _classify(self, block: list[int]) -> str | None:
        energy = float(sum(map(operator.mul, block, block)))
        if energy < self._MIN_RMS**2 * self.BLOCK:
            return None
        powers = []
        for cosines, sines in _CORRELATION_TABLES:
            real = sum(map(operator.mul, block, cosines))
            imaginary = sum(map(operator.mul, block, sines))
            powers.append(real * real + imaginary * imaginary)
        rows, columns = powers[:4], powers[4:]
        row = max(range(4), key=rows.__getitem__)
        column = max(range(4), key=columns.__getitem__)
        row_power, column_power = rows[row], columns[column]
        # A sinusoid of amplitude A has |X|² = (A·N/2)² and energy N·A²/2: 2|X|²/N is its energy.
        tone_energy = 2 * (row_power + column_power) / self.BLOCK
        if tone_energy < self._MIN_TONE_SHARE * energy:
            return None
        if row_power > self._MAX_TWIST * column_power or column_power > self._MAX_TWIST * row_power:
            return None
        for group, best in ((rows, row), (columns, column)):
            for index, power in enumerate(group):
                if index != best and power * self._MIN_GROUP_DOMINANCE > group[best]:
                    return None
        return _KEYPAD[row][column]
