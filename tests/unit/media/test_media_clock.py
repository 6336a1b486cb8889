"""The media clock on a loop whose time the test sets: frame n of a stream is always due at
origin + n × 20 ms, however late each wake-up is, over a 10-minute call (no drift); a short
stall is caught up frame by frame, a long one is skipped and said so."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any, cast

from switchboard.media.clock import FRAME_SECONDS, MediaClock


class SteppedLoop:
    """Just what MediaClock uses of a loop: time() and call_at(), run by hand."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pending: tuple[float, Callable[[], None]] | None = None

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Any:
        self.pending = (when, callback)
        loop = self

        class Handle:
            def cancel(self) -> None:
                loop.pending = None

        return Handle()

    def run_next(self, lateness: float = 0.0) -> None:
        assert self.pending is not None
        when, callback = self.pending
        self.now = max(self.now, when + lateness)
        callback()


class Stream:
    def __init__(self) -> None:
        self.frames: list[tuple[int, float]] = []
        self.skips = 0

    def tick(self, index: int, deadline: float) -> None:
        self.frames.append((index, deadline))

    def skipped(self) -> None:
        self.skips += 1


def clock_with_stream() -> tuple[SteppedLoop, MediaClock, Stream, float]:
    loop = SteppedLoop()
    clock = MediaClock(cast(asyncio.AbstractEventLoop, loop))
    stream = Stream()
    clock.add(stream)
    return loop, clock, stream, loop.now


def test_ten_minutes_of_late_wake_ups_do_not_drift() -> None:
    loop, _, stream, origin = clock_with_stream()
    jitter = random.Random(20261128)
    frames = int(600 / FRAME_SECONDS)  # a 10-minute call
    while len(stream.frames) < frames:
        loop.run_next(lateness=jitter.uniform(0.0, 0.004))  # every wake-up up to 4 ms late

    indexes = [index for index, _ in stream.frames[:frames]]
    assert indexes == list(range(frames))
    last_index, last_deadline = stream.frames[frames - 1]
    assert abs(last_deadline - (origin + last_index * FRAME_SECONDS)) < 1e-6
    assert stream.skips == 0


def test_a_short_stall_is_caught_up_and_a_long_one_skipped() -> None:
    loop, clock, stream, origin = clock_with_stream()
    for _ in range(8):
        loop.run_next()
    sent = len(stream.frames)
    loop.run_next(lateness=0.06)  # 60 ms late: the three missed frames go out at once
    assert [index for index, _ in stream.frames] == list(range(len(stream.frames)))
    assert len(stream.frames) >= sent + 3 and stream.skips == 0

    loop.run_next(lateness=1.0)  # a one-second stall: older frames are dropped, not burst
    assert stream.skips == 1 and clock.ticks_skipped > 0
    index, deadline = stream.frames[-1]
    assert abs(deadline - (origin + index * FRAME_SECONDS)) < 1e-6  # still on the grid
