"""The recordings' metadata rows: the seam the engine and the API use (SQLite implements it)."""

from __future__ import annotations

from typing import Protocol

from switchboard.recordings.model import Recording


class RecordingStore(Protocol):
    async def save_recording(self, recording: Recording) -> None:
        """Insert or replace the row of `recording.recording_id` (durable when it returns)."""
        ...

    async def get_recording(self, recording_id: str) -> Recording | None: ...

    async def list_recordings(
        self,
        account_id: str,
        *,
        call_id: str | None = None,
        to: str | None = None,
        from_: str | None = None,
        min_start_time: str | None = None,
        max_start_time: str | None = None,
        limit: int = 1000,
    ) -> list[Recording]:
        """The account's recordings (of one call when `call_id`), oldest first."""
        ...

    async def delete_recording(self, recording_id: str) -> bool: ...

    async def recordings_in_status(self, status: str) -> list[Recording]:
        """E.g. those still `processing` when the server stopped (marked `error` at start)."""
        ...
