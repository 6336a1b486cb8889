"""Taps on a SIP leg (network/base.py `Tap`): the leg's audio both ways, and when its far end
spoke, for recordings (and later streams, transcription, AMD).

The RTP session (media/rtp.py) hands its `listener` every audio packet it receives from the
peer (`heard`) and every audio packet it sends (`sent`: speech, files, tones, ringback, and in
a room what was relayed from the other leg). Those two calls only append to a list: nothing is
decoded, and no one is called, on the paths that receive and send media, so a tap adds no delay
to the relay or to sending. Every FLUSH_SECONDS a timer decodes what was gathered (G.711 to
PCM16), places it on the engine's clock, runs the voice activity detector (media/vad.py) on
what the far end sent, and gives each open tap its `Audio` and `Voice` pieces, in time order;
closing a tap does the same first, so a recording stopped now ends with what was just heard.

Placing audio on the clock: each packet's RTP timestamp says where its samples belong in its
stream; the first packet anchors the stream to the loop's clock when it arrived (or was sent),
and the following ones are placed from their timestamps, so network jitter neither gaps nor
overlaps the audio. When a packet lands too far from where its timestamp puts it (a stream
that restarted, a peer whose clock drifts, a process that stalled), the stream is anchored
again there.

Times are taken from the loop's clock and moved to the engine's monotonic clock by the offset
between the two when the first tap opened: the SIP network runs in real time, where the
engine's clock is the loop's from some origin.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable

from switchboard.media import g711
from switchboard.media.rtp import RtpSession
from switchboard.media.vad import EnergyVad
from switchboard.network.base import SAMPLE_RATE, Audio, TapSink, Track, Voice

FLUSH_SECONDS = 0.1
# How far a packet may land from where its timestamp places it before the stream is anchored
# again: more than a jitter buffer would absorb, less than anyone would hear as a shift.
MAX_DRIFT = 0.12

log = logging.getLogger(__name__)

# (loop time it arrived or was sent, RTP timestamp, G.711 payload)
_Packet = tuple[float, int, bytes]


class _Timeline:
    """Where one stream's packets lie on the loop's clock, from their RTP timestamps."""

    __slots__ = ("_anchor", "_arrived_at_end", "_base")

    def __init__(self, arrived_at_end: bool) -> None:
        self._anchor: float | None = None
        self._base = 0
        # A received packet arrives once its last sample was spoken; a sent one starts
        # sounding when it is sent.
        self._arrived_at_end = arrived_at_end

    def place(self, when: float, timestamp: int, samples: int) -> float:
        lead = samples / SAMPLE_RATE if self._arrived_at_end else 0.0
        if self._anchor is not None:
            offset = (timestamp - self._base) & 0xFFFFFFFF
            if offset >= 1 << 31:
                offset -= 1 << 32
            start = self._anchor + offset / SAMPLE_RATE
            if abs(start + lead - when) <= MAX_DRIFT:
                return start
        self._anchor, self._base = when - lead, timestamp
        return self._anchor


class SipTap:
    """One listener's tap (network/base.py Tap). Closing it delivers what the leg heard up to
    then first (inside close(), as the simulated network's taps do)."""

    def __init__(self, audio: LegAudio | None, sink: TapSink) -> None:
        self._audio = audio
        self.sink = sink

    @property
    def closed(self) -> bool:
        return self._audio is None

    def close(self) -> None:
        audio = self._audio
        if audio is not None:
            audio.remove(self)  # (delivers to this tap too: it is open until that is done)
            self._audio = None


class LegAudio:
    """A leg's audio for its taps: the RTP session's `listener` while any tap is open."""

    def __init__(
        self,
        session: RtpSession,
        loop: asyncio.AbstractEventLoop,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        # Weakly: the session holds this as its listener, and a cycle would outlive a leg
        # dropped without closing (as SipRoom does).
        self._session = weakref.ref(session)
        self._loop = loop
        self._taps: list[SipTap] = []
        self._heard: list[_Packet] = []
        self._sent: list[_Packet] = []
        self._inbound = _Timeline(arrived_at_end=True)
        self._outbound = _Timeline(arrived_at_end=False)
        self._vad = EnergyVad()
        self._heard_until = 0.0  # the end of the last inbound audio given to the VAD
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._flushing = False  # a sink that closes a tap while it is called
        # Loop time + offset = engine time.
        self._offset = 0.0 if monotonic is None else monotonic() - loop.time()

    # -- the session's hot paths: append only --------------------------------------------------
    def heard(self, timestamp: int, payload: bytes) -> None:
        self._heard.append((self._loop.time(), timestamp, payload))

    def sent(self, timestamp: int, payload: bytes) -> None:
        self._sent.append((self._loop.time(), timestamp, payload))

    # -- taps ------------------------------------------------------------------------------------
    def add(self, sink: TapSink) -> SipTap:
        session = self._session()
        if session is None:
            return SipTap(None, sink)
        if self._taps:
            self._flush()  # what was gathered before this tap opened is not its audio
        else:
            self._heard.clear()
            self._sent.clear()
            session.listener = self
            self._timer = self._loop.call_later(FLUSH_SECONDS, self._tick)
        tap = SipTap(self, sink)
        self._taps.append(tap)
        return tap

    def remove(self, tap: SipTap) -> None:
        if tap in self._taps and not self._flushing:
            # What was heard up to now is delivered first, here, as the simulated network's
            # taps do: a recording stopped now holds its last 100 ms too.
            self._flush()
        if tap in self._taps:  # (a sink may have closed it meanwhile)
            self._taps.remove(tap)
        if not self._taps:
            self._detach()

    def end(self) -> None:
        """The leg ended: what was gathered is delivered, then every tap is closed. Soon, not
        now: the engine may be ending the leg itself, and a sink is never called inside it."""
        if not self._taps:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_soon(self._finish)

    def _finish(self) -> None:
        self._timer = None
        self._flush(final=True)
        for tap in list(self._taps):
            tap.close()

    def _detach(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        session = self._session()
        if session is not None and session.listener is self:
            session.listener = None
        self._heard.clear()
        self._sent.clear()

    # -- delivering ------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._timer = None
        self._flush()
        if self._taps:
            self._timer = self._loop.call_later(FLUSH_SECONDS, self._tick)

    def _flush(self, final: bool = False) -> None:
        self._flushing = True
        try:
            self._deliver(final)
        finally:
            self._flushing = False

    def _deliver(self, final: bool) -> None:
        session = self._session()
        heard, sent = self._heard, self._sent
        self._heard, self._sent = [], []
        if session is None or session.remote is None:
            return
        decode = g711.decoder(session.remote.codec)
        pieces = _pieces("inbound", heard, self._inbound, decode, self._offset)
        voices: list[Voice] = []
        for piece in pieces:
            for start, end, _ in self._vad.feed(piece.start, piece.pcm):
                voices.append(Voice("inbound", start, end, None))
            self._heard_until = piece.start + piece.seconds
        if final:
            now = self._loop.time() + self._offset
            for start, end, _ in self._vad.finish(max(self._heard_until, now)):
                voices.append(Voice("inbound", start, end, None))
        pieces.extend(_pieces("outbound", sent, self._outbound, decode, self._offset))
        pieces.sort(key=lambda piece: piece.start)
        items: list[Audio | Voice] = [*pieces, *voices]
        for tap in list(self._taps):
            for item in items:
                if tap.closed:
                    break
                try:
                    tap.sink(item)
                except Exception:  # one broken listener must not starve the others
                    log.exception("a tap's sink failed; the tap is closed")
                    tap.close()


def _pieces(
    track: Track,
    packets: list[_Packet],
    timeline: _Timeline,
    decode: Callable[[bytes], bytes],
    offset: float,
) -> list[Audio]:
    """Packets as Audio, the ones that follow each other without a gap joined into one."""
    pieces: list[Audio] = []
    parts: list[bytes] = []
    start = end = 0.0
    for when, timestamp, payload in packets:
        at = timeline.place(when, timestamp, len(payload)) + offset
        if parts and abs(at - end) > 1e-6:
            pieces.append(Audio(track, start, b"".join(parts)))
            parts = []
        if not parts:
            start = at
        parts.append(decode(payload))
        end = at + len(payload) / SAMPLE_RATE
    if parts:
        pieces.append(Audio(track, start, b"".join(parts)))
    return pieces
