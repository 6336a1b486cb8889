"""The field checks in calls/validation.py, one by one, at their edges."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.calls import validation as check
from switchboard.errors import ValidationError


def reason(function: Any, value: object, **limits: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        function({"f": value}, "f", **limits)
    assert caught.value.status == 400 and caught.value.type == "validation"
    return caught.value.description


@pytest.mark.parametrize(
    "function",
    [check.string, check.boolean, check.url, check.method, check.e164, check.e164_or_sip],
)
def test_absent_and_null_mean_not_given(function: Any) -> None:
    assert function({}, "f") is None
    assert function({"f": None}, "f") is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [(1, "number"), (1.5, "number"), (True, "boolean"), ([], "array"), ({}, "object")],
)
def test_string_names_the_json_type_it_got(value: object, kind: str) -> None:
    assert reason(check.string, value) == f"Invalid f: must be a string, got {kind}"


def test_string_length_counts_characters_not_bytes() -> None:
    assert check.string({"f": "é" * 4}, "f", max_length=4) == "é" * 4
    assert reason(check.string, "é" * 5, max_length=4) == (
        "Invalid f: must be at most 4 characters, got 5"
    )


@pytest.mark.parametrize("value", ["+12", "+15555551212", "+447911123456", "+123456789012345"])
def test_e164_accepts(value: str) -> None:
    assert check.e164({"f": value}, "f") == value


@pytest.mark.parametrize(
    "value",
    [
        "+1",
        "15555551212",
        "+0123",
        "+1234567890123456",
        "+1555555121a",
        " +15555551212",
        "+15555551212 ",
        "+15555551212\n",
        "＋15555551212",
        "+١٥٥٥٥٥٥١٢١٢",
    ],
)
def test_e164_rejects(value: str) -> None:
    assert reason(check.e164, value) == (
        f"Invalid f: must be an E164 telephone number like +15555551212, got '{value}'"
    )


@pytest.mark.parametrize(
    "value",
    [
        "sip:bob@example.com",
        "SIP:bob@example.com",
        "sips:bob@example.com:5061",
        "sip:example.com",
        "sip:bob@10.0.0.1;transport=udp",
        "sip:bob@[::1]",
    ],
)
def test_sip_uris_accepted(value: str) -> None:
    assert check.e164_or_sip({"f": value}, "f") == value


@pytest.mark.parametrize(
    "value", ["sip:", "sip:@", "sip:bob@", "sip:bob@host name", "sip:bob@host\n", "sips:a b@h"]
)
def test_malformed_sip_uris_rejected(value: str) -> None:
    assert reason(check.e164_or_sip, value) == (
        f"Invalid f: '{value}' is not a valid SIP URI (expected sip:user@host)"
    )


@pytest.mark.parametrize("value", ["http://a.example", "https://a.example/x?q=1", "HTTP://A/"])
def test_url_accepts_http_and_https(value: str) -> None:
    assert check.url({"f": value}, "f") == value


def test_url_length_limit_is_2048() -> None:
    ok = "http://a.example/" + "x" * (2048 - 17)
    assert check.url({"f": ok}, "f") == ok
    assert reason(check.url, ok + "x") == "Invalid f: must be at most 2048 characters, got 2049"


@pytest.mark.parametrize(
    "value", ["ws://a.example/", "file:///etc/passwd", "data:text/plain,hi", "//a.example/x"]
)
def test_url_rejects_other_schemes(value: str) -> None:
    assert reason(check.url, value) == (
        f"Invalid f: must be an absolute http or https URL, got '{value}'"
    )


@pytest.mark.parametrize("value", ["http://a.example/ x", "http://a.example/\tx", "http://a\r\n"])
def test_url_rejects_whitespace_and_controls(value: str) -> None:
    assert reason(check.url, value) == (
        f"Invalid f: must not contain spaces or control characters, got {value!r}"
    )


def test_url_rejects_a_port_that_is_not_a_number() -> None:
    assert reason(check.url, "http://a.example:http/") == (
        "Invalid f: 'http://a.example:http/' is not a valid URL "
        "(Port could not be cast to integer value as 'http')"
    )


@pytest.mark.parametrize(("value", "clean"), [("GET", "GET"), ("post", "POST"), ("gEt", "GET")])
def test_method_is_case_insensitive_and_upper_cased(value: str, clean: str) -> None:
    assert check.method({"f": value}, "f") == clean


@pytest.mark.parametrize("value", ["PUT", "HEAD", "GET ", "POSTS"])
def test_method_rejects_others(value: str) -> None:
    assert reason(check.method, value) == f"Invalid f: must be GET or POST, got '{value}'"


def test_number_bounds_are_inclusive_and_keep_int_ness() -> None:
    assert check.number({"f": 1}, "f", minimum=1, maximum=25) == 1
    assert isinstance(check.number({"f": 25}, "f", minimum=1, maximum=25), int)
    assert check.number({"f": 24.75}, "f", minimum=1, maximum=25) == 24.75
    assert reason(check.number, 25.0001, minimum=1, maximum=25) == (
        "Invalid f: must be between 1 and 25, got 25.0001"
    )
    assert reason(check.number, 0.05, minimum=0.1, maximum=300) == (
        "Invalid f: must be between 0.1 and 300, got 0.05"
    )


def test_number_rejects_booleans() -> None:
    assert reason(check.number, True, minimum=1, maximum=5) == (
        "Invalid f: must be a number, got boolean"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2.5, "must be an integer, got number 2.5"),
        ("2", "must be an integer, got string"),
        (True, "must be an integer, got boolean"),
        (0, "must be between 1 and 5, got 0"),
        ({"a": 1}, "must be an integer, got object"),
        ([1], "must be an integer, got array"),
    ],
)
def test_integer_messages(value: object, message: str) -> None:
    assert reason(check.integer, value, minimum=1, maximum=5) == f"Invalid f: {message}"


def test_boolean_accepts_only_json_booleans() -> None:
    assert check.boolean({"f": False}, "f") is False
    assert reason(check.boolean, 0) == "Invalid f: must be true or false, got number"
    assert reason(check.boolean, "false") == "Invalid f: must be true or false, got string"


@pytest.mark.parametrize("text", ["a\nb", "\r", "\t", "\x00", "\x1f", "\x7f", "\x80", "\x9f"])
def test_control_characters_detected(text: str) -> None:
    assert check.has_control_characters(text)


@pytest.mark.parametrize("text", ["", "Plain name", "Zoë", "日本", "emoji ☎", "\xa0nbsp"])
def test_printable_text_has_no_control_characters(text: str) -> None:
    assert not check.has_control_characters(text)


def test_a_url_error_never_shows_any_part_of_a_password() -> None:
    # A raw '/' in the password makes the rest parse as a bad port: neither the URL nor the
    # parser's words may show it.
    with pytest.raises(ValidationError) as raised:
        check.url({"answerUrl": "https://hook:S3cr@t:%2F/é@host/x"}, "answerUrl")
    message = raised.value.description
    assert message == (
        "Invalid answerUrl: 'https://(credentials removed)@host/x' is not a valid URL"
    )
    for piece in ("S3cr", "t:%2F", "%2F", "hook"):
        assert piece not in message
