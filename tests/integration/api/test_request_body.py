"""What the SDK never sends: malformed JSON, non-objects, huge bodies, other content types."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.create_call_cases import seed_body
from tests.support.http import assert_error, calls_path

JSON = {"Content-Type": "application/json"}
LIMIT = 64 * 1024


def padded_body(size: int) -> bytes:
    """A valid createCall body of exactly `size` bytes (padding in an unknown field)."""
    base = json.dumps(seed_body(padding="")).encode()
    body = json.dumps(seed_body(padding="x" * (size - len(base)))).encode()
    assert len(body) == size
    return body


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        (b"{", "Malformed JSON in request body: unexpected end of data: line 1 column 2 (char 1)"),
        (
            b'{"from": "+15555551212",}',
            "Malformed JSON in request body: trailing comma is not allowed: "
            "line 1 column 24 (char 23)",
        ),
        (b"{'from': 1}", None),
        (b'{"to": NaN}', None),
        (b'{"callTimeout": 1e400}', None),
        (b"\xff\xfe{}", None),
        (b"from=%2B15555551212&to=%2B15555551313", None),
        (b'{"a": 1} {"b": 2}', None),
    ],
    ids=[
        "truncated",
        "trailing-comma",
        "single-quotes",
        "nan",
        "infinite-number",
        "not-utf8",
        "form-encoded",
        "two-documents",
    ],
)
def test_malformed_json(api: httpx.Client, raw: bytes, description: str | None) -> None:
    response = api.post(calls_path(), content=raw, headers=JSON)
    body = assert_error(response, 400, "validation", description)
    assert str(body["description"]).startswith("Malformed JSON in request body: ")


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"[]", "an array"),
        (b'[{"to": "+15555551313"}]', "an array"),
        (b'"+15555551313"', "a string"),
        (b"42", "a number"),
        (b"4.2", "a number"),
        (b"true", "a boolean"),
        (b"null", "null"),
    ],
)
def test_body_must_be_a_json_object(api: httpx.Client, raw: bytes, kind: str) -> None:
    response = api.post(calls_path(), content=raw, headers=JSON)
    assert_error(response, 400, "validation", f"Request body must be a JSON object, got {kind}")


@pytest.mark.parametrize("raw", [b"", b"   ", b"\n"])
def test_empty_body(api: httpx.Client, raw: bytes) -> None:
    response = api.post(calls_path(), content=raw, headers=JSON)
    assert_error(response, 400, "validation", "Request body is empty: send a JSON object")


def test_body_of_exactly_64_kb_is_accepted(api: httpx.Client) -> None:
    response = api.post(calls_path(), content=padded_body(LIMIT), headers=JSON)
    assert response.status_code == 201, response.text


def test_body_over_64_kb_is_413(api: httpx.Client) -> None:
    response = api.post(calls_path(), content=padded_body(LIMIT + 1), headers=JSON)
    assert_error(response, 413, "validation", "Request body too large: the limit is 64 KB")


def test_chunked_body_over_64_kb_is_413(api: httpx.Client) -> None:
    """Without a Content-Length the server must count as it reads."""

    def chunks() -> Iterator[bytes]:
        body = padded_body(LIMIT + 4096)
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = api.post(calls_path(), content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "validation", "Request body too large: the limit is 64 KB")


def test_chunked_body_under_the_limit_is_accepted(api: httpx.Client) -> None:
    body = json.dumps(seed_body()).encode()
    response = api.post(calls_path(), content=iter([body[:10], body[10:]]), headers=JSON)
    assert response.status_code == 201, response.text


def test_oversized_content_length_is_refused_before_reading(api: httpx.Client) -> None:
    response = api.post(calls_path(), content=b"x" * (LIMIT + 1), headers=JSON)
    assert_error(response, 413, "validation", "Request body too large: the limit is 64 KB")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonp",
    ],
)
def test_content_type_other_than_json_is_415(api: httpx.Client, content_type: str) -> None:
    response = api.post(
        calls_path(), content=json.dumps(seed_body()), headers={"Content-Type": content_type}
    )
    assert_error(
        response,
        415,
        "validation",
        f"Content type '{content_type}' not supported: send application/json",
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/vnd.api+json",
    ],
)
def test_json_content_types_are_accepted(api: httpx.Client, content_type: str) -> None:
    response = api.post(
        calls_path(), content=json.dumps(seed_body()), headers={"Content-Type": content_type}
    )
    assert response.status_code == 201, response.text


def test_content_type_is_checked_before_the_body_is_parsed(api: httpx.Client) -> None:
    response = api.post(calls_path(), content=b"not json", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_size_is_checked_before_the_body_is_parsed(api: httpx.Client) -> None:
    response = api.post(calls_path(), content=b"{" * (LIMIT + 1), headers=JSON)
    assert response.status_code == 413
