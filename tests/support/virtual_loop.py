"""An asyncio event loop on virtual time, for tests of code that times itself with the loop
(`loop.time()`, `call_later`, `call_at`): RTP pacing, SIP retransmission timers.

Its clock stands still while there is work to do and jumps straight to the next timer when the
loop would otherwise wait, so timers fire in order at their exact times, at once in real time,
however loaded the machine is. Real sockets keep working: before time moves, the loop polls its
sockets without waiting and serves whatever is ready. That makes it right for I/O on this loop's
own loopback sockets (a UDP datagram sent on 127.0.0.1 is in the receiver's buffer when
`sendto` returns), and wrong for waiting on another thread or process: time would jump past any
timeout while they work. With no timer pending the loop waits for real I/O as usual.

Async tests marked `virtual_time` run on one, with their async fixtures (tests/conftest.py).
A test can set `lateness` to make every wake-up that late (in virtual seconds): a loaded
machine, but one that is loaded the same way on every run.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable


class _Selector(selectors.DefaultSelector):
    def __init__(self, advance: Callable[[float], None]) -> None:
        super().__init__()
        self._advance = advance

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: only real I/O can wake the loop
            return super().select(None)
        self._advance(timeout)  # nothing to do until the next timer: go there
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._now = 0.0
        self.lateness: Callable[[], float] = lambda: 0.0
        super().__init__(_Selector(self._advance))

    @classmethod
    def running(cls) -> VirtualTimeLoop:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, cls), "mark the test virtual_time"
        return loop

    def time(self) -> float:
        return self._now

    def _advance(self, seconds: float) -> None:
        lateness = self.lateness()
        assert lateness >= 0.0, "a timer cannot fire early"
        self._now += seconds + lateness
