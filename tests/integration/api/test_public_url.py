"""[server] public_url: the base of every absolute URL Switchboard hands out (callUrl, Location,
Link), for a deployment behind a proxy that sets no X-Forwarded headers. Seen through the
official SDK and a webhook app, as an application would."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Hangup, Response
from bandwidth.models.create_call import CreateCall

from tests.e2e.control import calls_api_for
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CONFIG,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

# With the trailing slash a hand-written config may have; and trust_proxy on, to show that the
# configured URL wins over forwarded headers too.
SETTINGS = 'public_url = "https://voice.example.com/"\ntrust_proxy = true'
PUBLIC = "https://voice.example.com"
CALLS = f"{PUBLIC}/api/v2/accounts/{ACCOUNT_ID}/calls"


@dataclass
class Deployment:
    server: VirtualTimeServer
    calls_api: CallsApi
    app: Receiver

    def create(self, **headers: str) -> tuple[str, str, str]:
        """A new call's id, its Location header and its callUrl."""
        body = CreateCall(
            to="+15555551313",
            var_from=FROM_NUMBER,
            application_id=APPLICATION_ID,
            answer_url=self.app.url("/answer"),
            disconnect_url=self.app.url("/disconnect"),
        )
        response = self.calls_api.create_call_with_http_info(ACCOUNT_ID, body, _headers=headers)
        assert response.status_code == 201
        location = header(response.headers, "Location")
        return str(response.data.call_id), location, str(response.data.call_url)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    assert CONFIG.lstrip().startswith("[server]\n")
    config = CONFIG.replace("[server]\n", f"[server]\n{SETTINGS}\n", 1)
    server = start_virtual_server(tmp_path_factory.mktemp("public-url"), config)
    app = Receiver().start()
    app.on("/answer", Response([Hangup()]).to_bxml())
    with calls_api_for(server, USERNAME, PASSWORD) as calls_api:
        yield Deployment(server, calls_api, app)
    server.advance(3600)  # every call made here ends before the app goes away
    app.stop()
    server.stop()


def header(headers: Mapping[str, str] | None, name: str) -> str:
    """A response header by name, whatever case the SDK's mapping keeps it in."""
    assert headers is not None
    (value,) = [value for key, value in headers.items() if key.lower() == name.lower()]
    return value


def test_callurl_and_location_start_with_the_public_url(deployment: Deployment) -> None:
    call_id, location, call_url = deployment.create()
    assert location == call_url == f"{CALLS}/{call_id}"
    # The path under it is the call's: GET there (on this server, not the made-up host) finds it.
    path = urlsplit(location).path
    with httpx.Client(base_url=deployment.server.base_url, auth=(USERNAME, PASSWORD)) as client:
        assert client.get(path).json()["callId"] == call_id


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "10.0.0.7:8080"},
        {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "internal.example.net"},
    ],
    ids=["host", "forwarded"],
)
def test_the_public_url_wins_over_what_the_request_says(
    deployment: Deployment, headers: dict[str, str]
) -> None:
    call_id, location, call_url = deployment.create(**headers)
    assert location == call_url == f"{CALLS}/{call_id}"


def test_the_next_page_link_starts_with_the_public_url(deployment: Deployment) -> None:
    deployment.create()
    deployment.create()
    response = deployment.calls_api.list_calls_with_http_info(ACCOUNT_ID, page_size=1)
    assert header(response.headers, "Link").startswith(f"<{CALLS}?pageSize=1&pageToken=")


def test_webhooks_carry_the_public_callurl(deployment: Deployment) -> None:
    call_id, _, _ = deployment.create()
    deployment.server.advance(10)  # answered at 2 s; the answer's BXML hangs up
    events = [event for event in deployment.app.events() if event["callId"] == call_id]
    assert [event["eventType"] for event in events] == ["answer", "disconnect"]
    assert {event["callUrl"] for event in events} == {f"{CALLS}/{call_id}"}
