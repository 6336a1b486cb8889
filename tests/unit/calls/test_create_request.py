"""parse_create_call: every createCall field, its default, and every rule with its message."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from switchboard.calls.create_request import (
    CreateCallRequest,
    MachineDetection,
    parse_create_call,
)
from switchboard.errors import ValidationError
from tests.support.create_call_cases import INVALID, MISSING_FIELDS, VALID, Case, seed_body
from tests.support.server import APPLICATION_ID, FROM_NUMBER

# createCall field name -> CreateCallRequest attribute
ATTRIBUTES = {
    "to": "to",
    "from": "from_",
    "applicationId": "application_id",
    "answerUrl": "answer_url",
    "answerMethod": "answer_method",
    "privacy": "privacy",
    "displayName": "display_name",
    "uui": "uui",
    "username": "username",
    "password": "password",
    "answerFallbackUrl": "answer_fallback_url",
    "answerFallbackMethod": "answer_fallback_method",
    "fallbackUsername": "fallback_username",
    "fallbackPassword": "fallback_password",
    "disconnectUrl": "disconnect_url",
    "disconnectMethod": "disconnect_method",
    "callTimeout": "call_timeout",
    "callbackTimeout": "callback_timeout",
    "machineDetection": "machine_detection",
    "priority": "priority",
    "tag": "tag",
}


def rejects(body: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_create_call(body)
    return caught.value


def test_every_schema_field_is_parsed() -> None:
    # url_credentials is no field of the body: what the three URLs carried (issue 23).
    parsed = {f.name for f in fields(CreateCallRequest)} - {"url_credentials"}
    assert set(ATTRIBUTES.values()) == parsed


def test_seed_example_takes_every_default() -> None:
    request = parse_create_call(seed_body())
    assert request == CreateCallRequest(
        to="+15555551313",
        from_=FROM_NUMBER,
        application_id=APPLICATION_ID,
        answer_url="http://www.myapp.com/hello",
    )
    assert (request.answer_method, request.answer_fallback_method, request.disconnect_method) == (
        "POST",
        "POST",
        "POST",
    )
    assert request.call_timeout == 30 and isinstance(request.call_timeout, int)
    assert request.callback_timeout == 15
    assert request.priority == 5
    assert request.machine_detection is None
    assert request.tag is None and request.password is None and request.privacy is None


def test_every_field_given_is_kept() -> None:
    body = seed_body(
        to="sip:bob@example.com",
        privacy=True,
        displayName="Private",
        uui="3a4b;encoding=hex",
        answerMethod="get",
        username="user",
        password="pass",
        answerFallbackUrl="https://fallback.example.com/a",
        answerFallbackMethod="GET",
        fallbackUsername="fuser",
        fallbackPassword="fpass",
        disconnectUrl="https://hooks.example.com/d",
        disconnectMethod="get",
        callTimeout=12.5,
        callbackTimeout=3,
        machineDetection={"mode": "sync", "detectionTimeout": 4, "callbackMethod": "get"},
        priority=1,
        tag="campaign-7",
    )
    request = parse_create_call(body)
    assert request == CreateCallRequest(
        to="sip:bob@example.com",
        from_=FROM_NUMBER,
        application_id=APPLICATION_ID,
        answer_url="http://www.myapp.com/hello",
        answer_method="GET",
        privacy=True,
        display_name="Private",
        uui="3a4b;encoding=hex",
        username="user",
        password="pass",
        answer_fallback_url="https://fallback.example.com/a",
        answer_fallback_method="GET",
        fallback_username="fuser",
        fallback_password="fpass",
        disconnect_url="https://hooks.example.com/d",
        disconnect_method="GET",
        call_timeout=12.5,
        callback_timeout=3,
        machine_detection=MachineDetection(mode="sync", detection_timeout=4, callback_method="GET"),
        priority=1,
        tag="campaign-7",
    )


def test_machine_detection_defaults_match_the_spec() -> None:
    request = parse_create_call(seed_body(machineDetection={}))
    assert request.machine_detection == MachineDetection(
        mode="async",
        detection_timeout=15,
        silence_timeout=10,
        speech_threshold=10,
        speech_end_threshold=5,
        machine_speech_end_threshold=None,
        delay_result=False,
        callback_method="POST",
        fallback_method="POST",
    )


def test_machine_detection_every_field() -> None:
    request = parse_create_call(
        seed_body(
            machineDetection={
                "mode": "async",
                "detectionTimeout": 30,
                "silenceTimeout": 5.5,
                "speechThreshold": 7,
                "speechEndThreshold": 2,
                "machineSpeechEndThreshold": 1.5,
                "delayResult": True,
                "callbackUrl": "https://md.example.com/cb",
                "callbackMethod": "GET",
                "username": "u",
                "password": "p",
                "fallbackUrl": "https://md.example.com/fb",
                "fallbackMethod": "get",
                "fallbackUsername": "fu",
                "fallbackPassword": "fp",
                "somethingNew": 1,
            }
        )
    )
    assert request.machine_detection == MachineDetection(
        mode="async",
        detection_timeout=30,
        silence_timeout=5.5,
        speech_threshold=7,
        speech_end_threshold=2,
        machine_speech_end_threshold=1.5,
        delay_result=True,
        callback_url="https://md.example.com/cb",
        callback_method="GET",
        username="u",
        password="p",
        fallback_url="https://md.example.com/fb",
        fallback_method="GET",
        fallback_username="fu",
        fallback_password="fp",
    )


@pytest.mark.parametrize("case", [c.param() for c in INVALID])
def test_invalid_body_is_rejected_with_its_reason(case: Case) -> None:
    error = rejects(case.body())
    assert (error.status, error.type, error.description) == (400, "validation", case.description)


@pytest.mark.parametrize("case", [c.param() for c in VALID])
def test_valid_body_is_accepted(case: Case) -> None:
    assert case.echoed, "a valid case must say what the 201 echoes"
    request = parse_create_call(case.body())
    for name, expected in case.kept.items():
        assert getattr(request, ATTRIBUTES[name]) == expected, name
    for name, expected in case.echoed.items():
        value = getattr(request, ATTRIBUTES[name])
        if name in ("password", "fallbackPassword") and expected == "*****":
            assert value == case.changes[name]  # kept in full; only the response masks it
        else:
            assert value == expected, name


def test_required_fields_are_checked_before_anything_else() -> None:
    # A body that is wrong everywhere still gets Bandwidth's required-fields message first.
    body = {"to": "nonsense", "callTimeout": 0, "priority": 9, "answerUrl": "ftp://x"}
    assert rejects(body).description == MISSING_FIELDS


def test_empty_body_lacks_required_fields() -> None:
    assert rejects({}).description == MISSING_FIELDS


def test_fields_are_checked_in_a_stable_order() -> None:
    # `to` is reported before `from`, so a client fixing errors one by one converges.
    error = rejects(seed_body(to="bad", **{"from": "bad"}))
    assert error.description.startswith("Invalid to:")


def test_priority_given_as_whole_float_becomes_an_integer() -> None:
    request = parse_create_call(seed_body(priority=2.0))
    assert request.priority == 2 and isinstance(request.priority, int)


def test_call_timeout_keeps_decimals() -> None:
    request = parse_create_call(seed_body(callTimeout=45.25, callbackTimeout=2.5))
    assert (request.call_timeout, request.callback_timeout) == (45.25, 2.5)


def test_huge_number_is_out_of_range_not_a_crash() -> None:
    error = rejects(seed_body(callTimeout=1e308))
    assert error.description == "Invalid callTimeout: must be between 1 and 300, got 1e+308"


def test_nan_and_infinity_are_out_of_range() -> None:
    # orjson never yields them, but parse_create_call is also used on other inputs.
    for value in (float("nan"), float("inf"), float("-inf")):
        error = rejects(seed_body(callbackTimeout=value))
        assert error.description.startswith("Invalid callbackTimeout: must be between 1 and 25")


def test_parse_does_not_modify_the_body() -> None:
    body = seed_body(answerMethod="get", machineDetection={"mode": "sync"})
    snapshot = repr(body)
    parse_create_call(body)
    assert repr(body) == snapshot
