"""Authentication (HTTP Basic, OAuth2 bearer tokens) and authorization, as a client meets them."""

from __future__ import annotations

import base64
import time
import types
from pathlib import Path

import httpx
import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.exceptions import ForbiddenException, UnauthorizedException
from bandwidth.models.create_call import CreateCall

from switchboard.api import auth as auth_module
from tests.support.create_call_cases import seed_body
from tests.support.http import assert_error, calls_path
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    FROM_NUMBER,
    OTHER_ACCOUNT_ID,
    OTHER_PASSWORD,
    OTHER_USERNAME,
    PASSWORD,
    USERNAME,
    RunningServer,
    start_virtual_server,
)

TOKEN_PATH = "/api/v1/oauth2/token"
INVALID = "The credentials provided were invalid"
REQUIRED = "Authentication is required: use HTTP Basic or a Bearer token"
REALM = 'Basic realm="Switchboard Voice API"'


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def assert_unauthenticated(response: httpx.Response, description: str = INVALID) -> None:
    assert_error(response, 401, "authentication-error", description)
    assert response.headers["www-authenticate"] == REALM


def get_token(anonymous: httpx.Client) -> str:
    response = anonymous.post(
        TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


# -- 401 ---------------------------------------------------------------------------------------


def test_no_credentials(anonymous: httpx.Client) -> None:
    response = anonymous.post(calls_path(), json=seed_body())
    assert_unauthenticated(response, REQUIRED)


def test_empty_authorization_header(anonymous: httpx.Client) -> None:
    response = anonymous.post(calls_path(), json=seed_body(), headers={"Authorization": ""})
    assert_unauthenticated(response, REQUIRED)


@pytest.mark.parametrize(
    "authorization",
    [
        basic(USERNAME, "wrong-password"),
        basic(USERNAME, PASSWORD + " "),
        basic(USERNAME.upper(), PASSWORD),
        basic("nobody", PASSWORD),
        basic("", ""),
        basic(CLIENT_ID, CLIENT_SECRET),  # an OAuth client is not an API user
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Digest username=alice",
        "Token abc",
        "garbage",
        "Bearer",
        "Bearer not-a-token",
        "Bearer a.b.c",
        "Bearer sbt1.x.y",
    ],
    ids=[
        "wrong-password",
        "password-with-space",
        "username-wrong-case",
        "unknown-user",
        "empty-user-and-password",
        "oauth-client-as-user",
        "basic-without-value",
        "basic-not-base64",
        "basic-no-colon",
        "basic-not-utf8",
        "digest",
        "token-scheme",
        "garbage",
        "bearer-without-value",
        "bearer-garbage",
        "bearer-three-parts",
        "bearer-bad-signature",
    ],
)
def test_wrong_credentials(anonymous: httpx.Client, authorization: str) -> None:
    response = anonymous.post(
        calls_path(), json=seed_body(), headers={"Authorization": authorization}
    )
    assert_unauthenticated(response)


def test_wrong_password_stays_wrong_when_asked_again(anonymous: httpx.Client) -> None:
    # The second answer comes from the verdict cache; it must agree with the first.
    for _ in range(3):
        response = anonymous.post(calls_path(), json=seed_body(), auth=(USERNAME, "wrong-again"))
        assert_unauthenticated(response)


def test_authentication_comes_before_validation(anonymous: httpx.Client) -> None:
    response = anonymous.post(calls_path(), content=b"{", headers={"Content-Type": "text/plain"})
    assert_unauthenticated(response, REQUIRED)


def test_sdk_raises_unauthorized_with_the_body_parsed(server: RunningServer) -> None:
    configuration = Configuration(
        username=USERNAME,
        password="wrong-password",
        host=server.api_url,
        ignore_operation_servers=True,
    )
    with ApiClient(configuration) as client, pytest.raises(UnauthorizedException) as caught:
        CallsApi(client).create_call(ACCOUNT_ID, sdk_seed_call())
    error = caught.value
    assert error.status == 401
    assert error.data is not None
    assert (error.data.type, error.data.description) == ("authentication-error", INVALID)
    assert {k.lower(): v for k, v in (error.headers or {}).items()}["www-authenticate"] == REALM


# -- 403 ---------------------------------------------------------------------------------------


def sdk_seed_call() -> CreateCall:
    return CreateCall(
        to="+15555551313",
        var_from=FROM_NUMBER,
        application_id=APPLICATION_ID,
        answer_url="http://www.myapp.com/hello",
    )


@pytest.mark.parametrize("account_id", [OTHER_ACCOUNT_ID, "1234567", "not-an-account"])
def test_credentials_of_another_account_are_forbidden(api: httpx.Client, account_id: str) -> None:
    response = api.post(calls_path(account_id), json=seed_body())
    assert_error(
        response,
        403,
        "authorization-error",
        f"Access is denied: these credentials are not valid for account {account_id}",
    )
    assert "www-authenticate" not in response.headers


def test_other_accounts_user_is_forbidden_here(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.base_url}{calls_path()}",
        json=seed_body(),
        auth=(OTHER_USERNAME, OTHER_PASSWORD),
    )
    assert_error(
        response,
        403,
        "authorization-error",
        f"Access is denied: these credentials are not valid for account {ACCOUNT_ID}",
    )


def test_authorization_comes_before_validation(api: httpx.Client) -> None:
    response = api.post(calls_path(OTHER_ACCOUNT_ID), content=b"{", headers={"X": "y"})
    assert response.status_code == 403


def test_sdk_raises_forbidden_with_the_body_parsed(server: RunningServer) -> None:
    configuration = Configuration(
        username=USERNAME, password=PASSWORD, host=server.api_url, ignore_operation_servers=True
    )
    with ApiClient(configuration) as client, pytest.raises(ForbiddenException) as caught:
        CallsApi(client).create_call(OTHER_ACCOUNT_ID, sdk_seed_call())
    assert caught.value.status == 403
    assert caught.value.data is not None
    assert caught.value.data.type == "authorization-error"
    assert caught.value.data.description == (
        f"Access is denied: these credentials are not valid for account {OTHER_ACCOUNT_ID}"
    )


# -- OAuth2 token endpoint -----------------------------------------------------------------------


def test_token_endpoint_issues_a_bearer_token(anonymous: httpx.Client) -> None:
    response = anonymous.post(
        TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str) and len(body["access_token"]) > 20


def test_two_tokens_differ(anonymous: httpx.Client) -> None:
    assert get_token(anonymous) != get_token(anonymous)


@pytest.mark.parametrize(
    ("auth", "description"),
    [
        ((CLIENT_ID, "wrong-secret"), "unknown client or wrong secret"),
        (("no-such-client", CLIENT_SECRET), "unknown client or wrong secret"),
        ((USERNAME, PASSWORD), "unknown client or wrong secret"),  # a user is not a client
        (None, "send client_id:client_secret as HTTP Basic"),
    ],
    ids=["wrong-secret", "unknown-client", "api-user", "no-credentials"],
)
def test_token_endpoint_rejects_bad_client_credentials(
    anonymous: httpx.Client, auth: tuple[str, str] | None, description: str
) -> None:
    response = anonymous.post(TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=auth)
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "authentication-error"
    assert body["description"] == f"Client authentication failed: {description}"
    assert body["error"] == "invalid_client"  # RFC 6749, for OAuth libraries
    assert response.headers["www-authenticate"] == REALM


def test_token_endpoint_rejects_bearer_as_client_auth(anonymous: httpx.Client) -> None:
    token = get_token(anonymous)
    response = anonymous.post(
        TOKEN_PATH,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    assert response.json()["type"] == "authentication-error"


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "CLIENT_CREDENTIALS"])
def test_token_endpoint_rejects_other_grant_types(anonymous: httpx.Client, grant_type: str) -> None:
    response = anonymous.post(
        TOKEN_PATH, data={"grant_type": grant_type}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation"
    assert body["description"] == (
        f"Unsupported grant_type '{grant_type}': only client_credentials is supported"
    )
    assert body["error"] == "unsupported_grant_type"


def test_token_endpoint_without_grant_type(anonymous: httpx.Client) -> None:
    response = anonymous.post(TOKEN_PATH, auth=(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 400
    assert response.json()["description"] == (
        "Unsupported grant_type '': only client_credentials is supported"
    )


def test_token_endpoint_refuses_a_huge_body(anonymous: httpx.Client) -> None:
    response = anonymous.post(
        TOKEN_PATH,
        content=b"grant_type=client_credentials&pad=" + b"x" * 9000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 413
    body = response.json()
    assert body["description"] == "Request body too large: the limit is 8 KB"
    assert body["error"] == "invalid_request"


def test_token_endpoint_only_takes_post(anonymous: httpx.Client) -> None:
    response = anonymous.get(TOKEN_PATH)
    assert_error(
        response,
        405,
        "validation",
        f"Method Not Allowed: GET is not allowed on {TOKEN_PATH}; allowed: POST",
    )


# -- bearer tokens on the voice API --------------------------------------------------------------


def test_bearer_token_creates_a_call(anonymous: httpx.Client) -> None:
    token = get_token(anonymous)
    response = anonymous.post(
        calls_path(), json=seed_body(), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text


def test_bearer_scheme_is_case_insensitive(anonymous: httpx.Client) -> None:
    token = get_token(anonymous)
    response = anonymous.post(
        calls_path(), json=seed_body(), headers={"Authorization": f"bearer {token}"}
    )
    assert response.status_code == 201, response.text


def test_bearer_token_of_another_account_is_forbidden(anonymous: httpx.Client) -> None:
    token = get_token(anonymous)
    response = anonymous.post(
        calls_path(OTHER_ACCOUNT_ID),
        json=seed_body(),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_error(
        response,
        403,
        "authorization-error",
        f"Access is denied: these credentials are not valid for account {OTHER_ACCOUNT_ID}",
    )


def test_expired_bearer_token(anonymous: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same token, accepted while it is valid, is refused once it has expired: a verdict
    remembered from its first use (as Basic credentials' are) must not outlive the token."""
    # The server runs in this process: its auth clock is the test's, from the token's issue on.
    clock = types.SimpleNamespace(now=time.time())
    monkeypatch.setattr(auth_module, "time", types.SimpleNamespace(time=lambda: clock.now))
    token = get_token(anonymous)
    headers = {"Authorization": f"Bearer {token}"}
    assert anonymous.post(calls_path(), json=seed_body(), headers=headers).status_code == 201
    clock.now += 3599  # the lifetime is 3600 s
    assert anonymous.post(calls_path(), json=seed_body(), headers=headers).status_code == 201
    clock.now += 2
    assert_unauthenticated(anonymous.post(calls_path(), json=seed_body(), headers=headers))


def test_token_still_valid_just_before_expiry(
    anonymous: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = get_token(anonymous)
    later = time.time() + 3500
    monkeypatch.setattr(auth_module, "time", types.SimpleNamespace(time=lambda: later))
    response = anonymous.post(
        calls_path(), json=seed_body(), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201


def _tamper(token: str, part: int) -> str:
    pieces = token.split(".")
    assert len(pieces) == 3
    padded = pieces[part] + "=" * (-len(pieces[part]) % 4)
    raw = bytearray(base64.urlsafe_b64decode(padded))
    raw[0] ^= 1
    pieces[part] = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    return ".".join(pieces)


@pytest.mark.parametrize("part", [1, 2], ids=["payload", "signature"])
def test_forged_bearer_token(anonymous: httpx.Client, part: int) -> None:
    forged = _tamper(get_token(anonymous), part)
    response = anonymous.post(
        calls_path(), json=seed_body(), headers={"Authorization": f"Bearer {forged}"}
    )
    assert_unauthenticated(response)


def test_token_claiming_another_account_is_rejected(anonymous: httpx.Client) -> None:
    # Re-encode the payload with the other account's id: the signature no longer matches.
    prefix, encoded, signature = get_token(anonymous).split(".")
    payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    assert ACCOUNT_ID in payload
    swapped = base64.urlsafe_b64encode(payload.replace(ACCOUNT_ID, OTHER_ACCOUNT_ID).encode())
    forged = f"{prefix}.{swapped.decode().rstrip('=')}.{signature}"
    response = anonymous.post(
        calls_path(OTHER_ACCOUNT_ID),
        json=seed_body(),
        headers={"Authorization": f"Bearer {forged}"},
    )
    assert_unauthenticated(response)


def test_sdk_oauth_with_wrong_secret_gets_no_call(server: RunningServer) -> None:
    # The SDK does not check the token response's status; it fails looking for access_token.
    configuration = Configuration(
        client_id=CLIENT_ID,
        client_secret="wrong-secret",
        host=server.api_url,
        ignore_operation_servers=True,
        access_token_url=f"{server.base_url}{TOKEN_PATH}",
    )
    with ApiClient(configuration) as client, pytest.raises(KeyError, match="access_token"):
        CallsApi(client).create_call(ACCOUNT_ID, sdk_seed_call())


# -- the slow hash runs once per credential --------------------------------------------------------


def test_credentials_are_hashed_once_then_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real_verify = auth_module.verify_secret

    def counting_verify(secret: str, stored: str) -> bool:
        checks.append(secret)
        return real_verify(secret, stored)

    monkeypatch.setattr(auth_module, "verify_secret", counting_verify)
    running = start_virtual_server(tmp_path)
    try:
        with httpx.Client(base_url=running.base_url) as client:
            for _ in range(5):
                assert (
                    client.post(
                        calls_path(), json=seed_body(), auth=(USERNAME, PASSWORD)
                    ).status_code
                    == 201
                )
                assert (
                    client.post(
                        calls_path(), json=seed_body(), auth=(USERNAME, "wrong")
                    ).status_code
                    == 401
                )
    finally:
        running.stop()
    assert sorted(checks) == sorted([PASSWORD, "wrong"])
