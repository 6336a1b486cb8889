"""Recordings as the engine would store them, for tests of the store, retention and the API."""

from __future__ import annotations

from typing import Any

from switchboard.recordings.model import Recording


def sample_recording(number: int, **changes: Any) -> Recording:
    """A complete recording of call `c-<number>`, started at second `number` of a fixed
    minute, ended 10 s later."""
    recording = Recording(
        recording_id=f"r-{number:08x}-0000-4000-8000-000000000000",
        account_id="9900001",
        call_id=f"c-{number:08x}-00000000-0000-4000-8000-000000000000",
        application_id="04e88489-df02-4e34-a0ee-27a91849555f",
        from_="+15555550100",
        to="+15555550200",
        direction="outbound",
        file_format="wav",
        channels=1,
        start_time=f"2025-01-02T03:04:{number:02d}.000Z",
        end_time=f"2025-01-02T03:05:{number:02d}.000Z",
        duration="PT60S",
        status="complete",
        media_key=f"r-{number:08x}-0000-4000-8000-000000000000.wav",
        media_bytes=44,
    )
    return recording.evolve(**changes)
