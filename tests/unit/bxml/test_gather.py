"""<Gather>: prompts, digits, timeouts, repeats and the gather callback, as gather.mdx describes."""

from __future__ import annotations

from switchboard.bxml import Interpreter, State, actions, events
from tests.unit.bxml.helpers import HANGUP, callback, document, speak, started

FINISHED = events.MediaFinished()
GATHER_URL = "https://app.example/gather"


def press(interpreter: Interpreter, digits: str) -> list[actions.Action]:
    """Press digits one by one; return the actions of the last press."""
    result: list[actions.Action] = []
    for digit in digits:
        result = interpreter.handle(events.DigitPressed(digit))
    return result


def gathered(digits: str, terminating_digit: str = "", **extra: object) -> actions.SendCallback:
    fields: dict[str, object] = {"digits": digits, "terminatingDigit": terminating_digit, **extra}
    return callback("gather", GATHER_URL, fields)


def timer(kind: str, number: int, seconds: float) -> actions.StartTimer:
    return actions.StartTimer(f"gather-1:{kind}:{number}", seconds)


def fire(interpreter: Interpreter, start: actions.StartTimer) -> list[actions.Action]:
    return interpreter.handle(events.TimerFired(start.timer_id))


def test_prompts_play_in_order_then_the_first_digit_timeout_starts() -> None:
    interpreter, first = started(
        '<Gather gatherUrl="/gather" firstDigitTimeout="7">'
        "<SpeakSentence>Welcome</SpeakSentence><PlayAudio>/menu.wav</PlayAudio>"
        "</Gather>"
    )
    assert first == [speak("Welcome")]
    assert interpreter.state is State.GATHERING
    assert interpreter.handle(FINISHED) == [actions.Play("https://app.example/menu.wav")]
    assert interpreter.handle(FINISHED) == [timer("first-digit", 1, 7.0)]


def test_max_digits_ends_the_gather_and_sends_the_digits() -> None:
    interpreter, _ = started('<Gather gatherUrl="/gather" maxDigits="3"/>')
    assert press(interpreter, "12") == [
        actions.CancelTimer("gather-1:inter-digit:2"),
        timer("inter-digit", 3, 5.0),
    ]
    assert press(interpreter, "3") == [
        actions.CancelTimer("gather-1:inter-digit:3"),
        gathered("123"),
    ]
    assert interpreter.state is State.AWAITING_BXML


def test_a_terminating_digit_ends_the_gather_and_is_reported_apart() -> None:
    interpreter, _ = started('<Gather gatherUrl="/gather" terminatingDigits="#*"/>')
    press(interpreter, "42")
    assert press(interpreter, "*") == [
        actions.CancelTimer("gather-1:inter-digit:3"),
        gathered("42", "*"),
    ]


def test_a_terminating_digit_first_sends_empty_digits() -> None:
    interpreter, _ = started('<Gather gatherUrl="/gather" terminatingDigits="#"/>')
    assert press(interpreter, "#") == [
        actions.CancelTimer("gather-1:first-digit:1"),
        gathered("", "#"),
    ]


def test_the_first_digit_timeout_sends_empty_digits() -> None:
    interpreter, first = started('<Gather gatherUrl="/gather" firstDigitTimeout="0"/>')
    assert first == [timer("first-digit", 1, 0.0)]
    assert fire(interpreter, timer("first-digit", 1, 0.0)) == [gathered("")]


def test_the_inter_digit_timeout_ends_the_gather_after_the_last_digit() -> None:
    interpreter, first = started('<Gather gatherUrl="/gather" interDigitTimeout="2"/>')
    assert first == [timer("first-digit", 1, 5.0)]
    assert press(interpreter, "9") == [
        actions.CancelTimer("gather-1:first-digit:1"),
        timer("inter-digit", 2, 2.0),
    ]
    assert fire(interpreter, timer("inter-digit", 2, 2.0)) == [gathered("9")]


def test_a_cancelled_timer_that_fires_anyway_is_ignored() -> None:
    interpreter, _ = started('<Gather gatherUrl="/gather"/>')
    press(interpreter, "1")
    assert fire(interpreter, timer("first-digit", 1, 5.0)) == []
    assert interpreter.handle(events.TimerFired("somebody-else")) == []
    assert interpreter.state is State.GATHERING


def test_a_digit_during_a_prompt_stops_it_and_skips_the_other_prompts() -> None:
    interpreter, _ = started(
        '<Gather gatherUrl="/gather" maxDigits="2">'
        "<SpeakSentence>one</SpeakSentence><SpeakSentence>two</SpeakSentence>"
        "</Gather>"
    )
    assert press(interpreter, "5") == [actions.StopMedia(), timer("inter-digit", 1, 5.0)]
    assert interpreter.handle(FINISHED) == []  # no prompt is playing any more
    assert press(interpreter, "6") == [
        actions.CancelTimer("gather-1:inter-digit:1"),
        gathered("56"),
    ]


def test_repeat_count_replays_the_prompts_while_no_digit_comes() -> None:
    interpreter, first = started(
        '<Gather gatherUrl="/gather" repeatCount="3" firstDigitTimeout="4">'
        "<SpeakSentence>Press a key</SpeakSentence></Gather>"
    )
    assert first == [speak("Press a key")]
    assert interpreter.handle(FINISHED) == [timer("first-digit", 1, 4.0)]
    assert fire(interpreter, timer("first-digit", 1, 4.0)) == [speak("Press a key")]
    assert interpreter.handle(FINISHED) == [timer("first-digit", 2, 4.0)]
    assert fire(interpreter, timer("first-digit", 2, 4.0)) == [speak("Press a key")]
    assert interpreter.handle(FINISHED) == [timer("first-digit", 3, 4.0)]
    assert fire(interpreter, timer("first-digit", 3, 4.0)) == [gathered("")]


def test_a_digit_stops_the_repeats() -> None:
    interpreter, _ = started(
        '<Gather gatherUrl="/gather" repeatCount="5"><SpeakSentence>Hi</SpeakSentence></Gather>'
    )
    interpreter.handle(FINISHED)
    assert fire(interpreter, timer("first-digit", 1, 5.0)) == [speak("Hi")]
    assert press(interpreter, "7") == [actions.StopMedia(), timer("inter-digit", 2, 5.0)]
    assert fire(interpreter, timer("inter-digit", 2, 5.0)) == [gathered("7")]


def test_the_gather_callback_answer_replaces_the_rest_of_the_document() -> None:
    interpreter, _ = started(
        '<Gather gatherUrl="/gather" maxDigits="1"/><SpeakSentence>skipped</SpeakSentence>'
    )
    press(interpreter, "1")
    answer = events.CallbackAnswered(document("<SpeakSentence>You pressed one</SpeakSentence>"))
    assert interpreter.handle(answer) == [speak("You pressed one")]
    assert interpreter.handle(FINISHED) == [HANGUP]


def test_an_empty_answer_to_the_gather_callback_ends_the_call() -> None:
    interpreter, _ = started(
        '<Gather gatherUrl="/gather" maxDigits="1"/><SpeakSentence>skipped</SpeakSentence>'
    )
    press(interpreter, "1")
    assert interpreter.handle(events.CallbackAnswered(None)) == [HANGUP]


def test_without_gather_url_the_digits_are_dropped_and_the_document_continues() -> None:
    interpreter, _ = started('<Gather maxDigits="2"/><SpeakSentence>after</SpeakSentence>')
    press(interpreter, "1")
    assert press(interpreter, "2") == [
        actions.CancelTimer("gather-1:inter-digit:2"),
        speak("after"),
    ]


def test_without_gather_url_a_timeout_continues_too() -> None:
    interpreter, _ = started("<Gather/>")
    assert fire(interpreter, timer("first-digit", 1, 5.0)) == [HANGUP]


def test_the_gather_callback_uses_every_callback_attribute_and_the_tag() -> None:
    interpreter, first = started(
        '<Gather gatherUrl="/gather" gatherMethod="GET" gatherFallbackUrl="/fb" '
        'gatherFallbackMethod="GET" username="u" password="p" fallbackUsername="fu" '
        'fallbackPassword="fp" tag="menu" maxDigits="1"/>',
        tag="old",
    )
    assert first == [actions.SetTag("menu"), timer("first-digit", 1, 5.0)]
    assert press(interpreter, "4")[-1] == actions.SendCallback(
        event_type="gather",
        url=GATHER_URL,
        method="GET",
        fallback_url="https://app.example/fb",
        fallback_method="GET",
        username="u",
        password="p",
        fallback_username="fu",
        fallback_password="fp",
        fields={"digits": "4", "terminatingDigit": "", "tag": "menu"},
        expects_bxml=True,
    )


def test_each_gather_has_its_own_timer_ids() -> None:
    interpreter, _ = started('<Gather maxDigits="1"/><Gather maxDigits="1"/>')
    assert press(interpreter, "1") == [
        actions.CancelTimer("gather-1:first-digit:1"),
        actions.StartTimer("gather-2:first-digit:1", 5.0),
    ]
    assert fire(interpreter, timer("first-digit", 1, 5.0)) == []


def test_new_bxml_interrupts_a_gather_without_a_callback() -> None:
    interpreter, _ = started(
        '<Gather gatherUrl="/gather"><SpeakSentence>Hi</SpeakSentence></Gather>'
    )
    assert interpreter.replace(document("<Hangup/>")) == [actions.StopMedia(), HANGUP]

    interpreter, _ = started('<Gather gatherUrl="/gather"/>')
    assert interpreter.replace(document("<Pause/>")) == [
        actions.CancelTimer("gather-1:first-digit:1"),
        actions.Silence(1.0),
    ]


def test_a_speech_only_gather_ends_the_call_as_unsupported() -> None:
    _, first = started('<Gather input="speech" gatherUrl="/gather"/>')
    assert first == [
        actions.Hangup(
            "application-error", 'Gather input="speech" is not supported by Switchboard yet'
        )
    ]


def test_a_dtmf_and_speech_gather_collects_digits() -> None:
    interpreter, _ = started('<Gather input="dtmf_speech" gatherUrl="/gather" maxDigits="1"/>')
    assert press(interpreter, "3")[-1] == gathered("3")


def test_a_gather_answers_an_unanswered_call_before_its_prompt() -> None:
    _, first = started("<Gather><SpeakSentence>Hi</SpeakSentence></Gather>", answered=False)
    assert first == [actions.AnswerCall(), speak("Hi")]


def test_letters_are_digits_and_anything_else_is_ignored() -> None:
    interpreter, _ = started('<Gather gatherUrl="/gather" maxDigits="2"/>')
    assert press(interpreter, "x") == []
    assert interpreter.handle(events.DigitPressed("12")) == []
    press(interpreter, "A")
    assert press(interpreter, "D")[-1] == gathered("AD")


def test_gathers_started_counts_the_gathers_that_began_listening() -> None:
    interpreter, _ = started('<Pause/><Gather maxDigits="1"/><Gather maxDigits="1"/>')
    assert interpreter.gathers_started == 0
    interpreter.handle(FINISHED)
    assert interpreter.gathers_started == 1
    press(interpreter, "1")
    assert interpreter.gathers_started == 2
