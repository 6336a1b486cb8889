"""A recording as stored and as the API shows it (bandwidth-openapi.yml: callRecordingMetadata).

Pure. Times are Bandwidth's ISO 8601 strings (calls/ids.format_time); `duration` is an ISO 8601
duration like "PT13.67S" (the spec's example).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

FileFormat = Literal["wav", "mp3"]
# recordingAvailable.mdx / the spec's `status`: what became of the file.
RecordingStatus = Literal["processing", "partial", "complete", "deleted", "error"]
TranscriptionStatus = Literal[
    "none",
    "processing",
    "available",
    "error",
    "timeout",
    "file-size-too-big",
    "file-size-too-small",
]

MEDIA_TYPES: dict[str, str] = {"wav": "audio/vnd.wave", "mp3": "audio/mpeg"}


@dataclass(frozen=True, slots=True)
class TranscriptionMeta:
    """The recording's `transcription` object (recordingTranscriptionMetadata)."""

    id: str
    status: str
    completed_time: str | None = None
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "completedTime": self.completed_time,
            "url": self.url,
        }


@dataclass(frozen=True, slots=True)
class Recording:
    recording_id: str  # "r-" + a UUID, like Bandwidth's
    account_id: str
    call_id: str
    application_id: str
    from_: str
    to: str
    direction: str
    file_format: FileFormat
    channels: int
    start_time: str
    end_time: str | None = None
    duration: str | None = None  # "PT13.67S"
    status: RecordingStatus = "processing"
    media_url: str | None = None
    parent_call_id: str | None = None
    transfer_caller_id: str | None = None
    transfer_to: str | None = None
    recording_name: str | None = None
    transcription: TranscriptionMeta | None = None
    # Not shown: where the storage keeps the media, and its size in bytes.
    media_key: str | None = field(default=None, repr=False)
    media_bytes: int = 0

    def evolve(self, **changes: Any) -> Recording:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """callRecordingMetadata, in the spec's field order."""
        return {
            "applicationId": self.application_id,
            "accountId": self.account_id,
            "callId": self.call_id,
            "parentCallId": self.parent_call_id,
            "recordingId": self.recording_id,
            "to": self.to,
            "from": self.from_,
            "transferCallerId": self.transfer_caller_id,
            "transferTo": self.transfer_to,
            "duration": self.duration,
            "direction": self.direction,
            "channels": self.channels,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "fileFormat": self.file_format,
            "status": self.status,
            "mediaUrl": self.media_url,
            "transcription": self.transcription.to_json() if self.transcription else None,
            "recordingName": self.recording_name,
        }

    def to_row(self) -> dict[str, Any]:
        """Every field, as the store keeps it (the `data` column; the hidden ones too)."""
        return {
            "recording_id": self.recording_id,
            "account_id": self.account_id,
            "call_id": self.call_id,
            "application_id": self.application_id,
            "from": self.from_,
            "to": self.to,
            "direction": self.direction,
            "file_format": self.file_format,
            "channels": self.channels,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "duration": self.duration,
            "status": self.status,
            "media_url": self.media_url,
            "parent_call_id": self.parent_call_id,
            "transfer_caller_id": self.transfer_caller_id,
            "transfer_to": self.transfer_to,
            "recording_name": self.recording_name,
            "transcription": (
                None
                if self.transcription is None
                else {
                    "id": self.transcription.id,
                    "status": self.transcription.status,
                    "completed_time": self.transcription.completed_time,
                    "url": self.transcription.url,
                }
            ),
            "media_key": self.media_key,
            "media_bytes": self.media_bytes,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Recording:
        transcription = row.get("transcription")
        return cls(
            recording_id=row["recording_id"],
            account_id=row["account_id"],
            call_id=row["call_id"],
            application_id=row["application_id"],
            from_=row["from"],
            to=row["to"],
            direction=row["direction"],
            file_format=row["file_format"],
            channels=row["channels"],
            start_time=row["start_time"],
            end_time=row.get("end_time"),
            duration=row.get("duration"),
            status=row.get("status", "processing"),
            media_url=row.get("media_url"),
            parent_call_id=row.get("parent_call_id"),
            transfer_caller_id=row.get("transfer_caller_id"),
            transfer_to=row.get("transfer_to"),
            recording_name=row.get("recording_name"),
            transcription=(
                None
                if transcription is None
                else TranscriptionMeta(
                    transcription["id"],
                    transcription["status"],
                    transcription.get("completed_time"),
                    transcription.get("url"),
                )
            ),
            media_key=row.get("media_key"),
            media_bytes=row.get("media_bytes", 0),
        )


def iso_duration(seconds: float) -> str:
    """ISO 8601 duration as Bandwidth writes it: PT13.67S (two decimals at most)."""
    text = f"{seconds:.2f}".rstrip("0").rstrip(".")
    return f"PT{text}S"
