"""The media clock: one timer per event loop that sends the 20 ms frames of every RTP session.

Why one shared timer rather than one per session: with per-session timers every frame is a
separate timer callback and wake-up; sharing them measured about 40% less CPU a frame (8 µs
against 12-16 µs, sendto included, uvloop, this 2-core machine). But a single 20 ms tick sends
every session's frame in one burst, and the last session of a burst is late by the burst's
length (about 4 ms with 500 sessions). So the 20 ms are split into PHASES slots: the clock
wakes every 20/PHASES ms and drives the sessions of one slot, new sessions joining the least
busy slot. Bursts are PHASES times shorter, the wake-ups still few and shared.

Ticks are on absolute deadlines, origin + n × 20/PHASES ms, scheduled with `loop.call_at`, so the
schedule never drifts however late a callback runs. When the loop was late by more than a frame
the missed ticks are sent at once (catch-up), up to MAX_CATCH_UP frames of them: a receiver's
jitter buffer absorbs a short burst, and the stream's timing is preserved. Past that (the process
was stalled: suspended, swapping), the older ticks are skipped: a burst of seconds of audio
would overflow any jitter buffer. Skipped ticks show as a jump in the RTP timestamp with no gap
in sequence numbers, which is how RTP says "nothing was sent for this time" (RFC 3550 §5.1),
and the next packet carries the marker bit so the receiver resynchronises.

The clock also keeps the send-time statistics of all its sessions together (`stats`, which
every RTP session records into besides its own) and counts skipped ticks: /metrics shows them.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import ClassVar, Protocol

from switchboard.media.stats import SendStats

FRAME_SECONDS = 0.02
PHASES = 4  # slots a frame: the clock wakes every 5 ms
SUB_TICK_SECONDS = FRAME_SECONDS / PHASES
MAX_CATCH_UP = 5  # frames (100 ms) sent in one burst before older ones are skipped
# asyncio may run a timer up to its clock resolution early; don't count that as "not yet due".
_EARLY_TOLERANCE = 1e-4

log = logging.getLogger(__name__)


class Ticking(Protocol):
    def tick(self, index: int, deadline: float) -> None:
        """Send the frame for tick `index`, whose ideal send time was `deadline`."""
        ...

    def skipped(self) -> None:
        """Ticks were skipped; the next packet starts a new talkspurt."""
        ...


class MediaClock:
    """Drives every registered session once per 20 ms, on absolute deadlines, in phase slots."""

    _clocks: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaClock]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # One insertion-ordered set of sessions a phase slot, and the slot of each session.
        self._slots: list[dict[Ticking, None]] = [{} for _ in range(PHASES)]
        self._slot_of: dict[Ticking, int] = {}
        self._origin = 0.0
        self._next = 0  # the next sub-tick; frame n of slot k is sub-tick n * PHASES + k
        self._handle: asyncio.TimerHandle | None = None
        self.ticks_skipped = 0
        self.stats = SendStats()  # every session's packets, recorded by the sessions (rtp.py)

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> MediaClock:
        clock = cls._clocks.get(loop)
        if clock is None:
            clock = cls._clocks[loop] = cls(loop)
        return clock

    def __len__(self) -> int:
        return len(self._slot_of)

    def add(self, session: Ticking) -> int:
        """Register `session`; returns the index of the first frame it will be driven at."""
        if session in self._slot_of:
            raise ValueError("session is already on the media clock")
        if self._handle is None:
            self._origin = self._loop.time()
            self._next = 0
            self._handle = self._loop.call_at(self._origin, self._run)
        slot = min(range(PHASES), key=lambda index: len(self._slots[index]))
        self._slots[slot][session] = None
        self._slot_of[session] = slot
        first = self._next + (slot - self._next) % PHASES
        return first // PHASES

    def remove(self, session: Ticking) -> None:
        slot = self._slot_of.pop(session, None)
        if slot is not None:
            del self._slots[slot][session]
        if not self._slot_of and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        now = self._loop.time()
        due = int((now - self._origin + _EARLY_TOLERANCE) / SUB_TICK_SECONDS)
        if due - self._next >= MAX_CATCH_UP * PHASES:
            skip = due - self._next - MAX_CATCH_UP * PHASES + 1
            self._next += skip
            self.ticks_skipped += skip
            for session in list(self._slot_of):
                session.skipped()
        while self._next <= due:
            sub_tick = self._next
            deadline = self._origin + sub_tick * SUB_TICK_SECONDS
            frame = sub_tick // PHASES
            for session in list(self._slots[sub_tick % PHASES]):
                try:
                    session.tick(frame, deadline)
                except Exception:  # one broken session must not stop the others' media
                    log.exception("media tick failed; removing the session from the clock")
                    self.remove(session)
            self._next += 1
        if self._slot_of:
            when = self._origin + self._next * SUB_TICK_SECONDS
            self._handle = self._loop.call_at(when, self._run)
        else:
            self._handle = None
