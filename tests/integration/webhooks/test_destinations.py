"""The destination policy on real connections (SSRF): webhooks and audio fetches to denied
addresses are refused before any connection, by literal address, by DNS answer and on every
redirect hop. Only loopback addresses are used: 127.0.0.1 stands for a denied destination,
127.0.0.2 for one the policy allows by exception."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from switchboard.network.audio import AudioDurations, AudioError
from switchboard.webhooks.delivery import HttpWebhookSender, deliver
from switchboard.webhooks.guard import (
    DestinationDenied,
    DestinationPolicy,
    GuardedConnector,
    denial_in,
)
from switchboard.webhooks.request import Failure, WebhookRequest
from tests.integration.webhooks.witness import Witness, wav
from tests.unit.webhooks.test_guard import FakeDns

SETTING = "private destinations are not allowed (server.allow_private_destinations)"
DENY_LOOPBACK = DestinationPolicy(allow_private=False)
ALLOW_SECOND_LOOPBACK = DestinationPolicy.from_settings(False, ["127.0.0.2"])


@pytest.fixture
def witness() -> Iterator[Witness]:
    listener = Witness("127.0.0.1")
    yield listener
    listener.close()


@dataclass
class AudioServer:
    """Serves /a.wav (2 s) and /to?url=... (a 302 to that URL), recording the paths asked for."""

    base_url: str = ""
    paths: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        if request.path == "/to":
            raise web.HTTPFound(request.query["url"])
        return web.Response(body=wav(2.0), content_type="audio/wav")

    def redirect_to(self, url: str) -> str:
        return f"{self.base_url}/to?url={url}"


async def serve_audio(host: str) -> tuple[AudioServer, web.AppRunner]:
    server = AudioServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    server.base_url = f"http://{host}:{runner.addresses[0][1]}"
    return server, runner


@pytest.fixture
async def second_loopback() -> AsyncIterator[AudioServer]:
    """An audio server on 127.0.0.2: the address ALLOW_SECOND_LOOPBACK lets through."""
    server, runner = await serve_audio("127.0.0.2")
    yield server
    await runner.cleanup()


@pytest.fixture
async def first_loopback() -> AsyncIterator[AudioServer]:
    server, runner = await serve_audio("127.0.0.1")
    yield server
    await runner.cleanup()


def post(url: str) -> WebhookRequest:
    return WebhookRequest(url, "POST", {"eventType": "disconnect", "callId": "c-1"})


# -- webhooks ---------------------------------------------------------------------------------


async def test_a_webhook_to_a_denied_address_is_blocked_without_connecting(
    witness: Witness,
) -> None:
    url = witness.url("/disconnect")
    async with HttpWebhookSender(destinations=DENY_LOOPBACK) as sender:
        # Asynchronous events retry connection errors: a refusal is not one, so one attempt.
        result = await deliver(sender, post(url), None, retry_connection_errors=1)

    (attempt,) = result.attempts
    assert attempt.failure is Failure.BLOCKED
    assert attempt.error == f"{url}: destination 127.0.0.1 is a loopback address; {SETTING}"
    assert attempt.status is None
    assert not attempt.is_connection_error
    assert witness.connections() == 0


async def test_a_webhook_to_a_name_resolving_to_a_denied_address_is_blocked(
    witness: Witness,
) -> None:
    url = witness.url("/answer", host="localhost")
    async with HttpWebhookSender(destinations=DENY_LOOPBACK) as sender:
        attempt = await sender.send(post(url))

    assert attempt.failure is Failure.BLOCKED
    assert attempt.error is not None
    assert re.fullmatch(
        rf"{re.escape(url)}: destination localhost resolves to (127\.0\.0\.1|::1), a loopback "
        rf"address; {re.escape(SETTING)}",
        attempt.error,
    ), attempt.error
    assert witness.connections() == 0


async def test_the_default_policy_and_allowed_networks_deliver(
    first_loopback: AudioServer, second_loopback: AudioServer
) -> None:
    allowed = DestinationPolicy.from_settings(False, ["127.0.0.2"])
    async with HttpWebhookSender(destinations=allowed) as sender:
        to_second = await sender.send(post(f"{second_loopback.base_url}/ok"))
        to_first = await sender.send(post(f"{first_loopback.base_url}/ok"))
    async with HttpWebhookSender() as sender:
        by_default = await sender.send(post(f"{first_loopback.base_url}/default"))

    assert to_second.ok
    assert to_first.failure is Failure.BLOCKED
    assert by_default.ok
    assert second_loopback.paths == ["/ok"]
    assert first_loopback.paths == ["/default"]


async def test_dns_answers_are_checked_on_every_connection(first_loopback: AudioServer) -> None:
    # A public-looking name whose DNS points at an internal address (DNS rebinding, or a
    # careless record): refused. The same name under a permissive policy reaches the server,
    # which shows the answers really came from the resolver under test.
    zone = {"voice-app.example.com": ["127.0.0.1"]}
    port = first_loopback.base_url.rsplit(":", 1)[1]
    url = f"http://voice-app.example.com:{port}/prompt.wav"
    connector = GuardedConnector(DENY_LOOPBACK, resolver=FakeDns(zone))
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as raised:
            await session.get(url)
    assert str(denial_in(raised.value)) == (
        f"destination voice-app.example.com resolves to 127.0.0.1, a loopback address; {SETTING}"
    )
    assert first_loopback.paths == []

    permissive = GuardedConnector(DestinationPolicy(), resolver=FakeDns(zone))
    async with (
        aiohttp.ClientSession(connector=permissive) as session,
        session.get(url) as response,
    ):
        assert response.status == 200
    assert first_loopback.paths == ["/prompt.wav"]


async def test_a_literal_denied_address_is_refused_by_the_socket_factory(
    witness: Witness,
) -> None:
    async with aiohttp.ClientSession(connector=GuardedConnector(DENY_LOOPBACK)) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as raised:
            await session.get(witness.url("/"))
    assert isinstance(raised.value.os_error, DestinationDenied)
    assert witness.connections() == 0


# -- audio ------------------------------------------------------------------------------------


async def test_audio_from_a_denied_name_is_not_fetched(witness: Witness) -> None:
    url = witness.url("/prompt.wav", host="localhost")
    audio = AudioDurations(destinations=DENY_LOOPBACK)
    try:
        with pytest.raises(AudioError) as raised:
            await audio.duration(url, None, None)
    finally:
        await audio.close()
    assert str(raised.value).startswith(f"Cannot play {url}: destination localhost resolves to")
    assert str(raised.value).endswith(SETTING)
    assert witness.connections() == 0


async def test_a_redirect_to_a_denied_literal_address_is_refused(
    second_loopback: AudioServer, witness: Witness
) -> None:
    target = witness.url("/stolen.wav")
    url = second_loopback.redirect_to(target)
    audio = AudioDurations(destinations=ALLOW_SECOND_LOOPBACK)
    try:
        with pytest.raises(AudioError) as raised:
            await audio.duration(url, None, None)
    finally:
        await audio.close()
    assert str(raised.value) == (
        f"Cannot play {url}: it redirected to 127.0.0.1:{witness.port}; "
        f"destination 127.0.0.1 is a loopback address; {SETTING}"
    )
    assert second_loopback.paths == ["/to"]  # the first hop is allowed and was asked
    assert witness.connections() == 0


async def test_a_redirect_to_a_name_resolving_to_a_denied_address_is_refused(
    second_loopback: AudioServer, witness: Witness
) -> None:
    url = second_loopback.redirect_to(witness.url("/stolen.wav", host="localhost"))
    audio = AudioDurations(destinations=ALLOW_SECOND_LOOPBACK)
    try:
        with pytest.raises(AudioError) as raised:
            await audio.duration(url, None, None)
    finally:
        await audio.close()
    message = str(raised.value)
    assert message.startswith(
        f"Cannot play {url}: it redirected to localhost:{witness.port}; "
        "destination localhost resolves to"
    ), message
    assert message.endswith(SETTING)
    assert witness.connections() == 0


async def test_allowed_redirects_are_followed(
    second_loopback: AudioServer, first_loopback: AudioServer
) -> None:
    url = second_loopback.redirect_to(f"{first_loopback.base_url}/prompt.wav")
    audio = AudioDurations(destinations=DestinationPolicy.from_settings(False, ["127.0.0.0/8"]))
    try:
        seconds = await audio.duration(url, None, None)
    finally:
        await audio.close()
    assert seconds == pytest.approx(2.0)
    assert second_loopback.paths == ["/to"]
    assert first_loopback.paths == ["/prompt.wav"]


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x.wav"])
async def test_a_redirect_to_another_scheme_is_not_followed(
    first_loopback: AudioServer, target: str
) -> None:
    url = first_loopback.redirect_to(target)
    audio = AudioDurations()
    try:
        with pytest.raises(AudioError) as raised:
            await audio.duration(url, None, None)
    finally:
        await audio.close()
    assert str(raised.value).startswith(f"Cannot play {url}: ")
    assert "root:" not in str(raised.value)
