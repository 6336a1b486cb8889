"""A call, a timeline entry, an event and a recording as the column values both stores write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from switchboard.calls.model import Call
from switchboard.calls.timeline import TimelineEntry
from switchboard.recordings.model import Recording
from switchboard.webhooks.outbox import OutboxEntry


def timeline_rows(call_id: str, entries: Sequence[TimelineEntry]) -> list[tuple[Any, ...]]:
    return [
        (call_id, entry.sequence, entry.at, entry.kind, orjson.dumps(entry.data).decode())
        for entry in entries
    ]


def event_row(event: OutboxEntry) -> tuple[str, str, str]:
    return (event.call_id, event.event_type, orjson.dumps(event.to_json()).decode())


def call_row(call: Call) -> tuple[Any, ...]:
    """The call's columns, in the order of the stores' call INSERTs."""
    data = call.to_row()
    start_time = call.start_time
    return (
        call.call_id,
        call.account_id,
        call.state,
        data["enqueued_time"],
        data["start_time"],
        call.request.to,
        call.request.from_,
        call.disconnect_cause,
        orjson.dumps(data).decode(),
        data["end_time"],
        # Whole seconds in the queue, truncated (calls_by_account_wait; call_queries.py).
        None if start_time is None else int((start_time - call.enqueued_time).total_seconds()),
    )


def recording_row(recording: Recording) -> tuple[Any, ...]:
    return (
        recording.recording_id,
        recording.account_id,
        recording.call_id,
        recording.start_time,
        recording.end_time,
        recording.status,
        orjson.dumps(recording.to_row()).decode(),
    )
