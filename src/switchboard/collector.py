"""When CPython's cycle collector runs, so that it never stalls the event loop for long.

Why: a live call is a few dozen container objects (its runner, task, timers, leg...) that all
survive every collection while the call lives. With CPython's schedule, each young collection
moves them on to older generations, and a full collection of the whole heap comes every time
the old generation has grown by a quarter: with tens of thousands of live calls, 80–100 ms
stalls every few seconds, which set the API's p99 (docs/benchmarks.md, "Create call").

The schedule here:
- young collections run as CPython runs them (every `YOUNG_THRESHOLD` new objects), and find
  the short-lived cycles (an exception and its traceback, a failed request);
- what survives one is frozen (`gc.freeze`): moved out of every later collection, so no
  collection ever walks the live calls again. A frozen object is still freed by reference
  counting when nothing points to it: a call's runner drops its own cycles when the call ends
  (`CallRunner._let_go`), so a finished call does not wait for the collector;
- a cycle that was frozen while it was still in use cannot be found by young collections, so
  every `FULL_COLLECTION_SECONDS` everything is unfrozen, collected in full, and frozen again:
  one stall that long-lived leftovers are bounded by (measured: see docs/operations.md).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

logger = logging.getLogger("switchboard.collector")

YOUNG_THRESHOLD = 5_000  # new container objects between young collections (CPython: 700)
FULL_COLLECTION_SECONDS = 600.0


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop":
        gc.freeze()


def tune_garbage_collector() -> None:
    """Freeze what exists now (modules, the app, provisioning) and every collection's
    survivors from now on. Idempotent."""
    gc.collect()
    gc.freeze()
    # The older generations' thresholds no longer matter: nothing stays in them.
    gc.set_threshold(YOUNG_THRESHOLD, 10, 10)
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def full_collection() -> int:
    """Unfreeze, collect everything, freeze again; the number of unreachable objects found."""
    started = time.perf_counter()
    gc.unfreeze()
    found = gc.collect()  # its callback freezes what survived
    logger.debug(
        "full collection: %d unreachable objects, %.1f ms",
        found,
        (time.perf_counter() - started) * 1000,
    )
    return found


class FullCollections:
    """Runs `full_collection` every `interval` seconds on the running event loop, when this
    process runs the schedule above (`switchboard serve`; an app hosted any other way keeps
    its host's collector settings untouched)."""

    def __init__(self, interval: float = FULL_COLLECTION_SECONDS) -> None:
        self.interval = interval
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.stop()
        if _freeze_survivors in gc.callbacks:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._run)

    def _run(self) -> None:
        full_collection()
        self.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
