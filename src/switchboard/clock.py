"""Time for the engine: every timer goes through a Clock, so tests run a minute in a millisecond.

`RealClock` follows the event loop, optionally scaled (time_scale 0.01 runs a call flow 100x
faster). `VirtualClock` only moves when a test calls `advance()`, firing due timers in order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the engine knows of time: a wall clock, a monotonic clock, and timers."""

    def wall(self) -> datetime:
        """Current UTC time (what webhooks and call records show)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (in call time, not scaled real time)."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback` after `delay` seconds of call time."""
        ...

    async def sleep(self, delay: float) -> None:
        """Wait `delay` seconds of call time."""
        ...


class RealClock:
    """The event loop's clock, with call time running `1 / time_scale` times faster."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self._origin_wall = datetime.now(UTC)
        self._origin_mono: float | None = None

    def _loop_time(self) -> float:
        loop = asyncio.get_running_loop()
        if self._origin_mono is None:
            self._origin_mono = loop.time()
        return loop.time() - self._origin_mono

    def monotonic(self) -> float:
        return self._loop_time() / self.time_scale

    def wall(self) -> datetime:
        if self.time_scale == 1.0:
            return datetime.now(UTC)
        # Scaled time: wall time advances with call time so event timestamps stay consistent.
        return self._origin_wall + timedelta(seconds=self.monotonic())

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_later(max(0.0, delay) * self.time_scale, callback)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay) * self.time_scale)


@dataclass(order=True)
class _VirtualTimer:
    due: float
    sequence: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock that only moves when told to. Timers fire in due order during `advance()`."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start_wall = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._now = 0.0
        self._timers: list[_VirtualTimer] = []
        self._sequence = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self._start_wall + timedelta(seconds=self._now)

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _VirtualTimer(self._now + max(0.0, delay), next(self._sequence), callback)
        heapq.heappush(self._timers, timer)
        return timer

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_later(delay, wake)
        try:
            await future
        finally:
            timer.cancel()

    def next_due(self) -> float | None:
        """Call time of the next pending timer, or None."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].due if self._timers else None

    def advance(self, seconds: float) -> int:
        """Move time forward, firing each timer due on the way, in order. Returns how many fired."""
        target = self._now + seconds
        fired = 0
        while True:
            due = self.next_due()
            if due is None or due > target:
                break
            timer = heapq.heappop(self._timers)
            self._now = max(self._now, timer.due)
            timer.callback()
            fired += 1
        self._now = target
        return fired
