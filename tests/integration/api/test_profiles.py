"""Settings a deployment chooses: the production profile's https rule, and trusting a proxy."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.create_call_cases import seed_body
from tests.support.http import assert_error, calls_path
from tests.support.server import ACCOUNT_ID, CONFIG, PASSWORD, USERNAME, start_virtual_server


def with_server_settings(settings: str) -> str:
    assert CONFIG.lstrip().startswith("[server]\n")
    return CONFIG.replace("[server]\n", f"[server]\n{settings}\n", 1)


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    running = start_virtual_server(
        tmp_path_factory.mktemp("production"), with_server_settings('profile = "production"')
    )
    with httpx.Client(base_url=running.base_url, auth=(USERNAME, PASSWORD)) as client:
        yield client
    running.stop()


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    running = start_virtual_server(
        tmp_path_factory.mktemp("proxied"), with_server_settings("trust_proxy = true")
    )
    with httpx.Client(base_url=running.base_url, auth=(USERNAME, PASSWORD)) as client:
        yield client
    running.stop()


HTTPS_RULE = "must use https when a username and password are given"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": "u", "password": "p"}, "answerUrl"),
        ({"username": "u"}, "answerUrl"),
        ({"password": "p"}, "answerUrl"),
        (
            {
                "answerUrl": "https://app.example.com/a",
                "disconnectUrl": "http://app.example.com/d",
                "username": "u",
                "password": "p",
            },
            "disconnectUrl",
        ),
        (
            {
                "answerFallbackUrl": "http://fallback.example.com/a",
                "fallbackUsername": "u",
                "fallbackPassword": "p",
            },
            "answerFallbackUrl",
        ),
    ],
    ids=["both", "username-only", "password-only", "disconnect", "fallback"],
)
def test_production_requires_https_with_credentials(
    production: httpx.Client, changes: dict[str, str], field: str
) -> None:
    response = production.post(calls_path(), json=seed_body(**changes))
    assert_error(response, 400, "validation", f"Invalid {field}: {HTTPS_RULE}")


@pytest.mark.parametrize(
    "changes",
    [
        {"answerUrl": "https://app.example.com/a", "username": "u", "password": "p"},
        {"answerUrl": "HTTPS://app.example.com/a", "username": "u", "password": "p"},
        {},  # plain http without credentials is fine
        {
            "answerFallbackUrl": "http://fallback.example.com/a",
            "username": "u",
            "password": "p",
            "answerUrl": "https://app.example.com/a",
        },
    ],
    ids=["https", "https-upper-case", "http-no-credentials", "fallback-without-its-credentials"],
)
def test_production_accepts_https_or_no_credentials(
    production: httpx.Client, changes: dict[str, str]
) -> None:
    response = production.post(calls_path(), json=seed_body(**changes))
    assert response.status_code == 201, response.text


def test_development_accepts_http_with_credentials(api: httpx.Client) -> None:
    response = api.post(
        calls_path(),
        json=seed_body(
            answerUrl="http://127.0.0.1:9000/answer",
            username="u",
            password="p",
            answerFallbackUrl="http://127.0.0.1:9000/fallback",
            fallbackUsername="fu",
            fallbackPassword="fp",
        ),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["username"], body["password"]) == ("u", "*****")
    assert (body["fallbackUsername"], body["fallbackPassword"]) == ("fu", "*****")


def test_trusted_proxy_sets_scheme_and_host(behind_proxy: httpx.Client) -> None:
    response = behind_proxy.post(
        calls_path(),
        json=seed_body(),
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "voice.example.com"},
    )
    assert response.status_code == 201
    call_id = response.json()["callId"]
    expected = f"https://voice.example.com/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}"
    assert response.json()["callUrl"] == expected
    assert response.headers["location"] == expected


def test_trusted_proxy_chain_uses_the_first_hop(behind_proxy: httpx.Client) -> None:
    response = behind_proxy.post(
        calls_path(),
        json=seed_body(),
        headers={
            "X-Forwarded-Proto": "https, http",
            "X-Forwarded-Host": "voice.example.com, internal-lb:8080",
        },
    )
    assert response.json()["callUrl"].startswith("https://voice.example.com/api/v2/")


def test_trusted_proxy_without_forwarded_headers_uses_host(behind_proxy: httpx.Client) -> None:
    response = behind_proxy.post(
        calls_path(), json=seed_body(), headers={"Host": "direct.example.com:8080"}
    )
    assert response.json()["callUrl"].startswith("http://direct.example.com:8080/api/v2/")


def test_trusted_proxy_forwarded_host_alone(behind_proxy: httpx.Client) -> None:
    response = behind_proxy.post(
        calls_path(), json=seed_body(), headers={"X-Forwarded-Host": "voice.example.com"}
    )
    assert response.json()["callUrl"].startswith("http://voice.example.com/api/v2/")
