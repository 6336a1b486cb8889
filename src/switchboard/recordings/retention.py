"""Recordings over time: the ones a crash left unfinished, and the ones past their retention.

Bandwidth keeps recordings 30 days (bxml/record.mdx); `[recordings] retention_days` sets it here.
Run from the server's lifespan, beside the engine (which purges calls the same way): at start,
`mark_unfinished_failed` before the engine starts any new recording, then `start` purges now
and every hour.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Protocol

from switchboard.activity import Activity
from switchboard.calls.ids import format_time
from switchboard.clock import Clock, TimerHandle
from switchboard.recordings.model import Recording
from switchboard.recordings.storage import MediaStorage
from switchboard.recordings.store import RecordingStore

logger = logging.getLogger("switchboard.recordings")
PURGE_INTERVAL_SECONDS = 3600.0


class RetainedRecordings(RecordingStore, Protocol):
    async def recordings_ended_before(self, cutoff: str, limit: int = 500) -> list[Recording]:
        """Up to `limit` recordings past a retention that ended at `cutoff` (never one still
        `processing`), oldest first."""
        ...


class RecordingRetention:
    def __init__(
        self,
        store: RetainedRecordings,
        storage: MediaStorage,
        clock: Clock,
        activity: Activity,
        retention: timedelta,
    ) -> None:
        self.store = store
        self.storage = storage
        self.clock = clock
        self.activity = activity
        self.retention = retention
        self._timer: TimerHandle | None = None

    async def mark_unfinished_failed(self) -> int:
        """Recordings still `processing` when the previous run stopped lost the rest of their
        audio with the process: each is marked `error` (its media, if any was written, stays:
        a file is only ever whole, see storage.py), never left looking live."""
        unfinished = await self.store.recordings_in_status("processing")
        for recording in unfinished:
            await self.store.save_recording(recording.evolve(status="error"))
        if unfinished:
            logger.warning(
                "marked %d recordings interrupted by a restart as error", len(unfinished)
            )
        return len(unfinished)

    async def purge(self) -> int:
        """Remove the media, then the row, of every recording past its retention. Media first:
        a crash in between leaves a row whose purge runs again, never an orphan file."""
        cutoff = format_time(self.clock.wall() - self.retention)
        total = 0
        while batch := await self.store.recordings_ended_before(cutoff):
            for recording in batch:
                if recording.media_key is not None:
                    await asyncio.to_thread(self.storage.delete, recording.media_key)
                await self.store.delete_recording(recording.recording_id)
            total += len(batch)
        if total:
            logger.info("purged %d recordings that ended before %s", total, cutoff)
        return total

    def start(self) -> None:
        """Purge now, then every hour (on the clock: a virtual one in tests)."""
        self._schedule(0.0)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self, delay: float) -> None:
        self._timer = self.clock.call_later(delay, self._tick)

    def _tick(self) -> None:
        self.activity.spawn(self._purge_logged())
        self._schedule(PURGE_INTERVAL_SECONDS)

    async def _purge_logged(self) -> None:
        try:
            await self.purge()
        except Exception:  # the next hour tries again; the server goes on
            logger.exception("purging old recordings failed")
