"""Helpers for the call-control suite (issue 4): SDK clients for any user, what an SDK exception
says, the verbs a control request interrupts, and following a `Link: <...>; rel="next"` header."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.api.statistics_api import StatisticsApi
from bandwidth.exceptions import ApiException
from bandwidth.models.bxml import Gather, Pause, SpeakSentence
from bandwidth.models.bxml.verb import Verb
from bandwidth.models.call_state import CallState

from tests.support.server import RunningServer

FIFTY_WORDS = " ".join(["word"] * 50)  # 20 s of speech at 150 words per minute

# Verbs still running when a test interrupts them (updateCall's redirect, PUT /bxml).
RUNNING_VERBS: list[tuple[str, Verb]] = [
    ("SpeakSentence", SpeakSentence(FIFTY_WORDS)),
    ("Pause", Pause(30)),
    ("Gather", Gather(gather_url="/gather", first_digit_timeout=30, max_digits=4)),
]


def conflict(call_id: str) -> str:
    """errors.mdx's description of a call that cannot be modified now."""
    return f"Call [{call_id}] cannot be modified in its current state"


NEXT_LINK = re.compile(r'\A<([^>]+)>; rel="next"\Z')


@contextmanager
def sdk_client(server: RunningServer, username: str, password: str) -> Iterator[ApiClient]:
    configuration = Configuration(
        username=username,
        password=password,
        host=server.api_url,
        ignore_operation_servers=True,
    )
    with ApiClient(configuration) as client:
        yield client


@contextmanager
def calls_api_for(server: RunningServer, username: str, password: str) -> Iterator[CallsApi]:
    with sdk_client(server, username, password) as client:
        yield CallsApi(client)


@contextmanager
def statistics_api_for(
    server: RunningServer, username: str, password: str
) -> Iterator[StatisticsApi]:
    with sdk_client(server, username, password) as client:
        yield StatisticsApi(client)


def sdk_error(
    call: Callable[[], Any],
    exception: type[ApiException],
    status: int,
    error_type: str,
    description: str | None = None,
    error_id: str | None = None,
) -> ApiException:
    """`call` makes the SDK raise exactly `exception` (not a subclass) for `status`, with
    Bandwidth's error body {type, description, id}, parsed by the SDK as a VoiceApiError too."""
    with pytest.raises(ApiException) as raised:
        call()
    error = raised.value
    assert type(error) is exception, f"{type(error).__name__}: {error}"
    assert error.status == status
    assert error.body is not None
    body = orjson.loads(error.body)
    assert set(body) == {"type", "description", "id"}, body
    assert body["type"] == error_type, body
    assert isinstance(body["description"], str) and body["description"], body
    if description is not None:
        assert body["description"] == description, body["description"]
    assert body["id"] == error_id, body
    assert (error.data.type, error.data.description) == (body["type"], body["description"])
    return error


def header(headers: Any, name: str) -> str | None:
    """A response header from the SDK (an ApiResponse's headers or an exception's)."""
    if headers is None:
        return None
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if key.lower() == name.lower():
            return str(value)
    return None


def next_page_token(headers: Any) -> str | None:
    """The pageToken of the Link rel="next" URL, or None on the last page."""
    link = header(headers, "Link")
    if link is None:
        return None
    match = NEXT_LINK.match(link)
    assert match, link
    (token,) = parse_qs(urlsplit(match.group(1)).query)["pageToken"]
    return token


def walk_pages(calls_api: CallsApi, account_id: str, **query: Any) -> list[list[CallState]]:
    """Every page of listCalls, following the Link headers as the SDK docs say to."""
    pages: list[list[CallState]] = []
    token: str | None = None
    while True:
        response = calls_api.list_calls_with_http_info(account_id, page_token=token, **query)
        assert response.status_code == 200
        pages.append(list(response.data))
        token = next_page_token(response.headers)
        if token is None:
            return pages
        assert len(pages) < 100, "the Link headers never end"
