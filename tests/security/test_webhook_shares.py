"""One tenant cannot starve the others (issue 23): each account holds at most its share of the
outgoing webhook connections, so a slow receiver of one account leaves the pool to the rest.
Real aiohttp receivers on 127.0.0.1, the real sender, on a loop whose clock jumps to the next
timer (tests/support/virtual_loop.py): timeouts expire at once in real time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from switchboard.config import ConfigError, load_settings
from switchboard.webhooks.account_share import AccountShares
from switchboard.webhooks.delivery import HttpWebhookSender
from switchboard.webhooks.request import Failure, WebhookRequest
from tests.support.server import CONFIG

pytestmark = pytest.mark.virtual_time

POOL = 4
SHARE = 2
TIMEOUT = 10.0


class Receiver:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.slow_arrived = 0
        self.base_url = ""

    async def slow(self, _request: web.Request) -> web.Response:
        self.slow_arrived += 1
        await self.release.wait()  # a disconnectUrl that sleeps
        return web.Response(text="late")

    async def fast(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/slow", receiver.slow)
    app.router.add_post("/fast", receiver.fast)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.base_url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        receiver.release.set()
        await runner.cleanup()


def event(receiver: Receiver, path: str, account: str) -> WebhookRequest:
    payload = {"eventType": "disconnect", "accountId": account, "callId": "c-1"}
    return WebhookRequest(receiver.base_url + path, "POST", payload, timeout=TIMEOUT)


async def test_a_slow_account_holds_only_its_share_and_the_others_get_through(
    receiver: Receiver,
) -> None:
    async with HttpWebhookSender(limit=POOL, per_account=SHARE) as sender:
        greedy = [
            asyncio.create_task(sender.send(event(receiver, "/slow", "1111111")))
            for _ in range(2 * POOL)
        ]
        for _ in range(50):  # let the greedy deliveries take what they can
            await asyncio.sleep(0)
        assert sender.shares is not None
        assert sender.shares.in_use("1111111") == SHARE
        # Another account's webhooks go out at once, though the first account has more
        # deliveries waiting than the whole pool holds.
        others = await asyncio.gather(
            *(sender.send(event(receiver, "/fast", "2222222")) for _ in range(2 * POOL))
        )
        assert [attempt.status for attempt in others] == [200] * (2 * POOL)
        assert receiver.slow_arrived == SHARE

        attempts = await asyncio.gather(*greedy)  # the clock jumps to their callbackTimeout
        assert receiver.slow_arrived == SHARE  # never more than its share at the receiver
        assert all(attempt.failure is Failure.TIMEOUT for attempt in attempts)
        waited = [a for a in attempts if a.error and "account 1111111's share" in a.error]
        assert len(waited) == 2 * POOL - SHARE
        assert "connections_per_account" in (waited[0].error or "")


async def test_an_accounts_places_are_freed_and_forgotten() -> None:
    shares = AccountShares(2)
    async with shares.place("1111111"), shares.place("1111111"):
        assert shares.in_use("1111111") == 2
        third = asyncio.create_task(_hold(shares, "1111111"))
        await asyncio.sleep(0)
        assert not third.done()  # waits for a place
    await third
    assert shares.in_use("1111111") == 0
    assert shares._accounts == {}  # no entry kept for an idle account


async def _hold(shares: AccountShares, account: str) -> None:
    async with shares.place(account):
        pass


def test_the_share_is_a_setting(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.toml"
    path.write_text(CONFIG + "\n[webhooks]\nconnections_per_account = 50\n")
    assert load_settings(path).webhook_connections_per_account == 50
    path.write_text(CONFIG + "\n[webhooks]\nconnections_per_account = 0\n")
    with pytest.raises(ConfigError, match="connections_per_account"):
        load_settings(path)
