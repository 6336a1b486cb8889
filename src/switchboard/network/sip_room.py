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

from switchboard.media.relay import RelayBuffer, route
from switchboard.media.rtp import RtpSession


class _Direction:
    """One way through the room: the source session's tap, feeding the target's relay."""

    __slots__ = ("buffer", "source", "target")

    def __init__(self, source: RtpSession, target: RtpSession) -> None:
        self.source = source
        self.target = target
        self.buffer = RelayBuffer()

    def __call__(self, payload_type: int, timestamp: int, payload: bytes) -> None:
        heard, to = self.source.remote, self.target.remote
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
        if len(sessions) == 2:
            first, second = sessions
            self._directions = [_Direction(first, second), _Direction(second, first)]
        for direction in self._directions:
            # The last room to join a leg relays to it (a call closes its old room first).
            direction.source.on_packet = direction
            direction.target.relay = direction.buffer

    @property
    def leg_ids(self) -> tuple[str, ...]:
        return self._leg_ids

    @property
    def dropped(self) -> int:
        """Samples of audio the relay could not send within a frame of their arrival."""
        return sum(direction.buffer.dropped for direction in self._directions)

    def close(self) -> None:
        for direction in self._directions:
            if direction.source.on_packet is direction:
                direction.source.on_packet = None
            if direction.target.relay is direction.buffer:
                direction.target.relay = None
        self._directions = []
