"""A room on the SIP network: two legs whose peers hear each other, by RTP relayed between the
legs' own sessions (DESIGN.md, "Calls with many legs": media never goes through mailboxes).

Each leg keeps its RTP session, its stream (SSRC, sequence, timestamps) and its codec. What one
leg's session receives goes, through its `on_packet` tap, into the other leg's RelayBuffer
(media/relay.py: re-encoded only when the two codecs differ, RFC 4733 events passed on); the
other session sends it at its next 20 ms tick, so the relay adds at most one frame of delay.
What the engine plays to a leg (a whisper, a prompt) replaces the relay toward that leg while
it plays, and reaches no one else: the other leg keeps hearing this leg's peer.

`close()` stops the relay and nothing else: each leg stays up, with its session, until its own
call hangs it up. A leg that ended before or during the join simply stops taking part.
"""

from __future__ import annotations

import weakref

from switchboard.media.relay import RelayBuffer, route
from switchboard.media.rtp import RtpSession


class _Direction:
    """One way through the room: the source session's tap, feeding the target's relay.

    It holds the sessions weakly: a session's tap refers to its direction, so strong
    references would make a cycle through the two directions (A → B → A) that only the
    garbage collector could free if a room were dropped without being closed."""

    __slots__ = ("buffer", "source", "target")

    def __init__(self, source: RtpSession, target: RtpSession) -> None:
        self.source = weakref.ref(source)
        self.target = weakref.ref(target)
        self.buffer = RelayBuffer()

    def __call__(self, payload_type: int, timestamp: int, payload: bytes) -> None:
        source, target = self.source(), self.target()
        if source is None or target is None:
            return
        heard, to = source.remote, target.remote
        if heard is None or to is None:
            return
        # Looked up per packet (a dict hit in lru_cache): a re-INVITE may change either side.
        way = route(heard.dtmf_payload_type, to.codec, to.dtmf_payload_type)
        self.buffer.push(way, payload_type, timestamp, payload)


class SipRoom:
    """Two legs' media joined both ways (fewer when a leg is gone: then nothing is relayed)."""

    def __init__(self, leg_ids: tuple[str, ...], sessions: list[RtpSession]) -> None:
        self._leg_ids = leg_ids
        self._directions: list[_Direction] = []
        if len(sessions) != 2:
            return
        first, second = sessions
        for source, target in ((first, second), (second, first)):
            direction = _Direction(source, target)
            self._directions.append(direction)
            # The last room to join a leg relays to it (a call closes its old room first).
            source.on_packet = direction
            target.relay = direction.buffer

    @property
    def leg_ids(self) -> tuple[str, ...]:
        return self._leg_ids

    @property
    def dropped(self) -> int:
        """Samples of audio the relay could not send within a frame of their arrival."""
        return sum(direction.buffer.dropped for direction in self._directions)

    def close(self) -> None:
        for direction in self._directions:
            source, target = direction.source(), direction.target()
            if source is not None and source.on_packet is direction:
                source.on_packet = None
            if target is not None and target.relay is direction.buffer:
                target.relay = None
        self._directions = []
