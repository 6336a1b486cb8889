"""The call state machine: every legal transition, and illegal ones change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.calls.create_request import CreateCallRequest
from switchboard.calls.model import Call
from switchboard.calls.state import (
    CAUSES,
    Answer,
    Dial,
    End,
    IllegalTransition,
    advance,
    can,
    created_state,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def new_call() -> Call:
    request = CreateCallRequest(
        to="+15555551313", from_="+15555551212", application_id="app", answer_url="http://a/"
    )
    return Call("c-1", "9900001", request, "http://x/calls/c-1", T0, last_update=T0)


def test_outbound_call_lives_queued_initiated_answered_disconnected() -> None:
    call = new_call()
    call = advance(call, Dial(), T0 + timedelta(seconds=1))
    assert (call.state, call.start_time) == ("initiated", T0 + timedelta(seconds=1))
    call = advance(call, Answer(), T0 + timedelta(seconds=3))
    assert (call.state, call.answer_time) == ("answered", T0 + timedelta(seconds=3))
    call = advance(call, End("hangup"), T0 + timedelta(seconds=9))
    assert call.state == "disconnected"
    assert call.end_time == T0 + timedelta(seconds=9) and call.disconnect_cause == "hangup"
    assert call.last_update == call.end_time


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_every_cause_can_end_a_ringing_call(cause: str) -> None:
    call = advance(new_call(), Dial(), T0)
    ended = advance(call, End(cause, "why", "id-1"), T0)
    assert (ended.disconnect_cause, ended.error_message, ended.error_id) == (cause, "why", "id-1")
    assert ended.answer_time is None


def test_a_queued_call_can_be_removed_without_starting() -> None:
    ended = advance(new_call(), End("cancel"), T0)
    assert ended.state == "disconnected" and ended.start_time is None


@pytest.mark.parametrize(
    ("events", "illegal"),
    [
        ([], Answer()),
        ([Dial()], Dial()),
        ([Dial(), Answer()], Answer()),
        ([Dial(), Answer(), End("hangup")], End("hangup")),
        ([Dial(), End("busy")], Dial()),
    ],
)
def test_illegal_transitions_raise_and_change_nothing(
    events: list[Dial | Answer | End], illegal: Dial | Answer | End
) -> None:
    call = new_call()
    for event in events:
        call = advance(call, event, T0)
    assert not can(call, illegal)
    with pytest.raises(IllegalTransition):
        advance(call, illegal, T0 + timedelta(seconds=5))
    assert call.last_update == T0


def test_unknown_cause_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown disconnect cause"):
        advance(new_call(), End("exploded"), T0)


def test_a_call_placed_as_it_is_created_starts_as_its_dial_would_make_it() -> None:
    dialed = advance(new_call(), Dial(), T0)
    assert created_state(True, T0) == (dialed.state, dialed.start_time)
    assert created_state(False, T0) == ("queued", None)
