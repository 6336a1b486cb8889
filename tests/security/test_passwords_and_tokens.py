"""Passwords and tokens (issue 23), against a real server on 127.0.0.1: any Authorization
header gets 401 or an answer (fuzzed), unknown names cost the same hash as wrong passwords,
failed attempts are throttled with 429 and Retry-After, and tokens die with their client's
secret (rotated, removed, re-added) as a running server's operator changes it with the CLI."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.api import auth as auth_module
from tests.integration.cli.test_cli_provisioning import Cli
from tests.security.conftest import (
    GuardedServer,
    assert_bandwidth_error,
    guarded_server,
    read_response,
)
from tests.support.create_call_cases import seed_body
from tests.support.http import assert_error, calls_path
from tests.support.server import (
    ACCOUNT_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    CONFIG,
    USERNAME,
    start_virtual_server,
)

TOKEN_PATH = "/api/v1/oauth2/token"
GENEROUS = "\n[auth]\nfailures_per_address = 1000000\nfailures_per_name = 1000000\n"


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuardedServer]:
    # As `switchboard serve` runs it: the guarded HTTP protocol answers what it cannot parse.
    with guarded_server(tmp_path_factory.mktemp("fuzz"), GENEROUS) as running:
        yield running


def raw_request(server: GuardedServer, authorization: bytes) -> tuple[int, bytes]:
    with server.connect() as client:
        client.sendall(
            f"GET /api/v2/accounts/{ACCOUNT_ID}/calls HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
            + b"Authorization: "
            + authorization
            + b"\r\nConnection: close\r\n\r\n"
        )
        status, _, body = read_response(client)
    return status, body


def test_a_non_ascii_bearer_token_gets_401_not_500(fuzzed: GuardedServer) -> None:
    status, body = raw_request(fuzzed, b"Bearer sbt1.eA.\xe9")
    assert status == 401
    assert_bandwidth_error(body, "authentication-error")


# Header bytes a client can put on the wire: anything but CR, LF and NUL.
wire_bytes = st.binary(max_size=300).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"")
)
wire_values = st.one_of(
    wire_bytes,
    wire_bytes.map(lambda b: b"Bearer " + b),
    wire_bytes.map(lambda b: b"Bearer sbt2." + b),
    wire_bytes.map(lambda b: b"Basic " + b),
    st.binary(max_size=200).map(lambda b: b"Basic " + base64.b64encode(b)),
    st.binary(max_size=200).map(lambda b: b"Basic " + base64.b64encode(b"alice:" + b)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=wire_values)
def test_any_authorization_header_bytes_get_401_or_an_answer(
    fuzzed: GuardedServer, value: bytes
) -> None:
    status, body = raw_request(fuzzed, value)
    if status == 400:  # bytes the HTTP parser refuses before the request exists
        assert_bandwidth_error(body, "validation")
        return
    assert status == 401, (status, body)
    assert_bandwidth_error(body, "authentication-error")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=wire_values)
def test_any_client_authentication_bytes_at_the_token_endpoint_get_401_or_an_answer(
    fuzzed: GuardedServer, value: bytes
) -> None:
    body = b"grant_type=client_credentials"
    with fuzzed.connect() as client:
        client.sendall(
            b"POST /api/v1/oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nAuthorization: "
            + value
            + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
            + body
        )
        status, _, answer = read_response(client)
    if status == 400:
        assert_bandwidth_error(answer, "validation")
        return
    assert status == 401, (status, answer)
    parsed = orjson.loads(answer)
    assert parsed["type"] == "authentication-error"
    assert parsed["error"] == "invalid_client"


# -- unknown names cost the same hash -----------------------------------------------------------


def test_unknown_names_cost_one_hash_each_like_wrong_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[tuple[str, str]] = []
    real_verify = auth_module.verify_secret

    def counting_verify(secret: str, stored: str) -> bool:
        verified.append((secret, stored))
        return real_verify(secret, stored)

    monkeypatch.setattr(auth_module, "verify_secret", counting_verify)
    running = start_virtual_server(tmp_path)
    try:
        with httpx.Client(base_url=running.base_url, timeout=10) as client:
            for auth in [(USERNAME, "wrong-1"), ("nobody", "wrong-2")]:
                response = client.post(calls_path(), json=seed_body(), auth=auth)
                assert_error(response, 401, "authentication-error")
            for auth in [(CLIENT_ID, "wrong-3"), ("no-such-client", "wrong-4")]:
                response = client.post(
                    TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=auth
                )
                assert response.status_code == 401, response.text
    finally:
        running.stop()
    assert [secret for secret, _ in verified] == ["wrong-1", "wrong-2", "wrong-3", "wrong-4"]
    dummy = auth_module.dummy_hash()
    assert [stored == dummy for _, stored in verified] == [False, True, False, True]


# -- throttling ---------------------------------------------------------------------------------


def test_failed_attempts_past_the_limit_get_429_with_retry_after(tmp_path: Path) -> None:
    config = (
        CONFIG + "\n[auth]\nfailures_per_name = 3\nfailure_window_seconds = 120\n"
        "throttled_delay_seconds = 0.25\n"
    )
    running = start_virtual_server(tmp_path, config)
    try:
        with httpx.Client(base_url=running.base_url, timeout=10) as client:
            for guess in ("a", "b", "c"):
                response = client.post(calls_path(), json=seed_body(), auth=(USERNAME, guess))
                assert response.status_code == 401
            response = client.post(calls_path(), json=seed_body(), auth=(USERNAME, "d"))
            assert_error(response, 429, "error")
            # Answered no sooner than [auth] throttled_delay_seconds (a lower bound: the server
            # waits at least that long, however loaded the machine).
            assert response.elapsed.total_seconds() >= 0.25
            assert 0 < int(response.headers["retry-after"]) <= 120
            # Another user is not throttled by alice's failures...
            response = client.get(calls_path(), auth=("bob", "bob-secret-password"))
            assert response.status_code == 403  # bob is another account's: authenticated
            # ...and the token endpoint counts per client id the same way.
            for guess in ("a", "b", "c"):
                response = client.post(
                    TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, guess)
                )
                assert response.status_code == 401
            response = client.post(
                TOKEN_PATH,
                data={"grant_type": "client_credentials"},
                auth=(CLIENT_ID, CLIENT_SECRET),
            )
            assert response.status_code == 429
            assert int(response.headers["retry-after"]) > 0
    finally:
        running.stop()


# -- tokens die with their client's secret ------------------------------------------------------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[httpx.Client, Cli]]:
    running = start_virtual_server(tmp_path)
    with httpx.Client(base_url=running.base_url, timeout=10) as client:
        yield client, Cli(running.data_dir)
    running.stop()


def token(client: httpx.Client, secret: str = CLIENT_SECRET) -> str:
    response = client.post(
        TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, secret)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def list_calls(client: httpx.Client, bearer: str) -> httpx.Response:
    return client.get(calls_path(), headers={"Authorization": f"Bearer {bearer}"})


def test_rotating_a_client_secret_kills_its_tokens(live: tuple[httpx.Client, Cli]) -> None:
    client, cli = live
    issued = token(client)
    assert list_calls(client, issued).status_code == 200
    cli.ok("oauth-clients", "add", ACCOUNT_ID, "--client-id", CLIENT_ID, "--client-secret", "new")
    assert_error(list_calls(client, issued), 401, "authentication-error")
    assert list_calls(client, token(client, "new")).status_code == 200


def test_removing_a_client_kills_its_tokens_and_re_adding_it_does_not_revive_them(
    live: tuple[httpx.Client, Cli],
) -> None:
    client, cli = live
    issued = token(client)
    cli.ok("oauth-clients", "remove", CLIENT_ID)
    assert_error(list_calls(client, issued), 401, "authentication-error")
    cli.ok(
        "oauth-clients",
        "add",
        ACCOUNT_ID,
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
    )  # the very same id and secret
    assert_error(list_calls(client, issued), 401, "authentication-error")
    assert list_calls(client, token(client)).status_code == 200
