"""Taps on SIP legs (network/sip_tap.py) on real sockets and virtual time: what a phone sends
is the leg's inbound audio, sample for sample and where it was spoken on the clock; what the
leg plays, and in a room what it relays, is its outbound audio; the phone's talk is Voice."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest

from switchboard.media import g711
from switchboard.media.rtp import RtpSession
from switchboard.media.sdp import MediaDescription
from switchboard.network.base import Audio, Voice
from switchboard.network.sip_tap import FLUSH_SECONDS, LegAudio
from tests.integration.media import test_relay
from tests.integration.media.test_relay import Phone, joined
from tests.integration.media.test_rtp import done_future, tone_pcm

legs = test_relay.legs  # the relay tests' fixtures: legs' RTP sessions and their phones
phones = test_relay.phones

pytestmark = pytest.mark.virtual_time

Heard = list[tuple[float, Audio | Voice]]  # (loop time delivered, piece)


def listener(heard: Heard) -> Callable[[Audio | Voice], None]:
    def take(piece: Audio | Voice) -> None:
        heard.append((asyncio.get_running_loop().time(), piece))

    return take


def track(heard: Heard, name: str) -> list[Audio]:
    return [p for _, p in heard if isinstance(p, Audio) and p.track == name]


def joined_pcm(pieces: list[Audio]) -> bytes:
    """The pieces' audio, checking that each one starts where the one before ended."""
    for before, after in itertools.pairwise(pieces):
        assert abs(after.start - (before.start + before.seconds)) < 1e-6
    return b"".join(p.pcm for p in pieces)


async def test_what_the_phone_says_is_inbound_audio_and_voice_while_it_talks(
    legs: Callable[..., asyncio.Future[RtpSession]],
    phones: Callable[[], asyncio.Future[Phone]],
) -> None:
    leg, phone = await legs(), await phones()
    leg.start(MediaDescription("127.0.0.1", phone.port, "PCMU", 0, 101))
    loop = asyncio.get_running_loop()
    heard: Heard = []
    tap = LegAudio(leg, loop).add(listener(heard))
    says = g711.ulaw_encode(tone_pcm(440, 1.0))
    start = loop.time() + 0.5
    last = phone.talk(leg.local_port, 0, says, start, 0.006, seed=4)
    await asyncio.sleep(last + 1.0 - loop.time())

    inbound = track(heard, "inbound")
    assert joined_pcm(inbound) == g711.ulaw_decode(says)  # every sample, no gap, no overlap
    # Placed where it was spoken: the first packet's 20 ms end when it arrived (up to 6 ms of
    # jitter late).
    assert start - 0.021 <= inbound[0].start <= start - 0.02 + 0.007
    voices = [(at, p) for at, p in heard if isinstance(p, Voice)]
    assert all(v.track == "inbound" and v.text is None for _, v in voices)
    assert abs(voices[-1][1].start - inbound[0].start) < 0.021
    assert abs(voices[-1][1].end - (inbound[0].start + 1.0)) < 0.021
    # Known while it is spoken: a Voice reached the tap within a flush (and the onset) of the
    # speech's start, and the segment grew as the phone talked.
    first_at, first = voices[0]
    assert first_at <= start + 0.04 + FLUSH_SECONDS + 0.01 and first.end < start + 0.3
    assert nondecreasing([v.end for _, v in voices])
    assert [p for _, p in heard if isinstance(p, Audio) and p.track == "outbound"] == []
    tap.close()


def nondecreasing(values: list[float]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(values))


async def test_what_the_leg_plays_is_outbound_audio_and_a_closed_tap_hears_nothing(
    legs: Callable[..., asyncio.Future[RtpSession]],
    phones: Callable[[], asyncio.Future[Phone]],
) -> None:
    leg, phone = await legs(), await phones()
    leg.start(MediaDescription("127.0.0.1", phone.port, "PCMA", 8, None))
    loop = asyncio.get_running_loop()
    heard: Heard = []
    audio = LegAudio(leg, loop)
    tap = audio.add(listener(heard))
    done, on_done = done_future()
    pcm = tone_pcm(1000, 0.6)
    opened = loop.time()
    leg.play(pcm, on_done)
    await asyncio.wait_for(done, 5)
    tap.close()  # at once: what was sent since the last flush is delivered by close() itself

    outbound = track(heard, "outbound")
    got, want = joined_pcm(outbound), g711.alaw_decode(g711.alaw_encode(pcm))
    assert got == want
    assert opened <= outbound[0].start <= opened + 0.025  # from the next 20 ms tick
    assert track(heard, "inbound") == []  # the phone sent nothing

    assert leg.listener is None  # no tap: the media paths no longer take note
    count = len(heard)
    leg.play(pcm, lambda: None)
    await asyncio.sleep(1.0)
    assert len(heard) == count


async def test_in_a_room_the_other_party_is_on_the_outbound_track(
    legs: Callable[..., asyncio.Future[RtpSession]],
    phones: Callable[[], asyncio.Future[Phone]],
) -> None:
    leg_a, phone_a, leg_b, phone_b, room = await joined(
        legs, phones, ("PCMU", 0, 101), ("PCMA", 8, 101)
    )
    loop = asyncio.get_running_loop()
    heard: Heard = []
    audio = LegAudio(leg_a, loop)
    tap = audio.add(listener(heard))
    says_a = g711.ulaw_encode(tone_pcm(440, 1.0))
    says_b = g711.alaw_encode(tone_pcm(1000, 1.0))
    start = loop.time() + 0.1
    phone_a.talk(leg_a.local_port, 0, says_a, start + 0.003, 0.004, seed=5)
    last = phone_b.talk(leg_b.local_port, 8, says_b, start + 0.011, 0.004, seed=6)
    await asyncio.sleep(last + 0.5 - loop.time())
    before = len(heard)
    audio.end()  # the leg ends: what was gathered is delivered, soon (never inside end())
    assert len(heard) == before
    await asyncio.sleep(0)
    assert len(heard) > before and tap.closed

    assert joined_pcm(track(heard, "inbound")) == g711.ulaw_decode(says_a)
    relayed = track(heard, "outbound")
    # B's phone, re-encoded to A's codec by the relay (a frame may wait a tick, so pieces
    # can be several), is what A's leg sent: all of it, on A's outbound track.
    assert b"".join(p.pcm for p in relayed) == g711.ulaw_decode(
        g711.ulaw_encode(g711.alaw_decode(says_b))
    )
    assert abs(relayed[0].start - (start + 0.011 + 0.02)) < 0.025
    room.close()
