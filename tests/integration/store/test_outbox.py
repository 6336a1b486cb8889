"""The webhook outbox: every event a call owes is stored before it is sent and stays pending,
in the order it was recorded, until it is finished; after a restart the pending ones are
found again (webhooks/outbox.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from switchboard.webhooks.outbox import ABANDONED, DELIVERED, FAILED, PENDING, OutboxEntry
from switchboard.webhooks.request import WebhookRequest
from tests.integration.store.contract import AnyStore, event
from tests.unit.store.calls import make_call


async def test_a_recorded_event_reads_back_whole_with_its_id(any_store: AnyStore) -> None:
    call_id = make_call(1).call_id
    full = event(call_id, "disconnect", cause="hangup", nested={"a": [1, 2.5, None, True]})
    bare = OutboxEntry(
        call_id=call_id,
        event_type="answer",
        primary=WebhookRequest("http://127.0.0.1:9/answer", "GET", {"eventType": "answer"}),
        fallback=None,
        asynchronous=False,
    )
    full_id = await any_store.record_event(full)
    bare_id = await any_store.record_event(bare)
    assert bare_id > full_id
    assert await any_store.pending_events() == [
        replace(full, id=full_id),
        replace(bare, id=bare_id),
    ]
    # The credentials are kept (a restart delivers again with them), never shown in a repr.
    (stored, _) = await any_store.pending_events()
    assert stored.primary.password == "secret" and "secret" not in repr(stored)


async def test_pending_events_are_in_the_order_they_were_recorded(any_store: AnyStore) -> None:
    """Whether recorded alone, with a call's save, or many in one turn of the event loop."""
    calls = [make_call(number) for number in range(4)]
    for call in calls:
        await any_store.insert_call(call)
    ids = [await any_store.record_event(event(calls[0].call_id, "initiate"))]
    saved = await any_store.save_call(calls[1], (), event(calls[1].call_id, "answer"))
    assert saved is not None
    ids.append(saved)
    ids += await asyncio.gather(
        *(any_store.record_event(event(calls[n % 4].call_id, f"e{n}")) for n in range(20))
    )
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    pending = await any_store.pending_events()
    assert [entry.id for entry in pending] == ids
    assert [entry.event_type for entry in pending] == ["initiate", "answer"] + [
        f"e{n}" for n in range(20)
    ]


async def test_a_finished_event_is_no_longer_pending(any_store: AnyStore) -> None:
    call_id = make_call(1).call_id
    ids = [await any_store.record_event(event(call_id, f"e{n}")) for n in range(4)]
    assert any_store.pending_event_count() == 4
    await any_store.finish_event(ids[1], DELIVERED, 1)
    await any_store.finish_event(ids[3], FAILED, 2)
    assert [entry.id for entry in await any_store.pending_events()] == [ids[0], ids[2]]
    assert any_store.pending_event_count() == 2
    await any_store.finish_event(ids[0], ABANDONED, 0)
    await any_store.finish_event(ids[2], DELIVERED, 3)
    assert await any_store.pending_events() == []
    assert any_store.pending_event_count() == 0


async def test_event_statuses_are_the_calls_own_oldest_first(any_store: AnyStore) -> None:
    mine, other = make_call(1).call_id, make_call(2).call_id
    answer = await any_store.record_event(event(mine, "answer"))
    await any_store.record_event(event(other, "answer"))
    disconnect = await any_store.record_event(event(mine, "disconnect"))
    await any_store.record_event(event(mine, "dtmf"))
    await any_store.finish_event(answer, DELIVERED, 1)
    # Attempts add up: a second round (RetryPolicy) adds its attempts to the first's.
    await any_store.finish_event(disconnect, PENDING, 2)
    await any_store.finish_event(disconnect, FAILED, 3)
    assert await any_store.event_statuses(mine) == [
        ("answer", DELIVERED, 1),
        ("disconnect", FAILED, 5),
        ("dtmf", PENDING, 0),
    ]
    assert await any_store.event_statuses("c-none") == []
    assert [entry.event_type for entry in await any_store.pending_events()] == ["answer", "dtmf"]
