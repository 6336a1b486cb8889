"""RTP sessions on 127.0.0.1: what goes on the wire, DTMF both ways, and the pacing.

The tests run on virtual time (tests/support/virtual_loop.py): the media clock's ticks come at
the times the test says, not whenever a loaded machine gets round to them, and a second of
audio takes no second. The sockets are real loopback ones, which deliver at once.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import random
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import cast

import pytest

from switchboard.media import dtmf, g711
from switchboard.media.clock import FRAME_SECONDS
from switchboard.media.rtp import MediaPortsExhausted, RtpSession
from switchboard.media.sdp import MediaDescription
from switchboard.media.stats import SendStats
from tests.support.virtual_loop import VirtualTimeLoop

pytestmark = pytest.mark.virtual_time

PORTS = (31000, 31999)
TIMEOUT = 5.0


@dataclass
class Packet:
    arrived: float
    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


@dataclass
class Peer(asyncio.DatagramProtocol):
    """A bare UDP socket standing in for the far end: it records every RTP packet it gets."""

    packets: list[Packet] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is no subclass

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
        assert first == 0x80  # version 2, no padding, no extension, no CSRC
        self.packets.append(
            Packet(
                asyncio.get_running_loop().time(),
                bool(second & 0x80),
                second & 0x7F,
                sequence,
                timestamp,
                ssrc,
                data[12:],
            )
        )

    @property
    def port(self) -> int:
        assert self.transport is not None
        port: int = self.transport.get_extra_info("sockname")[1]
        return port


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    yield protocol
    assert protocol.transport is not None
    protocol.transport.close()


@pytest.fixture
async def sessions() -> AsyncIterator[Callable[..., asyncio.Future[RtpSession]]]:
    opened: list[RtpSession] = []

    async def open_session(on_digit: Callable[[str], None] = lambda digit: None) -> RtpSession:
        session = await RtpSession.open("127.0.0.1", PORTS, on_digit)
        opened.append(session)
        return session

    yield open_session  # type: ignore[misc]
    for session in opened:
        session.close()


def tone_pcm(frequency: float, seconds: float, amplitude: int = 8000) -> bytes:
    count = round(8000 * seconds)
    return struct.pack(
        f"<{count}h",
        *(round(amplitude * math.sin(2 * math.pi * frequency * n / 8000)) for n in range(count)),
    )


def done_future() -> tuple[asyncio.Future[None], Callable[[], None]]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def done() -> None:
        assert not future.done(), "on_done called twice"
        future.set_result(None)

    return future, done


async def test_ports_are_even_and_distinct(
    sessions: Callable[..., asyncio.Future[RtpSession]],
) -> None:
    opened = [await sessions() for _ in range(5)]
    ports = [session.local_port for session in opened]
    assert all(port % 2 == 0 and PORTS[0] <= port <= PORTS[1] for port in ports)
    assert len(set(ports)) == 5


async def test_busy_ports_are_skipped_and_exhaustion_is_an_error() -> None:
    first = await RtpSession.open("127.0.0.1", (32010, 32013), lambda digit: None)
    second = await RtpSession.open("127.0.0.1", (32010, 32013), lambda digit: None)
    try:
        assert {first.local_port, second.local_port} == {32010, 32012}
        with pytest.raises(MediaPortsExhausted):
            await RtpSession.open("127.0.0.1", (32010, 32013), lambda digit: None)
    finally:
        first.close()
        second.close()


async def test_one_second_of_audio_is_fifty_consecutive_frames(
    sessions: Callable[..., asyncio.Future[RtpSession]], peer: Peer
) -> None:
    session = await sessions()
    session.start(MediaDescription("127.0.0.1", peer.port, "PCMA", 8, 101))
    pcm = tone_pcm(1000, 1.0)
    finished, on_done = done_future()
    session.play(pcm, on_done)
    await asyncio.wait_for(finished, TIMEOUT)
    await asyncio.sleep(3 * FRAME_SECONDS)  # a few silence frames after it

    packets = peer.packets
    assert all(p.payload_type == 8 and len(p.payload) == 160 for p in packets)
    assert len({p.ssrc for p in packets}) == 1
    assert packets[0].marker and not any(p.marker for p in packets[1:])
    for before, after in itertools.pairwise(packets):
        assert after.sequence == (before.sequence + 1) & 0xFFFF
        assert after.timestamp == (before.timestamp + 160) & 0xFFFFFFFF
    silence = bytes([g711.ALAW_SILENCE]) * 160
    audio = [p for p in packets if p.payload != silence]
    assert len(audio) == 50
    assert audio[-1].sequence - audio[0].sequence == 49
    assert g711.alaw_decode(b"".join(p.payload for p in audio)) == g711.alaw_decode(
        g711.alaw_encode(pcm)
    )
    assert packets[-1].payload == silence  # the stream goes on with silence


async def test_play_replaces_without_calling_the_old_on_done(
    sessions: Callable[..., asyncio.Future[RtpSession]], peer: Peer
) -> None:
    session = await sessions()
    session.start(MediaDescription("127.0.0.1", peer.port, "PCMU", 0, None))
    calls: list[str] = []
    session.play(tone_pcm(500, 2.0), lambda: calls.append("first"))
    await asyncio.sleep(0.1)
    finished, on_done = done_future()
    session.play(tone_pcm(700, 0.1), on_done)
    await asyncio.wait_for(finished, TIMEOUT)
    stopped: list[str] = []
    session.silence(1.0, lambda: stopped.append("silence"))
    session.stop()
    await asyncio.sleep(0.1)
    assert calls == [] and stopped == []
    short, on_short = done_future()
    session.silence(0.06, on_short)
    await asyncio.wait_for(short, TIMEOUT)


async def connected_pair(
    sessions: Callable[..., asyncio.Future[RtpSession]],
    codec: str,
    dtmf_payload_type: int | None,
) -> tuple[RtpSession, list[str], asyncio.Event]:
    heard: list[str] = []
    got_three = asyncio.Event()

    def on_digit(digit: str) -> None:
        heard.append(digit)
        if len(heard) >= 3:
            got_three.set()

    sender = await sessions()
    receiver = await sessions(on_digit)
    payload_type = 0 if codec == "PCMU" else 8
    sender.start(
        MediaDescription("127.0.0.1", receiver.local_port, codec, payload_type, dtmf_payload_type)
    )  # type: ignore[arg-type]
    receiver.start(
        MediaDescription("127.0.0.1", sender.local_port, codec, payload_type, dtmf_payload_type)
    )  # type: ignore[arg-type]
    return sender, heard, got_three


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
@pytest.mark.parametrize("dtmf_payload_type", [101, None], ids=["rfc4733", "inband"])
async def test_send_dtmf_reaches_the_other_side_once_per_digit(
    sessions: Callable[..., asyncio.Future[RtpSession]], codec: str, dtmf_payload_type: int | None
) -> None:
    sender, heard, got_three = await connected_pair(sessions, codec, dtmf_payload_type)
    finished, on_done = done_future()
    sender.send_dtmf("12#", 100, 60, on_done)
    await asyncio.wait_for(finished, TIMEOUT)
    await asyncio.wait_for(got_three.wait(), TIMEOUT)
    await asyncio.sleep(0.1)  # nothing more arrives (repeated end packets, tone tails)
    assert heard == ["1", "2", "#"]


async def test_rfc4733_events_on_the_wire(
    sessions: Callable[..., asyncio.Future[RtpSession]], peer: Peer
) -> None:
    session = await sessions()
    session.start(MediaDescription("127.0.0.1", peer.port, "PCMU", 0, 96))
    finished, on_done = done_future()
    session.send_dtmf("5w9", 60, 40, on_done)
    await asyncio.wait_for(finished, TIMEOUT)
    events = [p for p in peer.packets if p.payload_type == 96]
    by_start: dict[int, list[Packet]] = {}
    for packet in events:
        by_start.setdefault(packet.timestamp, []).append(packet)
    assert len(by_start) == 2
    for packets, digit in zip(by_start.values(), "59", strict=True):
        decoded = [dtmf.decode_event(p.payload) for p in packets]
        assert all(event is not None and event.digit == digit for event in decoded)
        assert packets[0].marker and not any(p.marker for p in packets[1:])
        ends = [event for event in decoded if event is not None and event.end]
        assert len(ends) == 3 and {end.duration for end in ends} == {480}
    first, second = by_start
    # 60 ms of tone: 2 packets, then the third frame's packet sent as end, 3 times; then the
    # 'w' pause of 500 ms, which takes the 40 ms interval's place (sendDtmf.mdx)
    assert (second - first) % (1 << 32) == 160 * (2 + 3 + 25)
    sequences = [p.sequence for p in peer.packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(sequences))


async def test_pacing_has_no_late_frames_and_no_drift(
    sessions: Callable[..., asyncio.Future[RtpSession]], peer: Peer
) -> None:
    # A loaded machine, the same on every run: every wake-up of the loop up to 4 ms late.
    most = 0.004
    VirtualTimeLoop.running().lateness = functools.partial(
        random.Random(20261128).uniform, 0.0, most
    )
    pcm = tone_pcm(440, 1.0)
    opened = [await sessions() for _ in range(10)]
    for session in opened:
        session.start(MediaDescription("127.0.0.1", peer.port, "PCMU", 0, 101))
    finished = []
    for session in opened:
        future, on_done = done_future()
        session.play(pcm, on_done)
        finished.append(future)
    await asyncio.wait_for(asyncio.gather(*finished), TIMEOUT)
    total = SendStats()
    for session in opened:
        total.merge(session.stats)
    assert total.count >= 500
    assert total.late_over_20ms == 0
    assert total.max_lateness < most + 1e-9  # no frame later than the wake-up that sent it
    assert total.p99 < 0.005, f"p99 lateness {total.p99 * 1000:.1f} ms"
    # No drift: one stream's packets arrive on the 20 ms grid of its first one.
    stream = [p for p in peer.packets if p.ssrc == peer.packets[0].ssrc]
    elapsed = stream[-1].arrived - stream[0].arrived
    assert abs(elapsed - (len(stream) - 1) * FRAME_SECONDS) < 0.005


async def test_inband_detection_ignores_single_tones_and_silence(
    sessions: Callable[..., asyncio.Future[RtpSession]],
) -> None:
    sender, heard, _ = await connected_pair(sessions, "PCMU", None)
    finished, on_done = done_future()
    sender.play(tone_pcm(440, 0.5) + dtmf.silence(200) + tone_pcm(1000, 0.3), on_done)
    await asyncio.wait_for(finished, TIMEOUT)
    await asyncio.sleep(0.1)
    assert heard == []
