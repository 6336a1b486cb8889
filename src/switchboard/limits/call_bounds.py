"""What one call, and the disk under all of them, may cost (issue 23, "One call cannot grow
without bound"): the `[calls]` settings, and the pure counters that enforce them.

An answer URL answering `<Redirect redirectUrl="(itself)"/>` made one call fetch ~1,090
documents a second for as long as it lasted, each fetch a webhook, timeline entries and WAL
pages. `LoopGuard` ends such a call; `Timeline` (calls/timeline.py) keeps at most
`timeline_max_entries` entries of any call; the store checkpoints its WAL with TRUNCATE once it
passes `wal_max_bytes`; new calls are refused while free disk is under `min_free_disk_bytes`.

Nothing here reads a clock or does IO: times are passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LOOP_CAUSE = "application-error"


class CallBoundsConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CallBounds:
    # A call that fetches more than `loop_max_documents` BXML documents within any
    # `loop_window_seconds`, with no verb that takes time (media, a Gather, a Pause, a Record,
    # a Transfer/Bridge/Forward) between them, is in a loop: it ends with application-error.
    loop_max_documents: int = 50
    loop_window_seconds: float = 10.0
    # A call's timeline keeps its first `timeline_max_entries - 1` entries; the rest are
    # counted in one "entries-dropped" entry.
    timeline_max_entries: int = 2000
    # Past this size the store's WAL is checkpointed with TRUNCATE (which waits for readers
    # and writers) instead of PASSIVE (which falls behind a write storm).
    wal_max_bytes: int = 64 * 1024 * 1024
    # Under this much free space on the data directory's disk, new calls get 503.
    min_free_disk_bytes: int = 256 * 1024 * 1024


def parse_call_bounds(table: dict[str, Any]) -> CallBounds:
    defaults = CallBounds()
    known = (
        "loop_max_documents",
        "loop_window_seconds",
        "timeline_max_entries",
        "wal_max_bytes",
        "min_free_disk_bytes",
    )
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise CallBoundsConfigError(f"calls: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key in known:
        default = getattr(defaults, key)
        value = table.get(key, default)
        kind = float if isinstance(default, float) else int
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CallBoundsConfigError(f"calls.{key} must be a number")
        if kind is int and not isinstance(value, int):
            raise CallBoundsConfigError(f"calls.{key} must be an integer")
        minimum = 0 if key == "min_free_disk_bytes" else 1
        if value < minimum:
            raise CallBoundsConfigError(f"calls.{key} must be at least {minimum}")
        values[key] = kind(value)
    return CallBounds(**values)


class LoopGuard:
    """Counts one call's document fetches since a verb last took time."""

    def __init__(self, bounds: CallBounds) -> None:
        self._max = bounds.loop_max_documents
        self._window = bounds.loop_window_seconds
        self._fetches: deque[float] = deque()

    def fetched(self, now: float) -> bool:
        """A document arrived at `now` (seconds); True when that makes the call a loop."""
        self._fetches.append(now)
        while self._fetches and self._fetches[0] <= now - self._window:
            self._fetches.popleft()
        return len(self._fetches) > self._max

    def took_time(self) -> None:
        """A verb that takes time began: the fetches before it were no loop."""
        self._fetches.clear()

    def description(self) -> str:
        return (
            f"BXML loop: more than {self._max} documents fetched within "
            f"{self._window:g} s with no verb that takes time between them "
            "(a Redirect to itself?); the call was ended"
        )


class DiskGuard:
    """Refuses new calls while the data directory's disk has under `min_free` bytes free: a
    full disk fails every write of every call already running. `free_bytes` is read at most
    once every `every` seconds of `now` (createCall is the hot path; statvfs is a system call)."""

    def __init__(
        self,
        min_free: int,
        free_bytes: Callable[[], int],
        now: Callable[[], float],
        every: float = 1.0,
    ) -> None:
        self.min_free = min_free
        self.free_bytes = free_bytes  # replaceable: tests inject a full disk
        self._now = now
        self._every = every
        self._checked_at: float | None = None
        self._refusal: str | None = None

    def refusal(self) -> str | None:
        """Why new calls are refused now, or None."""
        if self.min_free <= 0:
            return None
        now = self._now()
        if self._checked_at is None or now - self._checked_at >= self._every:
            self._checked_at = now
            try:
                free = self.free_bytes()
            except OSError:  # the directory is gone: the writes will say so, not this
                free = self.min_free
            self._refusal = (
                None
                if free >= self.min_free
                else (
                    "Switchboard is not accepting new calls: its data directory's disk has "
                    f"{_mb(free)} free, under the {_mb(self.min_free)} it keeps for the calls "
                    "already running ([calls] min_free_disk_bytes)"
                )
            )
        return self._refusal


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
