"""updateCall's redirect, seen by the interpreter: interrupt, redirect event, new BXML runs."""

from __future__ import annotations

from switchboard.bxml import Interpreter, State, parse_bxml
from switchboard.bxml import actions as act
from switchboard.bxml import events as ev
from switchboard.bxml.interpreter import RedirectRequest


def test_redirect_interrupts_a_pause_and_runs_the_returned_bxml() -> None:
    interpreter = Interpreter(
        parse_bxml('<Response><Pause duration="30"/><Hangup/></Response>'), tag="t0"
    )
    assert interpreter.start() == [act.Silence(30.0)]
    actions = interpreter.redirect(RedirectRequest("http://app/redirect", tag="t1"))
    assert actions[0] == act.StopMedia()
    assert actions[1] == act.SetTag("t1")
    callback = actions[2]
    assert isinstance(callback, act.SendCallback)
    assert (callback.event_type, callback.url, callback.expects_bxml) == (
        "redirect",
        "http://app/redirect",
        True,
    )
    assert callback.fields == {"tag": "t1"}
    assert interpreter.state is State.AWAITING_BXML
    after = interpreter.handle(
        ev.CallbackAnswered(parse_bxml("<Response><SpeakSentence>hi</SpeakSentence></Response>"))
    )
    assert isinstance(after[0], act.Speak) and after[0].plain_text == "hi"


def test_redirect_of_a_gather_cancels_its_timer_and_sends_no_gather_event() -> None:
    interpreter = Interpreter(
        parse_bxml('<Response><Gather gatherUrl="http://app/g" firstDigitTimeout="5"/></Response>'),
        tag=None,
    )
    started = interpreter.start()
    assert isinstance(started[0], act.StartTimer)
    actions = interpreter.redirect(RedirectRequest("http://app/r", tag=""))
    assert act.CancelTimer(started[0].timer_id) in actions
    assert [a.event_type for a in actions if isinstance(a, act.SendCallback)] == ["redirect"]


def test_redirect_after_the_end_does_nothing() -> None:
    interpreter = Interpreter(parse_bxml("<Response><Hangup/></Response>"), tag=None)
    interpreter.start()
    assert interpreter.redirect(RedirectRequest("http://app/r")) == []
