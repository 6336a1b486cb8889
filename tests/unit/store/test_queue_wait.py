"""How long a call waited in the queue, stored for listCalls' start-time windows (migration 6):
set by the store's writes and filled in for the calls of an older database. That a call that
waited long still lists in the window it started in is tested on both backends in
tests/integration/store/test_listing.py."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from switchboard.calls.ids import format_time
from switchboard.calls.model import DISCONNECTED, INITIATED
from switchboard.store import schema
from switchboard.store.sqlite import SqliteStore
from tests.unit.store.calls import ACCOUNT, NUMBERS, T0, make_call


def waits(path: Path) -> dict[str, int | None]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT call_id, queue_wait FROM calls").fetchall()
    finally:
        connection.close()
    return dict(rows)


async def test_the_stores_writes_set_each_calls_wait(store: SqliteStore, tmp_path: Path) -> None:
    waited, at_once = make_call(1), make_call(2)
    for call in (waited, at_once):
        await store.insert_call(call)
    assert waits(tmp_path / "switchboard.db") == {waited.call_id: None, at_once.call_id: None}

    started = T0 + timedelta(minutes=10, milliseconds=700)
    await store.save_call(replace(waited, state=INITIATED, start_time=started))
    await store.save_call(replace(at_once, state=INITIATED, start_time=T0))
    assert waits(tmp_path / "switchboard.db") == {waited.call_id: 600, at_once.call_id: 0}


def test_migrating_an_older_database_fills_in_the_waits(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.db"
    connection = schema.connect(str(path))
    try:
        for number, script in enumerate(schema.MIGRATIONS[:5], start=1):
            connection.executescript(script)
            connection.execute(f"PRAGMA user_version={number}")
        rows = [
            ("c-1", T0 + timedelta(seconds=75, milliseconds=500), None),  # waited 75.5 s
            ("c-2", T0, "busy"),  # started at once, and ended
            ("c-3", None, None),  # still queued
        ]
        for call_id, started, cause in rows:
            connection.execute(
                "INSERT INTO calls (call_id, account_id, state, enqueued_time, start_time, "
                "to_number, from_number, disconnect_cause, data) VALUES (?,?,?,?,?,?,?,?,'{}')",
                (
                    call_id,
                    ACCOUNT,
                    DISCONNECTED if cause else "queued",
                    format_time(T0),
                    format_time(started) if started else None,
                    NUMBERS[0],
                    "+15555551212",
                    cause,
                ),
            )
        schema.migrate(connection)
        assert connection.execute("PRAGMA user_version").fetchone() == (len(schema.MIGRATIONS),)
        # Only the call that waited is in the wait index; only the ended one in the cause index.
        assert connection.execute(
            "SELECT call_id FROM calls INDEXED BY calls_by_account_wait WHERE queue_wait > 0"
        ).fetchall() == [("c-1",)]
        assert connection.execute(
            "SELECT call_id FROM calls INDEXED BY calls_by_account_cause "
            "WHERE account_id = ? AND disconnect_cause = 'busy'",
            (ACCOUNT,),
        ).fetchall() == [("c-2",)]
    finally:
        connection.close()
    assert waits(path) == {"c-1": 75, "c-2": 0, "c-3": None}
