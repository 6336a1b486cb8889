"""One call's RTP stream (RFC 3550): G.711 audio out at 20 ms, DTMF in and out.

An `RtpSession` is a UDP socket on an even port from the configured range. Once `start()` has
told it where the peer is, it sends one packet every 20 ms for as long as it is open: frames of
whatever is playing, silence otherwise (so NATs and peers that watch for RTP keep the call up).
Sending is paced by the loop's shared `MediaClock` (clock.py); receiving turns the peer's
telephone-events, or in-band tones when it offered none, into digits.

What plays is a "source" of frames; `play`, `silence` and `send_dtmf` replace the current one.
Sources are asked for a frame at each tick and report when they are exhausted, so `on_done` is
scheduled right after the last frame was sent (with call_soon: the callback may start the next
prompt, which then begins at the very next tick, with no gap).

In a room (network/sip_room.py) a session has a `relay`: while nothing plays, each tick sends
what the room relayed from the other leg instead of silence (media/relay.py), a frame ahead or
behind at times; what the engine plays takes the relay's place for as long as it plays. Every
packet the session receives also goes to its `on_packet` tap, which feeds the other leg's
relay.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
from collections.abc import Callable
from typing import ClassVar, Protocol, cast

from switchboard.media import dtmf, g711
from switchboard.media.clock import MediaClock
from switchboard.media.sdp import MediaDescription
from switchboard.media.stats import SendStats

FRAME_SAMPLES = 160
FRAME_BYTES = 2 * FRAME_SAMPLES  # of PCM16
PAUSE_FRAMES = {",": 25, "w": 25, "W": 50}  # SendDtmf pauses: 500 ms, 500 ms, 1 s
_HEADER = struct.Struct("!BBHII")
_VERSION_2 = 0x80

log = logging.getLogger(__name__)

# A frame: (is_event, first_of_event, payload); payload None means "a silence frame".
Frame = tuple[bool, bool, bytes | None]
_SILENT: Frame = (False, False, None)


class Relay(Protocol):
    """What a room relays to this session (media/relay.py's RelayBuffer)."""

    def tick(
        self, index: int, next_slot: int
    ) -> tuple[int, list[bytes | None], list[tuple[int, bytes]]]:
        """For tick `index`: the slot of the first frame to send, the frames (in this
        session's codec; None: silence), and telephone-event payloads as (their source's
        event timestamp, payload)."""
        ...

    def discard(self) -> None:
        """The engine's media plays instead: forget what was relayed meanwhile."""
        ...


# A received packet: (payload type, RTP timestamp, payload).
PacketTap = Callable[[int, int, bytes], None]


class Listener(Protocol):
    """Who listens to the session's audio (network/sip_tap.py): each audio packet received
    from the peer and each one sent, G.711 as on the wire. Called on the media paths, so it
    must only take note (no decoding, no callbacks)."""

    def heard(self, timestamp: int, payload: bytes) -> None: ...

    def sent(self, timestamp: int, payload: bytes) -> None: ...


class MediaPortsExhausted(OSError):
    """No even port of the RTP port range could be bound."""


class _Source:
    """Frames to send, in order; `done` once the last one was handed out."""

    done = False

    def next_frame(self, session: RtpSession) -> Frame:
        raise NotImplementedError


class _PcmSource(_Source):
    # Encoded frame by frame as it is sent (see g711.encode_samples): play() costs nothing up
    # front, and the codec need not be known yet (play() may come before start()). The PCM is
    # not copied: a cached prompt (tts.py) is one bytes object however many calls play it, so
    # an odd last byte is left out and the last frame padded with silence as it is taken.
    def __init__(self, pcm: bytes) -> None:
        self._pcm = pcm
        self._end = len(pcm) & ~1
        self._position = 0
        self.done = self._end == 0

    def next_frame(self, session: RtpSession) -> Frame:
        start = self._position
        end = self._position = start + FRAME_BYTES
        self.done = end >= self._end
        if start >= self._end:
            return _SILENT
        if end > self._end:  # the last, partial frame
            return (
                False,
                False,
                session.encode(self._pcm[start : self._end] + bytes(end - self._end)),
            )
        return (False, False, session.encode(self._pcm[start:end]))


class _SilenceSource(_Source):
    def __init__(self, frames: int) -> None:
        self._left = frames
        self.done = frames <= 0

    def next_frame(self, session: RtpSession) -> Frame:
        self._left -= 1
        self.done = self._left <= 0
        return _SILENT


class _DtmfSource(_Source):
    # Built on the first frame: whether digits go as RFC 4733 events or in-band tones depends
    # on what the peer's answer offered, which send_dtmf() may not know yet.
    def __init__(self, digits: str, tone_ms: float, interval_ms: float) -> None:
        self._digits = digits
        self._tone_ms = tone_ms
        self._interval_ms = interval_ms
        self._frames: list[Frame] | None = None
        self._inband: _PcmSource | None = None
        self._position = 0

    def next_frame(self, session: RtpSession) -> Frame:
        if self._frames is None and self._inband is None:
            if session.sends_events:
                self._frames = self._event_frames()
            else:
                self._inband = _PcmSource(self._tones())
        if self._inband is not None:
            frame = self._inband.next_frame(session)
            self.done = self._inband.done
            return frame
        assert self._frames is not None
        frame = self._frames[self._position] if self._position < len(self._frames) else _SILENT
        self._position += 1
        self.done = self._position >= len(self._frames)
        return frame

    def _event_frames(self) -> list[Frame]:
        frames: list[Frame] = []
        tone_frames = max(1, round(self._tone_ms / 20))
        gap = [_SILENT] * max(0, round(self._interval_ms / 20))
        for index, character in enumerate(self._digits):
            if character in PAUSE_FRAMES:
                frames.extend([_SILENT] * PAUSE_FRAMES[character])
                continue
            frames.extend(
                (True, first, payload)
                for first, payload in dtmf.event_packets(character, tone_frames)
            )
            if self._interval_follows(index):
                frames.extend(gap)
        return frames

    def _interval_follows(self, index: int) -> bool:
        """sendDtmf.mdx: each tone is followed by toneInterval, except that a pause (',', 'w',
        'W') takes the interval's place — the same timing as the simulated network's."""
        following = self._digits[index + 1 : index + 2]
        return following not in PAUSE_FRAMES

    def _tones(self) -> bytes:
        parts: list[bytes] = []
        for index, character in enumerate(self._digits):
            if character in PAUSE_FRAMES:
                parts.append(dtmf.silence(PAUSE_FRAMES[character] * 20))
                continue
            parts.append(dtmf.tone(character, self._tone_ms))
            if self._interval_follows(index):
                parts.append(dtmf.silence(self._interval_ms))
        return b"".join(parts)


def _check_digits(digits: str) -> None:
    for character in digits:
        if character not in PAUSE_FRAMES:
            dtmf.event_code(character)  # raises ValueError for anything that is not a key


class RtpSession(asyncio.DatagramProtocol):
    """One call's media: open on a free port, start towards the peer, play, send and hear DTMF."""

    _next_port: ClassVar[dict[tuple[str, int, int], int]] = {}

    local_port: int
    stats: SendStats

    def __init__(self, loop: asyncio.AbstractEventLoop, on_digit: Callable[[str], None]) -> None:
        self._loop = loop
        self._on_digit = on_digit
        self._transport: asyncio.DatagramTransport | None = None
        self._clock = MediaClock.of(loop)
        self._remote: MediaDescription | None = None
        self._remote_address: tuple[str, int] = ("", 0)
        self._started = False
        self._closed = False
        self.local_port = 0
        self.stats = SendStats()
        # RFC 3550 §5.1: random initial sequence number, timestamp and SSRC.
        self._ssrc = random.getrandbits(32)
        self._sequence = random.getrandbits(16)
        self._timestamp_base = random.getrandbits(32)
        self._first_tick = 0
        self._marker = True
        self._event_timestamp = 0
        self._payload_type = 0
        self._encode: Callable[[bytes], bytes] = g711.ulaw_encode
        self._decode: Callable[[bytes], bytes] = g711.ulaw_decode
        self._silence = bytes([g711.ULAW_SILENCE]) * FRAME_SAMPLES
        self._source: _Source | None = None
        self._on_done: Callable[[], None] | None = None
        self._events = dtmf.EventReceiver()
        self._tones: dtmf.ToneDetector | None = None
        # RTP packets received (any payload type, our own echo included) and when the last one
        # came (loop time): what a media-inactivity timeout would watch.
        self.packets_received = 0
        self._send_failed = False  # warned once per session
        self.last_received: float | None = None
        # A room's hooks: what to send when nothing plays, and who hears what we receive.
        self.relay: Relay | None = None
        self.on_packet: PacketTap | None = None
        self.listener: Listener | None = None  # taps (recordings): audio in and out
        # The next frame slot to send: a tick's own index, one more when a relayed frame went
        # a frame ahead, one less when it waited a tick (media/relay.py).
        self._next_slot = 0
        self._relayed_event: tuple[int, int] | None = None  # (source's, our) event timestamp

    # -- opening and closing -------------------------------------------------------------------

    @classmethod
    async def open(
        cls, host: str, port_range: tuple[int, int], on_digit: Callable[[str], None]
    ) -> RtpSession:
        """Bind a new session on `host` to the first free even port of `port_range` (inclusive).

        The search starts after the port handed out last, so that a busy server does not try
        every port in use before finding a free one, and a just-closed port is not reused at
        once (late packets of the old call would reach the new one).
        """
        loop = asyncio.get_running_loop()
        low, high = port_range
        first = low + (low & 1)
        ports = list(range(first, high + 1, 2))
        if not ports:
            raise MediaPortsExhausted(f"RTP port range {low}-{high} has no even port")
        key = (host, low, high)
        start = ports.index(cls._next_port[key]) if cls._next_port.get(key) in ports else 0
        for port in ports[start:] + ports[:start]:
            # Bind the socket ourselves: when the port is taken, uvloop's
            # create_datagram_endpoint(local_addr=...) can leave an unclosed transport behind.
            sock = socket.socket(
                socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM
            )
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                continue  # busy (another call, another program): try the next one
            sock.setblocking(False)
            _, protocol = await loop.create_datagram_endpoint(
                lambda: cls(loop, on_digit), sock=sock
            )
            protocol.local_port = port
            cls._next_port[key] = port + 2
            return protocol
        raise MediaPortsExhausted(f"no free even port in the RTP port range {low}-{high} on {host}")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's UDP transport is not a subclass of
        # asyncio.DatagramTransport, though it has its interface.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._clock.remove(self)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the peer's media may come up later; keep going.
        log.debug("RTP socket error on port %s: %s", self.local_port, exc)

    def close(self) -> None:
        """Stop sending and receiving and release the port. No on_done is called."""
        if self._closed:
            return
        self._closed = True
        self._source = None
        self._on_done = None
        self._clock.remove(self)
        if self._transport is not None:
            self._transport.close()

    # -- the peer ------------------------------------------------------------------------------

    def start(self, remote: MediaDescription) -> None:
        """Send to (and expect media from) the peer the SDP answer describes; may be called
        again when a re-INVITE moves the media: the stream (SSRC, sequence) continues."""
        if self._closed:
            return
        self._remote = remote
        self._remote_address = (remote.address, remote.port)
        self._payload_type = remote.payload_type
        self._encode = g711.encoder(remote.codec)
        self._decode = g711.decoder(remote.codec)
        self._silence = bytes([g711.silence_byte(remote.codec)]) * FRAME_SAMPLES
        self._tones = dtmf.ToneDetector() if remote.dtmf_payload_type is None else None
        if not self._started:
            self._started = True
            self._first_tick = self._clock.add(self)

    @property
    def remote(self) -> MediaDescription | None:
        """The peer's media, as its SDP says (None before start())."""
        return self._remote

    @property
    def sends_events(self) -> bool:
        """Whether digits go as RFC 4733 telephone-events (the peer offered them)."""
        return self._remote is not None and self._remote.dtmf_payload_type is not None

    def encode(self, pcm: bytes) -> bytes:
        """PCM16 in the negotiated codec."""
        return self._encode(pcm)

    # -- what plays ----------------------------------------------------------------------------

    def _replace(self, source: _Source, on_done: Callable[[], None] | None) -> None:
        if self._closed:
            return
        if source.done:  # nothing to send at all: done now, but never inside the caller
            self._source, self._on_done = None, None
            if on_done is not None:
                self._loop.call_soon(on_done)
            return
        self._source, self._on_done = source, on_done

    def play(self, pcm: bytes, on_done: Callable[[], None]) -> None:
        """Play PCM16 8 kHz mono from the next frame on, replacing whatever played (whose
        on_done is then never called); `on_done` runs once its last frame was sent."""
        self._replace(_PcmSource(pcm) if len(pcm) >= 2 else _SilenceSource(0), on_done)

    def silence(self, seconds: float, on_done: Callable[[], None]) -> None:
        """Send silence frames for `seconds` (Pause, Ring), then call `on_done`."""
        self._replace(_SilenceSource(round(seconds / 0.02)), on_done)

    def send_dtmf(
        self, digits: str, tone_ms: float, interval_ms: float, on_done: Callable[[], None]
    ) -> None:
        """Send `digits` (0-9 * # A-D; ',' and 'w' pause 500 ms, 'W' 1 s) as RFC 4733 events
        when the peer offered telephone-event, else as in-band tones."""
        _check_digits(digits)
        source: _Source = _DtmfSource(digits, tone_ms, interval_ms) if digits else _SilenceSource(0)
        self._replace(source, on_done)

    def stop(self) -> None:
        """Cut what plays short (no on_done for it); silence frames go on."""
        self._source, self._on_done = None, None

    # -- sending, driven by the media clock -----------------------------------------------------

    def tick(self, index: int, deadline: float) -> None:
        transport = self._transport
        if transport is None or self._closed:
            return
        source = self._source
        relay = self.relay
        if relay is not None:
            if source is None:
                self._relay_tick(transport, relay, index, deadline)
                return
            relay.discard()  # the engine's media replaces the relay toward this leg
        slot = max(index, self._next_slot)
        self._next_slot = slot + 1
        is_event, first, payload = _SILENT if source is None else source.next_frame(self)
        timestamp = self._slot_timestamp(slot)
        if is_event:
            # RFC 4733 §2.3.1: every packet of an event carries the timestamp of its start.
            if first:
                self._event_timestamp = timestamp
            self._send(transport, True, first, self._event_timestamp, payload)
        else:
            self._send(transport, False, False, timestamp, payload)
        self._sent(deadline)
        if source is not None and source.done and source is self._source:
            on_done = self._on_done
            self._source, self._on_done = None, None
            if on_done is not None:
                self._loop.call_soon(on_done)

    def _relay_tick(
        self, transport: asyncio.DatagramTransport, relay: Relay, index: int, deadline: float
    ) -> None:
        """Send what the room relayed: usually this tick's frame; sometimes the next one too
        (a frame ahead), or none (a frame went ahead last time, or this one waits a tick for
        the rest of a packet). media/relay.py decides; the stream's slots stay consecutive."""
        slot, frames, events = relay.tick(index, self._next_slot)
        for payload in frames:
            self._send(transport, False, False, self._slot_timestamp(slot), payload)
            slot += 1
            self._sent(deadline)
        self._next_slot = slot
        if not self.sends_events:
            return  # (the relay turns events into tones for a peer without them)
        for source_timestamp, payload in events:
            relayed = self._relayed_event
            if relayed is None or relayed[0] != source_timestamp:
                # RFC 4733: the event's timestamp is when it began on this stream: now.
                relayed = self._relayed_event = (source_timestamp, self._slot_timestamp(index))
                self._send(transport, True, True, relayed[1], payload)
            else:
                self._send(transport, True, False, relayed[1], payload)
            self._sent(deadline)

    def _slot_timestamp(self, slot: int) -> int:
        return (self._timestamp_base + (slot - self._first_tick) * FRAME_SAMPLES) & 0xFFFFFFFF

    def _send(
        self,
        transport: asyncio.DatagramTransport,
        is_event: bool,
        first: bool,
        timestamp: int,
        payload: bytes | None,
    ) -> None:
        if is_event:
            second = (0x80 if first else 0) | self._dtmf_payload_type()
        else:
            second = (0x80 if self._marker else 0) | self._payload_type
            self._marker = False
        header = _HEADER.pack(_VERSION_2, second, self._sequence, timestamp, self._ssrc)
        try:
            transport.sendto(header + (payload or self._silence), self._remote_address)
            if payload is not None and not is_event and self.listener is not None:
                self.listener.sent(timestamp, payload)  # (silence frames: gaps are silence)
        except (OSError, ValueError) as error:
            # A frame that can't be sent (no route, a peer address the socket can't reach) is
            # lost, as on any network; the stream's timing and the verb's end go on.
            if not self._send_failed:
                self._send_failed = True
                log.warning("RTP to %s fails: %s", self._remote_address, error)
        self._sequence = (self._sequence + 1) & 0xFFFF

    def _sent(self, deadline: float) -> None:
        lateness = self._loop.time() - deadline
        self.stats.record(lateness)
        self._clock.stats.record(lateness)

    def skipped(self) -> None:
        self._marker = True

    def _dtmf_payload_type(self) -> int:
        remote = self._remote
        assert remote is not None and remote.dtmf_payload_type is not None
        return remote.dtmf_payload_type

    # -- receiving -----------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        remote = self._remote
        if remote is None or len(data) < 12 or data[0] & 0xC0 != _VERSION_2:
            return
        first, second, _, timestamp, ssrc = _HEADER.unpack_from(data)
        self.packets_received += 1
        self.last_received = self._loop.time()
        if ssrc == self._ssrc:
            return  # our own packets, echoed back (sipp -rtp_echo does this)
        offset = 12 + 4 * (first & 0x0F)  # CSRC list
        if first & 0x10:  # header extension: 4-byte header whose second half counts words
            if len(data) < offset + 4:
                return
            offset += 4 + 4 * int.from_bytes(data[offset + 2 : offset + 4], "big")
        end = len(data) - (data[-1] if first & 0x20 else 0)  # padding
        if end <= offset:
            return
        payload_type = second & 0x7F
        payload = data[offset:end]
        tap = self.on_packet
        if tap is not None:
            tap(payload_type, timestamp, payload)
        listener = self.listener
        if listener is not None and payload_type == remote.payload_type:
            listener.heard(timestamp, payload)
        if payload_type == remote.dtmf_payload_type:
            digits = self._events.feed(timestamp, payload)
        elif payload_type == remote.payload_type and self._tones is not None:
            digits = self._tones.feed(self._decode(payload))
        else:
            return  # comfort noise, another codec, or audio we need not listen to
        for digit in digits:
            try:
                self._on_digit(digit)
            except Exception:
                log.exception("on_digit callback failed")
