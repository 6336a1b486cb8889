"""Calls created: the 201 a client gets (SDK and raw HTTP), and the call as stored."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from datetime import datetime
from typing import Any

import httpx
import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.callback_method_enum import CallbackMethodEnum
from bandwidth.models.create_call import CreateCall
from bandwidth.models.machine_detection_configuration import MachineDetectionConfiguration

from tests.support.create_call_cases import VALID, Case, seed_body
from tests.support.http import calls_path
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    RunningServer,
    VirtualTimeServer,
)

CALL_ID = re.compile(
    r"^c-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z"
)
# The seed's example response, and what the current spec's createCallResponse adds.
SEED_RESPONSE_FIELDS = {
    "from",
    "to",
    "applicationId",
    "callId",
    "callUrl",
    "callTimeout",
    "answerUrl",
    "answerMethod",
    "disconnectUrl",
    "disconnectMethod",
    "username",
    "password",
    "tag",
}
SPEC_RESPONSE_FIELDS = SEED_RESPONSE_FIELDS | {
    "accountId",
    "enqueuedTime",
    "callbackTimeout",
    "answerFallbackUrl",
    "answerFallbackMethod",
    "fallbackUsername",
    "fallbackPassword",
    "priority",
}


def basic_configuration(server: RunningServer) -> Configuration:
    return Configuration(
        username=USERNAME, password=PASSWORD, host=server.api_url, ignore_operation_servers=True
    )


def oauth_configuration(server: RunningServer) -> Configuration:
    return Configuration(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        host=server.api_url,
        ignore_operation_servers=True,
        access_token_url=f"{server.base_url}/api/v1/oauth2/token",
    )


def every_field() -> CreateCall:
    return CreateCall(
        to="sip:bob@sip.example.com",
        var_from=FROM_NUMBER,
        privacy=True,
        display_name="Anonymous",
        uui="3a4b5c;encoding=hex,eyJhbGciOiJIUzI1NiJ9;encoding=jwt",
        application_id=APPLICATION_ID,
        answer_url="https://app.example.com/answer",
        answer_method=CallbackMethodEnum.GET,
        username="hook-user",
        password="hook-password",
        answer_fallback_url="https://fallback.example.com/answer",
        answer_fallback_method=CallbackMethodEnum.GET,
        fallback_username="fallback-user",
        fallback_password="fallback-password",
        disconnect_url="https://app.example.com/disconnect",
        disconnect_method=CallbackMethodEnum.GET,
        call_timeout=12.5,
        callback_timeout=7.5,
        machine_detection=MachineDetectionConfiguration(
            mode="sync",
            detection_timeout=20,
            silence_timeout=5,
            speech_threshold=6,
            speech_end_threshold=2,
            machine_speech_end_threshold=3,
            delay_result=True,
            callback_url="https://app.example.com/amd",
            callback_method=CallbackMethodEnum.GET,
            username="amd-user",
            password="amd-password",
            fallback_url="https://fallback.example.com/amd",
            fallback_method=CallbackMethodEnum.POST,
            fallback_username="amd-fallback-user",
            fallback_password="amd-fallback-password",
        ),
        priority=1,
        tag="campaign-42",
    )


def headers_of(response: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in (response.headers or {}).items()}


@pytest.mark.parametrize("mode", ["basic", "oauth2"])
def test_sdk_sends_every_field_and_gets_it_echoed(server: VirtualTimeServer, mode: str) -> None:
    configuration = (basic_configuration if mode == "basic" else oauth_configuration)(server)
    with ApiClient(configuration) as client:
        response = CallsApi(client).create_call_with_http_info(ACCOUNT_ID, every_field())
    assert response.status_code == 201
    call = response.data
    assert call.account_id == ACCOUNT_ID
    assert call.application_id == APPLICATION_ID
    assert (call.to, call.var_from) == ("sip:bob@sip.example.com", FROM_NUMBER)
    assert call.answer_url == "https://app.example.com/answer"
    assert call.answer_method == CallbackMethodEnum.GET
    assert call.answer_fallback_url == "https://fallback.example.com/answer"
    assert call.answer_fallback_method == CallbackMethodEnum.GET
    assert call.disconnect_url == "https://app.example.com/disconnect"
    assert call.disconnect_method == CallbackMethodEnum.GET
    assert (call.username, call.password) == ("hook-user", "*****")
    assert (call.fallback_username, call.fallback_password) == ("fallback-user", "*****")
    assert (call.call_timeout, call.callback_timeout) == (12.5, 7.5)
    assert call.priority == 1
    assert call.tag == "campaign-42"
    assert CALL_ID.match(call.call_id)
    assert headers_of(response)["location"] == call.call_url
    assert call.call_url == f"{server.api_url}/accounts/{ACCOUNT_ID}/calls/{call.call_id}"
    assert call.enqueued_time == server.clock.wall()  # the server's (virtual) clock
    assert b"hook-password" not in response.raw_data
    assert b"fallback-password" not in response.raw_data


@pytest.mark.parametrize("mode", ["basic", "oauth2"])
def test_sdk_seed_example_gets_defaults(server: RunningServer, mode: str) -> None:
    configuration = (basic_configuration if mode == "basic" else oauth_configuration)(server)
    body = CreateCall(
        to="+15555551313",
        var_from=FROM_NUMBER,
        application_id=APPLICATION_ID,
        answer_url="http://www.myapp.com/hello",
    )
    with ApiClient(configuration) as client:
        call = CallsApi(client).create_call(ACCOUNT_ID, body)
    assert call.answer_method == CallbackMethodEnum.POST
    assert call.disconnect_method == CallbackMethodEnum.POST
    assert call.answer_fallback_method == CallbackMethodEnum.POST
    assert (call.call_timeout, call.callback_timeout, call.priority) == (30, 15, 5)
    assert call.disconnect_url is None and call.answer_fallback_url is None
    assert call.username is None and call.password is None
    assert call.fallback_username is None and call.fallback_password is None
    assert call.tag is None


def test_seed_example_raw_gets_the_seed_response(
    api: httpx.Client, server: VirtualTimeServer
) -> None:
    response = api.post(
        calls_path() + "/",  # the seed's Request URL ends with a slash
        content=json.dumps(seed_body()),
        headers={"Content-type": "application/json"},
    )
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == SPEC_RESPONSE_FIELDS
    call_id = body.pop("callId")
    assert CALL_ID.match(call_id) and len(call_id) == 47
    assert response.headers["location"] == body.pop("callUrl")
    assert response.headers["location"] == f"{server.api_url}/accounts/{ACCOUNT_ID}/calls/{call_id}"
    enqueued = body.pop("enqueuedTime")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", enqueued)
    assert datetime.fromisoformat(enqueued.replace("Z", "+00:00")) == server.clock.wall()
    assert body == {
        "accountId": ACCOUNT_ID,
        "from": FROM_NUMBER,
        "to": "+15555551313",
        "applicationId": APPLICATION_ID,
        "callTimeout": 30,
        "callbackTimeout": 15,
        "answerUrl": "http://www.myapp.com/hello",
        "answerMethod": "POST",
        "answerFallbackUrl": None,
        "answerFallbackMethod": "POST",
        "disconnectUrl": None,
        "disconnectMethod": "POST",
        "username": None,
        "password": None,
        "fallbackUsername": None,
        "fallbackPassword": None,
        "priority": 5,
        "tag": None,
    }


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is missing; make test installs it")
def test_seed_curl_example_verbatim(server: RunningServer) -> None:
    """The seed's own curl command, pointed at the server with the test account's credentials."""
    url = f"{server.api_url}/accounts/{ACCOUNT_ID}/calls"
    data = json.dumps(seed_body(), indent=6)
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "-i",
            "-X",
            "POST",
            "--url",
            url,
            "-u",
            f"{USERNAME}:{PASSWORD}",
            "-H",
            "Content-type: application/json",
            "--data-raw",
            data,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    head, _, payload = result.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1.1 201")
    location = re.search(r"^location: (\S+)$", head, re.IGNORECASE | re.MULTILINE)
    assert location is not None
    assert json.loads(payload)["callUrl"] == location.group(1)


@pytest.mark.parametrize("case", [c.param() for c in VALID])
def test_valid_body_is_accepted_and_echoed(api: httpx.Client, case: Case) -> None:
    assert case.echoed, "a valid case must say what the 201 echoes"
    response = api.post(calls_path(), json=case.body())
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == SPEC_RESPONSE_FIELDS
    for name, expected in case.echoed.items():
        assert body[name] == expected, name


def test_passwords_are_masked_never_echoed(api: httpx.Client) -> None:
    response = api.post(
        calls_path(),
        json=seed_body(username="u", password="secret-1", fallbackPassword="secret-2"),
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["password"], body["fallbackPassword"]) == ("*****", "*****")
    assert (body["username"], body["fallbackUsername"]) == ("u", None)
    assert "secret-1" not in response.text and "secret-2" not in response.text


def test_empty_password_is_set_so_masked(api: httpx.Client) -> None:
    response = api.post(calls_path(), json=seed_body(username="u", password=""))
    assert response.status_code == 201
    assert response.json()["password"] == "*****"


def test_unknown_fields_cannot_override_the_server(api: httpx.Client) -> None:
    response = api.post(
        calls_path(),
        json=seed_body(callId="c-mine", callUrl="http://evil.example/", accountId="1234567"),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["callId"] != "c-mine" and CALL_ID.match(body["callId"])
    assert body["accountId"] == ACCOUNT_ID
    assert not body["callUrl"].startswith("http://evil")


def test_call_ids_are_unique(api: httpx.Client) -> None:
    ids = {api.post(calls_path(), json=seed_body()).json()["callId"] for _ in range(50)}
    assert len(ids) == 50


def test_call_is_durably_stored_queued_before_the_201(
    api: httpx.Client, server: RunningServer
) -> None:
    response = api.post(calls_path(), json=seed_body(tag="durable"))
    assert response.status_code == 201
    call_id = response.json()["callId"]
    # A separate connection, as another process would open it: the row is committed.
    connection = sqlite3.connect(server.data_dir / "switchboard.db")
    try:
        row = connection.execute(
            "SELECT account_id, state, to_number, from_number, data FROM calls WHERE call_id = ?",
            (call_id,),
        ).fetchone()
    finally:
        connection.close()
    assert row is not None
    account_id, state, to_number, from_number, data = row
    assert (account_id, to_number, from_number) == (ACCOUNT_ID, "+15555551313", FROM_NUMBER)
    # Stored as queued; the engine may already have dialled it (virtual time stands still,
    # so it can get no further).
    assert state in ("queued", "initiated")
    assert json.loads(data)["request"]["tag"] == "durable"


def test_call_url_uses_the_host_the_client_used(api: httpx.Client) -> None:
    response = api.post(
        calls_path(), json=seed_body(), headers={"Host": "switchboard.example.net:9000"}
    )
    assert response.status_code == 201
    call_id = response.json()["callId"]
    expected = f"http://switchboard.example.net:9000/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}"
    assert response.json()["callUrl"] == expected
    assert response.headers["location"] == expected


def test_forwarded_host_is_ignored_when_no_proxy_is_trusted(
    api: httpx.Client, server: RunningServer
) -> None:
    response = api.post(
        calls_path(), json=seed_body(), headers={"X-Forwarded-Host": "evil.example"}
    )
    assert response.status_code == 201
    assert response.json()["callUrl"].startswith(f"{server.base_url}/api/v2/")


def test_forwarded_proto_is_ignored_when_no_proxy_is_trusted(
    api: httpx.Client, server: RunningServer
) -> None:
    response = api.post(calls_path(), json=seed_body(), headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 201
    assert response.json()["callUrl"].startswith(f"{server.base_url}/api/v2/")
