"""The pure core of a room's RTP relay (network/sip_room.py does the wiring): how a packet one
leg received becomes frames and events the other leg sends, and when.

Each direction of a room (leg A's peer → leg B's peer) has a `RelayBuffer`. What A's session
receives is classified by `Route` (built once per combination of codecs and telephone-event
payload types):

- G.711 audio (static payload types 0 and 8, whatever was negotiated) goes into the buffer in
  B's codec: unchanged when both use the same one, else through a 256-byte table
  (`bytes.translate`, the whole PCMU⇄PCMA conversion at C speed).
- RFC 4733 telephone-events are queued as they are: B's session sends them with its own payload
  type, sequence and an event timestamp on its own timeline. If B's peer did not offer
  telephone-event, the digit is played to it as an in-band dual tone instead (its audio then
  replaces what is relayed, for the key's duration).
- Anything else (comfort noise, a codec we don't know) is not relayed.

B's session takes from the buffer at each of its own 20 ms ticks (rtp.py), so relayed audio
keeps B's stream, sequence numbers and timestamps, and what the engine plays to B simply takes
the relay's place. The delay a relay adds is the wait for B's next tick: at most one frame.
Two peers' clocks are never in step, though, so a packet now and then arrives just after the
tick it was meant for. Holding audio back a frame (a jitter buffer) would double the delay,
and dropping or padding would cut the sound; instead B's stream may run a frame off its clock
either way, its slots (timestamps) staying consecutive:
- behind: a tick that finds no whole frame while audio is coming (a packet came since the
  last tick, or the one due is late) sends nothing, and its slot goes at the next tick with
  whatever arrived; a slot that waited once is then filled with silence if still nothing came;
- ahead: a tick that finds two frames sends both, the second stamped one frame early; the
  next tick with nothing to send is then simply skipped.
Every frame still leaves at the first tick after its audio arrived. Audio that cannot go that
soon (a peer sending faster than real time, a burst after a stall) is dropped, oldest first.
A peer sending other than 20 ms packets (sipp's pcaps are 30 ms) is cut into 20 ms frames; the
part of a packet that does not fill a frame waits for the next packet, so only packets longer
than 40 ms wait more than a frame (they cannot be sent sooner than they are complete).
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass

from switchboard.media import dtmf, g711
from switchboard.media.g711 import Codec

FRAME_SAMPLES = 160  # 20 ms at 8 kHz; G.711 is one byte a sample
MAX_FRAMES_AHEAD = 1  # a target's stream may run this many frames ahead of its clock
MAX_FRAMES_BEHIND = 1  # or behind, waiting for the rest of a frame (packets of 30 ms...)
MAX_PACKET = 3 * FRAME_SAMPLES  # packets above 60 ms count as 60 ms (RFC 3551 suggests ≤ 200)
MAX_KEPT = 2 * MAX_PACKET  # audio held at most when nothing takes it (a tick is due soon)
MAX_EVENT_PACKETS = 16  # queued between two ticks; a peer sends one or a few a frame
_STATIC_AUDIO: dict[int, Codec] = {0: "PCMU", 8: "PCMA"}
_TONE_SECONDS = 1  # every DTMF frequency is a whole number of Hz: a 1 s tone loops seamlessly
_UNENDED_GRACE = 3 * FRAME_SAMPLES  # a tone whose end packets were all lost stops this soon
_MAX_TONE = 10 * dtmf.SAMPLE_RATE  # and a key is never held longer than this


def transcoding_table(source: Codec, target: Codec) -> bytes | None:
    """The `bytes.translate` table from one G.711 law to the other; None when they are the
    same (the payload is relayed as it is)."""
    if source == target:
        return None
    table = g711.encoder(target)(g711.decoder(source)(bytes(range(256))))
    assert len(table) == 256
    return table


@dataclass(frozen=True, slots=True)
class Route:
    """How one direction of a room treats each packet its source leg receives."""

    audio: dict[int, bytes | None]  # payload type -> transcoding table (None: as it is)
    source_events: frozenset[int]  # payload types that are RFC 4733 telephone-events
    target_codec: Codec
    target_events: int | None  # the target's telephone-event type; None: send tones


@functools.lru_cache(maxsize=64)
def route(source_events: int | None, target_codec: Codec, target_events: int | None) -> Route:
    """The route from a leg whose peer sends telephone-events as `source_events` to a leg
    whose peer takes `target_codec` (and events as `target_events`, None: no events)."""
    events = {dtmf_type for dtmf_type in (source_events,) if dtmf_type is not None}
    audio = {
        payload_type: transcoding_table(codec, target_codec)
        for payload_type, codec in _STATIC_AUDIO.items()
        if payload_type not in events
    }
    return Route(audio, frozenset(events), target_codec, target_events)


class _Tone:
    """A key played as in-band tone to a peer without telephone-events, for as long as the
    source's event packets say it is held."""

    def __init__(self, digit: str, duration: int) -> None:
        self.pcm = _tone_pcm(digit)
        self.position = 0  # samples played
        self.duration = duration  # as the latest event packet says
        self.ended = False

    def heard(self, duration: int, end: bool) -> None:
        self.duration = max(self.duration, duration)
        self.ended = self.ended or end

    @property
    def over(self) -> bool:
        limit = self.duration if self.ended else self.duration + _UNENDED_GRACE
        return self.position >= min(limit, _MAX_TONE)

    def frame(self) -> bytes:
        """The next 20 ms of the tone (PCM16), looping the cached second."""
        start = (self.position * 2) % len(self.pcm)
        self.position += FRAME_SAMPLES
        return self.pcm[start : start + 2 * FRAME_SAMPLES]


@functools.lru_cache(maxsize=16)
def _tone_pcm(digit: str) -> bytes:
    return dtmf.tone(digit, _TONE_SECONDS * 1000)


class RelayBuffer:
    """One direction of a room: packets in (`push`, as the source leg receives them), frames
    and events out (`take`, at each tick of the target leg's session)."""

    def __init__(self) -> None:
        self._audio = bytearray()
        self._events: list[tuple[int, bytes]] = []
        self._event_timestamp: int | None = None  # the source's event being relayed
        self._past_events: deque[int] = deque(maxlen=8)  # its earlier ones: late copies
        self._tone: _Tone | None = None
        self._encode = g711.encoder("PCMU")
        self._packet = FRAME_SAMPLES  # the most audio one packet of the source held
        self._quiet_ticks = MAX_PACKET  # ticks since audio last came (none yet: many)
        self.dropped = 0  # samples of audio that could not be sent within a frame

    def push(self, route: Route, payload_type: int, timestamp: int, payload: bytes) -> None:
        """A packet the source leg received (its RTP payload type, timestamp and payload)."""
        if payload_type in route.audio:
            table = route.audio[payload_type]
            if self._tone is None:  # while a key's tone plays, it replaces the audio
                self._packet = max(self._packet, min(len(payload), MAX_PACKET))
                self._quiet_ticks = 0
                self._audio += payload if table is None else payload.translate(table)
                if len(self._audio) > MAX_KEPT:  # the target's ticks stopped (its leg ended)
                    self.dropped += len(self._audio) - MAX_KEPT
                    del self._audio[: len(self._audio) - MAX_KEPT]
        elif payload_type in route.source_events:
            self._event(route, timestamp, payload)

    def _event(self, route: Route, timestamp: int, payload: bytes) -> None:
        event = dtmf.decode_event(payload)
        if event is None or timestamp in self._past_events:
            return  # not an event, or a late copy of one already over
        first = timestamp != self._event_timestamp
        if first:
            if self._event_timestamp is not None:
                self._past_events.append(self._event_timestamp)
            self._event_timestamp = timestamp
        if route.target_events is not None:
            if len(self._events) < MAX_EVENT_PACKETS:
                self._events.append((timestamp, payload))
            return
        digit = event.digit  # the target takes no events: play the key as a tone
        if digit is None:
            return
        tone = self._tone
        if first:
            self._encode = g711.encoder(route.target_codec)
            tone = self._tone = _Tone(digit, event.duration)
            self._audio.clear()
        if tone is not None:  # else this key's tone has played out already
            tone.heard(event.duration, event.end)

    def tick(
        self, index: int, next_slot: int
    ) -> tuple[int, list[bytes | None], list[tuple[int, bytes]]]:
        """What the target's session sends at its tick `index`, given the next frame slot it
        has not sent (`index`, one more when it went a frame ahead, one less when it waited):
        the slot of the first frame, the frames for it and the slots after (in the target's
        codec; None: silence), and the event packets received since the last tick as (the
        source's event timestamp, payload)."""
        slot = max(next_slot, index - MAX_FRAMES_BEHIND)
        events, self._events = self._events, []
        tone = self._tone
        if tone is not None:
            frame = self._encode(tone.frame())
            if tone.over:
                self._tone = None
            return max(slot, index), [frame], events
        frames: list[bytes | None] = []
        frames += self._take(index + 1 + MAX_FRAMES_AHEAD - slot)
        # Audio was coming (a packet since the last tick but not a whole frame, or the one
        # for this frame is late): this slot may wait a tick for it, since waiting delays no
        # audio beyond the next tick after its arrival. Once a frame waited, or the source
        # went quiet, silence fills the slot.
        expecting = bool(self._audio) or self._quiet_ticks <= -(-self._packet // FRAME_SAMPLES)
        self._quiet_ticks += 1
        if not frames:
            if slot < index:
                frames.append(None)  # waited a frame for audio that did not come
                if not expecting:
                    frames.append(None)  # and this frame's slot, so as to be on time again
            elif slot == index and not expecting:
                frames.append(None)
        return slot, frames, events

    def _take(self, frames: int) -> list[bytes]:
        """Up to `frames` whole frames, oldest first. Audio that could not be sent within a
        frame of its arrival is dropped, oldest first; only the part of a big packet that
        cannot fill this tick's frames is kept for the next (`_carry`)."""
        audio = self._audio
        excess = len(audio) - (frames * FRAME_SAMPLES + self._carry())
        if excess > 0:
            excess = -(-excess // FRAME_SAMPLES) * FRAME_SAMPLES  # whole frames, so that the
            self.dropped += excess  # frames sent stay the peer's own 20 ms, not shifted ones
            del audio[:excess]
        whole = min(frames, len(audio) // FRAME_SAMPLES)
        out = [bytes(audio[n * FRAME_SAMPLES : (n + 1) * FRAME_SAMPLES]) for n in range(whole)]
        del audio[: whole * FRAME_SAMPLES]
        return out

    def _carry(self) -> int:
        """How much audio may wait for a later tick: less than a frame (what a packet left
        that does not fill one) for 20 and 30 ms packets; for bigger packets, what one
        packet holds beyond a frame, or their audio could never all be sent."""
        return max(FRAME_SAMPLES - 1, self._packet - FRAME_SAMPLES)

    def discard(self) -> None:
        """The target leg plays the engine's media: what was relayed meanwhile is not heard."""
        self._audio.clear()
        self._events.clear()
        self._tone = None
