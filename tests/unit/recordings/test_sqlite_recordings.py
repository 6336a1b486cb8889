"""The SQLite RecordingStore (migration 8): it is one, and its sweep uses its index. Rows,
listing filters and the sweeps are tested on both backends in
tests/integration/store/test_recordings.py."""

from __future__ import annotations

import sqlite3

from switchboard.recordings.store import RecordingStore
from switchboard.store import schema
from switchboard.store.sqlite import SqliteStore


def test_sqlite_store_is_a_recording_store(store: SqliteStore) -> None:
    recordings: RecordingStore = store  # mypy checks the protocol here
    assert recordings is store


def test_migration_8_lists_through_its_indexes(store: SqliteStore) -> None:
    connection = sqlite3.connect(store.path)
    try:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        assert version == len(schema.MIGRATIONS) >= 8
        plan = " ".join(
            str(row)
            for row in connection.execute(
                "EXPLAIN QUERY PLAN SELECT data FROM recordings WHERE "
                "coalesce(end_time, start_time) < ? AND status != 'processing'",
                ("x",),
            )
        )
        assert "recordings_by_retention" in plan
    finally:
        connection.close()
