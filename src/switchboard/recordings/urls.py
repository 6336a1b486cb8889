"""Where a recording's media can be downloaded: Switchboard's own media endpoint."""

from __future__ import annotations

from switchboard.recordings.model import Recording


def media_url(base_url: str, recording: Recording) -> str:
    """downloadCallRecording's URL under `base_url` (ApiContext.base_url for an API answer,
    `public_url` or the listening address for a webhook)."""
    return (
        f"{base_url.rstrip('/')}/api/v2/accounts/{recording.account_id}"
        f"/calls/{recording.call_id}/recordings/{recording.recording_id}/media"
    )
