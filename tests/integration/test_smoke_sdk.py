"""The seed's example through the official SDK, in Basic and OAuth2 modes.

Its answerUrl is the seed's, http://www.myapp.com/hello, so the calls must never ring through:
the server's clock is virtual and never moved, and a call stays where creating it left it. (On
the session's real-clock server it answered two seconds later and the server went to resolve
www.myapp.com; tests/support/loopback_guard.py now fails a test for that.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.create_call import CreateCall

from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path_factory.mktemp("smoke"))
    yield running
    running.stop()


def _create(configuration: Configuration) -> None:
    with ApiClient(configuration) as client:
        response = CallsApi(client).create_call_with_http_info(
            ACCOUNT_ID,
            CreateCall(
                to="+15555551313",
                var_from=FROM_NUMBER,
                application_id=APPLICATION_ID,
                answer_url="http://www.myapp.com/hello",
            ),
        )
    assert response.status_code == 201
    call = response.data
    assert call.call_id.startswith("c-") and len(call.call_id) == 47
    assert (
        response.headers is not None
        and {k.lower(): v for k, v in response.headers.items()}["location"] == call.call_url
    )
    assert call.answer_method == "POST" and call.call_timeout == 30


def test_basic_auth(server: VirtualTimeServer) -> None:
    _create(
        Configuration(
            username=USERNAME,
            password=PASSWORD,
            host=server.api_url,
            ignore_operation_servers=True,
        )
    )


def test_oauth2(server: VirtualTimeServer) -> None:
    _create(
        Configuration(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            host=server.api_url,
            ignore_operation_servers=True,
            access_token_url=f"{server.base_url}/api/v1/oauth2/token",
        )
    )
