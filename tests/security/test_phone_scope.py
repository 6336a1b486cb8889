"""PUT /switchboard/v1/phones/{number} is the configuring account's, with bounded values
(issue 23): account A made B's callee reject, and 20,000 PUTs of 60 KB digits added 1.07 GB.
A real server on 127.0.0.1 on a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from switchboard.network import simulated
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CONFIG,
    FROM_NUMBER,
    OTHER_ACCOUNT_ID,
    OTHER_ACCOUNT_NUMBER,
    OTHER_APPLICATION_ID,
    OTHER_PASSWORD,
    OTHER_USERNAME,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

CALLEE = "+15555550180"
PHONE = f"/switchboard/v1/phones/{CALLEE}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path_factory.mktemp("phones"), CONFIG)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def alice(server: VirtualTimeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, auth=(USERNAME, PASSWORD), timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def bob(server: VirtualTimeServer) -> Iterator[httpx.Client]:
    auth = (OTHER_USERNAME, OTHER_PASSWORD)
    with httpx.Client(base_url=server.base_url, auth=auth, timeout=10) as client:
        yield client


def call(client: httpx.Client, account: str, from_: str, application: str) -> str:
    created = client.post(
        f"/api/v2/accounts/{account}/calls",
        json={
            "from": from_,
            "to": CALLEE,
            "applicationId": application,
            "answerUrl": "http://127.0.0.1:9/never-called",
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["callId"])


def state(client: httpx.Client, account: str, call_id: str) -> dict[str, object]:
    answer = client.get(f"/api/v2/accounts/{account}/calls/{call_id}")
    assert answer.status_code == 200
    return dict(answer.json())


def test_a_phone_set_by_one_account_answers_only_that_accounts_calls(
    server: VirtualTimeServer, alice: httpx.Client, bob: httpx.Client
) -> None:
    put = alice.put(PHONE, json={"outcome": "busy", "answer_after": 1})
    assert put.status_code == 200, put.text
    assert alice.get(PHONE).json()["outcome"] == "busy"
    assert bob.get(PHONE).json()["outcome"] == "answer"  # B's view: the default phone

    alices = call(alice, ACCOUNT_ID, FROM_NUMBER, APPLICATION_ID)
    bobs = call(bob, OTHER_ACCOUNT_ID, OTHER_ACCOUNT_NUMBER, OTHER_APPLICATION_ID)
    server.advance(3)
    assert state(alice, ACCOUNT_ID, alices)["disconnectCause"] == "busy"
    # B's call reached the default phone, which answers (its answer URL is unreachable, so it
    # ends there: what matters is that it was not busy).
    assert state(bob, OTHER_ACCOUNT_ID, bobs)["disconnectCause"] != "busy"
    assert state(bob, OTHER_ACCOUNT_ID, bobs)["answerTime"] is not None

    # B configures the same number for itself: each account keeps its own.
    assert bob.put(PHONE, json={"outcome": "reject"}).status_code == 200
    assert alice.get(PHONE).json()["outcome"] == "busy"
    assert bob.get(PHONE).json()["outcome"] == "reject"


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"digits": "1" * 60_000}, "digits"),
        ({"digits": ["1"] * 33}, "digits"),
        ({"digits": [{"at": 1, "digits": "1"}] * 33}, "digits"),
        ({"answer_after": 1e9}, "answer_after"),
        ({"speech": [{"text": "x" * 15_000}, {"text": "y" * 15_000}]}, "speech"),
    ],
)
def test_every_key_is_bounded(alice: httpx.Client, body: dict[str, object], names: str) -> None:
    refused = alice.put(PHONE, json=body)
    assert refused.status_code == 400, refused.text
    assert names in refused.json()["description"]
    assert len(refused.content) < 1000  # the error does not echo the value back


def test_an_account_configures_a_bounded_number_of_phones(
    alice: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulated, "MAX_PHONES_PER_ACCOUNT", 3)
    assert alice.put(PHONE, json={"outcome": "busy"}).status_code == 200  # one phone, at least
    numbers = [f"/switchboard/v1/phones/+1555555019{n}" for n in range(4)]
    statuses = [alice.put(number, json={"outcome": "answer"}).status_code for number in numbers]
    # The account already has CALLEE's phone: two more fit.
    assert statuses == [200, 200, 409, 409]
    assert alice.put(PHONE, json={"outcome": "busy"}).status_code == 200  # changing one: fine
    long_number = "/switchboard/v1/phones/" + "1" * 65
    assert alice.put(long_number, json={"outcome": "answer"}).status_code == 400
