"""An app with no base URL configured reaches Switchboard as https://voice.bandwidth.com and
https://api.bandwidth.com (issue 22), through the TLS listener and the in-process router
`switchboard.testing.bandwidth_hosts`: the installed SDK, configured as Bandwidth's samples
configure it (credentials only), creates, reads and ends a call; URLs handed out carry the
name the client used. (The old SDK that cannot be pointed anywhere else: test_sdk15.py.)"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.call_state_enum import CallStateEnum
from bandwidth.models.create_call import CreateCall
from bandwidth.models.update_call import UpdateCall

from switchboard.testing import bandwidth_hosts
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
)
from tests.support.tls import TlsServer, tls_server

CALLS = f"https://voice.bandwidth.com/api/v2/accounts/{ACCOUNT_ID}/calls"


@pytest.fixture(scope="module")
def bw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    with tls_server(tmp_path_factory.mktemp("tls")) as running:
        yield running


def test_a_call_through_bandwidths_hostnames(bw: TlsServer, app: Receiver) -> None:
    app.on("/answer", "<Response><Pause duration='30'/></Response>")
    with (
        bandwidth_hosts("127.0.0.1", bw.port, bw.ca_file),
        ApiClient(Configuration(username=USERNAME, password=PASSWORD)) as client,
    ):
        calls = CallsApi(client)
        created = calls.create_call_with_http_info(
            ACCOUNT_ID,
            CreateCall(
                to="+15555551313",
                var_from=FROM_NUMBER,
                application_id=APPLICATION_ID,
                answer_url=app.url("/answer"),
            ),
        )
        call = created.data
        assert created.status_code == 201
        assert call.call_url == f"{CALLS}/{call.call_id}"
        assert created.headers is not None
        assert {k.lower(): v for k, v in created.headers.items()}["location"] == call.call_url

        bw.server.advance(3)  # the simulated phone answers after 2 s
        [answer] = app.events("answer")
        assert answer["callUrl"] == call.call_url
        assert calls.get_call_state(ACCOUNT_ID, call.call_id).state == "answered"

        calls.update_call(ACCOUNT_ID, call.call_id, UpdateCall(state=CallStateEnum.COMPLETED))
        bw.server.advance(1)
        assert calls.get_call_state(ACCOUNT_ID, call.call_id).state == "disconnected"


def test_oauth2_tokens_come_from_api_bandwidth_com(bw: TlsServer) -> None:
    with bandwidth_hosts("127.0.0.1", bw.port, bw.ca_file):
        # The SDK's default access_token_url is https://api.bandwidth.com/api/v1/oauth2/token.
        configuration = Configuration(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        with ApiClient(configuration) as client:
            page = CallsApi(client).list_calls_with_http_info(ACCOUNT_ID)
    assert page.status_code == 200


def test_only_bandwidths_names_are_routed_and_only_inside_the_block(bw: TlsServer) -> None:
    before = socket.getaddrinfo
    with bandwidth_hosts("127.0.0.1", bw.port, bw.ca_file):
        [(_, _, _, _, address)] = socket.getaddrinfo(
            "VOICE.bandwidth.com.", 443, socket.AF_INET, socket.SOCK_STREAM
        )
        assert address == ("127.0.0.1", bw.port)
        [(_, _, _, _, address)] = socket.getaddrinfo(
            "localhost", 8080, socket.AF_INET, socket.SOCK_STREAM
        )
        assert address == ("127.0.0.1", 8080)
        # The CA is trusted for Bandwidth's names only: the listener's certificate does not
        # name 127.0.0.1, and a client asking for that is refused.
        context = ssl.create_default_context()
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"https://127.0.0.1:{bw.port}/", verify=context)
    assert socket.getaddrinfo is before


def test_a_missing_ca_fails_at_once(tmp_path: Path) -> None:
    with (
        pytest.raises(FileNotFoundError),
        bandwidth_hosts("127.0.0.1", 1, tmp_path / "nowhere.pem"),
    ):
        pass
