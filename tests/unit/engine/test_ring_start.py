"""Bandwidth cancels a call that has not started ringing within 30 s, whatever its callTimeout;
once it rings, callTimeout alone decides (calls/runner.py, RING_START_LIMIT).

The callee here is a stand-in on the Network seam whose leg rings only when told: the only
real callee that stays silent is a SIP one, and that would take 30 s of real time to test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from switchboard.calls.create_request import parse_create_call
from switchboard.calls.engine import Engine
from switchboard.calls.ids import new_call_id
from switchboard.calls.model import INITIATED, Call
from switchboard.clock import VirtualClock
from switchboard.network import base as net
from switchboard.store.sqlite import SqliteStore
from switchboard.webhooks.delivery import HttpWebhookSender
from tests.support.create_call_cases import seed_body


class QuietLeg:
    sip_call_id = None
    media_generation = 0

    def __init__(self, events: net.EventSink) -> None:
        self.events = events
        self.hung_up = False

    def hangup(self) -> None:
        self.hung_up = True

    def __getattr__(self, name: str) -> Any:  # no media is asked of a call that never answers
        raise AssertionError(f"unexpected {name} on a leg that never answered")


class QuietNetwork:
    """A network whose callees say nothing until the test makes them ring."""

    def __init__(self, ring_at_once: bool) -> None:
        self.ring_at_once = ring_at_once
        self.legs: list[QuietLeg] = []

    joins_legs = False

    def open_room(self, leg_ids: tuple[str, ...]) -> object:
        raise AssertionError("no test here joins legs")

    async def start(self, incoming: object = None) -> None:
        pass

    def originate(
        self,
        call_id: str,
        to: str,
        from_: str,
        events: net.EventSink,
        caller: net.CallerId = net.NO_CALLER_ID,
    ) -> QuietLeg:
        leg = QuietLeg(events)
        self.legs.append(leg)
        if self.ring_at_once:
            events(net.Ringing())
        return leg

    async def close(self) -> None:
        pass


async def place(store: SqliteStore, network: QuietNetwork, call_timeout: int) -> tuple[Any, ...]:
    clock = VirtualClock()
    engine = Engine(store, network, HttpWebhookSender(), clock)  # type: ignore[arg-type]
    await engine.start()
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    call_id = new_call_id()
    assert engine.admit("9900001", call_id, 5)
    call = Call(
        call_id=call_id,
        account_id="9900001",
        request=parse_create_call(seed_body(callTimeout=call_timeout)),
        call_url=f"http://127.0.0.1/calls/{call_id}",
        enqueued_time=moment,
        state=INITIATED,
        start_time=moment,
        last_update=moment,
    )
    await store.insert_call(call)
    await engine.on_call_created(call)
    await engine.settle()
    return engine, clock, call_id


async def ended_by_timeout(store: SqliteStore, call_id: str) -> bool:
    stored = await store.get_call(call_id)
    return stored is not None and stored.disconnect_cause == "timeout"


async def advance(engine: Engine, clock: VirtualClock, seconds: float) -> None:
    target = clock.monotonic() + seconds
    while (due := clock.next_due()) is not None and due <= target:
        clock.advance(due - clock.monotonic())
        await engine.settle()
    clock.advance(target - clock.monotonic())
    await engine.settle()


async def test_a_call_that_never_rings_ends_after_30_s_whatever_its_call_timeout(
    store: SqliteStore,
) -> None:
    network = QuietNetwork(ring_at_once=False)
    engine, clock, call_id = await place(store, network, call_timeout=300)
    await advance(engine, clock, 29.9)
    assert engine.current(call_id) is not None
    await advance(engine, clock, 0.2)
    assert await ended_by_timeout(store, call_id)
    assert network.legs[0].hung_up
    await engine.stop()


async def test_a_call_that_rings_late_gets_its_whole_call_timeout_from_then(
    store: SqliteStore,
) -> None:
    network = QuietNetwork(ring_at_once=False)
    engine, clock, call_id = await place(store, network, call_timeout=60)
    await advance(engine, clock, 20)
    network.legs[0].events(net.Ringing())
    await engine.settle()
    await advance(engine, clock, 59.9)  # 79.9 s after the start: past the 30 s limit
    assert engine.current(call_id) is not None
    await advance(engine, clock, 0.2)
    assert await ended_by_timeout(store, call_id)
    await engine.stop()


async def test_a_call_that_rings_at_once_is_not_cut_at_30_s(store: SqliteStore) -> None:
    network = QuietNetwork(ring_at_once=True)
    engine, clock, call_id = await place(store, network, call_timeout=120)
    await advance(engine, clock, 119.9)
    assert engine.current(call_id) is not None
    await advance(engine, clock, 0.2)
    assert await ended_by_timeout(store, call_id)
    await engine.stop()
