"""The WAL stays bounded under a write storm (issue 23): a Redirect loop's 25 MB/s of timeline
rows once took it to 3.4 GB, passive checkpoints never shrinking it. A real SQLite file."""

from __future__ import annotations

import os
from pathlib import Path

from switchboard.calls.timeline import TimelineEntry
from switchboard.store.sqlite import SqliteStore
from tests.unit.store.test_sqlite_writes import make_call

MAX_BYTES = 1024 * 1024
ENTRY = {"responseBody": "x" * 2000}  # a timeline entry with a webhook's body excerpt
WRITES = 800  # of 20 entries each: ~32 MB of rows, far under the 1,000-write checkpoint


def size_of(path: str) -> int:
    return os.stat(path).st_size


async def test_a_write_storm_leaves_the_wal_under_its_limit(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "switchboard.db", wal_max_bytes=MAX_BYTES)
    await store.open()
    wal = store.path + "-wal"
    try:
        call = make_call(1)
        await store.insert_call(call)
        peak = 0
        for write in range(WRITES):
            entries = [
                TimelineEntry(write * 20 + n + 1, "2025-01-02T03:04:05.000Z", "webhook", ENTRY)
                for n in range(20)
            ]
            await store.append_timeline(call.call_id, entries)
            peak = max(peak, size_of(wal))
        checkpointer = store._checkpointer
        assert checkpointer is not None and checkpointer.wait_idle(30)
        written = WRITES * 20 * 2000
        # Without the bound, the file keeps every frame written since the last checkpoint
        # (none ran: fewer than 1,000 writes): ~32 MB.
        assert size_of(wal) <= MAX_BYTES
        # Past twice the limit the writer itself truncates: never more than that and a batch.
        assert peak <= 3 * MAX_BYTES < written / 10, (peak, written)
        assert checkpointer.truncations > 0
        assert len(await store.timeline(call.call_id)) == WRITES * 20  # nothing lost
    finally:
        await store.close()
