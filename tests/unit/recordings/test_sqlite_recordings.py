"""The SQLite RecordingStore (migration 8): rows round-trip, listing filters, the sweeps."""

from __future__ import annotations

import sqlite3

from switchboard.recordings.model import Recording, TranscriptionMeta
from switchboard.recordings.store import RecordingStore
from switchboard.store import schema
from switchboard.store.sqlite import SqliteStore
from tests.unit.recordings.samples import sample_recording


def test_sqlite_store_is_a_recording_store(store: SqliteStore) -> None:
    recordings: RecordingStore = store  # mypy checks the protocol here
    assert recordings is store


async def test_a_saved_recording_reads_back_with_every_field(store: SqliteStore) -> None:
    recording = sample_recording(
        1,
        parent_call_id="c-parent",
        transfer_caller_id="+15555550111",
        transfer_to="+15555550222",
        recording_name="voicemail",
        media_url="http://x/media",
        transcription=TranscriptionMeta("t-1", "available", "2025-01-02T03:06:00.000Z", "u"),
    )
    await store.save_recording(recording)
    assert await store.get_recording(recording.recording_id) == recording
    assert Recording.from_row(recording.to_row()) == recording


async def test_saving_again_replaces_the_row(store: SqliteStore) -> None:
    first = sample_recording(1, status="processing", end_time=None, duration=None)
    await store.save_recording(first)
    done = first.evolve(status="complete", end_time="2025-01-02T03:05:01.000Z")
    await store.save_recording(done)
    assert await store.get_recording(first.recording_id) == done
    assert await store.list_recordings("9900001") == [done]


async def test_unknown_recording_is_none_and_delete_says_whether_it_existed(
    store: SqliteStore,
) -> None:
    recording = sample_recording(1)
    assert await store.get_recording(recording.recording_id) is None
    await store.save_recording(recording)
    assert await store.delete_recording(recording.recording_id) is True
    assert await store.get_recording(recording.recording_id) is None
    assert await store.delete_recording(recording.recording_id) is False


async def test_listing_filters_by_account_call_numbers_and_start_window(
    store: SqliteStore,
) -> None:
    a = sample_recording(1)
    b = sample_recording(2, to="+15555550999")
    c = sample_recording(3, from_="+15555550888", call_id=a.call_id)
    other = sample_recording(4, account_id="9900002")
    for recording in (c, other, a, b):  # stored out of order: listed by start time
        await store.save_recording(recording)
    assert await store.list_recordings("9900001") == [a, b, c]
    assert await store.list_recordings("9900002") == [other]
    assert await store.list_recordings("9900001", call_id=a.call_id) == [a, c]
    assert await store.list_recordings("9900002", call_id=a.call_id) == []
    assert await store.list_recordings("9900001", to="+15555550999") == [b]
    assert await store.list_recordings("9900001", from_="+15555550888") == [c]
    assert await store.list_recordings("9900001", min_start_time=b.start_time) == [b, c]
    assert await store.list_recordings("9900001", max_start_time=b.start_time) == [a, b]
    assert await store.list_recordings("9900001", limit=2) == [a, b]


async def test_recordings_in_status_and_past_retention(store: SqliteStore) -> None:
    live = sample_recording(1, status="processing", end_time=None)
    failed = sample_recording(2, status="error", end_time=None)  # counts from its start
    done = sample_recording(3)
    for recording in (live, failed, done):
        await store.save_recording(recording)
    assert await store.recordings_in_status("processing") == [live]
    # Cutoff after every start, before done's end: the failed one only (never a live one).
    assert await store.recordings_ended_before("2025-01-02T03:04:59.000Z") == [failed]
    assert await store.recordings_ended_before("2025-01-02T03:06:00.000Z") == [failed, done]
    assert await store.recordings_ended_before("2025-01-02T03:06:00.000Z", limit=1) == [failed]


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
