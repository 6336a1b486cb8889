"""GET /calls (listCalls) through the official SDK: filters, page sizes, pages linked by the
`Link` header oldest first, and calls gone once past the retention period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import (
    BadRequestException,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)
from bandwidth.models.bxml import Hangup, Response
from bandwidth.models.create_call import CreateCall

from tests.e2e.control import (
    NEXT_LINK,
    calls_api_for,
    header,
    next_page_token,
    sdk_error,
    walk_pages,
)
from tests.e2e.flow import create_call, now
from tests.e2e.phones import BUSY
from tests.support.http import assert_error
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    OTHER_ACCOUNT_ID,
    OTHER_ACCOUNT_NUMBER,
    OTHER_APPLICATION_ID,
    OTHER_PASSWORD,
    OTHER_USERNAME,
    USERNAME,
    VirtualTimeServer,
)

SECOND_NUMBER = "+15555551213"  # the account's other number


def iso(moment: datetime, *, millis: bool = False) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (text[:-3] if millis else text[:-7]) + "Z"


def ids(calls: list[object]) -> list[str]:
    return [call.call_id for call in calls]  # type: ignore[attr-defined]


def create_from(calls_api: CallsApi, app: Receiver, to: str, from_: str) -> str:
    body = CreateCall(
        to=to, var_from=from_, application_id=APPLICATION_ID, answer_url=app.url("/answer")
    )
    return str(calls_api.create_call(ACCOUNT_ID, body).call_id)


@pytest.fixture
def hangs_up(app: Receiver) -> Receiver:
    app.on("/answer", Response([Hangup()]).to_bxml())
    return app


@pytest.fixture
def bobs_calls(vserver: VirtualTimeServer) -> Iterator[CallsApi]:
    with calls_api_for(vserver, OTHER_USERNAME, OTHER_PASSWORD) as api:
        yield api


def test_filters_to_from_start_times_and_disconnect_cause(
    vserver: VirtualTimeServer, hangs_up: Receiver, calls_api: CallsApi
) -> None:
    vserver.advance(1)
    first_start = now(vserver)
    first = create_call(calls_api, hangs_up, "+15554440001")
    vserver.advance(10)
    second = create_from(calls_api, hangs_up, "+15554440002", SECOND_NUMBER)
    vserver.advance(10)
    third = create_call(calls_api, hangs_up, BUSY)
    vserver.advance(30)
    since_first = iso(first_start, millis=True)

    def listed(**query: str) -> list[str]:
        query.setdefault("min_start_time", since_first)  # leave out the other tests' calls
        return ids(calls_api.list_calls(ACCOUNT_ID, **query))

    assert listed() == [first, second, third]
    assert ids(calls_api.list_calls(ACCOUNT_ID, to="+15554440001")) == [first]
    assert listed(var_from=SECOND_NUMBER) == [second]
    assert listed(var_from=FROM_NUMBER) == [first, third]
    assert listed(disconnect_cause="busy") == [third]
    assert listed(disconnect_cause="hangup") == [first, second]
    assert listed(disconnect_cause="cancel") == []
    # Both bounds include the moment they name (startTime >= min, <= max).
    second_start = first_start + timedelta(seconds=10)
    assert listed(max_start_time=iso(second_start, millis=True)) == [first, second]
    assert ids(
        calls_api.list_calls(
            ACCOUNT_ID,
            min_start_time=iso(second_start, millis=True),
            max_start_time=iso(second_start, millis=True),
        )
    ) == [second]
    # Bandwidth's own example has no fraction of a second, and names UTC with Z.
    assert listed(min_start_time=iso(second_start + timedelta(seconds=1))) == [third]
    assert listed(to="+15554440001", var_from=SECOND_NUMBER) == []
    assert listed(to="+15554440002", var_from=SECOND_NUMBER) == [second]

    answered = calls_api.list_calls(ACCOUNT_ID, to="+15554440001")[0]
    assert (answered.state, answered.disconnect_cause) == ("disconnected", "hangup")
    assert answered.start_time == first_start and answered.answer_time is not None


def test_live_calls_are_listed_with_their_current_state(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    call_id = create_call(calls_api, app, "+15555550103")  # rings without an answer
    (ringing,) = calls_api.list_calls(ACCOUNT_ID, to="+15555550103")
    assert (ringing.call_id, ringing.state, ringing.end_time) == (call_id, "initiated", None)
    vserver.advance(60)
    (ended,) = calls_api.list_calls(ACCOUNT_ID, to="+15555550103")
    assert (ended.state, ended.disconnect_cause) == ("disconnected", "timeout")


def test_pages_follow_the_link_header_oldest_first(
    vserver: VirtualTimeServer, hangs_up: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    to = "+15554440010"
    created = []
    for _ in range(7):
        created.append(create_call(calls_api, hangs_up, to))
        vserver.advance(1)
    vserver.advance(10)

    first = calls_api.list_calls_with_http_info(ACCOUNT_ID, to=to, page_size=3)
    link = header(first.headers, "Link")
    assert link is not None
    match = NEXT_LINK.match(link)
    assert match is not None, link
    next_url = match.group(1)
    assert next_url.startswith(f"{vserver.api_url}/accounts/{ACCOUNT_ID}/calls?")
    assert "to=%2B15554440010" in next_url and "pageSize=3" in next_url

    pages = walk_pages(calls_api, ACCOUNT_ID, to=to, page_size=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [call.call_id for page in pages for call in page] == created
    starts = [call.start_time for page in pages for call in page]
    assert starts == sorted(starts)

    # The Link URL works as it is, as any HTTP client would follow it.
    followed = switchboard.get(next_url)
    assert followed.status_code == 200
    assert [call["callId"] for call in followed.json()] == created[3:6]

    # A page exactly full has no next page only when nothing follows it.
    exact = calls_api.list_calls_with_http_info(ACCOUNT_ID, to=to, page_size=7)
    assert len(exact.data) == 7 and next_page_token(exact.headers) is None
    assert header(exact.headers, "Link") is None


def test_pages_never_skip_or_repeat_calls_created_in_the_same_instant(
    vserver: VirtualTimeServer, hangs_up: Receiver, calls_api: CallsApi
) -> None:
    to = "+15554440011"
    created = {create_call(calls_api, hangs_up, to) for _ in range(5)}
    vserver.advance(10)

    pages = walk_pages(calls_api, ACCOUNT_ID, to=to, page_size=2)
    listed = [call.call_id for page in pages for call in page]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(listed) == sorted(created)


def test_page_size_bounds(
    vserver: VirtualTimeServer, hangs_up: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    to = "+15554440012"
    created = [create_call(calls_api, hangs_up, to)]
    vserver.advance(1)  # calls of the same instant come in callId order
    created.append(create_call(calls_api, hangs_up, to))
    vserver.advance(10)

    smallest = calls_api.list_calls_with_http_info(ACCOUNT_ID, to=to, page_size=1)
    assert ids(smallest.data) == created[:1] and next_page_token(smallest.headers) is not None
    largest = calls_api.list_calls_with_http_info(ACCOUNT_ID, to=to, page_size=10000)
    assert ids(largest.data) == created and next_page_token(largest.headers) is None
    assert ids(calls_api.list_calls(ACCOUNT_ID, to=to)) == created  # default: 1000

    # The SDK refuses these itself; another client reaches the server and gets Bandwidth's 400.
    path = f"/api/v2/accounts/{ACCOUNT_ID}/calls"
    for size, reason in [
        ("0", "must be between 1 and 10000, got 0"),
        ("10001", "must be between 1 and 10000, got 10001"),
        ("ten", "must be an integer, got 'ten'"),
    ]:
        response = switchboard.get(path, params={"pageSize": size})
        assert_error(response, 400, "validation", f"Invalid pageSize: {reason}")


def test_a_bad_page_token_or_start_time_is_400(calls_api: CallsApi) -> None:
    sdk_error(
        lambda: calls_api.list_calls(ACCOUNT_ID, page_token="not-a-token"),
        BadRequestException,
        400,
        "validation",
        "Invalid pageToken: use the URL from the previous page's Link header",
    )
    error = sdk_error(
        lambda: calls_api.list_calls(ACCOUNT_ID, min_start_time="yesterday"),
        BadRequestException,
        400,
        "validation",
    )
    assert error.data.description.startswith("Invalid minStartTime: must be an ISO 8601 time")


def test_only_this_accounts_calls_and_who_may_list_them(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, bobs_calls: CallsApi
) -> None:
    to = "+15554440013"
    bobs = bobs_calls.create_call(
        OTHER_ACCOUNT_ID,
        CreateCall(
            to=to,
            var_from=OTHER_ACCOUNT_NUMBER,
            application_id=OTHER_APPLICATION_ID,
            answer_url=app.url("/answer"),
        ),
    ).call_id
    assert ids(bobs_calls.list_calls(OTHER_ACCOUNT_ID, to=to)) == [bobs]
    assert calls_api.list_calls(ACCOUNT_ID, to=to) == []

    sdk_error(
        lambda: calls_api.list_calls(OTHER_ACCOUNT_ID),
        ForbiddenException,
        403,
        "authorization-error",
    )
    with calls_api_for(vserver, USERNAME, "wrong") as intruder:
        sdk_error(
            lambda: intruder.list_calls(ACCOUNT_ID),
            UnauthorizedException,
            401,
            "authentication-error",
        )
    vserver.advance(30)


def test_ended_calls_are_gone_after_the_retention_period(
    vserver: VirtualTimeServer, hangs_up: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    to = "+15554440014"
    old = create_call(calls_api, hangs_up, to)
    vserver.advance(10)
    ended = calls_api.get_call_state(ACCOUNT_ID, old).end_time
    assert ended is not None

    vserver.advance(6 * 86400)
    recent = create_call(calls_api, hangs_up, to)
    vserver.advance(10)
    assert ids(calls_api.list_calls(ACCOUNT_ID, to=to)) == [old, recent]
    assert calls_api.get_call_state(ACCOUNT_ID, old).state == "disconnected"

    vserver.advance(2 * 86400)  # the old call ended 8 days ago: past the 7 days kept
    sdk_error(
        lambda: calls_api.get_call_state(ACCOUNT_ID, old),
        NotFoundException,
        404,
        "validation",
        f"Call [{old}] not found",
    )
    assert ids(calls_api.list_calls(ACCOUNT_ID, to=to)) == [recent]
    # Purged from the store too, timeline and all, not only hidden.
    timeline = switchboard.get(f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{old}/timeline")
    assert timeline.status_code == 404
    assert calls_api.get_call_state(ACCOUNT_ID, recent).state == "disconnected"
