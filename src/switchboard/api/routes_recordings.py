"""Bandwidth's recordings paths (issue 13).

Under /api/v2/accounts/{accountId}:
GET    /recordings                                        listAccountCallRecordings
PUT    /calls/{callId}/recording                          updateCallRecordingState
GET    /calls/{callId}/recordings                         listCallRecordings
GET    /calls/{callId}/recordings/{recordingId}           getCallRecording
DELETE /calls/{callId}/recordings/{recordingId}           deleteRecording
GET    /calls/{callId}/recordings/{recordingId}/media     downloadCallRecording
DELETE /calls/{callId}/recordings/{recordingId}/media     deleteRecordingMedia
GET    /calls/{callId}/recordings/{recordingId}/transcription  getRecordingTranscription
POST   /calls/{callId}/recordings/{recordingId}/transcription  transcribeCallRecording
DELETE /calls/{callId}/recordings/{recordingId}/transcription  deleteRecordingTranscription

Isolation as for calls: 401 without valid credentials, 403 for another account's path, and a
recording of another account (or of another call than the path's) reads exactly like an unknown
one: 404, never listed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from switchboard.api.body import read_json_object
from switchboard.api.context import ApiContext, context_of
from switchboard.api.forwarding import answer_from_owner
from switchboard.api.responses import JsonResponse
from switchboard.api.routes_call_control import call_of_account
from switchboard.calls import validation as check
from switchboard.calls.ids import format_time
from switchboard.calls.listing import parse_list_query
from switchboard.errors import ConflictError, NotFoundError, UnavailableError, ValidationError
from switchboard.recordings.model import MEDIA_TYPES, Recording
from switchboard.recordings.storage import MediaStorage
from switchboard.recordings.store import RecordingStore
from switchboard.recordings.transcription import transcript_key
from switchboard.recordings.urls import media_url
from switchboard.webhooks.request import WebhookRequest

# The spec: "The list is capped at 1000 entries".
LIST_CAP = 1000
RECORDING_STATES = ("paused", "recording")  # recordingStateEnum
_LIST_FILTERS = ("to", "from", "minStartTime", "maxStartTime")
_NULLABLE = frozenset({"mediaUrl", "transcription"})  # callRecordingMetadata's nullable fields


def _backend(context: ApiContext) -> tuple[RecordingStore, MediaStorage]:
    if context.recordings is None or context.media is None:
        raise UnavailableError("This server keeps no recordings")
    return context.recordings, context.media


def _retained_since(context: ApiContext) -> str:
    """A recording past its retention is gone, as on Bandwidth, even before the hourly purge
    (recordings/retention.py) deletes it."""
    days = context.settings.recording_retention_days
    return format_time(context.calls.now() - timedelta(days=days))


def _retained(recording: Recording, since: str) -> bool:
    return recording.status == "processing" or (recording.end_time or recording.start_time) >= since


def _view(context: ApiContext, request: Request, recording: Recording) -> dict[str, Any]:
    """callRecordingMetadata. `mediaUrl` points at this server as the client reached it
    (`public_url` when set), while there are media to download."""
    # The spec lets only these two be null: any other field without a value is left out
    # (e.g. parentCallId of a call that was never transferred, endTime while recording).
    body = {
        name: value
        for name, value in recording.to_json().items()
        if value is not None or name in _NULLABLE
    }
    # Only a file that was written whole can be downloaded: a recording still `processing`, or
    # one a crash interrupted (`error`), has no media to point at.
    has_media = recording.media_key is not None
    body["mediaUrl"] = (
        media_url(context.base_url(request), recording)
        if has_media and recording.status != "deleted"
        else None
    )
    return body


async def _recording_of_path(request: Request) -> tuple[ApiContext, Recording]:
    context = context_of(request)
    account_id = request.path_params["account_id"]
    await context.authorize(request, account_id)
    store, _ = _backend(context)
    recording_id = request.path_params["recording_id"]
    recording = await store.get_recording(recording_id)
    if (
        recording is None
        or recording.account_id != account_id
        or recording.call_id != request.path_params["call_id"]
        or not _retained(recording, _retained_since(context))
    ):
        raise NotFoundError(f"Recording [{recording_id}] not found")
    return context, recording


def _refuse_while_recording(recording: Recording) -> None:
    # Its media are not written yet: deleting now would race the recorder's final write.
    if recording.status == "processing":
        raise ConflictError(
            f"Recording [{recording.recording_id}] is still in progress; stop it first"
        )


async def list_account_recordings(request: Request) -> Response:
    context = context_of(request)
    account_id = request.path_params["account_id"]
    await context.authorize(request, account_id)
    store, _ = _backend(context)
    # The same parameters as listCalls', validated by the same rules and messages.
    params = {
        name: request.query_params[name] for name in _LIST_FILTERS if name in request.query_params
    }
    call_filter = parse_list_query(params).filter
    recordings = await store.list_recordings(
        account_id,
        to=call_filter.to,
        from_=call_filter.from_,
        min_start_time=call_filter.min_start_time,
        max_start_time=call_filter.max_start_time,
        limit=LIST_CAP,
    )
    since = _retained_since(context)
    return JsonResponse(
        [
            _view(context, request, recording)
            for recording in recordings
            if _retained(recording, since)
        ]
    )


async def list_call_recordings(request: Request) -> Response:
    context = context_of(request)
    account_id = request.path_params["account_id"]
    await context.authorize(request, account_id)
    store, _ = _backend(context)
    call_id = request.path_params["call_id"]
    since = _retained_since(context)
    recordings = [
        recording
        for recording in await store.list_recordings(account_id, call_id=call_id, limit=LIST_CAP)
        if _retained(recording, since)
    ]
    if not recordings:
        # A call of this account with no recordings lists none; an unknown call, or another
        # account's, is 404 as in getCallState. (Recordings outlive their call's row: 30 days
        # against the calls' retention, so a call known only by its recordings is known.)
        await call_of_account(request)
    return JsonResponse([_view(context, request, recording) for recording in recordings])


async def get_recording(request: Request) -> Response:
    context, recording = await _recording_of_path(request)
    return JsonResponse(_view(context, request, recording))


async def delete_recording(request: Request) -> Response:
    context, recording = await _recording_of_path(request)
    _refuse_while_recording(recording)
    store, storage = _backend(context)
    # Media first: a crash in between leaves the row, and deleting again finishes the job; the
    # other order could leave a file nothing points at.
    if recording.media_key is not None:
        await asyncio.to_thread(storage.delete, recording.media_key)
    await store.delete_recording(recording.recording_id)
    return Response(status_code=204)


async def download_media(request: Request) -> Response:
    """The exact bytes, typed by the recording's format whatever the Accept header says: the
    official SDKs send their generated default `Accept: application/json` here (issue 24)."""
    context, recording = await _recording_of_path(request)
    _, storage = _backend(context)
    data = None
    if recording.media_key is not None and recording.status != "deleted":
        data = await asyncio.to_thread(storage.read, recording.media_key)
    if data is None:
        raise NotFoundError(f"Recording [{recording.recording_id}] has no media")
    return Response(data, media_type=MEDIA_TYPES[recording.file_format])


async def delete_media(request: Request) -> Response:
    """204; the recording stays, `deleted`, without media (the spec's status value for it)."""
    context, recording = await _recording_of_path(request)
    _refuse_while_recording(recording)
    store, storage = _backend(context)
    if recording.media_key is not None:
        await asyncio.to_thread(storage.delete, recording.media_key)
    if recording.status != "deleted" or recording.media_key is not None:
        await store.save_recording(
            recording.evolve(status="deleted", media_key=None, media_bytes=0, media_url=None)
        )
    return Response(status_code=204)


async def update_recording_state(request: Request) -> Response:
    context, call = await call_of_account(request)
    if (owners := await answer_from_owner(request, context, call)) is not None:
        return owners  # the recording is on the node that runs the call (issue 18)
    body = await read_json_object(request)
    state = body.get("state")
    if state not in RECORDING_STATES:
        raise ValidationError(
            f"Invalid state: must be one of {', '.join(RECORDING_STATES)}, got "
            f"{'nothing' if state is None else repr(state)}"
        )
    assert context.engine is not None
    await context.engine.update_recording(call, str(state))
    return Response(status_code=200)


async def get_transcription(request: Request) -> Response:
    """recordingTranscriptions: the stored transcript; 404 while there is none."""
    context, recording = await _recording_of_path(request)
    _, storage = _backend(context)
    data = None
    meta = recording.transcription
    if meta is not None and meta.status == "available":
        data = await asyncio.to_thread(storage.read, transcript_key(recording.recording_id))
    if data is None:
        status = meta.status if meta is not None else "none"
        raise NotFoundError(
            f"Recording [{recording.recording_id}] has no transcription (status {status})"
        )
    return Response(data, media_type="application/json")


async def request_transcription(request: Request) -> Response:
    """transcribeCallRecording: 204 now; the transcription follows (transcriptionAvailable to
    callbackUrl). One per recording: a new request replaces the old transcript."""
    context, recording = await _recording_of_path(request)
    _refuse_while_recording(recording)
    if recording.media_key is None or recording.status != "complete":
        raise ConflictError(f"Recording [{recording.recording_id}] has no media to transcribe")
    body = await read_json_object(request)
    callback_url = check.url(body, "callbackUrl")
    method = check.method(body, "callbackMethod") or "POST"
    timeout = check.number(body, "callbackTimeout", minimum=1, maximum=25)
    callback = (
        WebhookRequest(
            callback_url,
            method,  # type: ignore[arg-type]
            {},
            check.string(body, "username", max_length=1024),
            check.string(body, "password", max_length=1024),
            float(timeout if timeout is not None else 15),
        )
        if callback_url
        else None
    )
    tag = check.string(body, "tag", max_length=256)
    assert context.engine is not None
    context.engine.transcribe_recording(recording, callback, tag)
    return Response(status_code=204)


async def delete_transcription(request: Request) -> Response:
    context, recording = await _recording_of_path(request)
    if recording.transcription is None:
        raise NotFoundError(f"Recording [{recording.recording_id}] has no transcription")
    store, storage = _backend(context)
    await asyncio.to_thread(storage.delete, transcript_key(recording.recording_id))
    await store.save_recording(recording.evolve(transcription=None))
    return Response(status_code=204)
