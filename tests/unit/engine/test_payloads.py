"""Callback payloads: Bandwidth's fields, formats, and optional fields left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.calls.create_request import CreateCallRequest
from switchboard.calls.ids import format_time, new_call_id
from switchboard.calls.model import Call
from switchboard.calls.state import Answer, Dial, End, advance
from switchboard.webhooks.payloads import (
    answer_payload,
    disconnect_payload,
    event_payload,
)

T0 = datetime(2019, 6, 20, 15, 54, 22, 234000, tzinfo=UTC)


def answered_call(tag: str | None = None) -> Call:
    request = CreateCallRequest(
        to="+15553334444", from_="+15551112222", application_id="app-1", answer_url="http://a/"
    )
    call = Call("c-1", "55555555", request, "https://h/calls/c-1", T0, tag=tag)
    call = advance(call, Dial(), T0)
    return advance(call, Answer(), T0 + timedelta(seconds=3, milliseconds=198))


def test_time_format_is_bandwidths() -> None:
    assert format_time(T0) == "2019-06-20T15:54:22.234Z"


def test_call_ids_are_shaped_like_bandwidths() -> None:
    call_id = new_call_id()
    assert len(call_id) == 47 and call_id.startswith("c-") and call_id[10] == "-"


def test_answer_payload_has_the_documented_fields_in_order() -> None:
    payload = answer_payload(answered_call(), T0 + timedelta(seconds=3, milliseconds=201))
    assert list(payload) == [
        "eventType",
        "eventTime",
        "accountId",
        "applicationId",
        "from",
        "to",
        "direction",
        "callId",
        "callUrl",
        "enqueuedTime",
        "startTime",
        "answerTime",
    ]
    assert payload["eventType"] == "answer" and payload["direction"] == "outbound"
    assert payload["answerTime"] == "2019-06-20T15:54:25.432Z"
    assert "tag" not in payload


def test_disconnect_payload_carries_cause_error_and_tag() -> None:
    call = advance(answered_call("t1"), End("invalid-bxml", "line 1: bad", "e-1"), T0)
    payload = disconnect_payload(call, T0)
    assert payload["cause"] == "invalid-bxml"
    assert payload["errorMessage"] == "line 1: bad" and payload["errorId"] == "e-1"
    assert payload["tag"] == "t1" and payload["endTime"] == format_time(T0)


def test_disconnect_without_error_has_no_error_fields() -> None:
    payload = disconnect_payload(advance(answered_call(), End("hangup"), T0), T0)
    assert "errorMessage" not in payload and "errorId" not in payload


def test_verb_tag_wins_and_a_cleared_tag_is_absent() -> None:
    call = answered_call("old")
    assert event_payload(call, "gather", T0, {"digits": "1", "tag": "new"})["tag"] == "new"
    cleared = event_payload(call, "gather", T0, {"digits": "1", "tag": None})
    assert "tag" not in cleared
    assert event_payload(call, "redirect", T0, {})["tag"] == "old"
