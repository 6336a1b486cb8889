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


class Timeline:
    """The entries of one call not yet written to the store."""

    def __init__(
        self,
        call_id: str,
        last_sequence: int = 0,
        listener: Callable[[TimelineEntry], None] | None = None,
    ) -> None:
        """`last_sequence`: the last entry already stored for this call. A call handed to a new
        runner (resumed after a restart, later taken over) continues its timeline after it;
        starting again at 1 would collide with, and so lose, the history already written."""
        self.call_id = call_id
        self._sequence = last_sequence
        self.pending: list[TimelineEntry] = []
        self._listener = listener  # the live feed (calls/feed.py), told of each entry at once

    def add(self, at: datetime, kind: str, **data: Any) -> None:
        self._sequence += 1
        entry = TimelineEntry(self._sequence, format_new_time(at), kind, data)
        self.pending.append(entry)
        if self._listener is not None:
            self._listener(entry)

    def take(self) -> list[TimelineEntry]:
        entries, self.pending = self.pending, []
        return entries
