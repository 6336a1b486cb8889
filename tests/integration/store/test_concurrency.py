"""Writers at once: many asyncio tasks writing through one store (the API's requests and the
engine's calls), and two stores on one database (two nodes; on SQLite, the server and the
CLI): every write that returned is committed and read back, none overwrites another."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from switchboard.calls.listing import CallFilter
from switchboard.calls.model import DISCONNECTED, INITIATED, Call
from switchboard.calls.timeline import TimelineEntry
from switchboard.webhooks.outbox import PENDING
from tests.integration.store.conftest import Backend
from tests.integration.store.contract import AnyStore, event
from tests.unit.store.calls import ACCOUNT, T0, make_call

TASKS = 500
AT = "2025-01-02T03:04:05.678Z"


async def live_a_call(store: AnyStore, number: int) -> tuple[Call, int]:
    """What the API and a call's runner write for one short call."""
    call = make_call(number, enqueued=T0 + timedelta(milliseconds=number))
    await store.insert_call(call)
    # Once a write returns, every read sees it (the API answers 201, then a GET finds it).
    assert await store.get_call(call.call_id) == call
    started = replace(call, state=INITIATED, start_time=call.enqueued_time)
    await store.save_call(started, [TimelineEntry(1, AT, "state", {"state": INITIATED})])
    ended = replace(
        started,
        state=DISCONNECTED,
        end_time=call.enqueued_time + timedelta(seconds=1),
        disconnect_cause="hangup",
        tag=f"call {number}",
    )
    event_id = await store.save_call(
        ended, [TimelineEntry(2, AT, "state", {"state": DISCONNECTED})], event(call.call_id)
    )
    assert event_id is not None
    return ended, event_id


async def test_concurrent_calls_are_all_committed_and_read_back(any_store: AnyStore) -> None:
    lived = await asyncio.gather(*(live_a_call(any_store, n) for n in range(TASKS)))
    event_ids = [event_id for _, event_id in lived]
    assert len(set(event_ids)) == TASKS
    read = await asyncio.gather(*(any_store.get_call(call.call_id) for call, _ in lived))
    assert read == [call for call, _ in lived]  # many reads at once, too
    for call, _ in lived:
        assert [entry.sequence for entry in await any_store.timeline(call.call_id)] == [1, 2]
    listed = await any_store.list_calls(ACCOUNT, CallFilter(), TASKS + 1, None, AT)
    assert [row["call_id"] for row in listed] == [call.call_id for call, _ in lived]
    pending = await any_store.pending_events()
    assert sorted(entry.id for entry in pending if entry.id is not None) == sorted(event_ids)
    assert any_store.pending_event_count() == TASKS
    assert await any_store.calls_in_states([INITIATED, "queued"]) == []


async def test_concurrent_finishes_of_one_event_lose_no_attempt(any_store: AnyStore) -> None:
    """Attempts add up in the database (attempts + n), not read-modify-write in a process."""
    event_id = await any_store.record_event(event("c-1"))
    await asyncio.gather(*(any_store.finish_event(event_id, PENDING, 1) for _ in range(200)))
    assert await any_store.event_statuses("c-1") == [("disconnect", PENDING, 200)]


async def test_concurrent_appends_to_one_timeline_keep_every_entry(any_store: AnyStore) -> None:
    entries = [TimelineEntry(n, AT, "verb", {"n": n}) for n in range(1, 301)]
    await asyncio.gather(*(any_store.append_timeline("c-1", [entry]) for entry in entries))
    assert await any_store.timeline("c-1") == entries
    assert await any_store.last_timeline_sequence("c-1") == 300


async def test_two_stores_on_one_database_write_at_once(
    any_store: AnyStore, backend: Backend
) -> None:
    other = backend.make()
    await other.open()
    try:
        shared = await any_store.record_event(event("c-shared"))
        # Both write at once: calls of their own, and attempts on one shared event.
        halves = await asyncio.gather(
            asyncio.gather(*(live_a_call(any_store, n) for n in range(0, TASKS, 2))),
            asyncio.gather(*(live_a_call(other, n) for n in range(1, TASKS, 2))),
            asyncio.gather(*(any_store.finish_event(shared, PENDING, 1) for _ in range(50))),
            asyncio.gather(*(other.finish_event(shared, PENDING, 1) for _ in range(50))),
        )
        lived = [*halves[0], *halves[1]]
        for store in (any_store, other):  # each reads what the other wrote
            for call, _ in lived:
                assert await store.get_call(call.call_id) == call
            listed = await store.list_calls(ACCOUNT, CallFilter(), TASKS + 1, None, AT)
            assert len(listed) == TASKS
            assert len(await store.pending_events()) == TASKS + 1
        assert len({event_id for _, event_id in lived} | {shared}) == TASKS + 1
        assert await other.event_statuses("c-shared") == [("disconnect", PENDING, 100)]
    finally:
        await other.close()
