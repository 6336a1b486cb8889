"""The room relay's pure core (media/relay.py): which packets become what, and when audio that
arrived goes out. The sessions that drive it on real sockets: tests/integration/media/
test_relay.py."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.media import dtmf, g711
from switchboard.media.relay import (
    FRAME_SAMPLES,
    MAX_KEPT,
    RelayBuffer,
    route,
    transcoding_table,
)

PCMU_TO_PCMA = route(101, "PCMA", 101)
SAME = route(101, "PCMU", 96)
NO_EVENTS = route(101, "PCMU", None)


def frame_of(value: int, samples: int = FRAME_SAMPLES) -> bytes:
    return bytes([value]) * samples


def hum(samples: int, frequency: float = 440.0) -> bytes:
    pcm = struct.pack(
        f"<{samples}h",
        *(round(6000 * math.sin(2 * math.pi * frequency * n / 8000)) for n in range(samples)),
    )
    return g711.ulaw_encode(pcm)


@pytest.mark.parametrize(("source", "target"), [("PCMU", "PCMA"), ("PCMA", "PCMU")])
def test_the_transcoding_table_is_decode_then_encode(source: str, target: str) -> None:
    table = transcoding_table(source, target)  # type: ignore[arg-type]
    assert table is not None and len(table) == 256
    every_code = bytes(range(256))
    decoded = g711.decoder(source)(every_code)  # type: ignore[arg-type]
    assert every_code.translate(table) == g711.encoder(target)(decoded)  # type: ignore[arg-type]
    # Silence stays silence (A-law has no zero: its quietest code is ±8).
    silence = bytes([table[g711.silence_byte(source)]])  # type: ignore[arg-type]
    (sample,) = struct.unpack("<h", g711.decoder(target)(silence))  # type: ignore[arg-type]
    assert abs(sample) <= 8


def test_same_codec_needs_no_table() -> None:
    assert transcoding_table("PCMU", "PCMU") is None
    assert transcoding_table("PCMA", "PCMA") is None


def test_routes_classify_by_static_audio_types_and_the_sources_event_type() -> None:
    assert SAME.audio == {0: None, 8: transcoding_table("PCMA", "PCMU")}
    assert SAME.source_events == frozenset({101}) and SAME.target_events == 96
    assert route(None, "PCMU", 101).source_events == frozenset()
    # A peer that (oddly) sends events as 8 has no audio on 8.
    assert 8 not in route(8, "PCMU", 101).audio


class Target:
    """rtp.py's side of a relay (RtpSession._relay_tick), as a model: it ticks in order and
    sends each frame the buffer gives at the slot after the last one it sent."""

    def __init__(self, buffer: RelayBuffer) -> None:
        self.buffer = buffer
        self.index = 0
        self.next_slot = 0
        self.slots: list[int] = []

    def tick(self) -> tuple[list[bytes | None], list[tuple[int, bytes]]]:
        slot, frames, events = self.buffer.tick(self.index, self.next_slot)
        if frames:
            assert slot == self.next_slot or not self.slots, "the stream's slots are consecutive"
            assert self.index - 1 <= slot and slot + len(frames) - 1 <= self.index + 1
        self.slots += range(slot, slot + len(frames))
        self.next_slot = slot + len(frames)
        self.index += 1
        return frames, events


def test_audio_in_the_same_codec_passes_unchanged_a_frame_at_a_time() -> None:
    target = Target(RelayBuffer())
    first, second = hum(160), hum(160, 600)
    target.buffer.push(SAME, 0, 0, first)
    assert target.tick() == ([first], [])
    target.buffer.push(SAME, 0, 160, second)
    assert target.tick() == ([second], [])
    assert target.tick() == ([], [])  # the next packet may be late: its slot waits a tick
    assert target.tick() == ([None, None], [])  # it was not: silence, and on time again
    assert target.tick() == ([None], [])
    assert target.slots == [0, 1, 2, 3, 4]


def test_audio_is_re_encoded_when_the_codecs_differ() -> None:
    target = Target(RelayBuffer())
    audio = hum(160)
    target.buffer.push(PCMU_TO_PCMA, 0, 0, audio)
    assert target.tick() == ([g711.alaw_encode(g711.ulaw_decode(audio))], [])
    target.buffer.push(PCMU_TO_PCMA, 8, 160, frame_of(0xD5))  # PCMA from a PCMA peer: as is
    assert target.tick() == ([frame_of(0xD5)], [])


def test_comfort_noise_and_unknown_types_are_not_relayed() -> None:
    target = Target(RelayBuffer())
    target.buffer.push(SAME, 13, 0, b"\x40")
    target.buffer.push(SAME, 99, 0, frame_of(1))
    assert target.tick() == ([None], [])  # silence: no audio is coming


def test_a_late_frame_waits_its_slot_and_an_early_one_goes_ahead() -> None:
    target = Target(RelayBuffer())
    target.buffer.push(SAME, 0, 0, frame_of(1))
    assert target.tick() == ([frame_of(1)], [])  # slot 0
    assert target.tick() == ([], [])  # slot 1's packet is late: it waits
    target.buffer.push(SAME, 0, 160, frame_of(2))
    target.buffer.push(SAME, 0, 320, frame_of(3))
    target.buffer.push(SAME, 0, 480, frame_of(4))
    # Tick 2 sends slots 1, 2 and 3: the late one, its own, and one ahead.
    assert target.tick() == ([frame_of(2), frame_of(3), frame_of(4)], [])
    assert target.tick() == ([], [])  # slot 3 went already
    target.buffer.push(SAME, 0, 640, frame_of(5))
    assert target.tick() == ([frame_of(5)], [])  # slot 4: on time again
    assert target.slots == [0, 1, 2, 3, 4] and target.buffer.dropped == 0


def test_audio_that_cannot_go_within_a_frame_is_dropped_oldest_first() -> None:
    target = Target(RelayBuffer())
    for value in (1, 2, 3):
        target.buffer.push(SAME, 0, value * 160, frame_of(value))
    assert target.tick() == ([frame_of(2), frame_of(3)], [])  # slots 0 and 1 (ahead)
    assert target.buffer.dropped == FRAME_SAMPLES
    target.buffer.push(SAME, 0, 640, frame_of(4))
    target.buffer.push(SAME, 0, 800, frame_of(5))
    assert target.tick() == ([frame_of(5)], [])  # a frame ahead already: only one may go
    assert target.buffer.dropped == 2 * FRAME_SAMPLES


def test_a_30_ms_packets_remainder_waits_for_the_next_packet() -> None:
    target = Target(RelayBuffer())
    target.buffer.push(SAME, 0, 0, frame_of(1, 240))
    assert target.tick() == ([frame_of(1)], [])
    assert target.tick() == ([], [])  # 10 ms left, not a frame: the slot waits
    target.buffer.push(SAME, 0, 240, frame_of(2, 240))
    assert target.tick() == ([frame_of(1, 80) + frame_of(2, 80), frame_of(2)], [])
    assert target.buffer.dropped == 0


def test_60_ms_packets_are_cut_into_three_frames_without_loss() -> None:
    target = Target(RelayBuffer())
    sent: list[bytes | None] = []
    for packet in range(5):
        target.buffer.push(SAME, 0, packet * 480, frame_of(packet + 1, 480))
        for _ in range(3):
            sent += target.tick()[0]
    assert b"".join(frame or b"" for frame in sent) == b"".join(
        frame_of(n + 1, 480) for n in range(5)
    )
    assert None not in sent and target.buffer.dropped == 0


def test_audio_nobody_takes_is_bounded() -> None:
    buffer = RelayBuffer()
    for index in range(100):  # the target's leg ended: its session ticks no more
        buffer.push(SAME, 0, index * 160, frame_of(index))
    assert buffer.dropped == 100 * FRAME_SAMPLES - MAX_KEPT
    assert buffer.tick(0, 0) == (0, [frame_of(98), frame_of(99)], [])


@given(
    packet_ms=st.sampled_from([10, 20, 30, 40]),
    phase=st.floats(0.0, 0.0199),
    jitter=st.lists(st.floats(0.0, 0.008), min_size=300, max_size=300),
)
def test_steady_streams_lose_nothing_and_wait_at_most_a_frame(
    packet_ms: int, phase: float, jitter: list[float]
) -> None:
    """Ticks every 20 ms at `phase`; packets leave the peer on their own grid and arrive up
    to 8 ms late. Every sample reaches the target in order, with no silence inserted, and
    (packets up to 30 ms) each frame leaves at the first tick after its last sample came."""
    target = Target(RelayBuffer())
    packet = 8 * packet_ms
    count = len(jitter) * 20 // max(packet_ms, 20)  # 6 s, or 3 s of 10 ms packets
    arrivals = sorted((n * packet_ms / 1000 + jitter[n], n) for n in range(count))
    arrived = {number: at for at, number in arrivals}
    sent: list[bytes] = []
    pending = 0
    for index in range(int(arrivals[-1][0] / 0.02) + 2):
        now = phase + index * 0.02
        while pending < len(arrivals) and arrivals[pending][0] <= now:
            number = arrivals[pending][1]
            target.buffer.push(SAME, 0, number * packet, frame_of(number % 256, packet))
            pending += 1
        frames, _ = target.tick()
        for frame in frames:
            if frame is None:
                assert not sent or pending == len(arrivals), "silence in the middle"
                continue
            sent.append(frame)
            last_sample = len(sent) * FRAME_SAMPLES - 1
            if packet_ms <= 30:
                assert now - arrived[last_sample // packet] <= 0.02 + 1e-9
    audio = b"".join(sent)
    expected = b"".join(frame_of(n % 256, packet) for n in range(len(arrivals)))
    assert audio == expected[: len(audio)] and len(expected) - len(audio) < FRAME_SAMPLES
    assert target.buffer.dropped == 0


def event(digit: str, end: bool, duration: int) -> bytes:
    return dtmf.encode_event(dtmf.event_code(digit), end, 10, duration)


def test_events_are_passed_on_with_their_source_timestamp() -> None:
    target = Target(RelayBuffer())
    packets = [event("5", False, 160), event("5", False, 320), event("5", True, 480)]
    for payload in packets:
        target.buffer.push(SAME, 101, 8000, payload)
    target.buffer.push(SAME, 101, 8000, packets[-1])  # the repeated end
    assert target.tick() == ([None], [(8000, p) for p in [*packets, packets[-1]]])
    target.buffer.push(SAME, 101, 9600, event("7", True, 320))  # the next key
    target.buffer.push(SAME, 101, 8000, packets[-1])  # a late copy of the first: not a key
    assert target.tick() == ([None], [(9600, event("7", True, 320))])


def tone_frames(target: Target) -> list[bytes]:
    """The frames of a tone being played, until it stops (then the relay's silence)."""
    tone: list[bytes] = []
    while True:
        frames, events = target.tick()
        assert events == []
        if frames in ([None], [None, None], []):
            return tone
        assert None not in frames
        tone += [frame for frame in frames if frame is not None]
        assert len(tone) < 20, "the tone should end with the key"


def test_a_peer_without_events_hears_the_key_as_a_tone_while_it_is_held() -> None:
    target = Target(RelayBuffer())
    target.buffer.push(NO_EVENTS, 0, 0, frame_of(0x80))  # audio before the key
    target.buffer.push(NO_EVENTS, 101, 800, event("9", False, 160))
    tone: list[bytes] = []
    for duration in (320, 480, 640, 800):
        frames, _ = target.tick()
        tone += [frame for frame in frames if frame is not None]
        target.buffer.push(NO_EVENTS, 0, 0, frame_of(0x80))  # audio during the key: replaced
        target.buffer.push(NO_EVENTS, 101, 800, event("9", duration == 800, duration))
    tone += tone_frames(target)
    assert len(tone) == 5  # the 100 ms the key was held
    heard = dtmf.ToneDetector().feed(g711.ulaw_decode(b"".join(tone)))
    assert heard == ["9"]
    target.buffer.push(NO_EVENTS, 0, 0, frame_of(0x81))  # audio again after it
    assert target.tick() == ([frame_of(0x81)], [])


def test_a_tone_whose_end_was_lost_stops_soon_after_the_last_packet() -> None:
    target = Target(RelayBuffer())
    target.buffer.push(NO_EVENTS, 101, 800, event("1", False, 160))
    assert len(tone_frames(target)) == 4  # its 20 ms, then 60 ms of grace


def test_discard_forgets_audio_events_and_tone() -> None:
    buffer = RelayBuffer()
    buffer.push(SAME, 0, 0, frame_of(1))
    buffer.push(SAME, 101, 800, event("1", False, 160))
    buffer.discard()
    assert buffer.tick(0, 0) == (0, [], [])  # (audio just came: the slot may wait)
    buffer.push(NO_EVENTS, 101, 1600, event("2", False, 160))
    buffer.discard()
    assert buffer.tick(1, 0) == (0, [None], [])
