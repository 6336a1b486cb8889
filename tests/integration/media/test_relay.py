"""A SIP room's relay on real sockets: two legs' RTP sessions joined by a SipRoom, each with a
bare UDP peer that sends RTP on its own (jittered) clock and records what it gets.

On virtual time (tests/support/virtual_loop.py): the peers' packets and the media clock's ticks
come at the times the test says, so "at most one frame of delay" is measured exactly."""

from __future__ import annotations

import asyncio
import gc
import itertools
import random
import struct
import weakref
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace

import pytest

from switchboard.activity import Activity
from switchboard.media import dtmf, g711
from switchboard.media.rtp import RtpSession
from switchboard.media.sdp import MediaDescription
from switchboard.network.audio_files import AudioFiles
from switchboard.network.base import RoomsUnsupported
from switchboard.network.sip import SipNetwork
from switchboard.network.sip_room import SipRoom
from switchboard.sip.settings import SipSettings
from tests.integration.media.test_rtp import Packet, Peer, done_future, tone_pcm

pytestmark = pytest.mark.virtual_time

PORTS = (33000, 33999)
TIMEOUT = 5.0


class Phone(Peer):
    """A far end that also talks: it sends RTP to its leg's session."""

    def __init__(self) -> None:
        super().__init__()
        self.ssrc = random.getrandbits(32)
        self.sequence = 0
        self.sent: list[tuple[float, int, bytes]] = []  # (when, payload type, payload)

    def send(self, to: int, payload_type: int, timestamp: int, payload: bytes, mark: bool) -> None:
        assert self.transport is not None
        header = struct.pack(
            "!BBHII",
            0x80,
            (0x80 if mark else 0) | payload_type,
            self.sequence,
            timestamp,
            self.ssrc,
        )
        self.sequence += 1
        self.sent.append((asyncio.get_running_loop().time(), payload_type, payload))
        self.transport.sendto(header + payload, ("127.0.0.1", to))

    def talk(
        self,
        to: int,
        payload_type: int,
        audio: bytes,
        start: float,
        jitter: float,
        seed: int,
        packet_ms: int = 20,
    ) -> float:
        """Schedule `audio` (already encoded) in packets from `start` (loop time), each up to
        `jitter` late; returns when the last one goes."""
        loop = asyncio.get_running_loop()
        late = random.Random(seed)
        size = 8 * packet_ms
        when = start
        for number, offset in enumerate(range(0, len(audio), size)):
            when = start + number * packet_ms / 1000 + late.uniform(0, jitter)
            loop.call_at(
                when,
                self.send,
                to,
                payload_type,
                number * size,
                audio[offset : offset + size],
                number == 0,
            )
        return when


@pytest.fixture
async def phones() -> AsyncIterator[Callable[[], asyncio.Future[Phone]]]:
    opened: list[Phone] = []

    async def open_phone() -> Phone:
        loop = asyncio.get_running_loop()
        _, phone = await loop.create_datagram_endpoint(Phone, local_addr=("127.0.0.1", 0))
        opened.append(phone)
        return phone

    yield open_phone  # type: ignore[misc]
    for phone in opened:
        assert phone.transport is not None
        phone.transport.close()


@pytest.fixture
async def legs() -> AsyncIterator[Callable[..., asyncio.Future[RtpSession]]]:
    opened: list[RtpSession] = []

    async def open_leg(on_digit: Callable[[str], None] = lambda digit: None) -> RtpSession:
        session = await RtpSession.open("127.0.0.1", PORTS, on_digit)
        opened.append(session)
        return session

    yield open_leg  # type: ignore[misc]
    for session in opened:
        session.close()


async def joined(
    legs: Callable[..., asyncio.Future[RtpSession]],
    phones: Callable[[], asyncio.Future[Phone]],
    a: tuple[str, int, int | None],
    b: tuple[str, int, int | None],
    on_digit: Callable[[str], None] = lambda digit: None,
) -> tuple[RtpSession, Phone, RtpSession, Phone, SipRoom]:
    """Two answered legs (codec, payload type, telephone-event type of each peer's SDP) and
    their phones, in a room."""
    leg_a, leg_b = await legs(on_digit), await legs()
    phone_a, phone_b = await phones(), await phones()
    leg_a.start(MediaDescription("127.0.0.1", phone_a.port, *a))  # type: ignore[arg-type]
    leg_b.start(MediaDescription("127.0.0.1", phone_b.port, *b))  # type: ignore[arg-type]
    return leg_a, phone_a, leg_b, phone_b, SipRoom(("a", "b"), [leg_a, leg_b])


def audio_of(packets: list[Packet], payload_type: int, silence: int) -> list[Packet]:
    return [
        p for p in packets if p.payload_type == payload_type and p.payload != bytes([silence]) * 160
    ]


async def test_each_phone_hears_the_other_re_encoded_within_a_frame(
    legs: Callable[..., asyncio.Future[RtpSession]],
    phones: Callable[[], asyncio.Future[Phone]],
) -> None:
    leg_a, phone_a, leg_b, phone_b, _ = await joined(
        legs, phones, ("PCMU", 0, 101), ("PCMA", 8, 101)
    )
    loop = asyncio.get_running_loop()
    says_a = g711.ulaw_encode(tone_pcm(440, 2.0))
    says_b = g711.alaw_encode(tone_pcm(1000, 2.0))
    start = loop.time() + 0.1
    # Each phone on its own clock: off the session's 20 ms grid, and up to 6 ms late.
    phone_a.talk(leg_a.local_port, 0, says_a, start + 0.0071, 0.006, seed=1)
    last = phone_b.talk(leg_b.local_port, 8, says_b, start + 0.0133, 0.006, seed=2)
    await asyncio.sleep(last + 0.1 - loop.time())

    heard_b = audio_of(phone_b.packets, 8, g711.ALAW_SILENCE)
    heard_a = audio_of(phone_a.packets, 0, g711.ULAW_SILENCE)
    # Every sample, in order, in the other phone's codec.
    assert b"".join(p.payload for p in heard_b) == g711.alaw_encode(g711.ulaw_decode(says_a))
    assert b"".join(p.payload for p in heard_a) == g711.ulaw_encode(g711.alaw_decode(says_b))
    # Each relayed frame arrives at most one frame after the packet that brought it.
    for phone, heard in ((phone_a, heard_b), (phone_b, heard_a)):
        sent = [when for when, _, _ in phone.sent]
        assert len(heard) == len(sent) == 100
        delays = [packet.arrived - when for packet, when in zip(heard, sent, strict=True)]
        assert min(delays) >= 0 and max(delays) <= 0.020 + 1e-9
    # The legs' own streams go on: one SSRC each, consecutive sequence numbers and slots.
    for phone in (phone_a, phone_b):
        assert len({p.ssrc for p in phone.packets}) == 1
        for before, after in itertools.pairwise(phone.packets):
            assert after.sequence == (before.sequence + 1) & 0xFFFF
            assert after.timestamp == (before.timestamp + 160) & 0xFFFFFFFF


async def test_30_ms_packets_are_re_framed_without_loss(
    legs: Callable[..., asyncio.Future[RtpSession]],
    phones: Callable[[], asyncio.Future[Phone]],
) -> None:
    leg_a, phone_a, _, phone_b, _ = await joined(legs, phones, ("PCMA", 8, 101), ("PCMA", 8, 101))
    loop = asyncio.get_running_loop()
    says = g711.alaw_encode(tone_pcm(700, 1.2))  # sipp's pcaps are 30 ms packets
    last = phone_a.talk(leg_a.local_port, 8, says, loop.time() + 0.05, 0.004, 3, packet_ms=30)
    await asyncio.sleep(last + 0.1 - loop.time())
    heard = audio_of(phone_b.packets, 8, g711.ALAW_SILENCE)
    assert b"".join(p.payload for p in heard) == says
    for before, after in itertools.pairwise(phone_b.packets):
        assert after.timestamp == (before.timestamp + 160) & 0xFFFFFFFF


def key_press(phone: Phone, to: int, payload_type: int, digit: str, at: float, stamp: int) -> None:
    """A key held 100 ms, as RFC 4733 packets: one every 20 ms, then the end three times."""
    loop = asyncio.get_running_loop()
    code = dtmf.event_code(digit)
    for number in range(5):
        payload = dtmf.encode_event(code, number == 4, 10, (number + 1) * 160)
        for _ in range(3 if number == 4 else 1):
            loop.call_at(
                at + number * 0.02, phone.send, to, payload_type, stamp, payload, not number
            )


async def test_keys_pass_with_the_other_legs_payload_type_and_are_heard_by_the_call(
    legs: Callable[..., asyncio.Future[RtpSession]],
    phones: Callable[[], asyncio.Future[Phone]],
) -> None:
    digits: list[str] = []
    leg_a, _, _, phone_b, _ = await joined(
        legs, phones, ("PCMU", 0, 96), ("PCMU", 0, 101), on_digit=digits.append
    )
    phone_a = await phones()  # (what leg a sends is not looked at here)
    loop = asyncio.get_running_loop()
    key_press(phone_a, leg_a.local_port, 96, "4", loop.time() + 0.05, 8000)
    key_press(phone_a, leg_a.local_port, 96, "#", loop.time() + 0.35, 12800)
    await asyncio.sleep(0.6)

    events = [p for p in phone_b.packets if p.payload_type == 101]
    assert len(events) == 14  # 4 + 3 end packets a key: none lost, none added
    by_start: dict[int, list[Packet]] = {}
    for packet in events:
        by_start.setdefault(packet.timestamp, []).append(packet)
    assert [
        {dtmf.decode_event(p.payload).digit for p in packets}  # type: ignore[union-attr]
        for packets in by_start.values()
    ] == [{"4"}, {"#"}]
    for packets in by_start.values():
        assert packets[0].marker and not any(p.marker for p in packets[1:])
    # Each event starts on phone b's timeline: between its audio packets' timestamps.
    audio = [p for p in phone_b.packets if p.payload_type == 0]
    for start, packets in by_start.items():
        around = [p.timestamp for p in audio if abs(p.arrived - packets[0].arrived) <= 0.02]
        assert min(around) <= start <= max(around)
    assert digits == ["4", "#"]  # the call still hears its own leg's keys


async def test_a_phone_without_telephone_events_hears_the_key_as_a_tone(
    legs: Callable[..., asyncio.Future[RtpSession]],
    phones: Callable[[], asyncio.Future[Phone]],
) -> None:
    leg_a, phone_a, _, phone_b, _ = await joined(legs, phones, ("PCMU", 0, 101), ("PCMA", 8, None))
    loop = asyncio.get_running_loop()
    key_press(phone_a, leg_a.local_port, 101, "7", loop.time() + 0.05, 8000)
    await asyncio.sleep(0.4)
    assert all(p.payload_type == 8 for p in phone_b.packets)
    pcm = g711.alaw_decode(b"".join(p.payload for p in phone_b.packets))
    assert dtmf.ToneDetector().feed(pcm) == ["7"]
    tone = audio_of(phone_b.packets, 8, g711.ALAW_SILENCE)
    assert len(tone) == 5  # the 100 ms the key was held


async def test_what_the_engine_plays_to_a_leg_replaces_the_relay_toward_it_only(
    legs: Callable[..., asyncio.Future[RtpSession]],
    phones: Callable[[], asyncio.Future[Phone]],
) -> None:
    leg_a, phone_a, leg_b, phone_b, room = await joined(
        legs, phones, ("PCMU", 0, 101), ("PCMU", 0, 101)
    )
    loop = asyncio.get_running_loop()
    says_a = random.Random(4).randbytes(8000)  # 1 s that no part of repeats
    phone_a.talk(leg_a.local_port, 0, says_a, loop.time() + 0.01, 0.0, 4)
    await asyncio.sleep(0.2)
    whisper = tone_pcm(1500, 0.3)
    finished, on_done = done_future()
    leg_b.play(whisper, on_done)  # to leg b only: e.g. "a call from..." before the join
    await asyncio.wait_for(finished, TIMEOUT)
    await asyncio.sleep(1.0)

    heard_b = b"".join(p.payload for p in audio_of(phone_b.packets, 0, g711.ULAW_SILENCE))
    played = g711.ulaw_encode(whisper)
    position = heard_b.find(played)
    assert position > 0, "phone b hears the whisper whole"
    # Around it, phone a's speech: before, and again after (what came meanwhile is not held).
    before, after = heard_b[:position], heard_b[position + len(played) :]
    assert before and before in says_a and after and after in says_a
    assert says_a.find(after) > says_a.find(before) + len(before) + len(played) - 320
    # Phone a hears only silence: no whisper (phone b said nothing).
    assert audio_of(phone_a.packets, 0, g711.ULAW_SILENCE) == []
    assert leg_a.stats.count > 0 and room.dropped == 0


async def test_closing_the_room_stops_the_relay_and_the_legs_go_on(
    legs: Callable[..., asyncio.Future[RtpSession]],
    phones: Callable[[], asyncio.Future[Phone]],
) -> None:
    leg_a, phone_a, leg_b, phone_b, room = await joined(
        legs, phones, ("PCMU", 0, 101), ("PCMU", 0, 101)
    )
    loop = asyncio.get_running_loop()
    says = g711.ulaw_encode(tone_pcm(440, 1.0))
    phone_a.talk(leg_a.local_port, 0, says, loop.time() + 0.01, 0.0, 5)
    await asyncio.sleep(0.3)
    room.close()
    room.close()  # twice: nothing more happens
    closed_at = loop.time()
    await asyncio.sleep(0.5)
    assert leg_b.relay is None and leg_a.on_packet is None
    relayed = audio_of(phone_b.packets, 0, g711.ULAW_SILENCE)
    assert relayed and all(p.arrived <= closed_at + 0.02 for p in relayed)
    assert phone_b.packets[-1].arrived > closed_at + 0.4  # leg b still sends (silence)
    late = [p for p in phone_a.packets if p.arrived > closed_at + 0.4]
    assert late, "leg a still sends too"


async def test_the_sip_network_joins_its_legs_by_the_ids_they_were_placed_with(
    legs: Callable[..., asyncio.Future[RtpSession]],
) -> None:
    network = SipNetwork(SipSettings(), Activity(), AudioFiles())
    assert network.joins_legs
    leg_a, leg_b, leg_c = await legs(), await legs(), await legs()
    for leg in (leg_a, leg_b, leg_c):
        leg.start(MediaDescription("127.0.0.1", 9, "PCMU", 0, 101))
    # (Stand-ins for SipLeg/SipInboundLeg: open_room looks only at these.)
    network.legs = {  # type: ignore[dict-item]
        "call-a": SimpleNamespace(ended=False, rtp=leg_a),
        "call-a/forward": SimpleNamespace(ended=False, rtp=leg_b),
        "call-c": SimpleNamespace(ended=True, rtp=leg_c),
    }
    room = network.open_room(("call-a", "call-a/forward"))
    assert room.leg_ids == ("call-a", "call-a/forward")
    assert leg_a.relay is not None and leg_b.on_packet is not None
    room.close()
    assert leg_a.relay is None and leg_b.on_packet is None
    # A leg that ended (or was never placed) takes no part: nothing is relayed.
    for ids in (("call-a", "call-c"), ("call-a", "nobody")):
        network.open_room(ids).close()
        assert leg_a.relay is None and leg_a.on_packet is None and leg_c.relay is None
    with pytest.raises(RoomsUnsupported, match="two legs at a time"):
        network.open_room(("call-a", "call-a/forward", "call-c"))


async def test_a_room_dropped_without_close_keeps_neither_leg_alive() -> None:
    """The runner always closes its room; should one be dropped anyway, reference counting
    alone frees its legs' sessions once they are closed (no cycle through the room)."""
    gc.disable()
    try:
        first = await RtpSession.open("127.0.0.1", PORTS, lambda digit: None)
        second = await RtpSession.open("127.0.0.1", PORTS, lambda digit: None)
        for session in (first, second):
            session.start(MediaDescription("127.0.0.1", 9, "PCMU", 0, 101))
        SipRoom(("a", "b"), [first, second])  # dropped at once, never closed
        first.close()
        second.close()
        await asyncio.sleep(0.05)  # the transports' connection_lost
        legs = weakref.ref(first), weakref.ref(second)
        del first, second, session
        assert [leg() for leg in legs] == [None, None]
    finally:
        gc.enable()
