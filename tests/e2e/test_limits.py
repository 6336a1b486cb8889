"""Per-account limits on a virtual clock (rateLimits.mdx, callQueueingGuide.mdx): calls per second
held exactly, concurrent calls, the outbound queue with its priorities, its statistics, and
removing a queued call; each account's limits from the config file over the server's `[limits]`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.api.statistics_api import StatisticsApi
from bandwidth.exceptions import (
    ApiException,
    ConflictException,
    ForbiddenException,
    UnauthorizedException,
)
from bandwidth.models.bxml import Pause, Response
from bandwidth.models.create_call import CreateCall
from bandwidth.models.update_call import UpdateCall

from tests.e2e.control import calls_api_for, header, sdk_error, statistics_api_for
from tests.e2e.flow import now, since
from tests.support.receiver import Receiver
from tests.support.server import VirtualTimeServer, start_virtual_server

RATE_LIMITED = "Account call creation rate limit exceeded"
CONCURRENCY_LIMITED = "Account concurrent call limit exceeded"
CALLEE = "+15555550108"  # every number answers after 1 s (the default phone below)


@dataclass(frozen=True)
class Account:
    id: str
    limits: str  # its [accounts.limits] table, "" for the server's defaults

    @property
    def username(self) -> str:
        return f"user-{self.id}"

    @property
    def password(self) -> str:
        return f"password-of-{self.id}"

    @property
    def application_id(self) -> str:
        return f"0b1c1d0e-0000-4000-8000-00000{self.id}"

    @property
    def number(self) -> str:
        return f"+1555{self.id}"


RATE = Account("9900011", "calls_per_second = 5\nqueue = true")
NO_QUEUE = Account("9900012", "calls_per_second = 2")  # the server's default: queue off
CONCURRENT = Account("9900013", "calls_per_second = 1\nconcurrent_calls = 2\nqueue = true")
SMALL_QUEUE = Account("9900014", "calls_per_second = 0.1\nqueue = true")  # 30 calls queued
ORDER = Account("9900015", "calls_per_second = 1\nqueue = true")
DEFAULTS = Account("9900016", "")  # the server's [limits]: 3 per second, no queue
ACCOUNTS = (RATE, NO_QUEUE, CONCURRENT, SMALL_QUEUE, ORDER, DEFAULTS)


def config() -> str:
    parts = [
        '[server]\ndata_dir = "data"\n',
        "[limits]\ncalls_per_second = 3\nqueue = false\n",
        "[simulator.default]\nanswer_after = 1.0\n",
    ]
    for account in ACCOUNTS:
        parts.append(
            f'[[accounts]]\nid = "{account.id}"\nnumbers = ["{account.number}"]\n'
            f'  [[accounts.users]]\n  username = "{account.username}"\n'
            f'  password = "{account.password}"\n'
            f'  [[accounts.applications]]\n  id = "{account.application_id}"\n'
            + (f"  [accounts.limits]\n  {account.limits}\n" if account.limits else "")
        )
    return "\n".join(parts)


@pytest.fixture(scope="module")
def vserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    """This module's own server (it also serves the e2e suite's every-call-ends check)."""
    directory: Path = tmp_path_factory.mktemp("limits")
    running = start_virtual_server(directory, config())
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def queues_empty(vserver: VirtualTimeServer) -> Iterator[None]:
    """Each test leaves no call waiting in a queue for the next one."""
    yield
    for account in ACCOUNTS:
        with statistics_api_for(vserver, account.username, account.password) as api:
            assert api.get_statistics(account.id).current_call_queue_size == 0, account


class Client:
    """One account's user, through the official SDK."""

    def __init__(self, server: VirtualTimeServer, account: Account, app: Receiver) -> None:
        self.server = server
        self.account = account
        self.app = app

    def create(self, priority: int | None = None) -> str:
        body = CreateCall(
            to=CALLEE,
            var_from=self.account.number,
            application_id=self.account.application_id,
            answer_url=self.app.url("/answer"),
            disconnect_url=self.app.url("/disconnect"),
            priority=priority,
        )
        with calls_api_for(self.server, self.account.username, self.account.password) as api:
            return str(api.create_call(self.account.id, body).call_id)

    def refused(self, description: str) -> ApiException:
        """The next create is refused with Bandwidth's 429; the SDK raises a plain ApiException."""
        error = sdk_error(self.create, ApiException, 429, "error", description, error_id="")
        assert orjson.loads(error.body or b"") == {
            "type": "error",
            "description": description,
            "id": "",
        }
        return error

    def calls(self) -> CallsApi:
        return self._calls

    def __enter__(self) -> Client:
        self._context = calls_api_for(self.server, self.account.username, self.account.password)
        self._calls = self._context.__enter__()
        self._stats_context = statistics_api_for(
            self.server, self.account.username, self.account.password
        )
        self._statistics: StatisticsApi = self._stats_context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stats_context.__exit__(None, None, None)
        self._context.__exit__(None, None, None)

    def state(self, call_id: str) -> str:
        return str(self._calls.get_call_state(self.account.id, call_id).state)

    def start_time(self, call_id: str) -> datetime:
        start = self._calls.get_call_state(self.account.id, call_id).start_time
        assert start is not None, call_id
        return start

    def started(self, call_id: str, created: datetime) -> float:
        """Seconds from `created` to the call's startTime."""
        return round((self.start_time(call_id) - created).total_seconds(), 3)

    def statistics(self) -> tuple[int, int]:
        stats = self._statistics.get_statistics(self.account.id)
        return stats.current_call_queue_size, stats.max_call_queue_size

    def remove(self, call_id: str) -> None:
        self._calls.update_call(self.account.id, call_id, UpdateCall(state="completed"))


def client(vserver: VirtualTimeServer, app: Receiver, account: Account) -> Client:
    return Client(vserver, account, app)


# -- calls per second -------------------------------------------------------------------------


def test_the_exact_rate_is_held_and_the_queue_drains_at_it(
    vserver: VirtualTimeServer, app: Receiver
) -> None:
    with client(vserver, app, RATE) as rate:
        created = now(vserver)
        first = [rate.create() for _ in range(20)]
        assert rate.statistics() == (15, 1500)  # CPS x 300
        calls = first + [rate.create() for _ in range(30)]
        assert rate.statistics() == (45, 1500)
        assert [rate.state(call) for call in calls] == ["initiated"] * 5 + ["queued"] * 45

        sizes = []
        for _ in range(10):
            vserver.advance(1)
            sizes.append(rate.statistics()[0])
        assert sizes == [40, 35, 30, 25, 20, 15, 10, 5, 0, 0]
        vserver.advance(30)

        starts = sorted(rate.started(call, created) for call in calls)
        # Five in each second, and no window of one second ever holds more than five.
        assert Counter(int(start) for start in starts) == {second: 5 for second in range(10)}
        assert all(
            later - earlier >= 1.0 for earlier, later in zip(starts, starts[5:], strict=False)
        )
        assert all(rate.state(call) == "disconnected" for call in calls), (
            "every call was placed and ended"
        )


def test_without_the_queue_over_the_rate_is_429_with_retry_after(
    vserver: VirtualTimeServer, app: Receiver
) -> None:
    with client(vserver, app, NO_QUEUE) as no_queue:
        assert no_queue.statistics() == (0, 0)
        placed = [no_queue.create(), no_queue.create()]
        assert [no_queue.state(call) for call in placed] == ["initiated", "initiated"]

        refused = no_queue.refused(RATE_LIMITED)
        assert header(refused.headers, "Retry-After") == "1"
        vserver.advance(0.5)
        assert header(no_queue.refused(RATE_LIMITED).headers, "Retry-After") == "1"
        vserver.advance(0.5)  # a second after the first two: room for two more
        later = [no_queue.create(), no_queue.create()]
        assert [no_queue.state(call) for call in later] == ["initiated", "initiated"]
        no_queue.refused(RATE_LIMITED)
    vserver.advance(30)


def test_the_servers_default_limits_apply_to_an_account_without_its_own(
    vserver: VirtualTimeServer, app: Receiver
) -> None:
    with client(vserver, app, DEFAULTS) as defaults:
        assert defaults.statistics() == (0, 0)  # [limits] queue = false
        for _ in range(3):  # [limits] calls_per_second = 3
            defaults.create()
        defaults.refused(RATE_LIMITED)
    vserver.advance(30)


# -- concurrent calls -------------------------------------------------------------------------


def test_over_the_concurrent_limit_is_429(vserver: VirtualTimeServer, app: Receiver) -> None:
    app.on("/answer", Response([Pause(60)]).to_bxml())
    with client(vserver, app, CONCURRENT) as concurrent:
        first = concurrent.create()
        vserver.advance(1)
        second = concurrent.create()
        vserver.advance(1)

        refused = concurrent.refused(CONCURRENCY_LIMITED)
        assert header(refused.headers, "Retry-After") == "1"
        assert concurrent.statistics() == (0, 300)  # refused, not queued

        concurrent.remove(first)
        vserver.advance(1)
        third = concurrent.create()
        assert concurrent.state(third) == "initiated"
        concurrent.remove(second)
        concurrent.remove(third)
    vserver.advance(5)


def test_queued_calls_wait_for_a_free_place_under_the_concurrent_limit(
    vserver: VirtualTimeServer, app: Receiver
) -> None:
    app.on("/answer", Response([Pause(60)]).to_bxml())
    with client(vserver, app, CONCURRENT) as concurrent:
        created = now(vserver)
        first, second, third = (concurrent.create() for _ in range(3))
        assert [concurrent.state(c) for c in (first, second, third)] == [
            "initiated",
            "queued",
            "queued",
        ]
        vserver.advance(5)
        # The second started a second later; the third waits: two calls are live.
        assert concurrent.state(second) == "answered"
        assert concurrent.state(third) == "queued"
        assert concurrent.statistics() == (1, 300)

        concurrent.remove(first)
        vserver.advance(1)
        assert concurrent.started(third, created) == 5.0  # the moment the first one ended
        concurrent.remove(second)
        concurrent.remove(third)
    vserver.advance(5)


# -- the queue --------------------------------------------------------------------------------


def test_queue_order_is_priority_then_first_in_first_out(
    vserver: VirtualTimeServer, app: Receiver
) -> None:
    with client(vserver, app, ORDER) as order:
        created = now(vserver)
        first = order.create()  # the second's one call starts at once
        priorities = [5, 1, 3, 5, 1, 2, 3, None, 2, 1]  # None: the default, 5
        queued = [(order.create(priority), priority or 5) for priority in priorities]
        assert order.statistics() == (10, 300)
        vserver.advance(60)

        started = sorted(queued, key=lambda item: order.start_time(item[0]))
        expected = sorted(queued, key=lambda item: item[1])  # stable: FIFO within a priority
        assert started == expected
        assert order.started(first, created) == 0.0
        seconds = [order.started(call, created) for call, _ in started]
        assert seconds == [float(n) for n in range(1, 11)]  # one per second, as the rate says


def test_a_full_queue_is_429(vserver: VirtualTimeServer, app: Receiver) -> None:
    with client(vserver, app, SMALL_QUEUE) as small:
        assert small.statistics() == (0, 30)  # 0.1 per second x 300 s
        placed = small.create()
        queued = [small.create() for _ in range(30)]
        assert small.statistics() == (30, 30)

        refused = small.refused(RATE_LIMITED)
        assert header(refused.headers, "Retry-After") == "10"  # the next place, in 10 s
        for call in queued:
            small.remove(call)
        assert small.statistics() == (0, 30)
        assert small.state(placed) == "initiated"
    vserver.advance(30)


def test_a_queued_call_is_removed_with_cause_cancel_and_its_disconnect_event(
    vserver: VirtualTimeServer, app: Receiver
) -> None:
    with client(vserver, app, SMALL_QUEUE) as small:
        created = now(vserver)
        vserver.advance(20)  # the rate's window is clear again
        placed = small.create()
        queued = small.create()
        state = small.calls().get_call_state(SMALL_QUEUE.id, queued)
        assert (state.state, state.start_time) == ("queued", None)
        assert state.enqueued_time == state.last_update
        assert small.statistics() == (1, 30)

        vserver.advance(3)
        response = small.calls().update_call_with_http_info(
            SMALL_QUEUE.id, queued, UpdateCall(state="completed")
        )
        assert (response.status_code, response.raw_data) == (200, b"")
        vserver.advance(1)

        assert small.statistics() == (0, 30)
        (disconnect,) = [e for e in app.events("disconnect") if e["callId"] == queued]
        # Never placed: no startTime, like the callState's null.
        assert set(disconnect) == {
            "eventType",
            "eventTime",
            "accountId",
            "applicationId",
            "from",
            "to",
            "direction",
            "callId",
            "callUrl",
            "enqueuedTime",
            "endTime",
            "cause",
        }
        assert disconnect["cause"] == "cancel"
        assert since(created, disconnect["endTime"]) == 23.0
        ended = small.calls().get_call_state(SMALL_QUEUE.id, queued)
        assert (ended.state, ended.disconnect_cause, ended.start_time) == (
            "disconnected",
            "cancel",
            None,
        )
        sdk_error(
            lambda: small.remove(queued),
            ConflictException,
            409,
            "validation",
            f"Call [{queued}] cannot be modified in its current state",
            error_id="",
        )
        # A queued call cannot be redirected: it has not been answered.
        another = small.create()
        sdk_error(
            lambda: small.calls().update_call(
                SMALL_QUEUE.id,
                another,
                UpdateCall(state="active", redirect_url=app.url("/new")),
            ),
            ConflictException,
            409,
            "validation",
            error_id="",
        )
        sdk_error(
            lambda: small.calls().update_call_bxml(SMALL_QUEUE.id, another, "<Bxml/>"),
            ConflictException,
            409,
            "validation",
            error_id="",
        )
        small.remove(another)
        assert small.state(placed) in ("initiated", "answered", "disconnected")
    vserver.advance(30)


# -- statistics: who may read them ------------------------------------------------------------


def test_statistics_of_another_account_403_and_bad_credentials_401(
    vserver: VirtualTimeServer,
) -> None:
    with statistics_api_for(vserver, RATE.username, RATE.password) as api:
        stats = api.get_statistics_with_http_info(RATE.id)
        assert stats.status_code == 200
        assert orjson.loads(stats.raw_data) == {"currentCallQueueSize": 0, "maxCallQueueSize": 1500}
        sdk_error(
            lambda: api.get_statistics(NO_QUEUE.id),
            ForbiddenException,
            403,
            "authorization-error",
        )
    with statistics_api_for(vserver, RATE.username, "wrong") as api:
        sdk_error(
            lambda: api.get_statistics(RATE.id),
            UnauthorizedException,
            401,
            "authentication-error",
        )
