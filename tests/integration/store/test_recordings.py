"""The recordings' metadata in the store (recordings/store.py's seam, moved here from
tests/unit/recordings/test_sqlite_recordings.py): rows round-trip, a save replaces, listing
filters, and the sweeps of recordings still processing and past their retention."""

from __future__ import annotations

from switchboard.recordings.model import Recording, TranscriptionMeta
from tests.integration.store.contract import AnyStore
from tests.unit.recordings.samples import sample_recording


async def test_a_saved_recording_reads_back_with_every_field(any_store: AnyStore) -> None:
    recording = sample_recording(
        1,
        parent_call_id="c-parent",
        transfer_caller_id="+15555550111",
        transfer_to="+15555550222",
        recording_name="voicemail ☎ \x00",
        media_url="http://x/media",
        transcription=TranscriptionMeta("t-1", "available", "2025-01-02T03:06:00.000Z", "u"),
    )
    await any_store.save_recording(recording)
    assert await any_store.get_recording(recording.recording_id) == recording
    assert Recording.from_row(recording.to_row()) == recording


async def test_saving_again_replaces_the_row(any_store: AnyStore) -> None:
    first = sample_recording(1, status="processing", end_time=None, duration=None)
    await any_store.save_recording(first)
    done = first.evolve(status="complete", end_time="2025-01-02T03:05:01.000Z")
    await any_store.save_recording(done)
    assert await any_store.get_recording(first.recording_id) == done
    assert await any_store.list_recordings("9900001") == [done]
    assert await any_store.recordings_in_status("processing") == []


async def test_unknown_recording_is_none_and_delete_says_whether_it_existed(
    any_store: AnyStore,
) -> None:
    recording = sample_recording(1)
    assert await any_store.get_recording(recording.recording_id) is None
    await any_store.save_recording(recording)
    assert await any_store.delete_recording(recording.recording_id) is True
    assert await any_store.get_recording(recording.recording_id) is None
    assert await any_store.delete_recording(recording.recording_id) is False
    assert await any_store.list_recordings("9900001") == []


async def test_listing_filters_by_account_call_numbers_and_start_window(
    any_store: AnyStore,
) -> None:
    a = sample_recording(1)
    b = sample_recording(2, to="+15555550999")
    c = sample_recording(3, from_="+15555550888", call_id=a.call_id)
    other = sample_recording(4, account_id="9900002")
    for recording in (c, other, a, b):  # stored out of order: listed by start time
        await any_store.save_recording(recording)
    assert await any_store.list_recordings("9900001") == [a, b, c]
    assert await any_store.list_recordings("9900002") == [other]
    assert await any_store.list_recordings("9900001", call_id=a.call_id) == [a, c]
    assert await any_store.list_recordings("9900002", call_id=a.call_id) == []
    assert await any_store.list_recordings("9900001", to="+15555550999") == [b]
    assert await any_store.list_recordings("9900001", from_="+15555550888") == [c]
    assert await any_store.list_recordings("9900001", min_start_time=b.start_time) == [b, c]
    assert await any_store.list_recordings("9900001", max_start_time=b.start_time) == [a, b]
    assert await any_store.list_recordings("9900001", limit=2) == [a, b]
    assert await any_store.list_recordings(
        "9900001", call_id=a.call_id, from_="+15555550888", min_start_time=a.start_time
    ) == [c]


async def test_recordings_started_together_list_in_id_order(any_store: AnyStore) -> None:
    same = [sample_recording(n).evolve(start_time="2025-01-02T03:04:07.000Z") for n in (3, 1, 2)]
    for recording in same:
        await any_store.save_recording(recording)
    listed = await any_store.list_recordings("9900001")
    assert [r.recording_id for r in listed] == sorted(r.recording_id for r in same)


async def test_recordings_in_status_and_past_retention(any_store: AnyStore) -> None:
    live = sample_recording(1, status="processing", end_time=None)
    failed = sample_recording(2, status="error", end_time=None)  # counts from its start
    done = sample_recording(3)
    for recording in (live, failed, done):
        await any_store.save_recording(recording)
    assert await any_store.recordings_in_status("processing") == [live]
    assert await any_store.recordings_in_status("complete") == [done]
    # Cutoff after every start, before done's end: the failed one only (never a live one).
    assert await any_store.recordings_ended_before("2025-01-02T03:04:59.000Z") == [failed]
    assert await any_store.recordings_ended_before("2025-01-02T03:06:00.000Z") == [failed, done]
    assert await any_store.recordings_ended_before("2025-01-02T03:06:00.000Z", limit=1) == [failed]
    assert await any_store.recordings_ended_before("2025-01-02T03:04:02.000Z") == []
