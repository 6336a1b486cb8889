"""Every createCall rule through a real server: the 400 and the description a client sees."""

from __future__ import annotations

import json

import httpx
import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import BadRequestException
from bandwidth.models.create_call import CreateCall

from tests.support.create_call_cases import INVALID, Case, seed_body
from tests.support.http import assert_error, calls_path
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    OTHER_ACCOUNT_ID,
    OTHER_ACCOUNT_NUMBER,
    OTHER_APPLICATION_ID,
    OTHER_PASSWORD,
    OTHER_USERNAME,
    PASSWORD,
    USERNAME,
    RunningServer,
)

UNKNOWN_APPLICATION = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize("case", [c.param() for c in INVALID])
def test_invalid_body_gets_400_with_its_reason(api: httpx.Client, case: Case) -> None:
    response = api.post(calls_path(), json=case.body())
    assert_error(response, 400, "validation", case.description)


def test_application_of_no_account(api: httpx.Client) -> None:
    response = api.post(calls_path(), json=seed_body(applicationId=UNKNOWN_APPLICATION))
    assert_error(
        response,
        400,
        "validation",
        f"Could not create call: Application id {UNKNOWN_APPLICATION} not found",
    )


def test_application_of_another_account_is_not_found(api: httpx.Client) -> None:
    response = api.post(calls_path(), json=seed_body(applicationId=OTHER_APPLICATION_ID))
    assert_error(
        response,
        400,
        "validation",
        f"Could not create call: Application id {OTHER_APPLICATION_ID} not found",
    )


def test_application_id_is_case_sensitive(api: httpx.Client) -> None:
    response = api.post(calls_path(), json=seed_body(applicationId=APPLICATION_ID.upper()))
    assert_error(
        response,
        400,
        "validation",
        f"Could not create call: Application id {APPLICATION_ID.upper()} not found",
    )


@pytest.mark.parametrize("number", ["+15555550000", OTHER_ACCOUNT_NUMBER])
def test_from_must_be_a_number_of_this_account(api: httpx.Client, number: str) -> None:
    response = api.post(calls_path(), json=seed_body(**{"from": number}))
    assert_error(
        response,
        400,
        "validation",
        f"Could not create call: from number {number} is not a phone number "
        f"of account {ACCOUNT_ID}",
    )


def test_other_account_uses_its_own_number_and_application(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base_url, auth=(OTHER_USERNAME, OTHER_PASSWORD)) as other:
        response = other.post(
            calls_path(OTHER_ACCOUNT_ID),
            json=seed_body(applicationId=OTHER_APPLICATION_ID, **{"from": OTHER_ACCOUNT_NUMBER}),
        )
        assert response.status_code == 201
        assert response.json()["accountId"] == OTHER_ACCOUNT_ID
        # ...and cannot borrow the first account's number.
        response = other.post(
            calls_path(OTHER_ACCOUNT_ID),
            json=seed_body(applicationId=OTHER_APPLICATION_ID),
        )
    assert_error(
        response,
        400,
        "validation",
        f"Could not create call: from number {FROM_NUMBER} is not a phone number "
        f"of account {OTHER_ACCOUNT_ID}",
    )


def test_field_rules_are_checked_before_the_account(api: httpx.Client) -> None:
    # A malformed body is a validation error even if its application is someone else's.
    response = api.post(
        calls_path(), json=seed_body(applicationId=UNKNOWN_APPLICATION, callTimeout=0)
    )
    assert_error(
        response, 400, "validation", "Invalid callTimeout: must be between 1 and 300, got 0"
    )


def test_nothing_is_stored_for_a_rejected_call(api: httpx.Client, server: RunningServer) -> None:
    import sqlite3

    tag = "rejected-call-must-not-be-stored"
    response = api.post(calls_path(), json=seed_body(tag=tag, priority=9))
    assert response.status_code == 400
    connection = sqlite3.connect(server.data_dir / "switchboard.db")
    try:
        rows = connection.execute("SELECT data FROM calls").fetchall()
    finally:
        connection.close()
    assert not any(tag in data for (data,) in rows)


# -- what the official SDK can send, and how it reports the 400 ---------------------------------


def sdk(server: RunningServer) -> Configuration:
    return Configuration(
        username=USERNAME, password=PASSWORD, host=server.api_url, ignore_operation_servers=True
    )


def seed_call(**changes: object) -> CreateCall:
    values: dict[str, object] = {
        "to": "+15555551313",
        "var_from": FROM_NUMBER,
        "application_id": APPLICATION_ID,
        "answer_url": "http://www.myapp.com/hello",
    }
    values.update(changes)
    return CreateCall(**values)


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        # The SDK allows a 4096-character tag (the newer spec); the seed's limit is 256.
        ({"tag": "t" * 257}, "Invalid tag: must be at most 256 characters, got 257"),
        (
            {"application_id": UNKNOWN_APPLICATION},
            f"Could not create call: Application id {UNKNOWN_APPLICATION} not found",
        ),
        ({"to": "5555551313"}, None),
        ({"answer_url": "ftp://files.example.com/a"}, None),
        ({"display_name": "Bob\nSmith"}, None),
        ({"privacy": True, "display_name": "Bob"}, None),
        ({"uui": "abc"}, None),
    ],
    ids=["tag-257", "unknown-application", "to", "answer-url", "display-name", "privacy", "uui"],
)
def test_sdk_raises_bad_request_with_the_body_parsed(
    server: RunningServer, changes: dict[str, object], description: str | None
) -> None:
    with ApiClient(sdk(server)) as client, pytest.raises(BadRequestException) as caught:
        CallsApi(client).create_call(ACCOUNT_ID, seed_call(**changes))
    error = caught.value
    assert error.status == 400
    assert error.data is not None and error.data.type == "validation"
    assert error.data.description
    if description is not None:
        assert error.data.description == description
    assert json.loads(error.body)["description"] == error.data.description
