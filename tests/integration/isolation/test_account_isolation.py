"""Account isolation on every endpoint: nothing of account A through account B's credentials
(user or OAuth client), B's paths, or A's ids.

- A's path with B's credentials: 403, the same whether the call exists or not.
- B's path with A's callId: 404, exactly as for a call that never existed.
- B's list never shows A's calls, whatever the filters or page token; B's statistics are B's.
- None of it changes A's call; nothing of A's call appears in any answer B gets.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.http import assert_error
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    OTHER_ACCOUNT_ID,
    OTHER_ACCOUNT_NUMBER,
    OTHER_APPLICATION_ID,
    VirtualTimeServer,
)

# A's call, with values that appear nowhere else, so a leak of any of them is visible.
A_TO = "+15555550177"
A_TAG = "alice-private-tag"
A_ANSWER_URL = "http://127.0.0.1:9/alice-private-answer"
A_DISCONNECT_URL = "http://127.0.0.1:9/alice-private-disconnect"
A_VALUES = (A_TO, A_TAG, A_ANSWER_URL, A_DISCONNECT_URL, APPLICATION_ID, FROM_NUMBER)
BXML = b'<?xml version="1.0" encoding="UTF-8"?><Bxml><Hangup/></Bxml>'


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # with {account} and, for one call's endpoints, {call}
    content: bytes | None = None
    content_type: str | None = None
    json: dict[str, Any] | None = None

    @property
    def of_a_call(self) -> bool:
        return "{call}" in self.path

    def send(self, client: httpx.Client, account: str, call: str = "") -> httpx.Response:
        headers = {"Content-Type": self.content_type} if self.content_type else {}
        return client.request(
            self.method,
            self.path.format(account=account, call=call),
            json=self.json,
            content=self.content,
            headers=headers,
        )


def _create_body(**changes: Any) -> dict[str, Any]:
    body = {
        "from": FROM_NUMBER,
        "to": "+15555551313",
        "answerUrl": "http://127.0.0.1:9/answer",
        "applicationId": APPLICATION_ID,
    }
    return body | changes


CALLS = "/api/v2/accounts/{account}/calls"
OWN = "/switchboard/v1/accounts/{account}/calls/{call}"
ENDPOINTS = [
    Endpoint("createCall", "POST", CALLS, json=_create_body()),
    Endpoint("createCall/", "POST", CALLS + "/", json=_create_body()),
    Endpoint("listCalls", "GET", CALLS),
    Endpoint("listCalls/", "GET", CALLS + "/"),
    Endpoint("getCallState", "GET", CALLS + "/{call}"),
    Endpoint("updateCall completed", "POST", CALLS + "/{call}", json={"state": "completed"}),
    Endpoint(
        "updateCall redirect",
        "POST",
        CALLS + "/{call}",
        json={"redirectUrl": "http://127.0.0.1:9/bob-redirect", "tag": "bob-was-here"},
    ),
    Endpoint(
        "updateCallBxml",
        "PUT",
        CALLS + "/{call}/bxml",
        content=BXML,
        content_type="application/xml",
    ),
    Endpoint("getStatistics", "GET", "/api/v2/accounts/{account}/statistics"),
    Endpoint("timeline", "GET", OWN + "/timeline"),
    Endpoint("callee answer", "POST", OWN + "/callee", json={"action": "answer"}),
    Endpoint("callee hangup", "POST", OWN + "/callee", json={"action": "hangup"}),
    Endpoint("callee press", "POST", OWN + "/callee", json={"action": "press", "digits": "1"}),
]
CALL_ENDPOINTS = [endpoint for endpoint in ENDPOINTS if endpoint.of_a_call]
FORBIDDEN = f"Access is denied: these credentials are not valid for account {ACCOUNT_ID}"


def by_name(endpoints: list[Endpoint]) -> Any:
    return pytest.mark.parametrize("endpoint", endpoints, ids=[e.name for e in endpoints])


def unknown_call_id() -> str:
    """A call id shaped like Switchboard's (c-8 hex-UUID) that no call has."""
    return f"c-{uuid.uuid4().hex[:8]}-{uuid.uuid4()}"


def assert_reveals_nothing_of_a(response: httpx.Response) -> None:
    for value in A_VALUES:
        assert value not in response.text, f"{value!r} of account A leaked: {response.text}"


def create_a_call(alice: httpx.Client) -> str:
    response = alice.post(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls",
        json=_create_body(
            to=A_TO, tag=A_TAG, answerUrl=A_ANSWER_URL, disconnectUrl=A_DISCONNECT_URL
        ),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["callId"])


def snapshot(alice: httpx.Client, call_id: str) -> tuple[Any, Any]:
    """What A sees of the call: its state and its timeline."""
    state = alice.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}")
    timeline = alice.get(f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline")
    assert state.status_code == 200 and timeline.status_code == 200
    return state.json(), timeline.json()


@pytest.fixture(scope="module")
def a_call(alice: httpx.Client) -> str:
    return create_a_call(alice)


@pytest.fixture(params=["user", "oauth-client"])
def intruder(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """Account B, by its API user or by its OAuth client's bearer token."""
    yield request.getfixturevalue("bob" if request.param == "user" else "bob_oauth")


# -- A's paths with B's credentials: 403 -------------------------------------------------------


@by_name(ENDPOINTS)
def test_other_accounts_credentials_are_forbidden(
    endpoint: Endpoint, intruder: httpx.Client, a_call: str
) -> None:
    response = endpoint.send(intruder, ACCOUNT_ID, a_call)
    assert_error(response, 403, "authorization-error", FORBIDDEN)
    assert_reveals_nothing_of_a(response)


@by_name(CALL_ENDPOINTS)
def test_forbidden_alike_whether_the_call_exists_or_not(
    endpoint: Endpoint, intruder: httpx.Client, a_call: str
) -> None:
    # No oracle: B cannot learn which of A's call ids exist.
    existing = endpoint.send(intruder, ACCOUNT_ID, a_call)
    unknown = endpoint.send(intruder, ACCOUNT_ID, unknown_call_id())
    assert (existing.status_code, existing.json()) == (unknown.status_code, unknown.json())


@by_name(ENDPOINTS)
def test_no_credentials_no_access(endpoint: Endpoint, anonymous: httpx.Client, a_call: str) -> None:
    response = endpoint.send(anonymous, ACCOUNT_ID, a_call)
    assert_error(response, 401, "authentication-error")
    assert_reveals_nothing_of_a(response)


# -- B's paths with A's ids: 404, as for a call that never existed ------------------------------


@by_name(CALL_ENDPOINTS)
def test_another_accounts_call_reads_as_unknown(
    endpoint: Endpoint, intruder: httpx.Client, a_call: str
) -> None:
    response = endpoint.send(intruder, OTHER_ACCOUNT_ID, a_call)
    assert_error(response, 404, "validation")
    assert_reveals_nothing_of_a(response)
    missing_id = unknown_call_id()
    missing = endpoint.send(intruder, OTHER_ACCOUNT_ID, missing_id)
    assert missing.status_code == 404
    assert response.json() == with_id(missing.json(), missing_id, a_call)


def with_id(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """An error body with one call id in its description swapped for another."""
    return {k: v.replace(old, new) if isinstance(v, str) else v for k, v in body.items()}


def test_b_cannot_create_calls_with_a_application_or_number(bob: httpx.Client) -> None:
    path = f"/api/v2/accounts/{OTHER_ACCOUNT_ID}/calls"
    with_a_application = bob.post(
        path, json=_create_body(**{"from": OTHER_ACCOUNT_NUMBER, "applicationId": APPLICATION_ID})
    )
    assert_error(
        with_a_application,
        400,
        "validation",
        f"Could not create call: Application id {APPLICATION_ID} not found",
    )
    with_a_number = bob.post(path, json=_create_body(applicationId=OTHER_APPLICATION_ID))
    assert_error(
        with_a_number,
        400,
        "validation",
        f"Could not create call: from number {FROM_NUMBER} is not a phone number of account "
        f"{OTHER_ACCOUNT_ID}",
    )


def test_nothing_b_tries_changes_a_call(
    server: VirtualTimeServer, alice: httpx.Client, bob: httpx.Client, bob_oauth: httpx.Client
) -> None:
    call_id = create_a_call(alice)
    server.settle()  # the call has started ringing (or waits in the queue) before we look
    before = snapshot(alice, call_id)
    assert before[0]["state"] in ("queued", "initiated")
    for client in (bob, bob_oauth):
        for endpoint in CALL_ENDPOINTS:
            for account in (ACCOUNT_ID, OTHER_ACCOUNT_ID):
                assert endpoint.send(client, account, call_id).status_code in (403, 404)
    server.settle()
    assert snapshot(alice, call_id) == before


# -- lists and statistics -----------------------------------------------------------------------


def test_list_never_shows_another_accounts_calls(
    alice: httpx.Client, bob: httpx.Client, bob_oauth: httpx.Client, a_call: str
) -> None:
    b_call = bob.post(
        f"/api/v2/accounts/{OTHER_ACCOUNT_ID}/calls",
        json=_create_body(**{"from": OTHER_ACCOUNT_NUMBER, "applicationId": OTHER_APPLICATION_ID}),
    )
    assert b_call.status_code == 201, b_call.text
    b_call_id = b_call.json()["callId"]
    filters: list[dict[str, Any]] = [
        {},
        {"to": A_TO},
        {"from": FROM_NUMBER},
        {"pageSize": 10000},
        {"minStartTime": "2000-01-01T00:00:00Z", "maxStartTime": "2100-01-01T00:00:00Z"},
    ]
    for client in (bob, bob_oauth):
        for params in filters:
            response = client.get(f"/api/v2/accounts/{OTHER_ACCOUNT_ID}/calls", params=params)
            assert response.status_code == 200, response.text
            assert {call["accountId"] for call in response.json()} <= {OTHER_ACCOUNT_ID}
            assert a_call not in response.text
            assert_reveals_nothing_of_a(response)
        everything = client.get(f"/api/v2/accounts/{OTHER_ACCOUNT_ID}/calls").json()
        assert b_call_id in [call["callId"] for call in everything]
    a_list = alice.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls", params={"pageSize": 10000})
    ids = [call["callId"] for call in a_list.json()]
    assert a_call in ids and b_call_id not in ids


def test_a_page_token_opens_no_other_account(
    alice: httpx.Client, bob: httpx.Client, a_call: str
) -> None:
    create_a_call(alice)
    first = alice.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls", params={"pageSize": 1})
    assert first.status_code == 200 and "next" in first.links, first.headers
    next_url = first.links["next"]["url"]
    # The Link itself, followed by B: A's path, so 403.
    assert_error(bob.get(next_url), 403, "authorization-error", FORBIDDEN)
    # A's page token on B's own path: B's calls or an error, never A's.
    token = httpx.URL(next_url).params["pageToken"]
    response = bob.get(
        f"/api/v2/accounts/{OTHER_ACCOUNT_ID}/calls", params={"pageToken": token, "pageSize": 1000}
    )
    if response.status_code == 200:
        assert {call["accountId"] for call in response.json()} <= {OTHER_ACCOUNT_ID}
    else:
        assert_error(response, 400, "validation")
    assert_reveals_nothing_of_a(response)


def test_statistics_are_the_accounts_own(alice: httpx.Client, bob: httpx.Client) -> None:
    def queued(client: httpx.Client, account: str) -> int:
        response = client.get(f"/api/v2/accounts/{account}/statistics")
        assert response.status_code == 200, response.text
        return int(response.json()["currentCallQueueSize"])

    # The clock never moves, so A's calls per second run out and the next ones queue.
    for _ in range(30):
        if queued(alice, ACCOUNT_ID) > 0:
            break
        create_a_call(alice)
    assert queued(alice, ACCOUNT_ID) > 0
    assert queued(bob, OTHER_ACCOUNT_ID) == 0


# -- OAuth ---------------------------------------------------------------------------------------


def test_a_token_asked_for_with_another_accounts_name_is_still_bs(
    anonymous: httpx.Client, bob_client_credentials: tuple[str, str], a_call: str
) -> None:
    response = anonymous.post(
        "/api/v1/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "alice-client",
            "account_id": ACCOUNT_ID,
            "scope": f"account:{ACCOUNT_ID}",
        },
        auth=bob_client_credentials,
    )
    assert response.status_code == 200, response.text
    bearer = {"Authorization": f"Bearer {response.json()['access_token']}"}
    forbidden = anonymous.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{a_call}", headers=bearer)
    assert_error(forbidden, 403, "authorization-error", FORBIDDEN)
    own = anonymous.get(f"/api/v2/accounts/{OTHER_ACCOUNT_ID}/calls", headers=bearer)
    assert own.status_code == 200


# -- the simulated phones: shared by design, but only for authenticated users ---------------------


def test_phones_need_credentials_and_carry_no_account_data(
    alice: httpx.Client, bob: httpx.Client, anonymous: httpx.Client, a_call: str
) -> None:
    path = f"/switchboard/v1/phones/{A_TO}"
    assert_error(anonymous.get(path), 401, "authentication-error")
    assert_error(anonymous.put(path, json={"outcome": "busy"}), 401, "authentication-error")
    # docs/simulated-network.md: the simulated network is shared by all accounts.
    seen_by_a, seen_by_b = alice.get(path), bob.get(path)
    assert seen_by_a.status_code == seen_by_b.status_code == 200
    assert seen_by_a.json() == seen_by_b.json()
    body = seen_by_b.json()
    assert body["number"] == A_TO
    for value in (ACCOUNT_ID, a_call, A_TAG, A_ANSWER_URL, APPLICATION_ID):
        assert value not in seen_by_b.text
