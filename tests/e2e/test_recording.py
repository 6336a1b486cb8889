"""Recording apps as Bandwidth users write them (bxml/record.mdx, startRecording.mdx,
pauseRecording.mdx, webhooks/recordComplete.mdx, recordingAvailable.mdx), with the official SDK's
BXML builders and its RecordingsApi, on the simulated network where phones talk."""

from __future__ import annotations

import array
import io
import math
import wave
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bandwidth.api.recordings_api import RecordingsApi
from bandwidth.models.bxml import (
    Hangup,
    Pause,
    PauseRecording,
    Record,
    Redirect,
    Response,
    ResumeRecording,
    SpeakSentence,
    StartRecording,
    StopRecording,
)

from tests.e2e.control import sdk_client
from tests.e2e.flow import create_call, entries, now, since, timeline
from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID, PASSWORD, USERNAME, VirtualTimeServer

CALLER = "+15555550170"  # configured per test through the phone API: it talks
GREETING = "Leave a message"  # 3 words: 1.2 s at 150 words per minute


@pytest.fixture
def recordings_api(vserver: VirtualTimeServer) -> Iterator[RecordingsApi]:
    with sdk_client(vserver, USERNAME, PASSWORD) as client:
        yield RecordingsApi(client)


def phone(switchboard: httpx.Client, **behaviour: Any) -> None:
    response = switchboard.put(f"/switchboard/v1/phones/{CALLER}", json=behaviour)
    assert response.status_code == 200, response.text


def wav(data: bytes) -> tuple[int, float, list[array.array[int]]]:
    with wave.open(io.BytesIO(data)) as file:
        assert (file.getsampwidth(), file.getframerate()) == (2, 8000)
        channels = file.getnchannels()
        frames = file.readframes(file.getnframes())
        seconds = file.getnframes() / 8000
    interleaved = array.array("h")
    interleaved.frombytes(frames)
    return channels, seconds, [interleaved[c::channels] for c in range(channels)]


def loudness(samples: array.array[int], start: float, end: float) -> float:
    window = samples[round(start * 8000) : round(end * 8000)]
    return math.sqrt(sum(s * s for s in window) / len(window)) if window else 0.0


def voicemail() -> str:
    return Response(
        [
            SpeakSentence(GREETING),
            Record(
                record_complete_url="/record-complete",
                recording_available_url="/recording-available",
                max_duration=30,
            ),
            SpeakSentence("ignored: recordCompleteUrl is set"),
        ]
    ).to_bxml()


def test_a_voicemail_records_the_caller_until_the_pound_key(
    vserver: VirtualTimeServer,
    app: Receiver,
    switchboard: httpx.Client,
    calls_api: Any,
    recordings_api: RecordingsApi,
) -> None:
    # Answers after 1 s; talks from 2 s after answering; presses # 6 s after answering.
    phone(
        switchboard,
        answer_after=1.0,
        speech=[{"at": 2.0, "text": "Hi it is Ann please call me back"}],
        digits=[{"at": 6.0, "digits": "#"}],
    )
    app.on("/answer", voicemail())
    app.on("/record-complete", Response([SpeakSentence("Thank you"), Hangup()]).to_bxml())
    started = now(vserver)
    call_id = create_call(calls_api, app, CALLER)
    vserver.advance(60)

    (complete,) = app.events("recordComplete")
    recording_id = complete["recordingId"]
    assert recording_id.startswith("r-") and complete["callId"] == call_id
    # Recording from the end of the greeting (1 s + 1.2 s) to the # at 7 s: 4.8 s.
    assert since(started, complete["startTime"]) == 2.2
    assert since(started, complete["endTime"]) == 7.0
    assert (complete["duration"], complete["channels"], complete["fileFormat"]) == (
        "PT4.8S",
        1,
        "wav",
    )
    assert complete["mediaUrl"].endswith(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}/recordings/{recording_id}/media"
    )
    (available,) = app.events("recordingAvailable")
    assert available["status"] == "complete" and available["recordingId"] == recording_id
    assert [r.path for r in app.received][:3] == [
        "/answer",
        "/recording-available",
        "/record-complete",
    ] or [r.path for r in app.received][:3] == [
        "/answer",
        "/record-complete",
        "/recording-available",
    ]

    (listed,) = recordings_api.list_call_recordings(ACCOUNT_ID, call_id)
    assert (listed.recording_id, listed.status, listed.duration) == (
        recording_id,
        "complete",
        "PT4.8S",
    )
    media = recordings_api.download_call_recording(ACCOUNT_ID, call_id, recording_id)
    channels, seconds, (samples,) = wav(bytes(media))
    assert (channels, seconds) == (1, 4.8)
    # The caller talked from 3 s into the call, i.e. 0.8 s into the recording.
    assert loudness(samples, 0.0, 0.7) < 50  # nothing before the caller speaks
    assert loudness(samples, 1.0, 2.5) > 500  # the caller's voice
    spoken = entries(timeline(switchboard, call_id), "verb", verb="SpeakSentence", event="started")
    assert [e["text"] for e in spoken] == [GREETING, "Thank you"]


def test_silence_timeout_ends_the_record_after_the_caller_stops_talking(
    vserver: VirtualTimeServer, app: Receiver, switchboard: httpx.Client, calls_api: Any
) -> None:
    phone(switchboard, answer_after=1.0, speech=[{"at": 1.0, "text": "Short note"}], digits="")
    record = Record(silence_timeout=2, record_complete_url="/record-complete")
    app.on("/answer", Response([record]).to_bxml())
    app.on("/record-complete", Response([Hangup()]).to_bxml())
    create_call(calls_api, app, CALLER)
    vserver.advance(60)
    (complete,) = app.events("recordComplete")
    # Not 2 s after the start (the caller spoke from 1 s), but 2 s after the line ended.
    seconds = float(complete["duration"][2:-1])
    assert 3.5 < seconds < 6.0


def test_max_duration_ends_the_record_and_without_complete_url_the_next_verbs_run(
    vserver: VirtualTimeServer, app: Receiver, switchboard: httpx.Client, calls_api: Any
) -> None:
    phone(switchboard, answer_after=1.0, speech="", digits="")
    app.on(
        "/answer",
        Response([Record(max_duration=3, file_format="mp3"), SpeakSentence("Over")]).to_bxml(),
    )
    call_id = create_call(calls_api, app, CALLER)
    vserver.advance(60)
    assert app.events("recordComplete") == []
    items = timeline(switchboard, call_id)
    saved = entries(items, "recording", event="saved")
    assert [(e["status"], e["duration"]) for e in saved] == [("complete", "PT3S")]
    spoken = entries(items, "verb", verb="SpeakSentence", event="started")
    assert [e["text"] for e in spoken] == ["Over"]


def test_a_caller_who_hangs_up_during_a_record_gets_no_record_complete_but_the_file_is_kept(
    vserver: VirtualTimeServer,
    app: Receiver,
    switchboard: httpx.Client,
    calls_api: Any,
    recordings_api: RecordingsApi,
) -> None:
    phone(switchboard, answer_after=1.0, hangup_after=4.0, speech="Bye then", digits="")
    app.on("/answer", voicemail())
    call_id = create_call(calls_api, app, CALLER)
    vserver.advance(60)
    assert app.events("recordComplete") == []
    (available,) = app.events("recordingAvailable")
    assert available["status"] == "complete"
    (listed,) = recordings_api.list_call_recordings(ACCOUNT_ID, call_id)
    assert listed.duration == "PT2.8S"  # from 2.2 s to the hangup at 5 s
    assert app.events("disconnect")[0]["cause"] == "hangup"


def test_start_recording_spans_a_redirect_and_leaves_the_paused_span_out(
    vserver: VirtualTimeServer,
    app: Receiver,
    switchboard: httpx.Client,
    calls_api: Any,
    recordings_api: RecordingsApi,
) -> None:
    phone(switchboard, answer_after=1.0, speech="", digits="")
    app.on(
        "/answer",
        Response(
            [
                StartRecording(recording_available_url="/recording-available", multi_channel=True),
                SpeakSentence("Part one"),  # 0.8 s
                PauseRecording(),
                Pause(duration=5),
                ResumeRecording(),
                Redirect(redirect_url="/second"),
            ]
        ).to_bxml(),
    )
    app.on(
        "/second",
        Response(
            [SpeakSentence("Part two"), StopRecording(), Pause(duration=1), Hangup()]
        ).to_bxml(),
    )
    call_id = create_call(calls_api, app, CALLER)
    vserver.advance(60)
    (available,) = app.events("recordingAvailable")
    assert (available["channels"], available["duration"]) == (2, "PT1.6S")
    (listed,) = recordings_api.list_call_recordings(ACCOUNT_ID, call_id)
    media = recordings_api.download_call_recording(ACCOUNT_ID, call_id, listed.recording_id)
    channels, seconds, (caller, ours) = wav(bytes(media))
    assert (channels, seconds) == (2, 1.6)
    assert loudness(ours, 0.1, 0.7) > 300 and loudness(ours, 0.9, 1.5) > 300  # both parts
    assert loudness(caller, 0.0, 1.6) < 50  # the phone said nothing


def test_put_recording_pauses_and_resumes_and_409_without_a_recording(
    vserver: VirtualTimeServer, app: Receiver, switchboard: httpx.Client, calls_api: Any
) -> None:
    phone(switchboard, answer_after=1.0, speech="", digits="")
    app.on("/answer", Response([Pause(duration=30)]).to_bxml())
    call_id = create_call(calls_api, app, CALLER)
    vserver.advance(3)
    url = f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}/recording"
    refused = switchboard.put(url, json={"state": "paused"})
    assert refused.status_code == 409
    assert set(refused.json()) == {"type", "description", "id"}
    put = switchboard.put(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}/bxml",
        content="<Bxml><StartRecording/><Pause duration='10'/><Hangup/></Bxml>",
        headers={"Content-Type": "application/xml"},
    )
    assert put.status_code == 204
    vserver.advance(2)
    assert switchboard.put(url, json={"state": "paused"}).status_code == 200
    vserver.advance(5)
    assert switchboard.put(url, json={"state": "recording"}).status_code == 200
    vserver.advance(30)
    saved = entries(timeline(switchboard, call_id), "recording", event="saved")
    assert [e["duration"] for e in saved] == ["PT5S"]  # 10 s less the 5 s paused


# -- transcription -------------------------------------------------------------------------


def test_record_with_transcribe_gives_the_callers_words_and_transcription_available(
    vserver: VirtualTimeServer,
    app: Receiver,
    switchboard: httpx.Client,
    calls_api: Any,
    recordings_api: RecordingsApi,
) -> None:
    words = "Please call me back tomorrow"
    phone(switchboard, answer_after=1.0, speech=[{"at": 1.5, "text": words}], digits="")
    record = Record(
        transcribe=True,
        transcription_available_url="/transcription-available",
        max_duration=6,
    )
    app.on("/answer", Response([SpeakSentence(GREETING), record]).to_bxml())
    call_id = create_call(calls_api, app, CALLER)
    vserver.advance(60)
    (event,) = app.events("transcriptionAvailable")
    recording_id = event["recordingId"]
    assert event["callId"] == call_id and event["transcription"]["status"] == "available"
    assert event["transcription"]["id"].startswith("t-")
    assert event["transcription"]["url"].endswith(f"/recordings/{recording_id}/transcription")
    assert "channels" not in event
    result = recordings_api.get_recording_transcription(ACCOUNT_ID, call_id, recording_id)
    # Known text: the greeting was before the recording; only the caller's words are in it.
    assert [(t.text, t.confidence) for t in result.transcripts] == [(words, 1.0)]
    (listed,) = recordings_api.list_call_recordings(ACCOUNT_ID, call_id)
    assert listed.transcription.status == "available"

    recordings_api.delete_recording_transcription(ACCOUNT_ID, call_id, recording_id)
    gone = switchboard.get(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}/recordings/{recording_id}/transcription"
    )
    assert gone.status_code == 404 and set(gone.json()) == {"type", "description", "id"}


def test_a_recording_too_short_to_transcribe_says_so(
    vserver: VirtualTimeServer, app: Receiver, switchboard: httpx.Client, calls_api: Any
) -> None:
    phone(switchboard, answer_after=1.0, speech="", digits=[{"at": 0.3, "digits": "#"}])
    record = Record(transcribe=True, transcription_available_url="/transcription-available")
    app.on("/answer", Response([record]).to_bxml())
    create_call(calls_api, app, CALLER)
    vserver.advance(30)
    (event,) = app.events("transcriptionAvailable")
    assert event["transcription"]["status"] == "file-size-too-small"


@pytest.mark.slow
def test_a_transcription_requested_through_the_api_uses_the_speech_engine(
    vserver: VirtualTimeServer,
    app: Receiver,
    switchboard: httpx.Client,
    calls_api: Any,
    recordings_api: RecordingsApi,
) -> None:
    phone(
        switchboard,
        answer_after=1.0,
        speech=[{"at": 0.5, "text": "hello world"}],
        digits=[{"at": 4.0, "digits": "#"}],
    )
    app.on("/answer", Response([Record(max_duration=10)]).to_bxml())
    call_id = create_call(calls_api, app, CALLER)
    vserver.advance(30)
    (listed,) = recordings_api.list_call_recordings(ACCOUNT_ID, call_id)
    response = switchboard.post(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}/recordings/{listed.recording_id}"
        "/transcription",
        json={"callbackUrl": app.url("/transcribed"), "tag": "requested"},
    )
    assert response.status_code == 204, response.text
    for _ in range(200):  # the engine runs in a thread, in real time
        vserver.settle()
        if app.events("transcriptionAvailable"):
            break
    (event,) = app.events("transcriptionAvailable")
    assert event["tag"] == "requested" and event["transcription"]["status"] == "available"
    result = recordings_api.get_recording_transcription(ACCOUNT_ID, call_id, listed.recording_id)
    (transcript,) = result.transcripts
    # The engine heard words in the audio (silence gives none) and is not certain of them, as
    # known text would be; its accuracy on espeak-ng's voice is measured in benchmarks.md.
    assert transcript.text.strip() and 0.0 <= transcript.confidence < 1.0
