"""Counts IO in flight (webhook requests, audio fetches, store writes of the engine), so that a
test on a virtual clock can wait until everything that can happen *now* has happened, and only
then move time forward."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Activity:
    def __init__(self) -> None:
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.tasks: set[asyncio.Task[Any]] = set()

    @property
    def busy(self) -> int:
        return self._busy

    def begin(self) -> None:
        self._busy += 1
        self._idle.clear()

    def end(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    def spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `coroutine` as a task counted as activity until it finishes."""
        self.begin()
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)

        def done(finished: asyncio.Task[T]) -> None:
            self.tasks.discard(finished)
            self.end()

        task.add_done_callback(done)
        return task

    async def track(self, awaitable: Awaitable[T]) -> T:
        self.begin()
        try:
            return await awaitable
        finally:
            self.end()

    async def idle_during(self, awaitable: Awaitable[T]) -> T:
        """Await something that is waiting, not working (a backoff timer), from inside a task
        counted as activity: for that while, the task does not keep the engine busy."""
        self.end()
        try:
            return await awaitable
        finally:
            self.begin()

    async def wait_idle(self, extra_check: Callable[[], bool] | None = None) -> None:
        """Return once nothing is in flight (and `extra_check`, if given, says idle too),
        letting the loop run a few turns so callbacks scheduled by finished IO also run."""
        while True:
            await self._idle.wait()
            for _ in range(3):
                await asyncio.sleep(0)
            if self._busy == 0 and (extra_check is None or extra_check()):
                return
            if self._busy == 0:
                await asyncio.sleep(0)
