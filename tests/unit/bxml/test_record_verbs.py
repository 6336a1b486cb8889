"""<Record>, <StartRecording>, <PauseRecording>, <ResumeRecording>, <StopRecording>: parsing,
and what the interpreter asks and waits for (bxml/record.mdx and friends)."""

from __future__ import annotations

import pytest

from switchboard.bxml import State, actions, events, find_bxml_problems, verbs
from switchboard.bxml.interpreter import RECORD_TIMER
from tests.unit.bxml.helpers import HANGUP, callback, document, speak, started


def test_record_and_its_defaults() -> None:
    (record,) = document("<Record/>").verbs
    assert isinstance(record, verbs.Record)
    assert (record.terminating_digits, record.max_duration, record.silence_timeout) == (
        "#",
        60.0,
        0.0,
    )
    assert (record.file_format, record.transcribe, record.record_complete_url) == (
        "wav",
        False,
        None,
    )


def test_record_every_attribute() -> None:
    (record,) = document(
        '<Record recordCompleteUrl="done" recordCompleteMethod="GET" '
        'recordingAvailableUrl="/available" transcribe="true" '
        'transcriptionAvailableUrl="/text" username="u" password="p" tag="t" '
        'terminatingDigits="*#" maxDuration="120" silenceTimeout="3.5" fileFormat="mp3"/>'
    ).verbs
    assert isinstance(record, verbs.Record)
    assert record.record_complete_url == "https://app.example/voice/done"
    assert record.recording_available_url == "https://app.example/available"
    assert record.transcribe is True
    assert (record.terminating_digits, record.max_duration, record.silence_timeout) == (
        "*#",
        120.0,
        3.5,
    )
    assert record.file_format == "mp3"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('<Record maxDuration="10801"/>', "maxDuration must be a number from 1 to 10800"),
        ('<Record fileFormat="ogg"/>', "fileFormat must be one of wav, mp3"),
        ('<StartRecording multiChannel="maybe"/>', "multiChannel must be true or false"),
        ('<PauseRecording now="1"/>', "<PauseRecording> has no attribute 'now'"),
    ],
)
def test_mistakes_are_named(body: str, says: str) -> None:
    (problem,) = find_bxml_problems(f"<Response>{body}</Response>")
    assert says in str(problem)


def test_record_waits_for_a_terminating_digit_then_for_its_file() -> None:
    interpreter, first = started(
        '<Record terminatingDigits="#"/><SpeakSentence>Bye</SpeakSentence>'
    )
    assert [type(a) for a in first] == [actions.StartRecord, actions.StartTimer]
    assert first[1] == actions.StartTimer(RECORD_TIMER, 60.0)
    assert interpreter.state is State.RECORDING
    assert interpreter.handle(events.DigitPressed("1")) == []  # not a terminating digit
    assert interpreter.handle(events.DigitPressed("#")) == [
        actions.CancelTimer(RECORD_TIMER),
        actions.StopRecord("digit"),
    ]
    assert interpreter.state is State.RECORD_SAVING
    assert interpreter.handle(events.RecordFinished({"recordingId": "r-1"})) == [speak("Bye")]


@pytest.mark.parametrize(
    ("event", "reason"),
    [(events.TimerFired(RECORD_TIMER), "max-duration"), (events.RecordSilence(), "silence")],
)
def test_max_duration_and_silence_end_the_record(event: events.Event, reason: str) -> None:
    interpreter, _ = started("<Record/>")
    assert interpreter.handle(event)[-1] == actions.StopRecord(reason)


def test_record_complete_gets_the_recording_and_its_bxml_runs_next() -> None:
    interpreter, _ = started(
        '<Record recordCompleteUrl="/complete" tag="vm"/><SpeakSentence>ignored</SpeakSentence>'
    )
    interpreter.handle(events.DigitPressed("#"))
    fields = {"recordingId": "r-1", "mediaUrl": "https://x/media", "duration": "PT3S"}
    assert interpreter.handle(events.RecordFinished(fields)) == [
        callback("recordComplete", "https://app.example/complete", {**fields, "tag": "vm"})
    ]
    assert interpreter.handle(events.CallbackAnswered(None)) == [HANGUP]


def test_new_bxml_during_a_record_stops_it_without_record_complete() -> None:
    interpreter, _ = started('<Record recordCompleteUrl="/complete"/>')
    assert interpreter.replace(document("<Hangup/>")) == [
        actions.CancelTimer(RECORD_TIMER),
        actions.StopRecord("interrupted"),
        HANGUP,
    ]


def test_the_background_recording_verbs_run_through() -> None:
    interpreter, first = started(
        '<StartRecording multiChannel="true" fileFormat="mp3"/>'
        "<PauseRecording/><ResumeRecording/><StopRecording/><SpeakSentence>On</SpeakSentence>"
    )
    start, pause, resume, stop, say = first
    assert isinstance(start, actions.StartCallRecording) and start.verb.multi_channel is True
    assert (pause, resume, stop, say) == (
        actions.PauseCallRecording(),
        actions.ResumeCallRecording(),
        actions.StopCallRecording(),
        speak("On"),
    )
    assert interpreter.state is State.PLAYING


def test_record_answers_an_unanswered_inbound_call_first() -> None:
    _, first = started("<Record/>", answered=False)
    assert isinstance(first[0], actions.AnswerCall)
