"""One account's limits as a pure, O(1) decision: start a new call now, queue it, or refuse it.

Bandwidth (rateLimits.mdx, callQueueingGuide.mdx): 5 calls per second and 100 concurrent calls
by default. With the outbound queue on, calls over the rate are accepted as `queued`, up to
five minutes' worth (CPS x 300), and dequeued at the account's rate in priority order (1 first),
first-in first-out within a priority. Over the concurrent limit (active calls), or with a full
queue, 429; queued calls also wait for a free place under the concurrent limit.

Time is passed in (seconds on the engine's clock); nothing here reads a clock or does IO.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

RATE_LIMITED = "Account call creation rate limit exceeded"
CONCURRENCY_LIMITED = "Account concurrent call limit exceeded"
QUEUE_SECONDS = 300
_ONE = 1.0 - 1e-9  # a whole token, forgiving float rounding in the refill


@dataclass(frozen=True, slots=True)
class LimitSettings:
    calls_per_second: float = 5.0
    concurrent_calls: int = 100
    queue_enabled: bool = True

    @property
    def max_queue_size(self) -> int:
        return int(self.calls_per_second * QUEUE_SECONDS) if self.queue_enabled else 0


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
    # Token bucket: one second's worth of burst, refilled at calls_per_second.
    _tokens: float = 0.0
    _refilled_at: float | None = None

    @property
    def queue_size(self) -> int:
        return len(self._queued)

    def _refill(self, now: float) -> None:
        rate = self.settings.calls_per_second
        capacity = max(1.0, rate)
        if self._refilled_at is None:  # first use: a full second's burst
            self._tokens, self._refilled_at = capacity, now
            return
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(capacity, self._tokens + elapsed * rate)
        self._refilled_at = now

    def _seconds_until_token(self) -> float:
        missing = 1.0 - self._tokens
        return 0.0 if missing <= 1e-9 else missing / self.settings.calls_per_second

    def admit(self, now: float, call_id: str, priority: int) -> Admission:
        """Decide for a new call. START and QUEUE reserve its place; REJECT changes nothing."""
        self._refill(now)
        if len(self.active) >= self.settings.concurrent_calls:
            return Admission(Decision.REJECT, CONCURRENCY_LIMITED, 1.0)
        if not self._queued and self._tokens >= _ONE:
            self._tokens -= 1.0
            self.active.add(call_id)
            return Admission(Decision.START)
        if self.queue_size < self.settings.max_queue_size:
            heapq.heappush(self._queue, (priority, next(self._sequence), call_id))
            self._queued.add(call_id)
            return Admission(Decision.QUEUE)
        return Admission(Decision.REJECT, RATE_LIMITED, max(1.0, self._seconds_until_token()))

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
        self._refill(now)
        started: list[str] = []
        while (
            self._queue
            and self._tokens >= _ONE
            and len(self.active) < self.settings.concurrent_calls
        ):
            _, _, call_id = heapq.heappop(self._queue)
            if call_id not in self._queued:
                continue  # removed while queued
            self._queued.discard(call_id)
            self._tokens -= 1.0
            self.active.add(call_id)
            started.append(call_id)
        return started

    def next_dequeue_in(self) -> float | None:
        """Seconds until the next queued call may start; None with an empty queue."""
        if not self._queued or len(self.active) >= self.settings.concurrent_calls:
            return None  # nothing to start, or wait for a call to end (ended() says when)
        return self._seconds_until_token()

    def remove_queued(self, call_id: str) -> bool:
        """Take a queued call out of the queue (it was cancelled). True if it was queued."""
        if call_id in self._queued:
            self._queued.discard(call_id)
            return True
        return False

    def ended(self, call_id: str) -> None:
        self.active.discard(call_id)
        self._queued.discard(call_id)


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
