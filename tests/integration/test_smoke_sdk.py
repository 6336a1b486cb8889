"""The seed's example through the official SDK, in Basic and OAuth2 modes."""

from __future__ import annotations

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
    RunningServer,
)


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


def test_basic_auth(server: RunningServer) -> None:
    _create(
        Configuration(
            username=USERNAME,
            password=PASSWORD,
            host=server.api_url,
            ignore_operation_servers=True,
        )
    )


def test_oauth2(server: RunningServer) -> None:
    _create(
        Configuration(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            host=server.api_url,
            ignore_operation_servers=True,
            access_token_url=f"{server.base_url}/api/v1/oauth2/token",
        )
    )
