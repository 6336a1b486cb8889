"""Transcribing a recording: known text or the speech engine, stored beside the media.

Bandwidth's rules (record.mdx): only recordings longer than 500 ms and shorter than 4 hours; one
transcription per recording (a new request replaces the old one). The transcript is stored in
the media storage as `{recordingId}.transcript.json`, in the API's shape (recordingTranscriptions:
`transcripts` with text and confidence, one per speaker); the recording's `transcription`
metadata says its id, status, completion time and URL.

Where the text comes from:
- known text: on the simulated network the phones' and Switchboard's speech are scripted, so
  the transcript is what was said during the recording (the default; `[simulator] transcription
  = "engine"` asks for the engine instead);
- the speech engine (speech/stt.py, PocketSphinx) on the recorded audio, per channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import orjson

from switchboard.calls.ids import format_time
from switchboard.network.base import Voice
from switchboard.recordings.model import Recording, TranscriptionMeta
from switchboard.recordings.recorder import RecordedAudio
from switchboard.recordings.storage import MediaStorage
from switchboard.recordings.store import RecordingStore
from switchboard.speech.stt import Transcriber, Transcript, transcribable

SPEAKERS = {"inbound": 0, "outbound": 1}
_transcription_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transcription")


def transcript_key(recording_id: str) -> str:
    return f"{recording_id}.transcript.json"


def transcription_url(recording: Recording) -> str | None:
    if recording.media_url is None:
        return None
    return recording.media_url.removesuffix("/media") + "/transcription"


def known_transcripts(
    voices: Sequence[Voice], start: float, end: float, channels: int
) -> list[tuple[int, Transcript]]:
    """What was said between `start` and `end` (engine clock), from the network's Voice
    segments: one transcript per speaker (far end 0, Switchboard 1) on a two-channel recording,
    one for everybody on a mono one."""
    heard = sorted(
        (v for v in voices if v.text and v.end > start and v.start < end), key=lambda v: v.start
    )
    if channels == 1:
        text = " ".join(v.text or "" for v in heard)
        return [(0, Transcript(text, 1.0))] if text else []
    result = []
    for track, speaker in SPEAKERS.items():
        text = " ".join(v.text or "" for v in heard if v.track == track)
        if text:
            result.append((speaker, Transcript(text, 1.0)))
    return result


def engine_transcripts(audio: RecordedAudio, engine: Transcriber) -> list[tuple[int, Transcript]]:
    """The engine on each channel (blocking: run it in a thread)."""
    result = []
    for speaker, pcm in enumerate(audio.pcm):
        transcript = engine.transcribe(pcm)
        if transcript.text:
            result.append((speaker, transcript))
    return result


def transcript_document(transcripts: Sequence[tuple[int, Transcript]]) -> dict[str, object]:
    return {
        "transcripts": [
            {"speaker": speaker, "text": t.text, "confidence": round(t.confidence, 2)}
            for speaker, t in transcripts
        ]
    }


async def transcribe(
    recording: Recording,
    audio: RecordedAudio,
    transcripts: list[tuple[int, Transcript]] | None,
    engine: Transcriber | None,
    store: RecordingStore,
    storage: MediaStorage,
    now: datetime,
) -> Recording:
    """Transcribe `recording` (its `audio`; `transcripts` when the text is known), store the
    transcript, and return the recording with its `transcription` metadata, saved."""
    meta = TranscriptionMeta(
        id=f"t-{uuid.uuid4()}", status="processing", url=transcription_url(recording)
    )
    await _set_transcription(store, recording.recording_id, meta)  # `processing` meanwhile
    refused = transcribable(audio.seconds)
    status = "available"
    if refused is not None:
        status = refused
    else:
        try:
            if transcripts is None:
                if engine is None:
                    raise RuntimeError("no speech engine")
                # On a thread of its own, not the loop's default pool: transcriptions can
                # queue for a while (one engine, one utterance at a time), and the default
                # pool's few threads also save recordings and serve media.
                loop = asyncio.get_running_loop()
                transcripts = await loop.run_in_executor(
                    _transcription_thread, engine_transcripts, audio, engine
                )
            document = orjson.dumps(transcript_document(transcripts))
            await asyncio.to_thread(storage.write, transcript_key(recording.recording_id), document)
        except Exception:
            status = "error"
    done = TranscriptionMeta(meta.id, status, format_time(now), meta.url)
    finished = await _set_transcription(store, recording.recording_id, done)
    if finished is not None:
        return finished
    if status == "available":  # deleted meanwhile: no transcript left behind either
        with contextlib.suppress(OSError):
            await asyncio.to_thread(storage.delete, transcript_key(recording.recording_id))
    return recording.evolve(transcription=done)


async def _set_transcription(
    store: RecordingStore, recording_id: str, meta: TranscriptionMeta
) -> Recording | None:
    """The recording's transcription set to `meta` on its row as it is now, saved; None when
    the app deleted the recording, or its media, while the engine worked (download then
    delete is common): nothing deleted comes back."""
    current = await store.get_recording(recording_id)
    if current is None or current.status == "deleted":
        return None
    updated = current.evolve(transcription=meta)
    await store.save_recording(updated)
    return updated


def decode_media(data: bytes, file_format: str) -> RecordedAudio:
    """A stored recording back to PCM (for a transcription requested through the API)."""
    if file_format == "wav":
        import io
        import wave

        with wave.open(io.BytesIO(data)) as file:
            channels = file.getnchannels()
            frames = file.readframes(file.getnframes())
            seconds = file.getnframes() / file.getframerate()
    else:
        import miniaudio

        decoded = miniaudio.decode(
            data, output_format=miniaudio.SampleFormat.SIGNED16, sample_rate=8000
        )
        channels, frames = decoded.nchannels, decoded.samples.tobytes()
        seconds = decoded.num_frames / 8000
    if channels == 1:
        return RecordedAudio(1, seconds, (frames,))
    from array import array

    interleaved = array("h")
    interleaved.frombytes(frames)
    return RecordedAudio(
        channels,
        seconds,
        tuple(interleaved[c::channels].tobytes() for c in range(channels)),
    )


def available_payload(
    recording: Recording, event_time: datetime, tag: str | None
) -> dict[str, object]:
    """transcriptionAvailable for a transcription requested through the API: everything it
    carries is on the recording's row (the call may be long over)."""
    assert recording.transcription is not None
    call_url = (recording.media_url or "").split("/recordings/")[0] or None
    payload: dict[str, object] = {
        "eventType": "transcriptionAvailable",
        "eventTime": format_time(event_time),
        "accountId": recording.account_id,
        "applicationId": recording.application_id,
        "callId": recording.call_id,
    }
    if recording.parent_call_id:
        payload["parentCallId"] = recording.parent_call_id
    payload.update(
        {
            "recordingId": recording.recording_id,
            "to": recording.to,
            "from": recording.from_,
            "direction": recording.direction,
        }
    )
    if tag:
        payload["tag"] = tag
    payload.update(
        {
            "startTime": recording.start_time,
            "endTime": recording.end_time,
            "duration": recording.duration,
            "fileFormat": recording.file_format,
            "callUrl": call_url,
            "mediaUrl": recording.media_url,
            "transcription": recording.transcription.to_json(),
        }
    )
    if recording.transfer_caller_id:
        payload["transferCallerId"] = recording.transfer_caller_id
        payload["transferTo"] = recording.transfer_to
    return {key: value for key, value in payload.items() if value is not None}
