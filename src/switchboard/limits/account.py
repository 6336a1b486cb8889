"""One account's limits as a pure, O(1) decision: start a new call now, queue it, or refuse it.

Bandwidth (rateLimits.mdx, callQueueingGuide.mdx): 5 calls per second and 100 concurrent calls
by default. With the outbound queue on, calls over the rate are accepted as `queued`, up to
five minutes' worth (CPS x 300), and dequeued at the account's rate in priority order (1 first),
first-in first-out within a priority. Over the concurrent limit (active calls), or with a full
queue, 429; queued calls also wait for a free place under the concurrent limit.

The rate is a sliding window: no window of one second ever holds more than CPS starts ("5
calls will be processed every second"), so 15 calls made at once start 5, 5 and 5 a second
apart. A fractional rate generalises it: at most ceil(CPS) starts in any ceil(CPS)/CPS seconds
(0.5 CPS: one call every 2 s). A token bucket would let twice the rate through in the first
second (a full bucket, then its refill).

Time is passed in (seconds on the engine's clock); nothing here reads a clock or does IO.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

RATE_LIMITED = "Account call creation rate limit exceeded"
CONCURRENCY_LIMITED = "Account concurrent call limit exceeded"
QUEUE_SECONDS = 300
_EPSILON = 1e-9  # forgive float rounding in the sums of clock times


@dataclass(frozen=True, slots=True)
class LimitSettings:
    calls_per_second: float = 5.0
    concurrent_calls: int = 100
    queue_enabled: bool = True

    @property
    def max_queue_size(self) -> int:
        if not self.queue_enabled:
            return 0
        return int(self.calls_per_second * QUEUE_SECONDS + _EPSILON)

    @property
    def burst(self) -> int:
        """How many calls may start in one window (ceil(CPS), at least 1)."""
        return max(1, math.ceil(self.calls_per_second - _EPSILON))

    @property
    def window(self) -> float:
        """The window, in seconds, that may hold `burst` starts: 1 s for a whole CPS."""
        return self.burst / self.calls_per_second


class Decision(Enum):
    START = "start"
    QUEUE = "queue"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Admission:
    decision: Decision
    reason: str | None = None
    retry_after: float = 0.0


@dataclass
class AccountLimiter:
    settings: LimitSettings
    active: set[str] = field(default_factory=set)
    _queue: list[tuple[int, int, str]] = field(default_factory=list)
    _queued: set[str] = field(default_factory=set)
    _sequence: itertools.count[int] = field(default_factory=itertools.count)
    # When the latest `burst` calls started, oldest first (the sliding window's log).
    _starts: deque[float] = field(default_factory=deque)

    @property
    def queue_size(self) -> int:
        return len(self._queued)

    def _seconds_until_start(self, now: float) -> float:
        """How long until the rate lets one more call start (0: now)."""
        burst = self.settings.burst
        if self._starts.maxlen != burst:  # the settings changed: keep the latest starts
            self._starts = deque(self._starts, maxlen=burst)
        window = self.settings.window
        starts = self._starts
        while starts and starts[0] + window - now <= _EPSILON:
            starts.popleft()  # out of the window (keeps the log small under a huge CPS)
        if len(starts) < burst:
            return 0.0
        return starts[0] + window - now

    def _start(self, now: float, call_id: str) -> None:
        self._starts.append(now)
        self.active.add(call_id)

    def admit(self, now: float, call_id: str, priority: int) -> Admission:
        """Decide for a new call. START and QUEUE reserve its place; REJECT changes nothing."""
        if len(self.active) >= self.settings.concurrent_calls:
            return Admission(Decision.REJECT, CONCURRENCY_LIMITED, 1.0)
        wait = self._seconds_until_start(now)
        if not self._queued and wait == 0.0:
            self._start(now, call_id)
            return Admission(Decision.START)
        if self.queue_size < self.settings.max_queue_size:
            heapq.heappush(self._queue, (priority, next(self._sequence), call_id))
            self._queued.add(call_id)
            return Admission(Decision.QUEUE)
        return Admission(Decision.REJECT, RATE_LIMITED, max(1.0, wait))

    def admit_now(self, now: float, call_id: str) -> Admission:
        """Decide for an inbound call: it starts now or is refused, never queued (the queue is
        for outbound calls; rateLimits.mdx counts both against the rate)."""
        if len(self.active) >= self.settings.concurrent_calls:
            return Admission(Decision.REJECT, CONCURRENCY_LIMITED, 1.0)
        wait = self._seconds_until_start(now)
        if wait > 0.0:
            return Admission(Decision.REJECT, RATE_LIMITED, max(1.0, wait))
        self._start(now, call_id)
        return Admission(Decision.START)

    def count_start(self, now: float) -> None:
        """A start that is allowed whatever the rate, but counts against it (rateLimits.mdx:
        "If a rate limit is hit during a <Forward>, the call will be allowed, but will still
        count against the limit")."""
        self._seconds_until_start(now)  # drop starts that left the window
        self._starts.append(now)

    def requeue(self, call_id: str, priority: int) -> None:
        """Put back a call found queued in the store (after a restart)."""
        if call_id not in self._queued and call_id not in self.active:
            heapq.heappush(self._queue, (priority, next(self._sequence), call_id))
            self._queued.add(call_id)

    def mark_active(self, call_id: str) -> None:
        """Count a call already live (after a restart) against the concurrent limit."""
        self.active.add(call_id)

    def dequeue(self, now: float) -> list[str]:
        """The queued calls that may start now, highest priority first."""
        started: list[str] = []
        while (
            self._queued
            and len(self.active) < self.settings.concurrent_calls
            and self._seconds_until_start(now) == 0.0
        ):
            _, _, call_id = heapq.heappop(self._queue)
            if call_id not in self._queued:
                continue  # removed while queued
            self._queued.discard(call_id)
            self._start(now, call_id)
            started.append(call_id)
        return started

    def next_dequeue_in(self, now: float) -> float | None:
        """Seconds from `now` until the next queued call may start; None when nothing is queued
        or the concurrent limit is reached (then `ended` frees a place)."""
        if not self._queued or len(self.active) >= self.settings.concurrent_calls:
            return None
        return self._seconds_until_start(now)

    def remove_queued(self, call_id: str) -> bool:
        """Take a queued call out of the queue (it was cancelled). True if it was queued."""
        if call_id in self._queued:
            self._queued.discard(call_id)
            self._forget_removed()
            return True
        return False

    def ended(self, call_id: str) -> None:
        self.active.discard(call_id)
        if call_id in self._queued:
            self._queued.discard(call_id)
            self._forget_removed()

    def _forget_removed(self) -> None:
        # Removed calls stay in the heap until popped; with nothing left queued, drop them all.
        if not self._queued:
            self._queue.clear()


def account_limits(defaults: LimitSettings, account: _HasLimits | None) -> LimitSettings:
    """The server's defaults with an account's own overrides on top."""
    if account is None:
        return defaults
    return LimitSettings(
        calls_per_second=account.calls_per_second or defaults.calls_per_second,
        concurrent_calls=account.concurrent_calls or defaults.concurrent_calls,
        queue_enabled=defaults.queue_enabled
        if account.queue_enabled is None
        else account.queue_enabled,
    )


class _HasLimits(Protocol):
    @property
    def calls_per_second(self) -> float | None: ...

    @property
    def concurrent_calls(self) -> int | None: ...

    @property
    def queue_enabled(self) -> bool | None: ...
