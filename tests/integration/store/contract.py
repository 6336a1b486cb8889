"""What the suite uses of a store: the `Store` seam, the recordings' seam, and the two
methods both backends add (`provision`, `event_statuses`); and the values the tests store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Protocol

import psycopg

from switchboard.recordings.store import RecordingStore
from switchboard.store.base import Store
from switchboard.webhooks.outbox import OutboxEntry
from switchboard.webhooks.request import WebhookRequest

# What a unique key refused, from either driver.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)


class AnyStore(Store, RecordingStore, Protocol):
    async def provision(self, change: Callable[[Any], Any]) -> None: ...

    async def event_statuses(self, call_id: str) -> list[tuple[str, str, int]]: ...

    async def recordings_ended_before(self, cutoff: str, limit: int = 500) -> list[Any]: ...


def event(call_id: str, event_type: str = "disconnect", **payload: object) -> OutboxEntry:
    """An event as the engine records it: with a fallback and credentials, asynchronous."""
    body: dict[str, object] = {"eventType": event_type, "callId": call_id, **payload}
    return OutboxEntry(
        call_id=call_id,
        event_type=event_type,
        primary=WebhookRequest(
            "http://127.0.0.1:9/disconnect", "POST", body, "user", "secret", timeout=2.5
        ),
        fallback=WebhookRequest("http://127.0.0.1:9/fallback", "GET", body),
        asynchronous=True,
    )
