"""A server in the production profile, which denies private destinations: what a call sees when
its answerUrl, disconnectUrl or audio points at one. The webhook app on 127.0.0.1 is allowed by
`allowed_destinations`; 127.0.0.2 stands for an internal address the app must not reach."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import PlayAudio, Response, SpeakSentence

from tests.e2e.flow import create_call, entries, one_disconnect, timeline
from tests.integration.webhooks.witness import Witness, wav
from tests.support.receiver import Raw, Receiver
from tests.support.server import (
    ACCOUNT_ID,
    CONFIG,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

ANSWERS = "+15555550108"  # answers after 2 s
SETTING = "private destinations are not allowed (server.allow_private_destinations)"
PRODUCTION = CONFIG.replace(
    "[server]\n",
    '[server]\nprofile = "production"\nallowed_destinations = ["127.0.0.1"]\n',
    1,
)


@pytest.fixture(scope="module")
def vserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path_factory.mktemp("production"), PRODUCTION)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def every_call_ends(vserver: VirtualTimeServer) -> Iterator[None]:
    yield
    live = list(vserver.engine.runners)
    if live:
        vserver.advance(3600)
    assert live == [], f"calls still live after the test: {live}"


@pytest.fixture
def witness() -> Iterator[Witness]:
    listener = Witness("127.0.0.2")
    yield listener
    listener.close()


@pytest.fixture
def switchboard(vserver: VirtualTimeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vserver.base_url, auth=(USERNAME, PASSWORD)) as client:
        yield client


@pytest.fixture
def calls_api(vserver: VirtualTimeServer) -> Iterator[CallsApi]:
    configuration = Configuration(
        username=USERNAME, password=PASSWORD, host=vserver.api_url, ignore_operation_servers=True
    )
    with ApiClient(configuration) as client:
        yield CallsApi(client)


def test_an_answer_url_on_a_denied_address_is_a_callback_error(
    vserver: VirtualTimeServer,
    app: Receiver,
    witness: Witness,
    calls_api: CallsApi,
    switchboard: httpx.Client,
) -> None:
    answer_url = witness.url("/answer")
    call_id = create_call(calls_api, app, ANSWERS, answer=answer_url)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "callback-error"
    assert disconnect["errorMessage"] == (
        f"The answer callback failed: {answer_url}: destination 127.0.0.2 is a loopback "
        f"address; {SETTING}"
    )
    assert str(uuid.UUID(disconnect["errorId"])) == disconnect["errorId"]
    assert disconnect["endTime"] == disconnect["answerTime"]
    (webhook,) = entries(timeline(switchboard, call_id), "webhook", eventType="answer")
    assert webhook["status"] is None
    assert webhook["error"].endswith(SETTING)
    assert witness.connections() == 0


def test_audio_on_a_denied_address_is_an_application_error(
    vserver: VirtualTimeServer, app: Receiver, witness: Witness, calls_api: CallsApi
) -> None:
    audio_url = witness.url("/prompt.wav")
    app.on("/answer", Response([PlayAudio(audio_url), SpeakSentence("Never spoken")]).to_bxml())
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "application-error"
    assert disconnect["errorMessage"] == (
        f"Cannot play {audio_url}: destination 127.0.0.2 is a loopback address; {SETTING}"
    )
    assert disconnect["endTime"] == disconnect["answerTime"]
    assert witness.connections() == 0


def test_audio_redirected_to_a_denied_address_is_an_application_error(
    vserver: VirtualTimeServer, app: Receiver, witness: Witness, calls_api: CallsApi
) -> None:
    app.on("/prompt.wav", Raw(b"", status=302, headers={"Location": witness.url("/x.wav")}))
    app.on("/answer", Response([PlayAudio("/prompt.wav")]).to_bxml())
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "application-error"
    assert disconnect["errorMessage"] == (
        f"Cannot play {app.url('/prompt.wav')}: it redirected to 127.0.0.2:{witness.port}; "
        f"destination 127.0.0.2 is a loopback address; {SETTING}"
    )
    assert len(app.requests("/prompt.wav")) == 1
    assert witness.connections() == 0


def test_allowed_destinations_work_as_usual(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/prompt.wav", Raw(wav(3.0), "audio/wav"))
    app.on("/answer", Response([PlayAudio("/prompt.wav")]).to_bxml())
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert "errorMessage" not in disconnect


def test_a_denied_disconnect_url_is_tried_once_and_the_call_still_ends(
    vserver: VirtualTimeServer,
    app: Receiver,
    witness: Witness,
    calls_api: CallsApi,
    switchboard: httpx.Client,
) -> None:
    app.on("/answer", Response([SpeakSentence("Goodbye")]).to_bxml())
    disconnect_url = witness.url("/disconnect")
    call_id = create_call(calls_api, app, ANSWERS, disconnect=disconnect_url)
    vserver.advance(30)

    state = calls_api.get_call_state(ACCOUNT_ID, call_id)
    assert state.state == "disconnected"
    assert state.disconnect_cause == "hangup"
    # A refusal is not a connection error: no retry (asynchronous events retry those once).
    (attempt,) = entries(timeline(switchboard, call_id), "webhook", eventType="disconnect")
    assert attempt["url"] == disconnect_url
    assert attempt["error"] == (
        f"{disconnect_url}: destination 127.0.0.2 is a loopback address; {SETTING}"
    )
    assert witness.connections() == 0
