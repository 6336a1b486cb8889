"""A call's recording while it runs: its tap, its recorder, its row, and saving it at the end.

Owned by the call's runner (one per <Record>, one for <StartRecording>); audio goes tap -> recorder
directly (media never goes through mailboxes), and what the runner must act on (someone spoke,
for <Record silenceTimeout>) goes through its mailbox as a message.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from switchboard.bxml.verbs import Record, StartRecording
from switchboard.calls.ids import format_time
from switchboard.calls.model import Call
from switchboard.network.base import Audio, Tap, Voice
from switchboard.recordings.model import Recording, iso_duration
from switchboard.recordings.recorder import RecordedAudio, Recorder, encode
from switchboard.recordings.storage import MediaStorage
from switchboard.recordings.store import RecordingStore

RecordingVerb = Record | StartRecording


@dataclass
class ActiveRecording:
    verb: RecordingVerb
    recording: Recording
    recorder: Recorder
    tap: Tap | None = None
    last_voice_end: float = 0.0  # engine clock: when the far end last stopped talking
    voices: list[Voice] = field(default_factory=list)

    @property
    def is_record_verb(self) -> bool:
        return isinstance(self.verb, Record)

    def sink(self, on_voice: Callable[[Voice], None]) -> Callable[[Audio | Voice], None]:
        def take(piece: Audio | Voice) -> None:
            if isinstance(piece, Audio):
                self.recorder.add(piece)
            else:
                on_voice(piece)

        return take


def new_recording(call: Call, verb: RecordingVerb, started: datetime) -> Recording:
    recording_id = f"r-{uuid.uuid4()}"
    multichannel = isinstance(verb, StartRecording) and verb.multi_channel
    base = call.call_url  # .../accounts/{a}/calls/{c}: the recording's media lives below it
    return Recording(
        recording_id=recording_id,
        account_id=call.account_id,
        call_id=call.call_id,
        application_id=call.request.application_id,
        from_=call.request.from_,
        to=call.request.to,
        direction=call.direction,
        file_format=verb.file_format,
        channels=2 if multichannel else 1,
        start_time=format_time(started),
        status="processing",
        media_url=f"{base}/recordings/{recording_id}/media",
        parent_call_id=_extra(call, "parent_call_id"),
        transfer_caller_id=_extra(call, "transfer_caller_id"),
        transfer_to=_extra(call, "transfer_to"),
        recording_name=verb.recording_name,
    )


def _extra(call: Call, key: str) -> str | None:
    value = call.extra.get(key)
    return value if isinstance(value, str) else None


async def save(
    active: ActiveRecording,
    ended: datetime,
    at: float,
    store: RecordingStore,
    storage: MediaStorage,
) -> tuple[Recording, RecordedAudio]:
    """Stop listening, encode what was heard, write the file, then the row (a row says
    `complete` only once its file is whole; a failure leaves it `error`)."""
    if active.tap is not None:
        active.tap.close()
        active.tap = None
    # In a thread: laying out a long recording takes ~0.5 ms a second of audio, which on the
    # loop would hold back every SIP call's RTP (no tap adds pieces once it is closed).
    audio = await asyncio.to_thread(active.recorder.finish, at)
    recording = active.recording.evolve(
        end_time=format_time(ended),
        duration=iso_duration(audio.seconds),
        channels=audio.channels,
    )
    key = f"{recording.recording_id}.{recording.file_format}"
    try:
        data = await asyncio.to_thread(encode, audio, recording.file_format)
        size = await asyncio.to_thread(storage.write, key, data)
    except Exception:
        recording = recording.evolve(status="error")
    else:
        recording = recording.evolve(status="complete", media_key=key, media_bytes=size)
    await store.save_recording(recording)
    return recording, audio


def event_fields(recording: Recording) -> dict[str, object]:
    """What recordComplete and recordingAvailable carry of the recording (their pages)."""
    fields: dict[str, object] = {
        "recordingId": recording.recording_id,
        "mediaUrl": recording.media_url,
        "startTime": recording.start_time,
        "endTime": recording.end_time,
        "duration": recording.duration,
        "channels": recording.channels,
        "fileFormat": recording.file_format,
    }
    if recording.transfer_caller_id:
        fields["transferCallerId"] = recording.transfer_caller_id
        fields["transferTo"] = recording.transfer_to
    return fields
