"""Retention of recordings (30 days after they end by default) and the sweep at start that marks
recordings a crash interrupted as `error`. Real SQLite file, real files, virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from switchboard.activity import Activity
from switchboard.clock import VirtualClock
from switchboard.recordings.model import Recording
from switchboard.recordings.retention import PURGE_INTERVAL_SECONDS, RecordingRetention
from switchboard.recordings.storage import FileMediaStorage
from switchboard.store.sqlite import SqliteStore
from tests.unit.recordings.samples import sample_recording

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)  # the cutoff is 2026-01-01T12:00:00Z


def retention_for(
    store: SqliteStore, tmp_path: Path, clock: VirtualClock | None = None
) -> tuple[RecordingRetention, FileMediaStorage, Activity]:
    storage = FileMediaStorage(tmp_path / "recordings")
    activity = Activity()
    retention = RecordingRetention(
        store, storage, clock or VirtualClock(NOW), activity, timedelta(days=30)
    )
    return retention, storage, activity


async def stored(
    store: SqliteStore, storage: FileMediaStorage, number: int, **changes: object
) -> Recording:
    recording = sample_recording(number, **changes)
    if recording.media_key is not None:
        storage.write(recording.media_key, b"media of %d" % number)
    await store.save_recording(recording)
    return recording


async def test_purge_removes_media_and_rows_ended_before_the_cutoff(
    store: SqliteStore, tmp_path: Path
) -> None:
    retention, storage, _ = retention_for(store, tmp_path)
    old = await stored(store, storage, 1, end_time="2026-01-01T11:59:59.999Z")
    kept = await stored(store, storage, 2, end_time="2026-01-01T12:00:00.000Z")
    # Marked error after a crash, never ended: its retention counts from its start.
    failed_old = await stored(
        store, storage, 3, status="error", start_time="2026-01-01T11:00:00.000Z", end_time=None
    )
    failed_new = await stored(
        store, storage, 4, status="error", start_time="2026-01-02T00:00:00.000Z", end_time=None
    )
    # Still recording, however old: never purged under the recorder's feet.
    live = await stored(
        store,
        storage,
        5,
        status="processing",
        start_time="2025-11-01T00:00:00.000Z",
        end_time=None,
        media_key=None,
    )
    media_deleted = await stored(
        store, storage, 6, status="deleted", media_key=None, end_time="2025-12-01T00:00:00.000Z"
    )

    assert await retention.purge() == 3
    remaining = await store.list_recordings("9900001")
    assert remaining == [kept, live, failed_new]  # by start time
    for gone in (old, failed_old, media_deleted):
        assert await store.get_recording(gone.recording_id) is None
    for gone in (old, failed_old):
        assert gone.media_key is not None and storage.read(gone.media_key) is None
    for still in (kept, failed_new):
        assert still.media_key is not None and storage.read(still.media_key) is not None
    assert await retention.purge() == 0


async def test_purge_goes_through_every_batch(store: SqliteStore, tmp_path: Path) -> None:
    retention, storage, _ = retention_for(store, tmp_path)
    for number in range(1, 60):  # sample_recording's times are in 2025: all past retention
        await stored(store, storage, number)
    assert await retention.purge() == 59
    assert await store.list_recordings("9900001") == []
    assert list((tmp_path / "recordings").iterdir()) == []


async def test_purge_runs_at_start_then_every_hour(store: SqliteStore, tmp_path: Path) -> None:
    clock = VirtualClock(NOW)
    retention, storage, activity = retention_for(store, tmp_path, clock)
    at_start = await stored(store, storage, 1, end_time="2026-01-01T11:00:00.000Z")
    # Past the cutoff only 1.5 hours from now: the second hourly purge removes it.
    later = await stored(store, storage, 2, end_time="2026-01-01T13:30:00.000Z")

    retention.start()
    clock.advance(0)
    await activity.wait_idle()
    assert await store.get_recording(at_start.recording_id) is None
    assert await store.get_recording(later.recording_id) == later

    clock.advance(PURGE_INTERVAL_SECONDS)
    await activity.wait_idle()
    assert await store.get_recording(later.recording_id) == later  # cutoff 13:00 now

    clock.advance(PURGE_INTERVAL_SECONDS)
    await activity.wait_idle()
    assert await store.get_recording(later.recording_id) is None
    assert later.media_key is not None and storage.read(later.media_key) is None

    retention.stop()
    assert clock.next_due() is None


async def test_recordings_a_crash_left_processing_are_marked_error(
    store: SqliteStore, tmp_path: Path
) -> None:
    retention, storage, _ = retention_for(store, tmp_path)
    interrupted = await stored(
        store, storage, 1, status="processing", end_time=None, duration=None, media_key=None
    )
    complete = await stored(store, storage, 2)
    assert await retention.mark_unfinished_failed() == 1
    assert await store.get_recording(interrupted.recording_id) == interrupted.evolve(status="error")
    assert await store.get_recording(complete.recording_id) == complete
    assert await store.recordings_in_status("processing") == []
    assert await retention.mark_unfinished_failed() == 0
