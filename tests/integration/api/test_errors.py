"""Unknown paths, wrong methods, server faults: Bandwidth's error body, never a framework's."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest

from switchboard.calls.service import CallService
from tests.support.create_call_cases import seed_body
from tests.support.http import assert_error, calls_path
from tests.support.server import ACCOUNT_ID


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),  # (GET / is the web console's page: tests/integration/console)
        ("POST", "/api/v2/accounts"),
        ("POST", f"/api/v2/accounts/{ACCOUNT_ID}/nothing"),
        ("POST", f"/api/v2/accounts/{ACCOUNT_ID}/calls/c-1/extra/parts"),
        ("POST", f"/api/v3/accounts/{ACCOUNT_ID}/calls"),
        ("GET", "/index.html"),
        ("DELETE", "/api"),
    ],
)
def test_unknown_path_is_404(api: httpx.Client, method: str, path: str) -> None:
    response = api.request(method, path)
    assert_error(response, 404, "validation", f"No resource at {method} {path}")
    assert "<" not in response.text  # no HTML page


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_wrong_method_on_calls_is_405(api: httpx.Client, method: str) -> None:
    response = api.request(method, calls_path(), json=seed_body())
    path = calls_path()
    # Every method the path serves (GET lists calls, POST creates one; HEAD comes with GET).
    allowed = "GET, HEAD, POST"
    assert_error(
        response,
        405,
        "validation",
        f"Method Not Allowed: {method} is not allowed on {path}; allowed: {allowed}",
    )
    assert response.headers["allow"] == allowed


def test_405_needs_no_credentials(anonymous: httpx.Client) -> None:
    response = anonymous.delete(calls_path())
    assert response.status_code == 405


def test_unknown_path_needs_no_credentials(anonymous: httpx.Client) -> None:
    response = anonymous.get("/nope")
    assert response.status_code == 404


def test_server_fault_is_500_with_an_id_in_the_log(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    # The server runs in this process, so its call service can be broken for one request.
    monkeypatch.setattr(CallService, "create", broken)
    with caplog.at_level(logging.ERROR, logger="switchboard.api"):
        response = api.post(calls_path(), json=seed_body())
    body = assert_error(response, 500, "internal-error", "An unknown internal error occurred")
    error_id = str(body["id"])
    uuid.UUID(error_id)
    assert "disk on fire" not in response.text
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None
