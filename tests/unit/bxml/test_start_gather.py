"""<StartGather>/<StopGather>: a dtmf event per digit, in the background of other verbs."""

from __future__ import annotations

from switchboard.bxml import Interpreter, actions, events
from tests.unit.bxml.helpers import HANGUP, callback, document, speak, started

FINISHED = events.MediaFinished()
DTMF_URL = "https://app.example/dtmf"


def dtmf(digit: str, **extra: object) -> actions.SendCallback:
    return callback("dtmf", DTMF_URL, {"digit": digit, **extra}, expects_bxml=False)


def press(interpreter: Interpreter, digit: str) -> list[actions.Action]:
    return interpreter.handle(events.DigitPressed(digit))


def test_each_digit_sends_a_dtmf_event_while_other_verbs_run() -> None:
    interpreter, first = started(
        '<StartGather dtmfUrl="/dtmf"/><SpeakSentence>Hold music</SpeakSentence><Pause/>'
    )
    assert first == [speak("Hold music")]
    assert press(interpreter, "1") == [dtmf("1")]
    assert press(interpreter, "#") == [dtmf("#")]
    assert interpreter.handle(FINISHED) == [actions.Silence(1.0)]
    assert press(interpreter, "9") == [dtmf("9")]
    # The digit does not disturb the verb that is running.
    assert interpreter.handle(FINISHED) == [HANGUP]


def test_the_dtmf_callback_uses_the_verbs_method_credentials_and_the_tag() -> None:
    interpreter, first = started(
        '<StartGather dtmfUrl="/dtmf" dtmfMethod="GET" username="u" password="p" tag="listening"/>'
        "<Pause/>"
    )
    assert first == [actions.SetTag("listening"), actions.Silence(1.0)]
    assert press(interpreter, "5") == [
        actions.SendCallback(
            event_type="dtmf",
            url=DTMF_URL,
            method="GET",
            fallback_url=None,
            fallback_method="POST",
            username="u",
            password="p",
            fallback_username=None,
            fallback_password=None,
            fields={"digit": "5", "tag": "listening"},
            expects_bxml=False,
        )
    ]


def test_stop_gather_stops_the_events() -> None:
    interpreter, _ = started('<StartGather dtmfUrl="/dtmf"/><Pause/><StopGather/><Pause/>')
    assert press(interpreter, "1") == [dtmf("1")]
    interpreter.handle(FINISHED)
    assert press(interpreter, "2") == []


def test_start_gather_outlives_its_document() -> None:
    interpreter, _ = started('<StartGather dtmfUrl="/dtmf"/><Redirect redirectUrl="/next"/>')
    assert press(interpreter, "3") == [dtmf("3")]  # also while the redirect is out
    interpreter.handle(events.CallbackAnswered(document("<Pause/>")))
    assert press(interpreter, "4") == [dtmf("4")]


def test_a_second_start_gather_replaces_the_first() -> None:
    interpreter, _ = started('<StartGather dtmfUrl="/old"/><StartGather dtmfUrl="/dtmf"/><Pause/>')
    assert press(interpreter, "8") == [dtmf("8")]


def test_digits_during_a_gather_are_not_duplicated_as_dtmf_events() -> None:
    interpreter, _ = started(
        '<StartGather dtmfUrl="/dtmf"/><Gather gatherUrl="/gather" maxDigits="2"/>'
    )
    assert press(interpreter, "1") == [
        actions.CancelTimer("gather-1:first-digit:1"),
        actions.StartTimer("gather-1:inter-digit:2", 5.0),
    ]
    assert press(interpreter, "2")[-1] == callback(
        "gather", "https://app.example/gather", {"digits": "12", "terminatingDigit": ""}
    )
    # The gather is over: StartGather hears digits again while the callback is out.
    assert press(interpreter, "3") == [dtmf("3")]


def test_the_end_of_the_call_ends_the_events() -> None:
    interpreter, first = started('<StartGather dtmfUrl="/dtmf"/>')
    assert first == [HANGUP]
    assert press(interpreter, "1") == []


def test_a_failed_dtmf_callback_does_not_end_the_call() -> None:
    interpreter, _ = started('<StartGather dtmfUrl="/dtmf"/><Pause/>')
    press(interpreter, "1")
    assert interpreter.handle(events.CallbackFailed("callback-error", "timeout")) == []
    assert interpreter.handle(FINISHED) == [HANGUP]
