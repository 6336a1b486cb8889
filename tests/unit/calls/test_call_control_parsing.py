"""updateCall bodies and listCalls query parameters, validated without a server."""

from __future__ import annotations

import pytest

from switchboard.calls.listing import PageCursor, parse_list_query
from switchboard.calls.update_request import parse_update_call
from switchboard.errors import ValidationError


def test_completed_accepts_the_methods_the_sdk_always_sends() -> None:
    update = parse_update_call(
        {"state": "completed", "redirectMethod": "POST", "redirectFallbackMethod": "POST"}
    )
    assert update.state == "completed" and update.redirect_url is None


def test_active_is_the_default_and_needs_a_redirect_url_or_a_tag() -> None:
    assert parse_update_call({"redirectUrl": "http://app/r"}).state == "active"
    assert parse_update_call({"tag": "new"}).tag == "new"
    assert parse_update_call({"tag": ""}).tag == ""
    with pytest.raises(ValidationError, match="redirectUrl: required when state is active"):
        parse_update_call({"state": "active", "redirectMethod": "POST"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"state": "paused"}, "Invalid state: must be active or completed"),
        ({"state": "completed", "redirectUrl": "http://a/"}, "redirectUrl: not allowed"),
        ({"state": "completed", "tag": "x"}, "tag: not allowed"),
        ({"redirectUrl": "ftp://a/"}, "Invalid redirectUrl"),
        ({"redirectUrl": "http://a/", "redirectMethod": "PUT"}, "redirectMethod: must be GET"),
        ({"redirectUrl": "http://a/", "tag": "t" * 257}, "Invalid tag: must be at most 256"),
        ({"state": 5}, "Invalid state: must be a string"),
    ],
)
def test_bad_updates_are_named(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_update_call(body)


def test_list_query_defaults_and_filters() -> None:
    query = parse_list_query({})
    assert query.page_size == 1000 and query.after is None
    query = parse_list_query(
        {
            "to": "+15555551313",
            "from": "+15555551212",
            "minStartTime": "2022-06-21T19:13:21Z",
            "maxStartTime": "2022-06-21T20:00:00+01:00",
            "disconnectCause": "busy",
            "pageSize": "10",
        }
    )
    assert query.filter.min_start_time == "2022-06-21T19:13:21.000Z"
    assert query.filter.max_start_time == "2022-06-21T19:00:00.000Z"
    assert (query.filter.to, query.filter.from_, query.filter.disconnect_cause) == (
        "+15555551313",
        "+15555551212",
        "busy",
    )
    assert query.page_size == 10


def test_page_tokens_round_trip() -> None:
    cursor = PageCursor("2026-01-01T00:00:00.000Z", "c-1")
    assert parse_list_query({"pageToken": cursor.token()}).after == cursor


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pageSize": "0"}, "between 1 and 10000"),
        ({"pageSize": "10001"}, "between 1 and 10000"),
        ({"pageSize": "ten"}, "must be an integer"),
        ({"minStartTime": "yesterday"}, "Invalid minStartTime"),
        ({"pageToken": "%%%"}, "Invalid pageToken"),
    ],
)
def test_bad_list_queries_are_named(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_list_query(params)
