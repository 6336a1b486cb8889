"""The callbackTimeouts of an in-process server's webhook requests, run out when the test says.

A server from tests/support/server.py times each webhook request with `asyncio.timeout` on its
own uvloop loop, in real time; uvloop's clock cannot be moved the way
tests/integration/webhooks/test_webhook_delivery.py moves a plain loop's (`LoopClock`). So this
wraps the timeouts switchboard.webhooks.delivery takes and, on `forward`, moves the deadlines of
those in flight as a jump of that clock would. A test moves them only once its receiver holds
the request, and the receiver answers only after the server gave up: no stall of a loaded
machine can expire a timeout early, and no answer can beat it. The outcome is the same however
loaded the machine is, and no test waits out a real callbackTimeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from switchboard.webhooks import delivery
from tests.support.server import RunningServer


class CallbackTimeouts:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._live: set[asyncio.Timeout] = set()  # touched on the server's loop only

    @contextlib.asynccontextmanager
    async def timeout(self, delay: float | None) -> AsyncIterator[asyncio.Timeout]:
        """`asyncio.timeout`, remembered while it runs so that `forward` can move it."""
        async with asyncio.timeout(delay) as timeout:
            self._live.add(timeout)
            try:
                yield timeout
            finally:
                self._live.discard(timeout)

    def forward(self, seconds: float) -> None:
        """From any thread: bring the deadline of every webhook request in flight `seconds`
        closer, as if the server's clock had jumped (it expires at once if that is past)."""
        assert seconds >= 0, "the clock cannot go back"
        self._loop.call_soon_threadsafe(self._forward, seconds)

    def _forward(self, seconds: float) -> None:
        for timeout in self._live:
            when = timeout.when()
            if when is not None and not timeout.expired():
                timeout.reschedule(when - seconds)


class _AsyncioWithTimeout:
    """The asyncio module as switchboard.webhooks.delivery sees it, with `timeout` replaced."""

    def __init__(self, timeouts: CallbackTimeouts) -> None:
        self.timeout = timeouts.timeout

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


def callback_timeouts(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> CallbackTimeouts:
    """Webhook timeouts of `server` the test can move, until the test ends."""
    timeouts = CallbackTimeouts(server.loop)
    monkeypatch.setattr(delivery, "asyncio", _AsyncioWithTimeout(timeouts))
    return timeouts
