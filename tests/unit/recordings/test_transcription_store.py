"""A transcription that finishes after the app deleted its recording, or the recording's media
(download, then delete: a common voicemail flow), changes only the transcription and brings
nothing back. Real SQLite file, real files."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

from switchboard.recordings.recorder import RecordedAudio
from switchboard.recordings.storage import FileMediaStorage
from switchboard.recordings.transcription import transcribe, transcript_key
from switchboard.speech.stt import Transcript
from switchboard.store.sqlite import SqliteStore
from tests.unit.recordings.samples import sample_recording

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
AUDIO = RecordedAudio(channels=1, seconds=3.0, pcm=(b"\0\0" * 24_000,))
HEARD = [(0, Transcript("call me back", 1.0))]


async def test_a_deleted_recording_stays_deleted(store: SqliteStore, tmp_path: Path) -> None:
    storage = FileMediaStorage(tmp_path / "recordings")
    recording = sample_recording(1)
    await store.save_recording(recording)
    # The engine started on it; meanwhile the app deleted the recording.
    await store.delete_recording(recording.recording_id)

    result = await transcribe(recording, AUDIO, HEARD, None, store, storage, NOW)

    assert result.transcription is not None and result.transcription.status == "available"
    assert await store.get_recording(recording.recording_id) is None  # not brought back
    assert storage.read(transcript_key(recording.recording_id)) is None  # no orphan file


async def test_deleted_media_stays_deleted_and_the_transcription_is_kept(
    store: SqliteStore, tmp_path: Path
) -> None:
    storage = FileMediaStorage(tmp_path / "recordings")
    recording = sample_recording(2)
    await store.save_recording(recording)
    # Meanwhile the app deleted the media (the recording stays, `deleted`).
    await store.save_recording(
        recording.evolve(status="deleted", media_key=None, media_bytes=0, media_url=None)
    )

    await transcribe(recording, AUDIO, HEARD, None, store, storage, NOW)

    now = await store.get_recording(recording.recording_id)
    assert now is not None and (now.status, now.media_key) == ("deleted", None)


async def test_a_recording_still_there_gets_its_transcription(
    store: SqliteStore, tmp_path: Path
) -> None:
    storage = FileMediaStorage(tmp_path / "recordings")
    recording = sample_recording(3)
    await store.save_recording(recording)

    await transcribe(recording, AUDIO, HEARD, None, store, storage, NOW)

    now = await store.get_recording(recording.recording_id)
    assert now is not None and now.status == "complete"
    assert now.transcription is not None and now.transcription.status == "available"
    assert storage.read(transcript_key(recording.recording_id)) is not None


class HeldEngine:
    """A speech engine (the Transcriber seam) that answers once the test lets it."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def transcribe(self, pcm: bytes, sample_rate: int = 8000) -> Transcript:
        self.entered.set()
        self.release.wait(10)
        return Transcript("call me back", 0.5)


async def test_the_transcription_is_processing_while_the_engine_works(
    store: SqliteStore, tmp_path: Path
) -> None:
    storage = FileMediaStorage(tmp_path / "recordings")
    recording = sample_recording(4)
    await store.save_recording(recording)
    engine = HeldEngine()
    job = asyncio.ensure_future(transcribe(recording, AUDIO, None, engine, store, storage, NOW))
    await asyncio.to_thread(engine.entered.wait, 10)

    working = await store.get_recording(recording.recording_id)
    assert working is not None and working.transcription is not None
    assert (working.transcription.status, working.transcription.completed_time) == (
        "processing",
        None,
    )
    engine.release.set()
    await job
    done = await store.get_recording(recording.recording_id)
    assert done is not None and done.transcription is not None
    assert done.transcription.status == "available"
    assert done.transcription.id == working.transcription.id
