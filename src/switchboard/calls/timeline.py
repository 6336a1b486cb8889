"""A call's timeline: every state change, verb, webhook exchange and error, in order.

Entries are buffered per call and written in batches by the engine; secrets never go in
(webhook credentials are recorded as the username only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switchboard.calls.ids import format_new_time


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    sequence: int
    at: str
    kind: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "at": self.at, "kind": self.kind, **self.data}


# Past the limit, a call's timeline still records how it changed state and why it ended.
ALWAYS_KEPT = frozenset({"state", "error"})
DROPPED_KIND = "entries-dropped"


class Timeline:
    """The entries of one call not yet written to the store."""

    def __init__(
        self,
        call_id: str,
        last_sequence: int = 0,
        listener: Callable[[TimelineEntry], None] | None = None,
        max_entries: int | None = None,
    ) -> None:
        """`last_sequence`: the last entry already stored for this call. A call handed to a new
        runner (resumed after a restart, later taken over) continues its timeline after it;
        starting again at 1 would collide with, and so lose, the history already written.

        `max_entries` (issue 23): a call keeps its first `max_entries - 1` entries; sequence
        `max_entries` is then one "entries-dropped" entry counting the ones not kept (the store
        updates it in place), and only state changes and errors, a handful per call, follow
        it: a Redirect loop once wrote 146,378 rows for one call."""
        self.call_id = call_id
        self._sequence = last_sequence
        self.pending: list[TimelineEntry] = []
        self._listener = listener  # the live feed (calls/feed.py), told of each entry at once
        self._max = max_entries
        self.dropped = 0  # since this runner took the call (a resumed call counts afresh)

    def add(self, at: datetime, kind: str, **data: Any) -> None:
        limit = self._max
        if limit is not None and self._sequence + 1 >= limit and kind not in ALWAYS_KEPT:
            self._drop(at)
            return
        self._sequence += 1
        if self._sequence == limit:  # the summary's place, whether or not it is ever needed
            self._sequence += 1
        entry = TimelineEntry(self._sequence, format_new_time(at), kind, data)
        self.pending.append(entry)
        if self._listener is not None:
            self._listener(entry)

    def _drop(self, at: datetime) -> None:
        assert self._max is not None
        self.dropped += 1
        summary = TimelineEntry(
            self._max,
            format_new_time(at),
            DROPPED_KIND,
            {"dropped": self.dropped, "description": f"{self.dropped} entries dropped"},
        )
        # One summary among the entries not yet written: replaced, not added, as more go.
        self.pending = [entry for entry in self.pending if entry.kind != DROPPED_KIND]
        self.pending.append(summary)
        if self.dropped == 1 and self._listener is not None:
            self._listener(summary)

    def take(self) -> list[TimelineEntry]:
        entries, self.pending = self.pending, []
        return entries
