"""The retry policy of `Dispatcher.deliver`: Bandwidth's attempts, the optional rounds with
backoff, and the outbox mark, against a real aiohttp receiver on 127.0.0.1.

Time is a `VirtualClock`: a backoff is a timer the test fires with `advance()`. The delivery
runs as a task counted by an `Activity`; a backoff is waited with `idle_during`, so
`activity.wait_idle()` returns once the delivery is either finished or waiting for its next
round, and never sleeps. The marks go to a real `SqliteStore` on a temporary file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

import pytest
from aiohttp import web

from switchboard.activity import Activity
from switchboard.clock import RealClock, VirtualClock
from switchboard.store.sqlite import SqliteStore
from switchboard.webhooks.delivery import HttpWebhookSender, WebhookSender
from switchboard.webhooks.dispatch import Dispatcher
from switchboard.webhooks.guard import DestinationPolicy
from switchboard.webhooks.outbox import OutboxEntry, RetryPolicy
from switchboard.webhooks.request import DeliveryResult, Failure, WebhookAttempt, WebhookRequest

HOST = "127.0.0.1"
CALL_ID = "c-2a3b4c5d-00000000-0000-4000-8000-000000000005"
ANSWER_BXML = "<Response><Hangup/></Response>"
POLICY = RetryPolicy(retries=3, backoff_seconds=1.0, max_backoff_seconds=60.0)


@dataclass
class Receiver:
    """An aiohttp server that answers 500 to its first `fail_first` requests, then 200; its
    listener can be closed (connections are refused) and opened again on the same port."""

    runner: web.AppRunner
    port: int = 0
    fail_first: int = 0
    statuses: list[int] = field(default_factory=list)  # what each request was answered
    site: web.TCPSite | None = None

    def url(self, path: str = "/disconnect") -> str:
        return f"http://{HOST}:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        status = 500 if len(self.statuses) < self.fail_first else 200
        self.statuses.append(status)
        if status == 200 and request.path == "/answer":
            return web.Response(text=ANSWER_BXML, content_type="application/xml")
        return web.Response(status=status)

    async def open(self) -> None:
        assert self.site is None
        self.site = web.TCPSite(self.runner, HOST, self.port, reuse_address=True)
        await self.site.start()
        self.port = self.site.port

    async def close(self) -> None:
        """Stop listening: every new connection is refused until `open()`."""
        assert self.site is not None
        await self.site.stop()
        self.site = None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    receiver = Receiver(runner)
    app.router.add_route("POST", "/{tail:.*}", receiver.handle)
    await runner.setup()
    await receiver.open()
    yield receiver
    await runner.cleanup()


@pytest.fixture
async def sender() -> AsyncIterator[HttpWebhookSender]:
    async with HttpWebhookSender() as opened:
        yield opened


@dataclass
class Delivery:
    """One event recorded in the outbox and delivered in the background, in virtual time."""

    task: asyncio.Task[DeliveryResult]
    clock: VirtualClock
    activity: Activity
    store: SqliteStore

    async def settle(self) -> None:
        """Let everything that can happen now happen: the delivery ends or waits a backoff."""
        await self.activity.wait_idle()

    def next_backoff(self) -> float | None:
        """Seconds until the waiting round goes out (None: nothing is waiting)."""
        due = self.clock.next_due()
        return None if due is None else due - self.clock.monotonic()

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.settle()

    async def result(self) -> DeliveryResult:
        assert self.task.done(), "the delivery is still waiting"
        return await self.task

    async def marks(self) -> list[tuple[str, str, int]]:
        return await self.store.event_statuses(CALL_ID)


def event(
    url: str,
    *,
    event_type: str = "disconnect",
    asynchronous: bool = True,
    fallback_url: str | None = None,
) -> OutboxEntry:
    payload: dict[str, object] = {"eventType": event_type, "callId": CALL_ID}
    fallback = WebhookRequest(fallback_url, "POST", payload) if fallback_url else None
    return OutboxEntry(
        CALL_ID, event_type, WebhookRequest(url, "POST", payload), fallback, asynchronous
    )


async def start(
    store: SqliteStore,
    sender: WebhookSender,
    entry: OutboxEntry,
    policy: RetryPolicy | None = None,
) -> Delivery:
    """Record the event (durable before it is sent, as the engine does), deliver it, and
    return once the first round is over."""
    clock, activity = VirtualClock(), Activity()
    entry_id = await store.record_event(entry)
    assert await store.event_statuses(CALL_ID) == [(entry.event_type, "pending", 0)]
    dispatcher = Dispatcher(sender, store, clock, activity, policy)
    delivery = Delivery(
        activity.spawn(dispatcher.deliver(replace(entry, id=entry_id))), clock, activity, store
    )
    await delivery.settle()
    return delivery


def failures(result: DeliveryResult) -> list[Failure | None]:
    return [attempt.failure for attempt in result.attempts]


class AfterSend:
    """A real sender, with a hook run after each attempt (to bring a receiver back between
    an attempt and its immediate retry, which no clock separates)."""

    def __init__(
        self, sender: WebhookSender, hook: Callable[[WebhookAttempt], Awaitable[None]]
    ) -> None:
        self.sender = sender
        self.hook = hook

    async def send(self, request: WebhookRequest) -> WebhookAttempt:
        attempt = await self.sender.send(request)
        await self.hook(attempt)
        return attempt


# -- the default policy: Bandwidth's behaviour ------------------------------------------------
async def test_default_policy_retries_a_refused_connection_once_then_marks_failed(
    receiver: Receiver, store: SqliteStore, sender: HttpWebhookSender
) -> None:
    await receiver.close()
    delivery = await start(store, sender, event(receiver.url()))
    result = await delivery.result()
    assert failures(result) == [Failure.CONNECTION, Failure.CONNECTION]
    assert "connection refused" in (result.final.error or "")
    assert delivery.next_backoff() is None  # no round is waiting
    assert await delivery.marks() == [("disconnect", "failed", 2)]


async def test_default_policy_the_one_retry_reaches_a_receiver_back_at_once(
    receiver: Receiver, store: SqliteStore, sender: HttpWebhookSender
) -> None:
    await receiver.close()

    async def reopen(attempt: WebhookAttempt) -> None:
        if receiver.site is None:
            await receiver.open()

    delivery = await start(store, AfterSend(sender, reopen), event(receiver.url()))
    result = await delivery.result()
    assert failures(result) == [Failure.CONNECTION, None]
    assert result.ok and receiver.statuses == [200]
    assert await delivery.marks() == [("disconnect", "delivered", 2)]


async def test_default_policy_does_not_retry_a_500(
    receiver: Receiver, store: SqliteStore, sender: HttpWebhookSender
) -> None:
    receiver.fail_first = 1  # a second request would be answered 200: none is sent
    delivery = await start(store, sender, event(receiver.url()))
    result = await delivery.result()
    assert [a.status for a in result.attempts] == [500]
    assert result.final.failure is Failure.HTTP_STATUS
    assert receiver.statuses == [500]
    assert delivery.next_backoff() is None
    assert await delivery.marks() == [("disconnect", "failed", 1)]


# -- retries with backoff ---------------------------------------------------------------------
async def test_retries_back_off_1_2_4_seconds_and_deliver_after_three_500s(
    receiver: Receiver, store: SqliteStore, sender: HttpWebhookSender
) -> None:
    receiver.fail_first = 3
    delivery = await start(store, sender, event(receiver.url()), POLICY)
    for backoff, answered in ((1.0, 1), (2.0, 2), (4.0, 3)):
        assert receiver.statuses == [500] * answered
        assert not delivery.task.done()
        assert delivery.next_backoff() == backoff
        assert delivery.activity.busy == 0  # a backoff keeps nothing busy
        assert await delivery.marks() == [("disconnect", "pending", 0)]
        await delivery.advance(backoff - 0.001)  # not yet
        assert len(receiver.statuses) == answered
        await delivery.advance(0.001)
    result = await delivery.result()
    assert [a.status for a in result.attempts] == [500, 500, 500, 200]
    assert delivery.clock.monotonic() == pytest.approx(7.0)
    assert await delivery.marks() == [("disconnect", "delivered", 4)]


async def test_retries_outlast_a_receiver_that_refuses_connections_until_it_restarts(
    receiver: Receiver, store: SqliteStore, sender: HttpWebhookSender
) -> None:
    await receiver.close()
    delivery = await start(store, sender, event(receiver.url()), POLICY)
    await delivery.advance(1.0)  # round 1: refused again (and retried at once)
    assert delivery.next_backoff() == 2.0
    await delivery.advance(2.0)  # round 2: still down
    assert delivery.next_backoff() == 4.0
    await receiver.open()  # the receiver is back on its port during the 4 s wait
    await delivery.advance(4.0)
    result = await delivery.result()
    # Each round is Bandwidth's two attempts (a connection error is retried once).
    assert failures(result) == [Failure.CONNECTION] * 6 + [None]
    assert receiver.statuses == [200]
    assert await delivery.marks() == [("disconnect", "delivered", 7)]


async def test_retries_run_out_and_the_event_is_marked_failed(
    receiver: Receiver, store: SqliteStore, sender: HttpWebhookSender
) -> None:
    receiver.fail_first = 1000
    delivery = await start(store, sender, event(receiver.url()), POLICY)
    for backoff in (1.0, 2.0, 4.0):
        assert delivery.next_backoff() == backoff
        await delivery.advance(backoff)
    result = await delivery.result()
    assert [a.status for a in result.attempts] == [500] * 4
    assert delivery.next_backoff() is None
    assert await delivery.marks() == [("disconnect", "failed", 4)]


async def test_backoff_doubles_up_to_max_backoff_seconds(
    receiver: Receiver, store: SqliteStore, sender: HttpWebhookSender
) -> None:
    receiver.fail_first = 1000
    policy = RetryPolicy(retries=5, backoff_seconds=0.5, max_backoff_seconds=1.5)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 1.5, 1.5, 1.5]
    delivery = await start(store, sender, event(receiver.url()), policy)
    waited = []
    while (backoff := delivery.next_backoff()) is not None:
        waited.append(backoff)
        await delivery.advance(backoff)
    assert waited == [0.5, 1.0, 1.5, 1.5, 1.5]
    assert len((await delivery.result()).attempts) == 6
    assert await delivery.marks() == [("disconnect", "failed", 6)]


async def test_each_round_tries_the_fallback_url_too(
    receiver: Receiver, store: SqliteStore, sender: HttpWebhookSender
) -> None:
    receiver.fail_first = 3  # primary, fallback, primary: 500; then the fallback answers
    entry = event(receiver.url("/primary"), fallback_url=receiver.url("/fallback"))
    delivery = await start(store, sender, entry, POLICY)
    assert delivery.next_backoff() == 1.0
    await delivery.advance(1.0)
    result = await delivery.result()
    assert [(a.url.rsplit("/", 1)[1], a.status) for a in result.attempts] == [
        ("primary", 500),
        ("fallback", 500),
        ("primary", 500),
        ("fallback", 200),
    ]
    assert await delivery.marks() == [("disconnect", "delivered", 4)]


async def test_events_that_expect_bxml_get_neither_retry(
    receiver: Receiver, store: SqliteStore, sender: HttpWebhookSender
) -> None:
    # An answer callback ends the call when it fails: it is not an asynchronous event.
    await receiver.close()
    entry = event(receiver.url("/answer"), event_type="answer", asynchronous=False)
    delivery = await start(store, sender, entry, POLICY)
    result = await delivery.result()
    assert failures(result) == [Failure.CONNECTION]
    assert delivery.next_backoff() is None
    assert await delivery.marks() == [("answer", "failed", 1)]


# -- destinations refused by policy -----------------------------------------------------------
@pytest.mark.parametrize("refused_by", ["destination policy", "url guard"])
async def test_a_blocked_destination_is_never_retried(
    receiver: Receiver, store: SqliteStore, refused_by: str
) -> None:
    if refused_by == "destination policy":
        blocking = HttpWebhookSender(destinations=DestinationPolicy(allow_private=False))
    else:
        blocking = HttpWebhookSender(url_guard=lambda url: f"{url}: not allowed here")
    async with blocking:
        delivery = await start(store, blocking, event(receiver.url()), POLICY)
        result = await delivery.result()
    assert failures(result) == [Failure.BLOCKED]
    assert delivery.next_backoff() is None  # no round waits
    assert receiver.statuses == []  # nothing was sent
    assert await delivery.marks() == [("disconnect", "failed", 1)]


# -- the backoff on a real clock --------------------------------------------------------------
class RecordingClock(RealClock):
    """A RealClock whose sleeps are recorded and return at once (no test sleeps)."""

    def __init__(self, time_scale: float) -> None:
        super().__init__(time_scale)
        self.slept: list[float] = []

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)


@pytest.mark.parametrize("time_scale", [1.0, 0.1, 0.01])
async def test_on_a_scaled_real_clock_the_backoff_is_real_seconds(
    receiver: Receiver, store: SqliteStore, sender: HttpWebhookSender, time_scale: float
) -> None:
    # A receiver restarts in real seconds: the simulator's time_scale must not shrink the
    # backoff (with 0.01, 1-2-4 s would be over in 70 ms). Call time is asked for instead.
    receiver.fail_first = 3
    clock, activity = RecordingClock(time_scale), Activity()
    entry_id = await store.record_event(event(receiver.url()))
    dispatcher = Dispatcher(sender, store, clock, activity, POLICY)
    result = await dispatcher.deliver(replace(event(receiver.url()), id=entry_id))
    assert result.ok
    real_seconds = [delay * time_scale for delay in clock.slept]
    assert real_seconds == pytest.approx([1.0, 2.0, 4.0])
    assert await store.event_statuses(CALL_ID) == [("disconnect", "delivered", 4)]
